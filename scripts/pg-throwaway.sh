#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests: initdb into a fresh temporary directory, run it
# as an ordinary user on a free loopback port (and a unix socket in that directory), trust
# authentication for the superuser `ucoauth`, nothing reachable from outside this machine.
#
#   scripts/pg-throwaway.sh start DIR   prints the admin URL (postgres://ucoauth@127.0.0.1:PORT/postgres)
#   scripts/pg-throwaway.sh stop DIR    stops the cluster and deletes DIR
#
# Needs Debian's PostgreSQL server packages (/usr/lib/postgresql/*/bin; `.ci/run` installs them)
# or UCOAUTH_PG_BIN pointing at a directory holding initdb and pg_ctl. When run as root, the
# cluster runs as the `postgres` user the package creates (PostgreSQL refuses to run as root).
set -euo pipefail

pg_bin() {
  local found
  if [ -n "${UCOAUTH_PG_BIN:-}" ]; then
    found="$UCOAUTH_PG_BIN"
  else
    found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  fi
  if [ -z "$found" ] || [ ! -x "$found/initdb" ]; then
    return 1
  fi
  echo "$found"
}

as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

cmd="${1:-}"
dir="${2:-}"
case "$cmd" in
  available)
    pg_bin >/dev/null
    ;;
  start)
    [ -n "$dir" ] || { echo "usage: $0 start DIR" >&2; exit 2; }
    bin=$(pg_bin) || { echo "PostgreSQL server binaries not found (install the postgresql package or set UCOAUTH_PG_BIN)" >&2; exit 1; }
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then chown postgres: "$dir"; fi
    as_owner "$bin/initdb" -D "$dir/data" -U ucoauth --auth=trust -E UTF8 --no-instructions \
      >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
    port=$(free_port)
    # Durability settings stay at PostgreSQL's defaults (fsync, synchronous_commit=on): the
    # tests check that a 200 means committed.
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=300" start >/dev/null \
      || { cat "$dir/server.log" >&2; exit 1; }
    echo "$port" >"$dir/port"
    echo "postgres://ucoauth@127.0.0.1:$port/postgres"
    ;;
  stop)
    [ -n "$dir" ] || { echo "usage: $0 stop DIR" >&2; exit 2; }
    if [ -d "$dir/data" ]; then
      bin=$(pg_bin) || true
      if [ -n "${bin:-}" ]; then
        as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
      fi
    fi
    rm -rf "$dir"
    ;;
  *)
    echo "usage: $0 available | start DIR | stop DIR" >&2
    exit 2
    ;;
esac
