#!/usr/bin/env bash
# Sets up a fresh machine and runs the demo: simulated gate, private broker and collector,
# live guard screen at http://127.0.0.1:8080
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/checkpoint demo "$@"
