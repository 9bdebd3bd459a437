#!/usr/bin/env bash
# Instruction counts per iteration (callgrind) of orm's workloads, and of the
# rusqlite baseline for scale: stable on a noisy machine where times are not.
# Prints a markdown table; every row is one `--profile` run of bench-orm.
#
#   bench-compare/instructions.sh            # the default workload list
#   bench-compare/instructions.sh insert/100 orm 200   # one workload
#
# Needs valgrind. Builds bench-orm (release, fat LTO, with debug info) first.
set -euo pipefail
cd "$(dirname "$0")"

export CARGO_TARGET_DIR="$PWD/target"
CARGO_PROFILE_RELEASE_DEBUG=1 cargo build --quiet --release --manifest-path orm/Cargo.toml
bin=target/release/bench-orm

# workload system iterations
default_runs="
trivial_query/1 rusqlite 2000
trivial_query/1 orm 2000
trivial_query/1 orm_detached 2000
trivial_query/1000 rusqlite 10
trivial_query/1000 orm 10
trivial_query/1000 orm_detached 10
medium_complex_query/1000 orm 10
loading_associations/9x10x10 orm 10
insert/1 orm 500
insert/100 orm 20
get_by_pk/miss orm 2000
update/1 orm 500
update/100 orm 20
delete/100 orm 20
graph_insert/1x10x10 orm 10
"
runs=${*:+$*}
runs=${runs:-$default_runs}

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
echo "| workload | system | instructions per iteration |"
echo "|---|---|---:|"
while read -r workload system iters; do
  [ -n "${workload:-}" ] || continue
  file="$out/cg.$RANDOM"
  valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*profiled*' \
    --callgrind-out-file="$file" "$bin" --profile "$workload" "$system" "$iters" >/dev/null 2>&1
  total=$(callgrind_annotate "$file" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); t = $1} END {print t}')
  printf '| %s | %s | %s |\n' "$workload" "$system" "$(( total / iters ))"
done <<<"$runs"
