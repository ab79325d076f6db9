#!/bin/bash
# SPDX-License-Identifier: MIT
# Bytes written per guest byte by allocating writes, the engine against
# qemu-img bench on the same workload in the same run: 4K and 64K writes,
# each into a new 64K cluster, on an empty image and on an overlay of a
# raw backing file full of data (copy-on-write), with and without
# extended L2.  Bytes written are the block layer's (write_bytes of
# /proc/PID/io, O_DIRECT: -t none), metadata and close included; the time
# is the bench's own "Run completed in".
#
#   bench/alloc-bytes.sh [COUNT]      (default 2000 writes)
#
# QCOW_BENCH names our bench command (default: build/bench/engine-drive),
# e.g. a build of another commit to compare with.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
COUNT=${1:-2000}
if [ -n "${QCOW_BENCH:-}" ]; then
	OURS=$QCOW_BENCH
else
	OURS=$ROOT/build/bench/engine-drive
fi
command -v qemu-img >/dev/null || { echo "SKIP: alloc-bytes (no qemu-img)"; exit 0; }
DIR=$(mktemp -d "${TMPDIR:-/var/tmp}/alloc-bytes.XXXXXX")
trap 'rm -rf "$DIR"' EXIT
SIZE=$((COUNT * 64 / 1024 + 1))M

# run CMD...: prints "write_bytes seconds"
run() {
	bash -c '"$@" > "'"$DIR"'/out"; awk "/^write_bytes/ {print \$2}" /proc/$$/io' \
		run "$@" | tr '\n' ' '
	awk '/Run completed/ {print $4}' "$DIR/out"
}

make_image() {	# NAME backing(0/1) extl2(0/1)
	local opts=cluster_size=64k
	[ "$3" = 1 ] && opts=$opts,extended_l2=on
	if [ "$2" = 1 ]; then
		qemu-img create -q -f qcow2 -o "$opts" -b "$DIR/base.raw" \
			-F raw "$DIR/$1" "$SIZE"
	else
		qemu-img create -q -f qcow2 -o "$opts" "$DIR/$1" "$SIZE"
	fi
}

qemu-img create -q -f raw "$DIR/base.raw" "$SIZE"
qemu-io -f raw -c "write -P 0x5a 0 $SIZE" "$DIR/base.raw" >/dev/null

printf '%-26s %10s %10s %12s\n' workload qemu-img ours "time ours/qemu"
for wl in "4k 4096 0 0" "64k 65536 0 0" "4k-backing 4096 1 0" \
	  "64k-backing 65536 1 0" "4k-backing-extl2 4096 1 1"; do
	set -- $wl
	name=$1 bs=$2 backing=$3 extl2=$4
	guest=$((COUNT * bs))
	make_image q.qcow2 "$backing" "$extl2"
	read -r qb qt <<<"$(run qemu-img bench -w -t none -f qcow2 --pattern=165 -c "$COUNT" \
		-s "$bs" -S 65536 "$DIR/q.qcow2")"
	qemu-img check -q "$DIR/q.qcow2"
	make_image o.qcow2 "$backing" "$extl2"
	read -r ob ot <<<"$(run $OURS -w -t none -c "$COUNT" -s "$bs" \
		-S 65536 "$DIR/o.qcow2")"
	qemu-img check -q "$DIR/o.qcow2"
	qemu-img compare -q "$DIR/q.qcow2" "$DIR/o.qcow2" ||
		{ echo "FAIL: $name: images differ"; exit 1; }
	printf '%-26s %10.3f %10.3f %12.2f\n' "$name" \
		"$(echo "$qb / $guest" | bc -l)" "$(echo "$ob / $guest" | bc -l)" \
		"$(echo "$ot / $qt" | bc -l)"
done
echo "(bytes written per guest byte, $COUNT writes each; time: lower is faster)"
