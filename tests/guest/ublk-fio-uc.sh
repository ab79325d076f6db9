#!/bin/bash
# ublk-fio.sh with `add --user-copy`: the server moves each request's
# data with reads and writes on /dev/ublkcN (UBLK_F_USER_COPY).  SKIP
# where the kernel does not offer it.
#     tests/guest/run.sh tests/guest/ublk-fio-uc.sh
export T=ublk-fio-uc UBLK_ADD_OPTS=--user-copy
exec bash "$(dirname "$0")/ublk-fio.sh" "$@"
