#!/bin/bash
# UBLK_F_BATCH_IO against the per-tag commands, INSIDE the test guest
# (bench/ublk-batch.sh boots it): fio on ublk-qcow with the kernel
# copying data (-o zero_copy=off) and with --zero-copy, each without and
# with --batch-io, with 1 and 2 queues, in this one run; images in the
# guest's memory (tmpfs).  One table line per case and queue count:
# "| case | queues | copy | copy+batch | zc | zc+batch | batch/copy |
# batch/zc |".  Each case measures the four in turn, REPEAT times, and
# keeps the best of each (the host may be busy).  A mode the kernel lacks
# measures 0.
#
#     bench/ublk-batch-guest.sh [SECONDS] [REPEAT]    (default 4, 2)
#
# Under TCG only the ratios between columns of one run mean anything.
set -u

SECS=${1:-4}
REPEAT=${2:-2}
UBLK=/host/bin/ublk-qcow
DIR=/tmp/ublk-batch-bench
SIZE_MIB=256
DEV=
MODES=("-o zero_copy=off,batch_io=off" "-o zero_copy=off --batch-io"
	"--zero-copy -o batch_io=off"
	"--zero-copy --batch-io")

die() {
	echo "ublk-batch-bench: $*" >&2
	exit 1
}

cleanup() {
	"$UBLK" del -a >/dev/null 2>&1
	rm -rf "$DIR"
}

# fio_run DEV RW BS DEPTH: IOPS (4k) or MB/s (1M) on stdout.
fio_run() {
	local dev=$1 rw=$2 bs=$3 depth=$4 out
	out=$(cd "$DIR" && fio --name=b --filename="$dev" --rw="$rw" --bs="$bs" \
		--iodepth="$depth" --ioengine=io_uring --direct=1 \
		--runtime="$SECS" --time_based --randrepeat=0 \
		--verify_state_save=0 --output-format=terse --terse-version=3 \
		2>/dev/null) || return 1
	# terse v3: read bw KB/s 7, read IOPS 8; write bw 48, write IOPS 49
	echo "$out" | awk -F';' -v bs="$bs" -v rw="$rw" '{
		w = rw ~ /write/; iops = w ? $49 : $8; bw = w ? $48 : $7
		if (bs == "4k") printf "%d\n", iops; else printf "%d\n", bw * 1024 / 1e6 }'
}

# measure QUEUES MODE RW BS DEPTH: one number (0: the mode is refused).
measure() {
	local q=$1 mode=$2 v
	shift 2
	# shellcheck disable=SC2086 # the mode's options, split on purpose
	if ! DEV=$("$UBLK" add -f "$DIR/full.qcow2" -q "$q" $mode 2>"$DIR/add.err"); then
		echo "ublk-batch-bench: add -q $q $mode: $(head -c 200 "$DIR/add.err")" >&2
		echo 0
		return
	fi
	v=$(fio_run "$DEV" "$@") || v=0
	"$UBLK" del -a >/dev/null
	echo "$v"
}

ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'
}

max() { if [ "$1" -gt "$2" ]; then echo "$1"; else echo "$2"; fi; }

# row NAME UNIT QUEUES RW BS DEPTH: the four modes, a table line.
row() {
	local name=$1 unit=$2 q=$3 i m
	local -a best=(0 0 0 0)
	shift 3
	for ((i = 0; i < REPEAT; i++)); do
		for m in 0 1 2 3; do
			best[m]=$(max "${best[m]}" "$(measure "$q" "${MODES[m]}" "$@")")
		done
	done
	printf '| %-31s | %6s | %9s | %10s | %9s | %9s | %10s | %8s |\n' \
		"$name ($unit)" "$q" "${best[0]}" "${best[1]}" "${best[2]}" \
		"${best[3]}" "$(ratio "${best[1]}" "${best[0]}")" \
		"$(ratio "${best[3]}" "${best[2]}")"
}

main() {
	local q
	[ -x "$UBLK" ] || die "$UBLK not built"
	rm -rf "$DIR"
	mkdir -p "$DIR"
	trap cleanup EXIT
	dd if=/dev/urandom of="$DIR/full.raw" bs=1M count=$SIZE_MIB 2>/dev/null
	qemu-img convert -O qcow2 "$DIR/full.raw" "$DIR/full.qcow2"
	rm -f "$DIR/full.raw"
	echo "# guest: Linux $(uname -r), $(nproc) vCPUs (TCG), image in tmpfs;" \
		"$SECS s per job, best of $REPEAT; fio io_uring O_DIRECT, 1 job"
	"$UBLK" features | grep '^batch io\|^zero copy' | sed 's/^/# /'
	printf '| %-31s | %6s | %9s | %10s | %9s | %9s | %10s | %8s |\n' \
		case queues copy copy+batch zc zc+batch batch/copy batch/zc
	printf '|%s|%s|%s|%s|%s|%s|%s|%s|\n' --------------------------------- \
		-------- ----------- ------------ ----------- ----------- \
		------------ ----------
	for q in 1 2; do
		row "4k random read, QD32" IOPS "$q" randread 4k 32
		row "4k random write, QD32" IOPS "$q" randwrite 4k 32
		row "1M sequential read, QD8" MB/s "$q" read 1M 8
		row "1M sequential write, QD8" MB/s "$q" write 1M 8
	done
}

main "$@"
