#!/bin/bash
# DISCARD and WRITE_ZEROES reach the image: blkdiscard, blkdiscard -z
# (no unmap) and fallocate -p (zeroes, unmap allowed) on ranges of
# written data; the ranges read as zeros, the rest is intact, and
# qemu-img map shows them as zero.
#     tests/guest/run.sh tests/guest/ublk-discard.sh
. "$(dirname "$0")/lib-ublk.sh"

MIB=$((1 << 20))

# map_check CASE START LEN AWK-COND: every extent of `qemu-img map` that
# overlaps [START, START+LEN) satisfies AWK-COND over present/zero/data/
# offset (offset is -1 when absent).
map_check() {
	local c=$1 s=$2 l=$3 cond=$4
	qemu-img map --output=json img.qcow2 >map.json 2>&1 || {
		fail "$c" "qemu-img map"
		return 1
	}
	sed -n 's/.*"start": *\([0-9]*\), *"length": *\([0-9]*\),.*"present": *\([a-z]*\), *"zero": *\([a-z]*\), *"data": *\([a-z]*\)\(.*"offset": *\([0-9]*\)\)\{0,1\}.*/\1 \2 \3 \4 \5 \7/p' \
		map.json >map.txt
	if ! awk -v s="$s" -v e=$((s + l)) '
		{ st = $1; en = $1 + $2; present = $3 == "true"; zero = $4 == "true"
		  data = $5 == "true"; offset = $6 == "" ? -1 : $6 }
		en > s && st < e { seen += (en < e ? en : e) - (st > s ? st : s)
		  if (!('"$cond"')) { print "extent " $0; bad = 1 } }
		END { if (seen != e - s) { print "covered " seen; bad = 1 }; exit bad }' \
		map.txt >mapcheck.log; then
		fail "$c" "qemu-img map: not ($cond) over [$s, +$l)"
		diag <mapcheck.log
		return 1
	fi
}

# zeros_at CASE OFF_MIB LEN_MIB: the device reads zeros there.
zeros_at() {
	dd if="$DEV" of=got bs=1M skip="$2" count="$3" iflag=direct 2>/dev/null
	if ! cmp -s got <(dd if=/dev/zero bs=1M count="$3" 2>/dev/null); then
		fail "$1" "[$2M, +$3M) does not read as zeros"
		return 1
	fi
}

data_at() {
	dd if="$DEV" of=got bs=1M skip="$2" count="$3" iflag=direct 2>/dev/null
	dd if=data of=want bs=1M skip="$2" count="$3" 2>/dev/null
	if ! cmp -s got want; then
		fail "$1" "[$2M, +$3M) lost its data"
		return 1
	fi
}

ublk_init
qemu-img create -q -f qcow2 img.qcow2 64M
random_file data $((32 * 1024))
ublk_add add.log -f img.qcow2 || { fail add add; ublk_main_end; }
dd if=data of="$DEV" bs=1M oflag=direct 2>/dev/null
if ! run discard.log blkdiscard -o $((4 * MIB)) -l $((4 * MIB)) "$DEV"; then
	fail discard "blkdiscard"
elif zeros_at discard 4 4 && data_at discard 0 4 && data_at discard 8 4; then
	DISCARD_OK=1
fi
if ! run zero.log blkdiscard -z -o $((12 * MIB)) -l $((4 * MIB)) "$DEV"; then
	fail write-zeroes-nounmap "blkdiscard -z"
elif zeros_at write-zeroes-nounmap 12 4 && data_at write-zeroes-nounmap 16 4; then
	ZERO_OK=1
fi
# fallocate(PUNCH_HOLE) on a block device: WRITE_ZEROES, unmap allowed
if ! run punch.log fio --name=punch --filename="$DEV" --ioengine=falloc \
	--rw=trim --bs=4M --offset=$((20 * MIB)) --size=$((4 * MIB)); then
	fail write-zeroes-unmap "fio falloc trim (fallocate PUNCH_HOLE)"
elif zeros_at write-zeroes-unmap 20 4 && data_at write-zeroes-unmap 24 4; then
	PUNCH_OK=1
fi
# a discard of parts of clusters: allowed to do nothing, must not fail
# nor touch the data around it
if ! run odd.log blkdiscard -o $((28 * MIB + 4096)) -l $((64 * 1024)) "$DEV"; then
	fail discard-unaligned "blkdiscard"
elif data_at discard-unaligned 27 1 && data_at discard-unaligned 29 3; then
	UNALIGNED_OK=1
fi
ublk_del "$ID" || fail del "del"
img_check image img.qcow2
[ -n "${DISCARD_OK:-}" ] && map_check discard $((4 * MIB)) $((4 * MIB)) 'zero && !data' &&
	pass discard
[ -n "${ZERO_OK:-}" ] && map_check write-zeroes-nounmap $((12 * MIB)) $((4 * MIB)) 'zero && !data && offset >= 0' &&
	pass write-zeroes-nounmap
[ -n "${PUNCH_OK:-}" ] && map_check write-zeroes-unmap $((20 * MIB)) $((4 * MIB)) 'zero && !data && offset < 0' &&
	pass write-zeroes-unmap
[ -n "${UNALIGNED_OK:-}" ] && pass discard-unaligned
ublk_main_end
