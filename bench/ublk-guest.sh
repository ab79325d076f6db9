#!/bin/bash
# Block-device benchmark INSIDE the test guest (bench/ublk.sh boots it):
# fio on ublk-qcow -o zero_copy=off (the kernel copies data into the
# server's buffers; the default where zero copy is not offered), on
# ublk-qcow --user-copy (the server reads and writes it on
# /dev/ublkcN), on ublk-qcow --zero-copy (the image file's I/O uses the
# request's pages), on qemu-nbd + nbd serving the same qcow2 image, and
# on the kernel loop driver over a raw file with the same contents, all
# in this run, images in the guest's memory (tmpfs).  Prints one table
# line per case ("| case | ublk | ublk uc | ublk zc | nbd | loop |
# ublk/nbd | ublk/loop | uc/ublk | zc/ublk |").  Each case measures the
# five in turn, REPEAT times, and keeps the best of each (the host may be
# busy with other work).  A mode the kernel lacks measures 0.
#
#     bench/ublk-guest.sh [SECONDS] [QUEUES] [REPEAT]    (default 5, 1, 2)
#
# Under TCG only the ratios between columns of one run mean anything.
set -u

SECS=${1:-5}
QUEUES=${2:-1}
REPEAT=${3:-2}
UBLK=/host/bin/ublk-qcow
DIR=/tmp/ublk-bench
SIZE_MIB=256
DEV=

die() {
	echo "ublk-bench: $*" >&2
	exit 1
}

cleanup() {
	detach
	rm -rf "$DIR"
}

# fio_run DEV RW BS DEPTH [EXTRA...]: IOPS (4k) or MB/s (1M) on stdout.
fio_run() {
	local dev=$1 rw=$2 bs=$3 depth=$4 out
	shift 4
	out=$(cd "$DIR" && fio --name=b --filename="$dev" --rw="$rw" --bs="$bs" \
		--iodepth="$depth" --ioengine=io_uring --direct=1 \
		--runtime="$SECS" --time_based --randrepeat=0 \
		--verify_state_save=0 --output-format=terse --terse-version=3 \
		"$@" 2>/dev/null) || return 1
	# terse v3: read bw KB/s 7, read IOPS 8; write bw 48, write IOPS 49
	echo "$out" | awk -F';' -v bs="$bs" -v rw="$rw" '{
		w = rw ~ /write/; iops = w ? $49 : $8; bw = w ? $48 : $7
		if (bs == "4k") printf "%d\n", iops; else printf "%d\n", bw * 1024 / 1e6 }'
}

# attach KIND IMAGE: sets DEV to a block device serving IMAGE.
attach() {
	case $1 in
	ublk)
		DEV=$("$UBLK" add -f "$2" -q "$QUEUES" -o zero_copy=off) ||
			die "ublk-qcow add failed"
		;;
	ublk-uc)
		DEV=$("$UBLK" add -f "$2" -q "$QUEUES" --user-copy) || return 1
		;;
	ublk-zc)
		DEV=$("$UBLK" add -f "$2" -q "$QUEUES" --zero-copy) || return 1
		;;
	nbd)
		qemu-nbd -c /dev/nbd0 -f qcow2 "$2" || die "qemu-nbd -c failed"
		DEV=/dev/nbd0
		;;
	loop)
		DEV=$(losetup -f)
		losetup "$DEV" "$2" || die "losetup failed"
		;;
	esac
	ATTACHED=$1
}

detach() {
	case ${ATTACHED:-} in
	ublk | ublk-uc | ublk-zc) "$UBLK" del -a >/dev/null ;;
	nbd) qemu-nbd -d /dev/nbd0 >/dev/null ;;
	loop) losetup -d "$DEV" ;;
	esac
	ATTACHED=
}

# measure KIND IMAGE RW BS DEPTH: one number.
measure() {
	local kind=$1 img=$2 v
	shift 2
	attach "$kind" "$img" || { echo 0; return; }
	v=$(fio_run "$DEV" "$@") || v=0
	detach
	echo "$v"
}

ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'
}

max() { if [ "$1" -gt "$2" ]; then echo "$1"; else echo "$2"; fi; }

# measure_fresh KIND RW BS DEPTH: on a new empty image (raw for loop).
measure_fresh() {
	local kind=$1 img
	shift
	rm -f "$DIR/fresh.qcow2" "$DIR/fresh.raw"
	if [ "$kind" = loop ]; then
		img=$DIR/fresh.raw
		truncate -s 128M "$img"
	else
		img=$DIR/fresh.qcow2
		qemu-img create -q -f qcow2 "$img" 128M
	fi
	measure "$kind" "$img" "$@"
	rm -f "$img"
}

# row NAME UNIT RW BS DEPTH full|fresh: the four devices, a table line.
row() {
	local name=$1 unit=$2 fresh=$6 u=0 c=0 z=0 n=0 l=0 i
	shift 2
	for ((i = 0; i < REPEAT; i++)); do
		if [ "$fresh" = fresh ]; then
			u=$(max "$u" "$(measure_fresh ublk "$1" "$2" "$3")")
			c=$(max "$c" "$(measure_fresh ublk-uc "$1" "$2" "$3")")
			z=$(max "$z" "$(measure_fresh ublk-zc "$1" "$2" "$3")")
			n=$(max "$n" "$(measure_fresh nbd "$1" "$2" "$3")")
			l=$(max "$l" "$(measure_fresh loop "$1" "$2" "$3")")
		else
			u=$(max "$u" "$(measure ublk "$DIR/full.qcow2" "$1" "$2" "$3")")
			c=$(max "$c" "$(measure ublk-uc "$DIR/full.qcow2" "$1" "$2" "$3")")
			z=$(max "$z" "$(measure ublk-zc "$DIR/full.qcow2" "$1" "$2" "$3")")
			n=$(max "$n" "$(measure nbd "$DIR/full.qcow2" "$1" "$2" "$3")")
			l=$(max "$l" "$(measure loop "$DIR/full.raw" "$1" "$2" "$3")")
		fi
	done
	printf '| %-36s | %9s | %9s | %9s | %9s | %9s | %8s | %9s | %7s | %7s |\n' \
		"$name ($unit)" "$u" "$c" "$z" "$n" "$l" "$(ratio "$u" "$n")" \
		"$(ratio "$u" "$l")" "$(ratio "$c" "$u")" "$(ratio "$z" "$u")"
}

main() {
	[ -x "$UBLK" ] || die "$UBLK not built"
	rm -rf "$DIR"
	mkdir -p "$DIR"
	trap cleanup EXIT
	dd if=/dev/urandom of="$DIR/full.raw" bs=1M count=$SIZE_MIB 2>/dev/null
	qemu-img convert -O qcow2 "$DIR/full.raw" "$DIR/full.qcow2"
	echo "# guest: Linux $(uname -r), $(nproc) vCPUs (TCG), images in tmpfs;" \
		"$SECS s per job, best of $REPEAT; ublk-qcow -q $QUEUES;" \
		"fio io_uring O_DIRECT, 1 job"
	printf '| %-36s | %9s | %9s | %9s | %9s | %9s | %8s | %9s | %7s | %7s |\n' \
		case ublk-qcow "ublk uc" "ublk zc" qemu-nbd loop ublk/nbd \
		ublk/loop uc/ublk zc/ublk
	printf '|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n' -------------------------------------- \
		----------- ----------- ----------- ----------- ----------- \
		---------- ----------- --------- ---------
	row "4k random read, QD32" IOPS randread 4k 32 full
	row "4k random write, QD32" IOPS randwrite 4k 32 full
	row "4k random write, fresh, QD32" IOPS randwrite 4k 32 fresh
	row "64k random read, QD16" MB/s randread 64k 16 full
	row "64k random write, QD16" MB/s randwrite 64k 16 full
	row "1M sequential read, QD8" MB/s read 1M 8 full
	row "1M sequential write, QD8" MB/s write 1M 8 full
}

main "$@"
