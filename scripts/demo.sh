#!/usr/bin/env bash
# Set up psyprofile and run the main job on real public data: the README's first command.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
python -m pip install -q -e ".[all]"
psyprofile demo "$@"
