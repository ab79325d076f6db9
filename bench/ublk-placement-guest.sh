#!/bin/bash
# INSIDE the test guest (bench/ublk-placement.sh boots it): where the
# difference between -q 1 and -q 2 comes from, with one fio job held on
# CPU 0 (1M sequential reads at QD8 by default, over a 256 MiB qcow2 image
# of random data in tmpfs).  Four cases alternate REPEAT times:
#   free    -q 1, its thread anywhere (-o affinity=others with one queue)
#   held    -q 1, the daemon held on CPU 1 (taskset), where -q 2 puts
#           the thread serving CPU 0's queue
#   q2      -q 2, the default placement (others)
#   q2-any  -q 2, -o affinity=any
# and of each pair of runs in one round it prints the median, the lowest
# and how many are at least 1: held/free (holding the thread off the
# submitter's CPU), q2/held (a second queue, placement alike), q2/free
# (the default comparison) and q2-any/free (both threads free).
#
#     bench/ublk-placement-guest.sh [SECONDS] [REPEAT] [RW] [BS] [DEPTH]
#                                   (default 3 8 read 1M 8)
set -u

SECS=${1:-3}
REPEAT=${2:-8}
RW=${3:-read}
BS=${4:-1M}
DEPTH=${5:-8}
UBLK=/host/bin/ublk-qcow
DIR=/tmp/ublk-placement
export FIO_CPUS=0

. "$(dirname "$0")/lib-guest.sh"

# daemon_pid: the ublk-qcow daemon's pid (one device at a time here)
daemon_pid() {
	local d

	for d in /proc/[0-9]*; do
		[ "$(cat "$d/comm" 2>/dev/null)" = ublk-qcow ] && basename "$d"
	done
}

# one QUEUES AFFINITY HOLD: one run; HOLD a CPU list to hold the daemon's
# threads on, or "-"
one() {
	local dev v

	dev=$("$UBLK" add -f "$DIR/full.qcow2" -q "$1" -o "affinity=$2") ||
		die "ublk-qcow add failed"
	if [ "$3" != - ]; then
		taskset -a -p -c "$3" "$(daemon_pid)" >/dev/null ||
			die "taskset failed"
	fi
	v=$(fio_run "$dev" "$RW" "$BS" "$DEPTH")
	"$UBLK" del -a >/dev/null || die "ublk-qcow del failed"
	echo "${v:-0}"
}

# summary NAME RATIO...: NAME's row of the table
summary() {
	local name=$1

	shift
	printf '| %-12s | %6s | %6s | %6s |\n' "$name" "$(median "$@")" \
		"$(lowest "$@")" "$(at_least_1 "$@")"
}

[ -x "$UBLK" ] || die "$UBLK not built"
[ "$(nproc)" = 2 ] || die "needs 2 vCPUs, has $(nproc)"
command -v taskset >/dev/null || die "no taskset"
mkdir -p "$DIR" || die "mkdir $DIR"
trap 'rm -rf "$DIR"' EXIT
full_image "$DIR"
held_free=() q2_held=() q2_free=() any_free=()
for ((i = 0; i < REPEAT; i++)); do
	free=$(one 1 others -)
	held=$(one 1 others 1)
	q2=$(one 2 others -)
	any=$(one 2 any -)
	echo "# round $i: free $free, held $held, q2 $q2, q2-any $any"
	held_free+=("$(ratio "$held" "$free")")
	q2_held+=("$(ratio "$q2" "$held")")
	q2_free+=("$(ratio "$q2" "$free")")
	any_free+=("$(ratio "$any" "$free")")
done
echo "# guest: Linux $(uname -r), $(nproc) vCPUs (TCG), image in tmpfs;" \
	"fio $BS $RW QD$DEPTH, 1 job on CPU 0, $SECS s; $REPEAT rounds;" \
	"ratios of the runs of one round"
printf '| %-12s | %6s | %6s | %6s |\n' ratio median lowest ">= 1"
echo "|--------------|--------|--------|--------|"
summary held/free "${held_free[@]}"
summary q2/held "${q2_held[@]}"
summary q2/free "${q2_free[@]}"
summary q2-any/free "${any_free[@]}"
