#!/bin/bash
# Our tools under valgrind memcheck, for the damaged-image corpus (labels
# valgrind/bad-* of tests/run.sh; QCOW_VALGRIND=1 in tests/lib.sh):
#
#     QCOW_VALGRIND=1 bash tests/interop/bad-tables.sh
#
# qcow-img and qcow-io here are symlinks to this script, which runs the
# program of that name from $QCOW_VG_BIN (default bin/, the -O2 -g build:
# valgrind cannot run the ASan one) under memcheck: memory read before it
# was written is a class ASan and UBSan do not see.  Reads through
# io_uring are checked too (the engine tells memcheck what the kernel
# wrote, qio_mark_read() in qcow/io.c); QCOW_SYNC_IO=1 checks the
# pread/pwrite path instead.  QCOW_VG_ORIGINS=yes adds --track-origins
# (where the uninitialised value was allocated; a third slower, so not by
# default: rerun a failing case with it).  Any memcheck error makes the program exit 99 with the report on
# stderr after a first line "VALGRIND: ..." (bad-lib.bash counts it as a
# sanitizer report).
set -u
name=$(basename "$0")
here=$(dirname "$(readlink -f "$0")")
prog=${QCOW_VG_BIN:-$here/../../bin}/$name
if [ ! -x "$prog" ]; then
	echo "$0: $prog is not built (make all)" >&2
	exit 126
fi
log=$(mktemp "${TMPDIR:-/tmp}/vg-$name.XXXXXX") || exit 126
valgrind -q --tool=memcheck --error-exitcode=99 --vgdb=no \
	--track-origins="${QCOW_VG_ORIGINS:-no}" --leak-check=no \
	--log-file="$log" "$prog" "$@"
rc=$?
if [ $rc -eq 99 ]; then
	echo "VALGRIND: memcheck errors in $name $*" >&2
	cat "$log" >&2
fi
rm -f "$log"
exit $rc
