#!/bin/bash
# docs/design.md's file table ("## Shape") against the files of qcow/,
# and docs/ublk.md's ("## Sources") against those of ublksrv/:
# fails naming each source file the table does not list and each file
# the table names that does not exist, so the page stays true.
set -u
cd "$(dirname "$0")/../.." || exit 2

# names DOC HEADING: the `file` names in the first column of the table
# under "## HEADING" (a cell may name several: `a.c`, `b.h`).
names() {
	awk -v h="## $2" '
		$0 == h { on = 1; next }
		on && /^## / { exit }
		on && /^\| / {
			n = split($0, cell, "|")
			s = cell[2]
			while (match(s, /`[^`]+`/)) {
				print substr(s, RSTART + 1, RLENGTH - 2)
				s = substr(s, RSTART + RLENGTH)
			}
		}' "$1" | sort -u
}

# check DOC HEADING DIR: the table against the .c and .h files under DIR
# (names relative to DIR; a listed ../path is outside it).
check() {
	local doc=$1 heading=$2 dir=$3 listed files f bad=0

	listed=$(names "$doc" "$heading")
	if [ -z "$listed" ]; then
		echo "FAIL: design-table/$dir $doc has no table under ## $heading"
		return
	fi
	files=$(cd "$dir" && find . -name '*.[ch]' | sed 's|^\./||' | sort -u)
	for f in $files; do
		if ! grep -qxF -- "$f" <<<"$listed"; then
			echo "FAIL: design-table/$dir/$f missing from $doc's table"
			bad=1
		fi
	done
	for f in $listed; do
		case $f in *.c | *.h) ;; *) continue ;; esac
		if [ ! -f "$dir/$f" ]; then
			echo "FAIL: design-table/$dir/$f listed in $doc but no such file"
			bad=1
		fi
	done
	[ $bad -eq 0 ] && echo "PASS: design-table/$dir ($(wc -w <<<"$files") files)"
}

check docs/design.md Shape qcow
check docs/ublk.md 'Sources (`ublksrv/`)' ublksrv
[ -f include/qcow.h ] && ! grep -qxF -- ../include/qcow.h \
	<<<"$(names docs/design.md Shape)" &&
	echo "FAIL: design-table/include/qcow.h missing from docs/design.md's table"
exit 0
