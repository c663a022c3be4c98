#!/usr/bin/env bash
# Compares two server builds the way docs/performance.md judges a change: alternating runs of
# ucoauth-bench against each (SQLite, concurrency 32), the order swapped every pair, so that
# the machine's drift falls on both sides alike.
#
#   scripts/compare.sh [--pairs N] [--seconds S] OLD-BINARY NEW-BINARY
#
# Build each side with `cargo build --release -p ucoauth` and copy target/release/ucoauth
# somewhere first. Prints one line per run as it goes, then per workload the medians (old ->
# new) of the ratio to the baseline and of the server's CPU per request, and in how many pairs
# the new build's CPU was lower. Two controls: the baseline's line (its code is the same in
# both builds, so when its CPU moves as much as a workload's, the difference is the
# machine's), and a run with the same binary on both sides, which shows how far apart
# identical builds come out: in one, six pairs put /oauth/me's CPU 9 % apart
# (docs/performance.md, "What the benchmark measures"). A change smaller than that is not
# shown by six pairs. Defaults: 6 pairs of 4 s per workload, about 12 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-$PWD/target}"

pairs=6
seconds=4
while [ $# -gt 0 ]; do
  case "$1" in
    --pairs) pairs="${2:-}"; shift $(( $# > 1 ? 2 : 1 )) ;;
    --seconds) seconds="${2:-}"; shift $(( $# > 1 ? 2 : 1 )) ;;
    -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
    --*) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
    *) break ;;
  esac
done
if [ $# -ne 2 ]; then
  echo "usage: scripts/compare.sh [--pairs N] [--seconds S] OLD-BINARY NEW-BINARY" >&2
  exit 2
fi
if ! [[ "$pairs" =~ ^[1-9][0-9]*$ ]]; then
  echo "--pairs must be a whole number of at least 1, not '$pairs'" >&2
  exit 2
fi
if ! [[ "$seconds" =~ ^[0-9]+([.][0-9]+)?$ ]] || [[ "$seconds" =~ ^0+([.]0+)?$ ]]; then
  echo "--seconds must be a number of seconds above 0, not '$seconds'" >&2
  exit 2
fi
old="$1"
new="$2"
for bin in "$old" "$new"; do
  [ -x "$bin" ] || { echo "not an executable: $bin" >&2; exit 2; }
done

echo "==> building ucoauth-bench" >&2
cargo build --release -q -p ucoauth-bench
bench="$target/release/ucoauth-bench"

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for i in $(seq 1 "$pairs"); do
  if (( i % 2 )); then order="old new"; else order="new old"; fi
  for side in $order; do
    if [ "$side" = old ]; then bin="$old"; else bin="$new"; fi
    "$bench" --server-bin "$bin" --concurrency 32 --seconds "$seconds" --codes 4000 \
      --json "$out/$i-$side.json" >/dev/null 2>"$out/$i-$side.log" || {
      echo "ucoauth-bench failed on $side ($bin):" >&2
      cat "$out/$i-$side.log" >&2
      exit 1
    }
    python3 - "$out/$i-$side.json" "$side" "$i" <<'PY'
import json, sys
rows = {r["workload"]: r for r in json.load(open(sys.argv[1]))}
parts = [f"pair {sys.argv[3]:>2} {sys.argv[2]:<3}"]
short_names = {"oauth/me": "me", "oauth/me,": "me-new", "introspection": "introspect",
               "refresh_token": "refresh", "authorization_code": "code", "browser": "flow"}
for name, r in rows.items():
    first = name.split()[0]
    short = short_names.get(first, first)
    parts.append(f"{short} {r['ratio_to_baseline']:.3f} {r['server_cpu_us_per_req']:.0f}µs")
print(" | ".join(parts), flush=True)
PY
  done
done

python3 - "$out" "$pairs" <<'PY'
import json, statistics, sys
out, pairs = sys.argv[1], int(sys.argv[2])
runs = {side: [{r["workload"]: r for r in json.load(open(f"{out}/{i}-{side}.json"))}
               for i in range(1, pairs + 1)] for side in ("old", "new")}
print()
print(f"medians of {pairs} pairs, old -> new (ratio to the baseline; server CPU per request):")
for name in runs["old"][0]:
    def med(side, key):
        return statistics.median(run[name][key] for run in runs[side])
    lower = sum(n[name]["server_cpu_us_per_req"] < o[name]["server_cpu_us_per_req"]
                for o, n in zip(runs["old"], runs["new"]))
    ratio = ("" if name.startswith("baseline") else
             f"ratio {med('old', 'ratio_to_baseline'):.3f} -> {med('new', 'ratio_to_baseline'):.3f}; ")
    print(f"  {name:<24} {ratio}CPU {med('old', 'server_cpu_us_per_req'):.1f} -> "
          f"{med('new', 'server_cpu_us_per_req'):.1f} µs, lower in {lower} of {pairs} pairs")
print("The baseline's code is the same in both builds: a change is shown only where a workload "
      "moves clearly more than the baseline does, and more than two runs of one binary do "
      "(compare a binary with itself to see how far that is).")
PY
