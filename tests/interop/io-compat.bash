# shellcheck shell=bash
# The comparison of one qcow-io command line with qemu-io 7.2 (sourced by
# qemu-io-compat.sh and blkdebug-compat.sh): qemu-io in ref/, qcow-io in
# ours/, on copies of $SRC (and base.qcow2, src.bin) in each.

# io_mask FILE: the transcript without timings (the statistics line and
# the -C line keep their byte and op counts), a command's usage line
# without what the command does (ours says it in our words).
io_mask() {
	sed -E -e 's/( ops; ).*/\1TIME/' \
		-e 's/^([0-9]+,[0-9]+),[0-9:.]+,.*$/\1,TIME/' \
		-e 's/^([a-z_]+( .*)?) -- .*/\1 -- WHAT/' "$1"
}

# usage_only REF OURS: qemu-io printed its --help on a bad command line;
# ours says why in one line on stderr, nothing on stdout.
usage_only() {
	[ -s "$2" ] && echo "ours printed on stdout: $(head -n 1 "$2")" &&
		return 1
	[ "$(wc -l <"$2.err")" -eq 1 ] && grep -q '^qemu-io: ' "$2.err" &&
		return 0
	echo "ours did not print one line on stderr: $(head -n 2 "$2.err")"
	return 1
}

# err_lines REF OURS: as many lines on our stderr as on qemu-io's, each
# ours equal to qemu-io's line or one of our own messages ("qemu-io: ..."
# once our program name is rewritten).
err_lines() {
	local ref=$1 ours=$2 r o
	if [ "$(wc -l <"$ref")" -ne "$(wc -l <"$ours")" ]; then
		echo "$(wc -l <"$ours") lines on stderr, qemu-io's $(wc -l <"$ref")"
		return 1
	fi
	while IFS= read -r r <&3 && IFS= read -r o <&4; do
		[ "$r" = "$o" ] && continue
		case $o in "qemu-io: "?*) continue ;; esac
		echo "stderr line '$o' is not qemu-io's '$r' nor one of ours"
		return 1
	done 3<"$ref" 4<"$ours"
}

# fresh: both directories hold a copy of $SRC (and base.raw, src.bin).
fresh() {
	local d
	for d in ref ours; do
		rm -rf "$d" && mkdir "$d" &&
			cp "$SRC" "$d/img.$FMT" && cp src.bin "$d/" ||
			return 1
		cp base.qcow2 "$d/" || return 1	# the overlays' backing
	done
	return 0
}

# run_side DIR TOOL STDIN ARGS...: TOOL in DIR, standard input from STDIN.
run_side() {
	local dir=$1 tool=$2 in=$3
	shift 3
	(cd "$dir" && timeout -k 5 "$CMD_TIMEOUT" "$tool" "$@" <"$in")
}

# compat NAME [-i STDIN_FILE] [--sorted] ARGS...: one case.  ARGS are
# the command line of both tools (img.$FMT is the image in each
# directory).  --sorted: stdout compared as sorted lines (aio requests
# completing in the order they finish).
compat() {
	local name=io-compat/$1 in=/dev/null order=cat f rc rrc why
	shift
	if [ "$1" = -i ]; then
		in=$WORK/$2
		shift 2
	fi
	if [ "${1:-}" = --sorted ]; then
		order="sort"
		shift
	fi
	f=$(case_file "$name")
	if ! fresh; then
		fail "$name" "cannot copy the images"
		return 1
	fi
	run_side ref "$QEMU_IO" "$in" "$@" >"$f.ref" 2>"$f.ref.err"
	rrc=$?
	run_side ours "$QCOW_IO" "$in" "$@" >"$f.ours" 2>"$f.ours.err"
	rc=$?
	sed -i "s|^$(basename "$QCOW_IO"):|qemu-io:|" "$f.ours.err"
	# what bash says of a process that died by a signal names its pid
	sed -i -E 's/^.*: line [0-9]+: +[0-9]+ /SHELL: /' "$f.ref.err" \
		"$f.ours.err"
	if [ $rc -ne $rrc ]; then
		fail "$name" "exit status $rc, qemu-io's $rrc"
		cat "$f.ours" "$f.ours.err" | diag 6
		return 1
	fi
	if grep -q '^Usage: qemu-io ' "$f.ref"; then
		if ! why=$(usage_only "$f.ref" "$f.ours"); then
			fail "$name" "$why"
			return 1
		fi
		pass "$name"
		return 0
	fi
	if ! diff <(io_mask "$f.ref" | sed -E "$QEMU_IO_WORDING" | $order) \
		<(io_mask "$f.ours" | $order) >"$f.diff"; then
		fail "$name" "stdout differs from qemu-io's (< qemu-io, > ours)"
		diag 12 <"$f.diff"
		return 1
	fi
	if ! why=$(err_lines "$f.ref.err" "$f.ours.err"); then
		fail "$name" "$why"
		return 1
	fi
	# NO_CHECK: the images need a secret; the caller compares them
	[ -n "${NO_CHECK:-}" ] && { pass "$name"; return 0; }
	if [ -e "ref/img.$FMT" ] &&
		! run_to "$f.cmp" "$QEMU_IMG" compare -f "$FMT" -F "$FMT" \
			"ref/img.$FMT" "ours/img.$FMT"; then
		fail "$name" "qemu-img compare: $(head -c 200 "$f.cmp")"
		return 1
	fi
	if [ "$FMT" = qcow2 ] && ! run_to "$f.chk" "$QEMU_IMG" check \
		"ours/img.$FMT"; then
		fail "$name" "qemu-img check of ours fails"
		diag 5 <"$f.chk"
		return 1
	fi
	pass "$name"
}
