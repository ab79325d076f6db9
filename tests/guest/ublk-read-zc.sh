#!/bin/bash
# ublk-read.sh with `add --zero-copy`: zeros, decompressed clusters and
# the guest part of copy-on-write merges go through /dev/ublkcN, the rest
# straight between the image file and the request's pages; with
# --batch-io (the default with zero copy), so that `make check` covers
# that pair.  SKIP where the kernel does not offer both (GUEST_KERNEL=forky
# has them).
#     tests/guest/run.sh tests/guest/ublk-read-zc.sh
export T=ublk-read-zc UBLK_ADD_OPTS="--zero-copy --batch-io"
exec bash "$(dirname "$0")/ublk-read.sh" "$@"
