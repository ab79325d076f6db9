#!/bin/bash
# The engine's instructions per 4 KiB write with no bitmap, one and four
# enabled 64 KiB bitmaps: `qcow-img bench` under callgrind, which
# counts instructions exactly, so the figure does not depend on the load.
# Two runs per image (N and 3N writes); their difference over 2N writes is
# the cost of one write, open and close left out.
#   bench/bitmap-cost.sh [N]
set -e
n=${1:-20000}
top=$(cd "$(dirname "$0")/.." && pwd)
img=$top/bin/qcow-img
[ -x "$img" ] || { echo "bitmap-cost: build $img first (make)" >&2; exit 1; }
command -v valgrind >/dev/null || { echo "bitmap-cost: needs valgrind" >&2; exit 1; }
dir=$(mktemp -d /dev/shm/bitmap-cost.XXXXXX)
trap 'rm -rf "$dir"' EXIT
cd "$dir"

qemu-img create -q -f qcow2 none.qcow2 256M
qemu-io -c 'write -P 7 0 256M' none.qcow2 >/dev/null
cp none.qcow2 one.qcow2
qemu-img bitmap --add -g 64k one.qcow2 b0
cp none.qcow2 four.qcow2
for i in 0 1 2 3; do qemu-img bitmap --add -g 64k four.qcow2 "b$i"; done

instructions() {
	cp "$1.qcow2" w.qcow2
	valgrind --tool=callgrind --callgrind-out-file=/dev/null "$img" bench -w \
		-c "$2" -d 32 -s 4k -S 4k -t writeback w.qcow2 >/dev/null 2>cg.err
	sed -n 's/.*Collected : \([0-9]*\).*/\1/p' cg.err
}

echo "# qcow-img bench -w -c N -d 32 -s 4k -S 4k -t writeback, 256 MiB allocated image, under callgrind"
echo "| bitmaps (64 KiB, enabled) | instructions per 4k write | ratio to none |"
echo "|---------------------------|---------------------------|---------------|"
base=
for v in none one four; do
	a=$(instructions $v "$n")
	b=$(instructions $v $((3 * n)))
	per=$(( (b - a) / (2 * n) ))
	[ -n "$base" ] || base=$per
	printf '| %-25s | %25d | %13s |\n' "$v" "$per" \
		"$(awk -v a="$per" -v b="$base" 'BEGIN { printf "%.3f", a / b }')"
done
