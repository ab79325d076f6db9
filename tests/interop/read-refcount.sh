#!/bin/bash
# Read-path interop: every refcount width (refcount_bits 1..64) on 4k
# clusters; with internal snapshots where the width allows refcount 2.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source=tests/interop/read-workloads.bash
. "$(dirname "$0")/read-workloads.bash"

# b_refcount BITS
b_refcount() {
	local bits=$1 cs=4096
	b_plain $cs 1.1 "refcount_bits=$bits" || return 1
	[ "$bits" -eq 1 ] && return 0
	qimg snapshot -c snap1 "$IMG" || return 1
	ws_after_snapshot "$IMG" $cs || return 1
	qimg snapshot -c snap2 "$IMG"
}

read_setup
for bits in 1 2 4 8 16 32 64; do
	config "c4k-v3-r$bits" b_refcount $bits
done
finish
