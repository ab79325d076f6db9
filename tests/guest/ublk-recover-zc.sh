#!/bin/bash
# ublk-recover.sh with `add --zero-copy`: a recovered device keeps zero
# copy (the kernel remembers the flag).  SKIP where the kernel does not
# offer it.
#     tests/guest/run.sh tests/guest/ublk-recover-zc.sh
export T=ublk-recover-zc UBLK_ADD_OPTS=--zero-copy
exec bash "$(dirname "$0")/ublk-recover.sh" "$@"
