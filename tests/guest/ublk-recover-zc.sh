#!/bin/bash
# ublk-recover.sh with `add --zero-copy`: a recovered device keeps zero
# copy (the kernel remembers the flag).  SKIP where the kernel does not
# offer it.
#     tests/guest/run.sh tests/guest/ublk-recover-zc.sh
# -o batch_io=off: the per-tag commands (ublk-batch.sh covers batching).
export T=ublk-recover-zc UBLK_ADD_OPTS="--zero-copy -o batch_io=off"
exec bash "$(dirname "$0")/ublk-recover.sh" "$@"
