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
. bench/lib-host.sh
guest_bench bench/ublk-guest.sh 1200 \
	'^| \|^|-\|^# \|ublk-bench:\|^ublk-qcow:\|^qemu-nbd:' "$@"
