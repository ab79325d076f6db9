#!/bin/bash
# Two queues against one, ublk-qcow with its defaults, in one run of the
# test guest (bench/ublk-queues-guest.sh): the rows of bench/ublk.sh,
# -q 1 and -q 2 alternating REPEAT times, best and median of each
# (ublk-qcow add -o OPTIONS if given), with one fio job and with two.
#
#     bench/ublk-queues.sh [SECONDS] [REPEAT] [OPTIONS] [JOBS] [ROWS] [CPUS]
#         (after make; OPTIONS: ublk-qcow add -o; GUEST_KERNEL=forky for 7.2;
#         JOBS, ROWS, CPUS: see bench/ublk-queues-guest.sh)
#
# The guest is emulated (TCG): compare columns, not absolute figures.
set -eu
cd "$(dirname "$0")/.."
. bench/lib-host.sh
guest_bench bench/ublk-queues-guest.sh 1800 \
	'^| \|^|-\|^# \|ublk-bench:\|^ublk-qcow:' "$@"
