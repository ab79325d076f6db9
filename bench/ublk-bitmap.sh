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
. bench/lib-host.sh
echo "# host load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
st=0
guest_bench bench/ublk-bitmap-guest.sh 1800 \
	'^| \|^|-\|^# \|ublk-bench:\|^ublk-qcow:\|^qemu-' "$@" || st=$?
echo "# host load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
exit "$st"
