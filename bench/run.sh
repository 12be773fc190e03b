#!/usr/bin/env bash
# memtide benchmark: memtide vs baseline, heaptrack and tracemalloc on ../shared/workloads.
# Usage: bench/run.sh            (SCALE=1 REPS=3, ~10 min on the 2-core reference machine)
#        SCALE=0.1 REPS=1 bench/run.sh      (smoke test, ~1 min)
# Env: WORKLOADS SCALE REPS OUT MEMTIDE PYTHON TIMEOUT NATIVE ONLY TOOLS STARTUP_REPS REPORT_REPS
#      (see bench/README.md).  Prints one Markdown table; also writes $OUT/latest.md.
set -u
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
py=/usr/bin/python3
[ -x "$py" ] || py="$(command -v python3)" || { echo "run.sh: no python3 found" >&2; exit 1; }
out="${OUT:-$here/out}"
mkdir -p "$out/logs"
# Progress goes to stderr and to $out/logs/bench.progress; the table goes to stdout.
exec "$py" "$here/bench.py" 2> >(tee "$out/logs/bench.progress" >&2)
