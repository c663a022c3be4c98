#!/usr/bin/env bash
# Counts the instructions the server spends on one benchmark workload, with callgrind. Unlike
# time, instruction counts barely move with the load of a shared machine, so two builds can be
# compared with one run each. Time them natively too before keeping a change: fewer
# instructions did not always mean less time (docs/performance.md, "Tried and not kept").
#
#   scripts/callgrind.sh WORKLOAD [SERVER-BINARY]
#
# WORKLOAD is one of: baseline me introspection refresh me-new code revoke. SERVER-BINARY defaults to
# the release build. The server runs under valgrind (about fifty times slower), driven by
# ucoauth-bench at concurrency 1; the counters are zeroed when the workload starts and dumped
# when it ends. Prints the instructions per request and leaves the profile in
# callgrind.WORKLOAD.out for `callgrind_annotate --inclusive=yes`. Needs valgrind
# (Debian: apt-get install valgrind).
#
# Caveat: under valgrind, SHA-256 runs without the CPU's SHA instructions, so hashing weighs
# more there than natively; compare builds with each other, not with time.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-$PWD/target}"

workload="${1:?usage: scripts/callgrind.sh WORKLOAD [SERVER-BINARY]}"
# The bench's report line that ends each workload, and the line printed just before it starts.
case "$workload" in
  baseline) before="^run 1/1"; line="baseline" ;;
  me) before="^  baseline"; line="oauth/me" ;;
  introspection) before="^  oauth/me"; line="introspection" ;;
  refresh) before="^  introspection"; line="refresh_token" ;;
  me-new) before="^  refresh_token"; line="oauth/me, new tokens" ;;
  code) before="^  minted"; line="authorization_code" ;;
  revoke) before="^  authorization_code"; line="revoke" ;;
  *) echo "unknown workload '$workload': baseline me introspection refresh me-new code revoke" >&2; exit 2 ;;
esac
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }

if [ -z "${2:-}" ]; then
  cargo build --release -q -p ucoauth -p ucoauth-bench
  server="$target/release/ucoauth"
else
  cargo build --release -q -p ucoauth-bench
  server="$(realpath "$2")"
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/ucoauth-callgrind.XXXXXX")
bench_pid=""
trap '[ -n "$bench_pid" ] && kill "$bench_pid" 2>/dev/null; rm -rf "$work"' EXIT
out="$PWD/callgrind.$workload.out"

# The bench starts the server itself; this wrapper puts it under callgrind.
cat > "$work/server" <<EOF
#!/bin/sh
exec valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" "$server" "\$@"
EOF
chmod +x "$work/server"

log="$work/bench.log"
# No baseline slices around the workloads: they would be counted with the workload.
"$target/release/ucoauth-bench" --server-bin "$work/server" --concurrency 1 \
  --seconds 4 --adjacent-seconds 0 --codes 300 --json "$work/figures.json" >"$log" 2>&1 &
bench_pid=$!

wait_for() { # pattern [count]: until the log has more than `count` lines matching pattern
  until [ "$(grep -c -- "$1" "$log" || true)" -gt "${2:-0}" ]; do
    kill -0 "$bench_pid" 2>/dev/null || { cat "$log" >&2; exit 1; }
    sleep 0.02
  done
}
echo "==> waiting for the $workload workload (the server is slow under valgrind)" >&2
wait_for "$before"
callgrind_control -z >/dev/null 2>&1
wait_for "^  $line"
callgrind_control -d >/dev/null 2>&1
wait "$bench_pid" || true

dump=$(ls "$work"/cg.out.* | head -1)
cp "$dump" "$out"
instructions=$(grep -a '^summary:' "$out" | awk '{print $2}')
requests=$(python3 -c "import json,sys; print(next(f['requests'] for f in json.load(open(sys.argv[1])) if f['workload'].startswith(sys.argv[2])))" "$work/figures.json" "$line")
echo "$workload: $requests requests, $instructions instructions, $((instructions / requests)) per request"
echo "profile: $out (callgrind_annotate --inclusive=yes $out)"
