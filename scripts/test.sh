#!/usr/bin/env bash
# Sets up (system packages, virtualenv) and runs every check: lint, types, import rules, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh postgresql

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/lint-imports
# pytest exits 5 when it collected no tests; that is a failure too.
.venv/bin/pytest "$@"
