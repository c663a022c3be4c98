#!/usr/bin/env bash
# The test command: every unit and integration test of the workspace, against real SQLite files
# and real HTTP on loopback, plus UltraCart's official Python SDK against our server.
# Needs: Rust (cargo) and python3. Installs the Python SDK into .venv on first use.
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${UCOAUTH_VENV:-$PWD/.venv}"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import ultracart' 2>/dev/null; then
  echo "==> installing UltraCart's Python SDK into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check ultracart-rest-sdk==4.1.208
fi
export UCOAUTH_TEST_PYTHON="$venv/bin/python"

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@"
else
  cargo test --workspace --no-fail-fast "$@"
fi
