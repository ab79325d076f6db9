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
. bench/lib-host.sh
guest_bench bench/ublk-affinity-guest.sh 1200 \
	'^| \|^|-\|^# \|ublk-bench:\|^ublk-qcow:' "$@"
