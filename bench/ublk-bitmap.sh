#!/bin/bash
# The cost of dirty bitmaps behind ublk-qcow (issue #19), in one run of the
# test guest: fio 4k random writes QD32 with no, one and four enabled
# 64 KiB bitmaps, and the time `del` takes on a 1 TiB image with one
# 64 KiB bitmap against none.  Prints the tables of
# bench/ublk-bitmap-guest.sh.
#
#     bench/ublk-bitmap.sh [SECONDS] [QUEUES] [REPEAT]     (after make)
#
# The guest is emulated (TCG): compare columns, not absolute figures.
set -eu
cd "$(dirname "$0")/.."
[ -x bin/ublk-qcow ] || { echo "bench/ublk-bitmap.sh: run make first" >&2; exit 1; }
echo "# host: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1)"
echo "# command: bench/ublk-bitmap.sh $*"
echo "# host load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
GUEST_TIMEOUT=${GUEST_TIMEOUT:-1800} tests/guest/run.sh bench/ublk-bitmap-guest.sh "$@" 2>&1 |
	grep '^| \|^|-\|^# \|ublk-bench:\|^ublk-qcow:\|^qemu-' || true
st=${PIPESTATUS[0]}
echo "# host load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
exit "$st"
