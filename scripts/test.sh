#!/usr/bin/env bash
# Set up and run the tests: the README's second quickstart command.
set -euo pipefail
cd "$(dirname "$0")/.."
# The report test opens the HTML in Debian's headless Chromium (driven by playwright, which
# then downloads no browser of its own); without it that test is skipped, so install it here.
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi
python3 -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
# [reference] brings torch: the tests compare the ONNX runtimes with it.
python -m pip install -q -e ".[all,reference,test]"
ruff check .
python -m pytest -q "$@"
