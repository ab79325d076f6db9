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
. bench/lib-host.sh
guest_bench bench/ublk-placement-guest.sh 1800 \
	'^| \|^|-\|^# \|ublk-bench:\|^ublk-qcow:' "$@"
