#!/bin/bash
# INSIDE the test guest (bench/ublk-queues.sh boots it): ublk-qcow with
# its defaults, -q 1 against -q 2, on the rows of bench/ublk-guest.sh
# (images in tmpfs), with one fio job and then with two.  Per row the two
# alternate REPEAT times, each going first in turn; prints the best and
# the median of each, their ratios, and of the ratios of the pairs run
# back to back the median, the lowest and how many are at least 1 (IOPS
# for 4k, else MB/s).
#
#     bench/ublk-queues-guest.sh [SECONDS] [REPEAT] [OPTIONS] [JOBS] [ROWS] [CPUS]
#         (default 3 6, no -o: OPTIONS is ublk-qcow add's -o; JOBS the
#         fio job counts, default "1 2"; ROWS an extended regular
#         expression the rows' names must match, default all; CPUS the
#         guest CPUs fio runs on, default any)
set -u

SECS=${1:-3}
REPEAT=${2:-6}
OPTS=${3:-}
JOB_COUNTS=${4:-1 2}
ROWS=${5:-.}
export FIO_CPUS=${6:-}
UBLK=/host/bin/ublk-qcow
DIR=/tmp/ublk-queues

. "$(dirname "$0")/lib-guest.sh"

# one QUEUES JOBS full|fresh RW BS DEPTH: one measurement
one() {
	local q=$1 jobs=$2 img=$DIR/full.qcow2 dev v
	shift
	if [ "$2" = fresh ]; then
		img=$DIR/fresh.qcow2
		rm -f "$img"
		qemu-img create -q -f qcow2 "$img" 128M || die "qemu-img create failed"
	fi
	dev=$("$UBLK" add -f "$img" -q "$q" ${OPTS:+-o "$OPTS"}) ||
		die "ublk-qcow add failed"
	v=$(JOBS=$jobs fio_run "$dev" "$3" "$4" "$5")
	"$UBLK" del -a >/dev/null || die "ublk-qcow del failed"
	echo "${v:-0}"
}

# row NAME UNIT JOBS full|fresh RW BS DEPTH
row() {
	local name=$1 unit=$2 i one_q=() two_q=() pairs=() b1 b2 m1 m2
	shift 2
	grep -Eq -- "$ROWS" <<<"$name" || return 0
	for ((i = 0; i < REPEAT; i++)); do
		if ((i % 2)); then
			two_q+=("$(one 2 "$@")")
			one_q+=("$(one 1 "$@")")
		else
			one_q+=("$(one 1 "$@")")
			two_q+=("$(one 2 "$@")")
		fi
		pairs+=("$(ratio "${two_q[i]}" "${one_q[i]}")")
	done
	b1=$(best "${one_q[@]}")
	b2=$(best "${two_q[@]}")
	m1=$(median "${one_q[@]}")
	m2=$(median "${two_q[@]}")
	printf '| %-44s | %8s | %8s | %6s | %8s | %8s | %6s | %6s | %6s | %6s |\n' \
		"$name, $1 job$([ "$1" = 1 ] || echo s) ($unit)" \
		"$b1" "$b2" "$(ratio "$b2" "$b1")" "$m1" "$m2" "$(ratio "$m2" "$m1")" \
		"$(median "${pairs[@]}")" "$(lowest "${pairs[@]}")" "$(at_least_1 "${pairs[@]}")"
}

[ -x "$UBLK" ] || die "$UBLK not built"
rm -rf "$DIR"
mkdir -p "$DIR" || die "mkdir $DIR"
trap 'rm -rf "$DIR"' EXIT
full_image "$DIR"
echo "# guest: Linux $(uname -r), $(nproc) vCPUs (TCG), images in tmpfs;" \
	"ublk-qcow ${OPTS:+-o }${OPTS:-defaults}; fio io_uring O_DIRECT, $SECS s," \
	"each job its own part of the disk${FIO_CPUS:+, fio on CPUs $FIO_CPUS};" \
	"$REPEAT alternating runs each;" \
	"pairs: q2/q1 of the runs made back to back, median, lowest, how many >= 1"
printf '| %-44s | %8s | %8s | %6s | %8s | %8s | %6s | %6s | %6s | %6s |\n' case \
	"best q1" "best q2" q2/q1 "med q1" "med q2" q2/q1 pairs lowest "q2 >="
echo "|----------------------------------------------|----------|----------|--------|----------|----------|--------|--------|--------|--------|"
for jobs in $JOB_COUNTS; do
	row "4k random read, QD32" IOPS $jobs full randread 4k 32
	row "4k random write, QD32" IOPS $jobs full randwrite 4k 32
	row "4k random write, fresh, QD32" IOPS $jobs fresh randwrite 4k 32
	row "64k random read, QD16" MB/s $jobs full randread 64k 16
	row "64k random write, QD16" MB/s $jobs full randwrite 64k 16
	row "1M sequential read, QD8" MB/s $jobs full read 1M 8
	row "1M sequential write, QD8" MB/s $jobs full write 1M 8
done
