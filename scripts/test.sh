#!/usr/bin/env bash
# The test command: linters, type checker, then the whole pytest suite (real Anvil processes, real databases).
# Extra arguments go to pytest, e.g. scripts/test.sh tests/chain -x. The suite runs on every core (pytest-xdist);
# it prints its own time and its ten slowest steps.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check tracecert tracecert_app registry verifier scripts tests
.venv/bin/lint-imports
.venv/bin/mypy
.venv/bin/python -m pytest -p no:cacheprovider -n auto --durations=10 "$@"
