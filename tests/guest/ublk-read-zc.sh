#!/bin/bash
# ublk-read.sh with `add --zero-copy`: zeros, decompressed clusters and
# the guest part of copy-on-write merges go through /dev/ublkcN, the rest
# straight between the image file and the request's pages.  SKIP where
# the kernel does not offer it (GUEST_KERNEL=forky has it).
#     tests/guest/run.sh tests/guest/ublk-read-zc.sh
export T=ublk-read-zc UBLK_ADD_OPTS=--zero-copy
exec bash "$(dirname "$0")/ublk-read.sh" "$@"
