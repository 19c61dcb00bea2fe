#!/usr/bin/env bash
# Set up TraceCert on a fresh machine (Python 3.11, Node 20, npm): a virtualenv with the Python packages, and the
# JavaScript toolchain from npm (solc-js, Anvil, Hardhat 3 with Node 22, OpenZeppelin). Only PyPI and npm are used.
# Safe to run again: it brings an existing install up to date.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "TraceCert needs Python >= 3.11")'

echo "==> Python virtualenv (.venv)"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[dev]"

echo "==> npm packages (solc-js, anvil, hardhat, node 22, OpenZeppelin)"
# `npm ci` refuses this lock file: npm leaves out the other platforms' optional packages of @nomicfoundation/edr.
npm install --no-audit --no-fund --loglevel=error

echo "==> check"
.venv/bin/tracecert --help >/dev/null
node_modules/.bin/anvil --version | head -1
scripts/solc-js --version | tail -1
echo "TraceCert is set up. Start it: .venv/bin/tracecert chain up    Test it: scripts/test.sh"
