#!/bin/bash
# Where -q 1 and -q 2 differ, in one run of the test guest
# (bench/ublk-placement-guest.sh): fio held on CPU 0, -q 1 with its thread
# free and held on CPU 1, -q 2 with -o affinity=others and any.
#
#     bench/ublk-placement.sh [SECONDS] [REPEAT] [RW] [BS] [DEPTH]
#         (after make; GUEST_KERNEL=forky for 7.2)
#
# The guest is emulated (TCG): compare columns, not absolute figures.
set -eu
cd "$(dirname "$0")/.."
[ -x bin/ublk-qcow ] || { echo "bench/ublk-placement.sh: run make first" >&2; exit 1; }
echo "# host: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1)"
echo "# command: ${GUEST_KERNEL:+GUEST_KERNEL=$GUEST_KERNEL }bench/ublk-placement.sh$(printf " %q" "$@")"
GUEST_TIMEOUT=${GUEST_TIMEOUT:-1800} tests/guest/run.sh bench/ublk-placement-guest.sh "$@" 2>&1 |
	grep '^| \|^|-\|^# \|ublk-bench:\|^ublk-qcow:' || true
exit "${PIPESTATUS[0]}"
