#!/bin/bash
# UBLK_F_BATCH_IO measured against the per-tag commands in one run of the
# test guest on a kernel that offers it (bench/ublk-batch-guest.sh: 4k
# random reads and writes at QD32, 1M sequential at QD8, 1 and 2 queues,
# kernel copy and zero copy, each without and with --batch-io).
#
#     bench/ublk-batch.sh [SECONDS] [REPEAT]     (after make)
#
# GUEST_KERNEL defaults to forky here (7.2; the default guest's 6.12 has
# no BATCH_IO: its batch columns would be 0).  Compare columns, not
# absolute figures: the guest is emulated (TCG).
set -eu
cd "$(dirname "$0")/.."
. bench/lib-host.sh
GUEST_KERNEL=${GUEST_KERNEL-forky} guest_bench bench/ublk-batch-guest.sh 1800 \
	'^| \|^|-\|^# \|ublk-batch-bench:' "$@"
