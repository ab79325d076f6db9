#!/bin/bash
# bench/bitmap-close.sh [QCOW_IO]: what the close after a FLUSH writes
# with a persistent dirty bitmap (docs/benchmarks.md).  A 1 TiB qcow2
# image with one 64 KiB-granularity bitmap (qemu-img bitmap --add), 1 GiB
# written as 1 MiB at the start of every GiB (every one of the bitmap's
# 32 clusters of bits dirty), a flush, then the close: its pwrite64 calls
# counted with strace under QCOW_SYNC_IO=1 (plain pread/pwrite, no ring),
# from the marker read after the flush to the exit.
set -eu
io=${1:-bin/qcow-io}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bitmap-close.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
img=$tmp/t.qcow2
qemu-img create -q -f qcow2 "$img" 1T
qemu-img bitmap --add -g 65536 "$img" b0
cmds=()
for i in $(seq 0 1023); do cmds+=(-c "write $((i << 30)) 1M"); done
QCOW_SYNC_IO=1 strace -qq -e trace=pwrite64,write -o "$tmp/trace" "$io" \
	"${cmds[@]}" -c flush -c 'read 0 512' "$img" >/dev/null
awk '/^write\(1, "read 512/ { n = 0; b = 0; next }
     /^pwrite64/ { sub(/.*= /, ""); n++; b += $0 }
     END { printf "close after a flush: %d writes, %d bytes\n", n, b }' \
	"$tmp/trace"
qemu-img check -q "$img"
qemu-img info --output=json "$img" | grep -q '"in-use": false'
