#!/bin/sh
# bench/thread_churn.sh - wall time of tests/programs/thread_churn.c (64
# long-lived threads plus 1,280 short-lived ones, 4.8 M mallocs) natively
# and under `memtide run`.  Usage: bench/thread_churn.sh [MEMTIDE]
set -e
here=$(cd "$(dirname "$0")/.." && pwd)
memtide=${1:-$here/build/bin/memtide}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cc -O2 -o "$tmp/churn" "$here/tests/programs/thread_churn.c" -lpthread
t() { s=$(date +%s.%N); "$@" >/dev/null; e=$(date +%s.%N); echo "$e - $s" | bc; }
echo "native:   $(t "$tmp/churn") s"
echo "memtide:  $(t "$memtide" run -q -o "$tmp/c.tide" "$tmp/churn") s"
