#!/bin/bash
# ublk-recover.sh with `add --user-copy`: a recovered device keeps moving
# data by user copy (the kernel remembers the flag).  SKIP where the
# kernel does not offer it.
#     tests/guest/run.sh tests/guest/ublk-recover-uc.sh
export T=ublk-recover-uc UBLK_ADD_OPTS=--user-copy
exec bash "$(dirname "$0")/ublk-recover.sh" "$@"
