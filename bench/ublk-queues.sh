#!/bin/bash
# Two queues against one, ublk-qcow with its defaults, in one run of the
# test guest (bench/ublk-queues-guest.sh): the rows of bench/ublk.sh,
# -q 1 and -q 2 alternating REPEAT times, best and median of each
# (ublk-qcow add -o OPTIONS if given), with one fio job and with two.
#
#     bench/ublk-queues.sh [SECONDS] [REPEAT] [OPTIONS] [JOBS] [ROWS] [CPUS]
#         (after make; OPTIONS: ublk-qcow add -o; GUEST_KERNEL=forky for 7.2;
#         JOBS, ROWS, CPUS: see bench/ublk-queues-guest.sh)
#
# The guest is emulated (TCG): compare columns, not absolute figures.
set -eu
cd "$(dirname "$0")/.."
[ -x bin/ublk-qcow ] || { echo "bench/ublk-queues.sh: run make first" >&2; exit 1; }
echo "# host: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1)"
echo "# command: ${GUEST_KERNEL:+GUEST_KERNEL=$GUEST_KERNEL }bench/ublk-queues.sh$(printf " %q" "$@")"
GUEST_TIMEOUT=${GUEST_TIMEOUT:-1800} tests/guest/run.sh bench/ublk-queues-guest.sh "$@" 2>&1 |
	grep '^| \|^|-\|^# \|ublk-bench:\|^ublk-qcow:' || true
exit "${PIPESTATUS[0]}"
