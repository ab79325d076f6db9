#!/bin/bash
# The ublk block-device tests alone: every tests/guest/ublk-*.sh, each in
# its own test guest, through the test runner (the last phase of `make
# check` runs the same).
#
#     tests/guest-suite.sh [NAME...]     # e.g. ublk-fio ublk-recover
#
# GUEST_KERNEL=forky (or another Debian suite, e.g. trixie-backports)
# runs them on that suite's newer kernel instead of trixie's 6.12
# (tests/guest/lib-kernel.sh; fetched once, ~125 MB):
#     GUEST_KERNEL=forky tests/guest-suite.sh
#
# The scripts use bin/ublk-qcow; to run one with the sanitizer build
# (make SAN=1): tests/guest/run.sh tests/guest/ublk-fio.sh asan
cd "$(dirname "$0")/.." || exit 2
if [ $# -eq 0 ]; then
	set -- guest/
else
	set -- "${@/#/guest/}"
fi
exec tests/run.sh "$@"
