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
[ -x bin/ublk-qcow ] || { echo "bench/ublk-batch.sh: run make first" >&2; exit 1; }
echo "# host: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1)"
echo "# command: bench/ublk-batch.sh $*"
GUEST_KERNEL=${GUEST_KERNEL-forky} GUEST_TIMEOUT=${GUEST_TIMEOUT:-1800} \
	tests/guest/run.sh bench/ublk-batch-guest.sh "$@" 2>&1 |
	grep '^| \|^|-\|^# \|ublk-batch-bench:' || true
st=${PIPESTATUS[0]}
exit "$st"
