#!/bin/bash
# ublk-fio.sh with `add --zero-copy`: the image's file I/O reads and
# writes the request's own pages (UBLK_F_AUTO_BUF_REG).  SKIP where the
# kernel does not offer it (GUEST_KERNEL=forky has it).
#     tests/guest/run.sh tests/guest/ublk-fio-zc.sh
# -o batch_io=off: the per-tag commands (ublk-batch.sh covers batching).
export T=ublk-fio-zc UBLK_ADD_OPTS="--zero-copy -o batch_io=off"
exec bash "$(dirname "$0")/ublk-fio.sh" "$@"
