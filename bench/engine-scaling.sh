#!/bin/bash
# SPDX-License-Identifier: MIT
# The engine driven by 1 and by 2 threads (a ring and a context each, as
# ublk queues) on one image: 4K random reads of an allocated image through
# the page cache (CPU-bound: L2 cache hits) and with O_DIRECT, the same
# requests in all, best of RUNS alternating runs.  Prints the speed of 2
# threads as a multiple of 1 thread's (on 2 cores, 2 must not be below 1).
#
#   bench/engine-scaling.sh [COUNT] [RUNS]    (default 400000 reads, 3 runs)
#
# QCOW_BENCH names the driver (default: build/bench/engine-drive, which
# takes -T THREADS), e.g. a build of another commit to compare with.
# QCOW_BENCH_BASE, if set, names another build's driver measured in the
# same alternating runs: its lines too, and ours as a multiple of it.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
COUNT=${1:-400000}
RUNS=${2:-3}
OURS=${QCOW_BENCH:-$ROOT/build/bench/engine-drive}
command -v qemu-img >/dev/null || { echo "SKIP: engine-scaling (no qemu-img)"; exit 0; }
DIR=$(mktemp -d "${TMPDIR:-/var/tmp}/engine-scaling.XXXXXX")
trap 'rm -rf "$DIR"' EXIT

qemu-img create -q -f qcow2 "$DIR/img.qcow2" 256M
qemu-io -c "write -P 1 0 256M" "$DIR/img.qcow2" >/dev/null

BASE=${QCOW_BENCH_BASE:-}
secs() { "$@" | awk '/Run completed/ {print $4}'; }
min() { echo "if ($1 < $2) $1 else $2" | bc -l; }
# best of RUNS for driver $1 with $2 threads, folded into variable $3
run() {
	local t
	t=$(secs "$1" -r -t $cache -d 32 -T "$2" -c "$n" "$DIR/img.qcow2")
	printf -v "$3" '%s' "$(min "$t" "${!3}")"
}
line() {
	printf 'engine-scaling 4K random reads, cache=%-9s %d reads%s: 1 thread %.3fs, 2 threads %.3fs, 2 vs 1: %.2fx\n' \
		"$cache" "$n" "$1" "$2" "$3" "$(echo "$2 / $3" | bc -l)"
}
for cache in writeback none; do
	n=$COUNT
	[ $cache = none ] && n=$((COUNT / 4))
	b1=999999 b2=999999 o1=999999 o2=999999
	for ((r = 0; r < RUNS; r++)); do
		if [ -n "$BASE" ]; then
			run "$BASE" 1 o1
			run "$BASE" 2 o2
		fi
		run "$OURS" 1 b1
		run "$OURS" 2 b2
	done
	[ -n "$BASE" ] && line " (base)" "$o1" "$o2"
	line "" "$b1" "$b2"
	[ -n "$BASE" ] && printf 'engine-scaling cache=%-9s ours vs base: 1 thread %.2fx, 2 threads %.2fx\n' \
		"$cache" "$(echo "$o1 / $b1" | bc -l)" "$(echo "$o2 / $b2" | bc -l)"
done
exit 0
