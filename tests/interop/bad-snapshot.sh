#!/bin/bash
# Damaged internal snapshots opened for reading (convert -l, qcow-io -l):
# an L1 table of the snapshot past the end of the file, unaligned, at
# offset 0, or too large; an L2 entry of it past the end or unaligned.
# Each is refused (or its read fails) with one line naming the image (and,
# for the L1 table, the field), never a hang or a crash; the image is not
# written and its active layer still reads as qemu-img reads it.
# Runs under valgrind too (valgrind/bad-snapshot).
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source=tests/interop/bad-lib.bash
. "$(dirname "$0")/bad-lib.bash"

require_qemu
setup_work
SETUP_LOG=$WORK/res/setup.log

build_base() {
	qimg create -f qcow2 base.qcow2 16M &&
		qio base.qcow2 "write -P 1 0 64k" "write -P 2 1M 128k" &&
		qimg snapshot -c s1 base.qcow2 &&
		qio base.qcow2 "write -P 3 1M 64k" "write -P 4 8M 64k"
}
if ! build_base; then
	fail "setup" "qemu could not build the base image (log: $SETUP_LOG)"
	finish
fi
# qemu_ref ARGS OUT (ARGS split at spaces)
qemu_ref() {
	# shellcheck disable=SC2086
	"$QEMU_IMG" convert -O raw $1 "$2" 2>/dev/null
}
qemu_ref base.qcow2 active.raw || { fail setup "qemu-img convert failed"; finish; }

# NAME WORD ASSIGNMENT: open of snapshot s1 refused naming WORD.
# NAME - ASSIGNMENT: the snapshot opens; reading its first cluster fails
#   (the engine's line on the damage, then the tool's).
# NAME = ASSIGNMENT: the export equals qemu-img's (a cluster past the end
#   of the file reads as zeros in both).
run_case() {
	local name=$1 word=$2 img=c-$1.qcow2 before rc
	shift 2
	cp base.qcow2 "$img"
	poke "$img" "$@" || { fail "snap/$name" "qpoke failed: test bug"; return; }
	before=$(sums "$img")
	trun "res/$name.cvt" "$QCOW_IMG" convert -O raw -l s1 "$img" "out-$name.raw"
	rc=$?
	broke "snap/$name/convert" "res/$name.cvt" $rc && return
	if [ "$word" = = ]; then
		qemu_ref "-l s1 $img" "ref-$name.raw"
		if [ $rc -ne 0 ] || ! cmp -s "ref-$name.raw" "out-$name.raw"; then
			fail "snap/$name/convert" "export (exit $rc) differs from qemu-img's"
		else
			pass "snap/$name/convert"
		fi
		rm -f "ref-$name.raw" "out-$name.raw"
		return
	fi
	if [ $rc -eq 0 ]; then
		fail "snap/$name/convert" "convert -l of the damaged snapshot exited 0"
		return
	fi
	if [ "$word" = - ]; then
		grep -qF -- "$img" "res/$name.cvt.err" ||
			{ fail "snap/$name/convert" "the error does not name $img"; return; }
	else
		one_line_err "snap/$name/convert" "res/$name.cvt" "$img" || return
	fi
	if [ "$word" != - ] && ! grep -qF -- "$word" "res/$name.cvt.err"; then
		fail "snap/$name/convert" "the error does not name $word: $(cat "res/$name.cvt.err")"
		return
	fi
	pass "snap/$name/convert"
	trun "res/$name.io" "$QCOW_IO" -l s1 -c "read 0 64k" "$img"
	rc=$?
	broke "snap/$name/io" "res/$name.io" $rc && return
	if [ $rc -eq 0 ]; then
		fail "snap/$name/io" "qcow-io -l read the damaged snapshot"
	elif [ "$word" != - ] && ! one_line_err "snap/$name/io" "res/$name.io" "$img"; then
		:
	else
		pass "snap/$name/io"
	fi
	[ "${QCOW_VALGRIND:-0}" = 1 ] && return	# a repeat there: keep it short
	trun "res/$name.act" "$QCOW_IMG" convert -O raw "$img" "act-$name.raw"
	rc=$?
	broke "snap/$name/active" "res/$name.act" $rc && return
	if [ $rc -ne 0 ] || ! cmp -s active.raw "act-$name.raw"; then
		fail "snap/$name/active" "the active layer no longer reads as qemu-img's (exit $rc)"
	elif [ "$(sums "$img")" != "$before" ]; then
		fail "snap/$name/active" "the image was written"
	else
		pass "snap/$name/active"
	fi
	rm -f "out-$name.raw" "act-$name.raw"
}

run_case l1-past-eof l1_table_offset 'snap[0].l1_table_offset=0x10000000'
run_case l1-past-eof-2e63 l1_table_offset 'snap[0].l1_table_offset=1<<63'
run_case l1-unaligned l1_table_offset 'snap[0].l1_table_offset+=0x200'
run_case l1-zero l1_table_offset 'snap[0].l1_table_offset=0'
run_case l1-size-huge l1_size 'snap[0].l1_size=0x2000000'
run_case l1-size-max l1_size 'snap[0].l1_size=0xffffffff'
run_case l1-size-past-eof l1_table_offset 'snap[0].l1_size=0x100000'
run_case l2-past-eof - 'sl1[0][0]=0x1000000'
run_case l2-unaligned - 'sl1[0][0]=(E&MASK)+0x200'
run_case data-past-eof = 'u64@(sl1(0,0)&MASK)=0x8000000000100000'
finish
