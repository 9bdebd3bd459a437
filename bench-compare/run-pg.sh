#!/usr/bin/env bash
# Opt-in comparison of orm with hand-written `postgres` code on a PostgreSQL
# server (the same statements, prepared).
#
#   bench-compare/run-pg.sh URL [--passes N] [--out DIR] [--server-cpu N]
#                           [--quick] [--rounds N] [--filter S]...
#
# URL: postgresql://user@host:port/dbname of a database the run may create
# schemas in (it makes orm_bench_<pid>_<n> schemas and drops them at the
# end); give 127.0.0.1 for loopback. Builds the orm workspace's binaries in
# release mode (fat LTO, one codegen unit), runs bench-orm-pg N passes
# (default 3) pinned to core 1 with `taskset -c 1` when there is more than
# one core, and prints the markdown table (also written to DIR/table.md
# with the raw CSV; DIR defaults to bench-compare/target/results/pg-<time>).
# The server is not pinned unless --server-cpu N is given: then the server
# processes serving the run's connections (only those) are pinned to CPU N
# (the server must run on this machine). --server-cpu, --quick, --rounds
# and --filter are passed to the binary. The URL is not written anywhere.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

if [ $# -lt 1 ] || [ "${1#-}" != "$1" ]; then
  sed -n '2,18p' "$0"
  exit 2
fi
url="$1"
shift
passes=3
out=""
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --passes) passes="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) args+=("$1"); shift ;;
  esac
done

export CARGO_TARGET_DIR="$here/target"
cargo build --release --manifest-path "$here/orm/Cargo.toml" --bins

pin=()
if command -v taskset >/dev/null 2>&1 && [ "$(nproc)" -gt 1 ]; then
  pin=(taskset -c 1)
fi
out="${out:-$here/target/results/pg-$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$out"
rm -f "$out"/*.csv

# The database's name, to find the server processes serving the run.
dbname="${url##*/}"
dbname="${dbname%%\?*}"

# Where the server's processes for this database run: `ps` once a second
# (last CPU of each backend serving the run), counted per CPU.
cpus="$out/.server-cpus"
: > "$cpus"
(
  while sleep 1; do
    ps -eo psr=,args= | awk -v db="$dbname" \
      '$2 == "postgres:" && $4 == db { print $1 }' >> "$cpus" || true
  done
) &
sampler=$!
trap 'kill "$sampler" 2>/dev/null || true' EXIT

{
  echo "- date: $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "- cpu: $(nproc) x $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
  echo "- $(rustc --version)"
  if rev=$(git -C "$here/.." rev-parse --short HEAD 2>/dev/null); then
    dirty=$(git -C "$here/.." status --porcelain -- orm-core orm-derive src 2>/dev/null | wc -l)
    echo "- orm at $rev$([ "$dirty" -gt 0 ] && echo " plus uncommitted changes in $dirty files")"
  fi
  echo "- bench pinned: ${pin[*]:-no}; passes: $passes; options: ${args[*]:-none}"
  echo "- load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
} > "$out/machine.md"

for p in $(seq 1 "$passes"); do
  ${pin[@]+"${pin[@]}"} "$CARGO_TARGET_DIR/release/bench-orm-pg" "$url" --pass "$p" \
    ${args[@]+"${args[@]}"} > "$out/bench-orm-pg.pass$p.csv"
done
kill "$sampler" 2>/dev/null || true
echo "- load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$out/machine.md"
if [ -s "$cpus" ]; then
  echo "- server processes serving the run's database (the systems' connections and the untimed admin one), last CPU seen by ps once a second: $(sort -n "$cpus" | uniq -c | awk '{ printf "%sCPU %s: %s", sep, $2, $1; sep = ", " }') samples" >> "$out/machine.md"
else
  echo "- server processes serving the run's database: not on this machine, or not seen by ps" >> "$out/machine.md"
fi
rm -f "$cpus"

{
  cat "$out/machine.md"
  echo
  "$CARGO_TARGET_DIR/release/bench-report" "$out"/bench-orm-pg.*.csv
} | tee "$out/table.md"
echo "results in $out" >&2
