#!/usr/bin/env bash
# Runs the whole test suite headless: lint, layering contracts, then pytest (2 workers).
set -euo pipefail
cd "$(dirname "$0")/.."
export QT_QPA_PLATFORM=offscreen
.venv/bin/ruff check .
.venv/bin/lint-imports --no-cache
.venv/bin/python -m pytest -n 2 -p no:cacheprovider "$@"
