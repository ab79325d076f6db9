#!/bin/bash
# Read-path interop: internal snapshots (qemu-img snapshot -c/-d/-a) with
# writes after them: shared clusters (refcount > 1), copy-on-write,
# a snapshot table with a deleted entry, an applied snapshot.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source=tests/interop/read-workloads.bash
. "$(dirname "$0")/read-workloads.bash"

# b_snap CS COMPAT [OPTS]: three snapshots, the middle one deleted.
b_snap() {
	local cs=$1
	b_plain "$cs" "$2" "${3:-}" || return 1
	qimg snapshot -c snap1 "$IMG" || return 1
	ws_after_snapshot "$IMG" "$cs" || return 1
	qimg snapshot -c snap2 "$IMG" || return 1
	qio "$IMG" "write -P 0x9c $((18 * cs + 7)) $((3 * cs))" \
		"discard $((7 * cs)) $cs" "write -z $((10 * cs)) $cs" || return 1
	qimg snapshot -c "third snapshot" "$IMG" || return 1
	qimg snapshot -d snap2 "$IMG" || return 1
	qio "$IMG" "write -P 0x9d $((13 * cs + 100)) 200" || return 1
	# ws_basic's 0x22 and 0x33 regions were just discarded/zeroed
	local e keep=()
	for e in "${EXPECT[@]}"; do
		case $e in 0x22\ * | 0x33\ *) ;; *) keep+=("$e") ;; esac
	done
	EXPECT=("${keep[@]}")
	expect_pattern 0x9c $((18 * cs + 7)) $((3 * cs))
	expect_pattern 0x00 $((7 * cs)) $cs
	expect_pattern 0x00 $((10 * cs)) $cs
}

# b_snap_applied CS: snapshot, overwrite, snapshot, revert to the first.
b_snap_applied() {
	local cs=$1
	b_plain "$cs" 1.1 || return 1
	qimg snapshot -c before "$IMG" || return 1
	qio "$IMG" "write -P 0x9e $((cs / 2 + 100)) $cs" \
		"write -P 0x9f $((13 * cs)) $cs" || return 1
	qimg snapshot -c after "$IMG" || return 1
	qimg snapshot -a before "$IMG" || return 1
	qio "$IMG" "write -P 0xa0 $((13 * cs + cs / 2)) 100" || return 1
	expect_pattern 0x00 $((13 * cs)) $((cs / 2))
	expect_pattern 0xa0 $((13 * cs + cs / 2)) 100
}

read_setup
config "snap-c64k-v3" b_snap 65536 1.1
config "snap-c4k-v2" b_snap 4096 0.10
config "snap-c64k-v3-extl2" b_snap 65536 1.1 extended_l2=on
config "snap-c4k-v3-r64" b_snap 4096 1.1 refcount_bits=64
config "snap-applied-c64k-v3" b_snap_applied 65536
finish
