#!/bin/bash
# ublk-qcow (with the kernel copying data, with --user-copy and with
# --zero-copy; GUEST_KERNEL=forky for a kernel that offers it) against
# qemu-nbd + nbd (same qcow2 image) and the kernel loop driver (raw file,
# same data), measured in one run of the test guest:
# 4k random read/write IOPS, 4k random writes into a fresh image, 1M
# sequential bandwidth.  Prints the table of bench/ublk-guest.sh.
#
#     bench/ublk.sh [SECONDS] [QUEUES] [REPEAT]     (after make)
#
# The guest is emulated (TCG): compare columns, not absolute figures.
set -eu
cd "$(dirname "$0")/.."
[ -x bin/ublk-qcow ] || { echo "bench/ublk.sh: run make first" >&2; exit 1; }
echo "# host: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1)"
echo "# command: bench/ublk.sh $*"
GUEST_TIMEOUT=${GUEST_TIMEOUT:-1200} tests/guest/run.sh bench/ublk-guest.sh "$@" 2>&1 |
	grep '^| \|^|-\|^# \|ublk-bench:\|^ublk-qcow:\|^qemu-nbd:' || true
st=${PIPESTATUS[0]}
exit "$st"
