#!/usr/bin/env bash
# The test command: every unit and integration test of the workspace, against real SQLite files,
# a real PostgreSQL and real HTTP on loopback, plus UltraCart's official Python SDK against our
# server. The HTTP suite (crates/server/tests/api) runs twice: on SQLite, then on PostgreSQL.
# Needs: Rust (cargo) and python3. Installs the Python SDK into .venv on first use.
#
# PostgreSQL: with UCOAUTH_TEST_POSTGRES=postgres://USER@HOST:PORT/postgres the tests use that
# server (they create and drop their own schemas). Otherwise, when Debian's PostgreSQL server
# packages are installed (.ci/run installs them), a throwaway cluster is started on a free
# loopback port for this run and deleted afterwards. Without either, the PostgreSQL runs are
# skipped with a warning; UCOAUTH_TEST_POSTGRES=skip asks for that explicitly.
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${UCOAUTH_VENV:-$PWD/.venv}"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import ultracart' 2>/dev/null; then
  echo "==> installing UltraCart's Python SDK into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check ultracart-rest-sdk==4.1.208
fi
export UCOAUTH_TEST_PYTHON="$venv/bin/python"

if [ -z "${UCOAUTH_TEST_POSTGRES:-}" ]; then
  if bash scripts/pg-throwaway.sh available; then
    pg_dir=$(mktemp -d "${TMPDIR:-/tmp}/ucoauth-test-pg.XXXXXX")
    trap 'bash scripts/pg-throwaway.sh stop "$pg_dir"' EXIT
    UCOAUTH_TEST_POSTGRES=$(bash scripts/pg-throwaway.sh start "$pg_dir")
    echo "==> throwaway PostgreSQL at $UCOAUTH_TEST_POSTGRES"
  else
    echo "==> WARNING: PostgreSQL is not installed; the PostgreSQL runs are SKIPPED" >&2
    echo "    (install Debian's postgresql package, as .ci/run does, to test both backends)" >&2
    UCOAUTH_TEST_POSTGRES=skip
  fi
fi
export UCOAUTH_TEST_POSTGRES

run_tests() {
  if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --no-fail-fast "$@"
  else
    cargo test --no-fail-fast "$@"
  fi
}

status=0
echo "==> workspace tests (HTTP suite on SQLite; cluster scenarios on both backends)"
UCOAUTH_TEST_BACKEND=sqlite run_tests --workspace "$@" || status=1
if [ "$UCOAUTH_TEST_POSTGRES" != skip ]; then
  echo "==> HTTP suite on PostgreSQL"
  # `--workspace` again (not `-p ucoauth-server`) so that Cargo unifies the same features and
  # reuses the build of the first run instead of compiling the dependencies a second time.
  UCOAUTH_TEST_BACKEND=postgres run_tests --workspace --test api "$@" || status=1
fi
exit "$status"
