#!/usr/bin/env bash
# Set up and run the tests: the README's second quickstart command.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
python -m pip install -q -e ".[test]"
ruff check .
python -m pytest -q "$@"
