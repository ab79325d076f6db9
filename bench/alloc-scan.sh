#!/bin/bash
# SPDX-License-Identifier: MIT
# The allocator's search on a full image: 128K allocating writes (two
# 64K clusters each) past a 1 TiB region whose clusters are all in use
# (preallocation=metadata, then resized), one cluster near the start
# freed.  The engine against qemu-img bench on copies of one image, best
# of RUNS alternating runs; the time is the bench's "Run completed in".
#
#   bench/alloc-scan.sh [COUNT] [RUNS]     (default 4000 writes, 3 runs)
#
# QCOW_BENCH names our bench command (default: build/bench/engine-drive),
# e.g. a build of another commit to compare with.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
COUNT=${1:-4000}
RUNS=${2:-3}
if [ -n "${QCOW_BENCH:-}" ]; then
	OURS=$QCOW_BENCH
else
	OURS=$ROOT/build/bench/engine-drive
fi
command -v qemu-img >/dev/null || { echo "SKIP: alloc-scan (no qemu-img)"; exit 0; }
DIR=$(mktemp -d "${TMPDIR:-/var/tmp}/alloc-scan.XXXXXX")
trap 'rm -rf "$DIR"' EXIT

qemu-img create -q -f qcow2 -o cluster_size=64k,preallocation=metadata \
	"$DIR/full.qcow2" 1T
qemu-img resize -q "$DIR/full.qcow2" +4G
qemu-io -c "discard 64k 64k" "$DIR/full.qcow2" >/dev/null

secs() { "$@" | awk '/Run completed/ {print $4}'; }
best_q=999999 best_o=999999
for ((r = 0; r < RUNS; r++)); do
	cp --sparse=always "$DIR/full.qcow2" "$DIR/q.qcow2"
	t=$(secs qemu-img bench -w -t none -f qcow2 -c "$COUNT" -s 128k \
		-o 1024G "$DIR/q.qcow2")
	best_q=$(echo "if ($t < $best_q) $t else $best_q" | bc -l)
	cp --sparse=always "$DIR/full.qcow2" "$DIR/o.qcow2"
	t=$(secs $OURS -w -t none -c "$COUNT" -s 128k -o 1024G "$DIR/o.qcow2")
	best_o=$(echo "if ($t < $best_o) $t else $best_o" | bc -l)
done
qemu-img check -q "$DIR/o.qcow2"
printf 'alloc-scan: %d writes of 128K past 1T in use: qemu-img %.3fs, ours %.3fs, ours/qemu %.2f\n' \
	"$COUNT" "$best_q" "$best_o" "$(echo "$best_o / $best_q" | bc -l)"
