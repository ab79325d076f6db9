#!/bin/bash
# SPDX-License-Identifier: MIT
# Durable in-place writes: 4K random FUA writes to an allocated image
# (O_DIRECT) with the engine, against qemu-img bench writing with a flush
# every DEPTH writes (--flush-interval: no smaller is allowed), the nearest
# it has to FUA, on the same image; depth 1 and 16, best of RUNS
# alternating runs.
#
#   bench/fua-cost.sh [COUNT] [RUNS]      (default 2000 writes, 3 runs)
#
# QCOW_BENCH names our bench command (default: build/bench/engine-drive),
# e.g. a build of another commit to compare with.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
COUNT=${1:-2000}
RUNS=${2:-3}
OURS=${QCOW_BENCH:-$ROOT/build/bench/engine-drive}
command -v qemu-img >/dev/null || { echo "SKIP: fua-cost (no qemu-img)"; exit 0; }
DIR=$(mktemp -d "${TMPDIR:-/var/tmp}/fua-cost.XXXXXX")
trap 'rm -rf "$DIR"' EXIT

qemu-img create -q -f qcow2 "$DIR/img.qcow2" 256M
qemu-io -c "write -P 1 0 256M" "$DIR/img.qcow2" >/dev/null

secs() { "$@" | awk '/Run completed/ {print $4}'; }
min() { echo "if ($1 < $2) $1 else $2" | bc -l; }
for depth in 1 16; do
	bq=999999 bo=999999
	for ((r = 0; r < RUNS; r++)); do
		bq=$(min "$(secs qemu-img bench -w -t none -f qcow2 -d "$depth" \
			-c "$COUNT" -S 64k --flush-interval="$depth" "$DIR/img.qcow2")" "$bq")
		bo=$(min "$(secs $OURS -w -u -r -t none -d "$depth" \
			-c "$COUNT" "$DIR/img.qcow2")" "$bo")
	done
	printf 'fua-cost depth %2d: %d writes: qemu-img (a flush every depth writes) %.3fs, ours (FUA) %.3fs, ours/qemu %.2f\n' \
		"$depth" "$COUNT" "$bq" "$bo" "$(echo "$bo / $bq" | bc -l)"
done
qemu-img check -q "$DIR/img.qcow2"
