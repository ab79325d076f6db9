#!/bin/bash
# Where the queue threads run (ublk-qcow -o affinity=queue|any|others),
# measured in one run of the test guest (bench/ublk-affinity-guest.sh):
# one fio job (4k random reads at QD32 unless told) on a full qcow2
# image, -q 1 and -q 2 in each mode, alternating, best of REPEAT.
#
#     bench/ublk-affinity.sh [SECONDS] [REPEAT] [RW] [BS] [DEPTH]   (after make)
#
# The guest is emulated (TCG): compare rows, not absolute figures.
set -eu
cd "$(dirname "$0")/.."
[ -x bin/ublk-qcow ] || { echo "bench/ublk-affinity.sh: run make first" >&2; exit 1; }
echo "# host: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1)"
echo "# command: bench/ublk-affinity.sh $*"
GUEST_TIMEOUT=${GUEST_TIMEOUT:-1200} tests/guest/run.sh bench/ublk-affinity-guest.sh "$@" 2>&1 |
	grep '^| \|^|-\|^# \|ublk-bench:\|^ublk-qcow:' || true
exit "${PIPESTATUS[0]}"
