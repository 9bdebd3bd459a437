#!/usr/bin/env bash
# Opt-in comparison of orm with hand-written rusqlite, Diesel and SeaORM.
#
#   bench-compare/run.sh [--passes N] [--out DIR] [--quick] [--rounds N] [--filter S]...
#
# Builds both comparison binaries in release mode (fat LTO, one codegen
# unit, as diesel_bench), runs each one N passes (default 3), alternating
# binaries, pinned to one core with `taskset -c 1` when available, and
# prints the markdown table (also written to DIR/table.md with the raw CSV;
# DIR defaults to bench-compare/target/results/<time>). --quick, --rounds
# and --filter are passed to the binaries (--filter S matches "group/size" containing S, =S exactly).
# The first build takes a long while (Diesel, SeaORM and sqlx with LTO).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

passes=3
out=""
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --passes) passes="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) args+=("$1"); shift ;;
  esac
done

export CARGO_TARGET_DIR="$here/target"
cargo build --release --manifest-path "$here/orm/Cargo.toml" --bins
cargo build --release --manifest-path "$here/diesel-seaorm/Cargo.toml"

pin=()
if command -v taskset >/dev/null 2>&1 && [ "$(nproc)" -gt 1 ]; then
  pin=(taskset -c 1)
fi
out="${out:-$here/target/results/$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$out"
rm -f "$out"/*.csv

{
  echo "- date: $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "- cpu: $(nproc) x $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
  echo "- $(rustc --version)"
  if rev=$(git -C "$here/.." rev-parse --short HEAD 2>/dev/null); then
    dirty=$(git -C "$here/.." status --porcelain -- orm-core orm-derive src 2>/dev/null | wc -l)
    echo "- orm at $rev$([ "$dirty" -gt 0 ] && echo " plus uncommitted changes in $dirty files")"
  fi
  echo "- pinned: ${pin[*]:-no}; passes: $passes; options: ${args[*]:-none}"
  echo "- load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
} > "$out/machine.md"

for p in $(seq 1 "$passes"); do
  for b in bench-orm bench-diesel-seaorm; do
    ${pin[@]+"${pin[@]}"} "$CARGO_TARGET_DIR/release/$b" --pass "$p" ${args[@]+"${args[@]}"} \
      > "$out/$b.pass$p.csv"
  done
done
echo "- load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$out/machine.md"

{
  cat "$out/machine.md"
  echo
  "$CARGO_TARGET_DIR/release/bench-report" "$out"/bench-orm.*.csv "$out"/bench-diesel-seaorm.*.csv
} | tee "$out/table.md"
echo "results in $out" >&2
