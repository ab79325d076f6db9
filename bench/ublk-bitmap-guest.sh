#!/bin/bash
# The cost of persistent dirty bitmaps behind ublk-qcow, INSIDE the test
# guest (bench/ublk-bitmap.sh boots it), images in the guest's tmpfs:
#
# 1. fio 4k random writes, QD32, on a 256 MiB qcow2 image of random data
#    (every cluster allocated) with no bitmap, with one enabled 64 KiB
#    bitmap, with four (qemu-img bitmap --add); each measured on a fresh
#    copy, the three in turn, REPEAT rounds: the best of each and its
#    ratios to "none", and the median of the rounds' ratios (each round's
#    three runs are seconds apart, so the host's load moves them less).
# 2. `ublk-qcow del` of a 1 TiB qcow2 image after 4 KiB writes every
#    GiB (1024 writes: every cluster of a 64 KiB bitmap's 2 MiB holds
#    dirty bits), with one enabled 64 KiB bitmap and without; REPEAT
#    times each, alternating; every time printed, and the best.
#
#     bench/ublk-bitmap-guest.sh [SECONDS] [QUEUES] [REPEAT]  (default 5, 1, 3)
#
# Under TCG only the ratios between columns of one run mean anything.
set -u

SECS=${1:-5}
QUEUES=${2:-1}
REPEAT=${3:-3}
UBLK=/host/bin/ublk-qcow
DIR=/tmp/ublk-bitmap-bench
SIZE_MIB=256

die() {
	echo "ublk-bench: $*" >&2
	exit 1
}

cleanup() {
	"$UBLK" del -a >/dev/null 2>&1
	rm -rf "$DIR"
}

# fio_iops DEV: 4k random write IOPS.
fio_iops() {
	(cd "$DIR" && fio --name=b --filename="$1" --rw=randwrite --bs=4k \
		--iodepth=32 --ioengine=io_uring --direct=1 --runtime="$SECS" \
		--time_based --randrepeat=0 --output-format=terse \
		--terse-version=3 2>/dev/null) | awk -F';' '{ printf "%d\n", $49 }'
}

# with_bitmaps IMG N: N enabled 64 KiB bitmaps b0..b(N-1).
with_bitmaps() {
	local i
	for ((i = 0; i < $2; i++)); do
		qemu-img bitmap --add -g 64k "$1" "b$i" || die "qemu-img bitmap --add"
	done
}

# iops N: a fresh copy of full.qcow2 with N bitmaps, attached, measured.
iops() {
	local img=$DIR/run.qcow2 dev v
	cp "$DIR/full.qcow2" "$img"
	with_bitmaps "$img" "$1"
	dev=$("$UBLK" add -f "$img" -q "$QUEUES") || die "ublk-qcow add failed"
	v=$(fio_iops "$dev")
	"$UBLK" del -n "${dev#/dev/ublkb}" || die "del failed"
	rm -f "$img"
	echo "${v:-0}"
}

ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "-" }'
}

max() { if [ "$1" -gt "$2" ]; then echo "$1"; else echo "$2"; fi; }

# median of the numbers on stdin
median() {
	sort -g | awk '{ v[NR] = $1 } END {
		if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# Rounds of none, one, four in turn; per round the ratios to none.
iops_table() {
	local none=0 one=0 four=0 i a b c r1="" r4="" all=""
	for ((i = 0; i < REPEAT; i++)); do
		a=$(iops 0) || exit 1
		b=$(iops 1) || exit 1
		c=$(iops 4) || exit 1
		none=$(max "$none" "$a")
		one=$(max "$one" "$b")
		four=$(max "$four" "$c")
		r1+="$(ratio "$b" "$a") "
		r4+="$(ratio "$c" "$a") "
		all+=" $a/$b/$c"
	done
	echo "| 4k random write, QD32 (IOPS) | no bitmap | 1 bitmap | 4 bitmaps | 1/none | 4/none |"
	echo "|------------------------------|-----------|----------|-----------|--------|--------|"
	printf '| best of %d | %d | %d | %d | %s | %s |\n' "$REPEAT" \
		"$none" "$one" "$four" "$(ratio "$one" "$none")" "$(ratio "$four" "$none")"
	printf '| median of the rounds'"'"' ratios | | | | %s | %s |\n' \
		"$(echo "$r1" | tr ' ' '\n' | grep . | median)" \
		"$(echo "$r4" | tr ' ' '\n' | grep . | median)"
	echo "# rounds (none/one/four IOPS):$all"
}

now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }

# del_ms N: 1 TiB image with N bitmaps, a write every GiB, del timed.
del_ms() {
	local img=$DIR/big.qcow2 dev t0 t1
	rm -f "$img"
	qemu-img create -q -f qcow2 "$img" 1T || die "qemu-img create"
	with_bitmaps "$img" "$1"
	dev=$("$UBLK" add -f "$img" -q "$QUEUES") || die "ublk-qcow add failed"
	# number_ios: fio would otherwise go on until it wrote size bytes
	(cd "$DIR" && fio --name=w --filename="$dev" --rw=write:1048572k \
		--bs=4k --size=1T --number_ios=1024 --ioengine=io_uring \
		--direct=1 --iodepth=8 >/dev/null 2>&1) ||
		die "fio on the 1 TiB device"
	t0=$(now_ms)
	"$UBLK" del -n "${dev#/dev/ublkb}" || die "del failed"
	t1=$(now_ms)
	qemu-img check -q "$img" || die "qemu-img check after del (bitmaps $1)"
	if [ "$1" -gt 0 ] && qemu-img info "$img" | grep -q 'in-use'; then
		die "bitmap still in use after del"
	fi
	rm -f "$img"
	echo $((t1 - t0))
}

del_table() {
	local i a b all_a="" all_b="" best_a=999999 best_b=999999
	for ((i = 0; i < REPEAT; i++)); do
		a=$(del_ms 0) && [ -n "$a" ] || exit 1
		b=$(del_ms 1) && [ -n "$b" ] || exit 1
		all_a+=" $a"
		all_b+=" $b"
		[ "$a" -lt "$best_a" ] && best_a=$a
		[ "$b" -lt "$best_b" ] && best_b=$b
	done
	echo "| del of a 1 TiB image, 1024 writes | no bitmap | one 64 KiB bitmap | added |"
	echo "|-----------------------------------|-----------|-------------------|-------|"
	printf '| best of %d (ms) | %d | %d | %d |\n' "$REPEAT" "$best_a" "$best_b" \
		$((best_b - best_a))
	printf '| every run (ms) |%s |%s | |\n' "$all_a" "$all_b"
}

main() {
	[ -x "$UBLK" ] || die "$UBLK not built"
	rm -rf "$DIR"
	mkdir -p "$DIR"
	trap cleanup EXIT
	dd if=/dev/urandom of="$DIR/full.raw" bs=1M count=$SIZE_MIB 2>/dev/null
	qemu-img convert -O qcow2 "$DIR/full.raw" "$DIR/full.qcow2"
	rm -f "$DIR/full.raw"
	echo "# guest: Linux $(uname -r), $(nproc) vCPUs (TCG), images in tmpfs;" \
		"$SECS s per fio job, best of $REPEAT; ublk-qcow -q $QUEUES;" \
		"fio io_uring O_DIRECT, 1 job"
	iops_table
	del_table
}

main "$@"
