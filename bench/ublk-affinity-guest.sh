#!/bin/bash
# INSIDE the test guest (bench/ublk-affinity.sh boots it): fio (4k random
# reads, QD32, by default), one job, on ublk-qcow -q 1 and -q 2 with each
# -o affinity= mode, over a 256 MiB qcow2 image of random data in tmpfs.
# The cases alternate REPEAT times; each keeps its best.  Prints a table
# (IOPS for 4k, else MB/s).
#
#     bench/ublk-affinity-guest.sh [SECONDS] [REPEAT] [RW] [BS] [DEPTH]
#                                  (default 3 4 randread 4k 32)
set -u

SECS=${1:-3}
REPEAT=${2:-4}
RW=${3:-randread}
BS=${4:-4k}
DEPTH=${5:-32}
UBLK=/host/bin/ublk-qcow
DIR=/tmp/ublk-affinity
MODES="queue any others"

. "$(dirname "$0")/lib-guest.sh"

# one QUEUES MODE: IOPS of one run.
one() {
	local dev v
	dev=$("$UBLK" add -f "$DIR/full.qcow2" -q "$1" \
		-o "zero_copy=off,affinity=$2") || die "ublk-qcow add failed"
	v=$(fio_run "$dev" "$RW" "$BS" "$DEPTH")
	"$UBLK" del -a >/dev/null || die "ublk-qcow del failed"
	echo "${v:-0}"
}

mkdir -p "$DIR" || die "mkdir $DIR"
full_image "$DIR"
declare -A best
for ((i = 0; i < REPEAT; i++)); do
	for m in $MODES; do
		for q in 1 2; do
			v=$(one "$q" "$m")
			[ "$v" -gt "${best[$q$m]:-0}" ] && best[$q$m]=$v
		done
	done
done
echo "# $(nproc) vCPUs; fio $BS $RW QD$DEPTH, 1 job, $SECS s, best of $REPEAT"
printf '| %-8s | %9s | %9s | %9s |\n' affinity "-q 1" "-q 2" "q2/q1"
echo "|----------|-----------|-----------|-----------|"
for m in $MODES; do
	printf '| %-8s | %9s | %9s | %9s |\n' "$m" "${best[1$m]}" "${best[2$m]}" \
		"$(awk -v a="${best[2$m]}" -v b="${best[1$m]}" \
			'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')"
done
rm -rf "$DIR"
