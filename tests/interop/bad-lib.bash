# Helpers for the untrusted-image tests (tests/interop/bad-*.sh), sourced
# after tests/lib.sh.  Images are damaged with qpoke.py (see its
# docstring); every command under test runs under `timeout $BAD_TIMEOUT`
# and is checked for hangs, signals and sanitizer reports.
# With QCOW_VALGRIND=1 (labels valgrind/bad-*) our tools run under valgrind
# memcheck (tests/valgrind/run.sh), and `robust` runs fewer programs.
# shellcheck shell=bash

require_valgrind
if [ "${QCOW_VALGRIND:-0}" = 1 ]; then
	BAD_TIMEOUT=${BAD_TIMEOUT:-120}
else
	BAD_TIMEOUT=${BAD_TIMEOUT:-30}
fi
SAN_RE='VALGRIND:|AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|MemorySanitizer|runtime error:'
QPOKE=$TESTS_DIR/interop/qpoke.py

# poke IMG ASSIGNMENT...; poke_batch < lines "IMG ASSIGNMENT..."
poke() { python3 "$QPOKE" "$@"; }
poke_batch() { python3 "$QPOKE" --batch; }

# trun OUT CMD...: stdout to OUT, stderr to OUT.err, under BAD_TIMEOUT.
trun() {
	local out=$1
	shift
	timeout -k 2 "$BAD_TIMEOUT" "$@" >"$out" 2>"$out.err" </dev/null
}

# broke NAME OUT RC: FAIL NAME and succeed when the run hung, died of a
# signal, could not run, or printed a sanitizer report.
broke() {
	local name=$1 out=$2 rc=$3
	if { [ -s "$out.err" ] || [ "$rc" -ne 0 ]; } &&
	   grep -qE "$SAN_RE" "$out.err" "$out" 2>/dev/null; then
		fail "$name" "sanitizer report (exit $rc)"
		grep -hE -A30 "$SAN_RE" "$out.err" "$out" | diag 32
		return 0
	fi
	case $rc in
	124 | 137)
		fail "$name" "did not end within ${BAD_TIMEOUT}s"
		return 0 ;;
	126 | 127)
		fail "$name" "could not run the tool (exit $rc)"
		diag 3 <"$out.err"
		return 0 ;;
	esac
	if [ "$rc" -gt 128 ]; then
		fail "$name" "killed by signal $((rc - 128))"
		tail -n 5 "$out.err" | diag 5
		return 0
	fi
	return 1
}

# sums FILE...: one fingerprint of the files' contents.
sums() { cat "$@" 2>/dev/null | sha256sum; }

# dir_state DIR: fingerprint of every file in DIR (names and contents).
dir_state() { (cd "$1" && sha256sum -- * 2>&1); }

# nlines FILE: number of lines (a last line without newline counts).
nlines() { grep -c '' "$1"; }

# one_line_err NAME OUT IMG: the error is exactly one line naming IMG,
# without raw control characters (C0, DEL).
one_line_err() {
	local n
	n=$(nlines "$2.err")
	if [ "$n" -ne 1 ]; then
		fail "$1" "expected a one-line error naming $3 on stderr, got $n lines"
		diag 6 <"$2.err"
		return 1
	fi
	if ! grep -qF -- "$3" "$2.err"; then
		fail "$1" "the error does not name $3: $(head -c 200 "$2.err" | cat -v)"
		return 1
	fi
	# names taken from the image must not reach the terminal raw
	if LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]' "$2.err"; then
		fail "$1" "the error prints raw control characters: $(head -c 200 "$2.err" | cat -v)"
		return 1
	fi
	return 0
}

# jget FILE KEY: integer value of "KEY" in a flat JSON object ("" if absent)
jget() {
	tr -d ' \n' <"$1" | sed 's/[,{}]/\n/g' | sed -n "s/^\"$2\":\([0-9-]*\)\$/\1/p" | head -n 1
}

# jnorm FILE: a flat JSON object as sorted key:value lines.
jnorm() {
	tr -d '\n' <"$1" | sed 's/^ *{//; s/} *$//' | tr ',' '\n' |
		sed 's/^ *//; s/ *$//; s/": */":/' | grep -v '^$' | LC_ALL=C sort
}

# ------------------------------------------------------ check agreement

# check_agree NAME IMG: `check --output=json` of ours against qemu-img's:
# same exit status and the same JSON (counts, image-end-offset, ...); if
# qemu-img refuses to open IMG ours must refuse too with a one-line error
# naming IMG; if qemu-img's check fails without JSON ours must fail the
# same way.  Never writes IMG.  Sets CHECK_REFUSED=1 when qemu refused,
# REF_CHECK to qemu-img's JSON file.  Returns 0 when the case passed.
CHECK_REFUSED=
REF_CHECK=
check_agree() {
	local name=$1 img=$2 f rc rrc before msg
	f=$(case_file "$name")
	trun "$f.ref" "$QEMU_IMG" check --output=json "$img"
	rrc=$?
	REF_CHECK=$f.ref
	CHECK_REFUSED=
	grep -q "Could not open" "$f.ref.err" && CHECK_REFUSED=1
	before=$(sums "$img")
	trun "$f.ours" "$QCOW_IMG" check --output=json "$img"
	rc=$?
	broke "$name" "$f.ours" $rc && return 1
	if [ "$(sums "$img")" != "$before" ]; then
		fail "$name" "check without -r modified $img"
		return 1
	fi
	if [ -n "$CHECK_REFUSED" ]; then
		msg=$(head -n 1 "$f.ref.err")
		if [ $rc -eq 0 ] || [ -s "$f.ours" ]; then
			fail "$name" "qemu-img refuses the image ($msg); ours exits $rc and prints $(wc -c <"$f.ours") bytes"
			head -c 400 "$f.ours" | diag 8
			return 1
		fi
		one_line_err "$name" "$f.ours" "$img" || return 1
		if [ $rc -ne $rrc ]; then
			fail "$name" "both refuse, exit status $rc, qemu-img's $rrc"
			return 1
		fi
		pass "$name"
		note "refused by both: $msg"
		return 0
	fi
	if [ ! -s "$f.ref" ]; then
		# qemu-img opened the image but the check failed (no JSON)
		if [ $rc -ne $rrc ] || [ -s "$f.ours" ] || [ ! -s "$f.ours.err" ]; then
			fail "$name" "qemu-img's check fails (exit $rrc, no JSON: $(head -n 1 "$f.ref.err"));" \
				"ours exits $rc, prints $(wc -c <"$f.ours") bytes of JSON"
			head -n 3 "$f.ours.err" | diag 3
			return 1
		fi
		pass "$name"
		note "check fails in both: $(head -n 1 "$f.ref.err")"
		return 0
	fi
	if [ $rc -ne $rrc ]; then
		fail "$name" "exit status $rc, qemu-img's $rrc"
		json_diff "$f.ref" "$f.ours"
		head -n 3 "$f.ours.err" | diag 3
		return 1
	fi
	if [ "$(jnorm "$f.ref")" != "$(jnorm "$f.ours")" ]; then
		fail "$name" "check JSON differs from qemu-img's"
		json_diff "$f.ref" "$f.ours"
		return 1
	fi
	pass "$name"
}

# json_diff REF OURS: the differing key:value lines, as diagnostics.
json_diff() {
	diff <(jnorm "$1") <(jnorm "$2") | grep '^[<>]' |
		sed 's/^</qemu-img:/; s/^>/ours:    /' | diag 20
}

# fixed_agree NAME F: the repair's corruptions-fixed and leaks-fixed (in
# F.ours) as qemu-img's (F.ref).  A refcount block past the end of the
# file qemu-img first repairs by growing the file, one fix more, and then
# rebuilds the structure; we rebuild at once.
FIXED_ONE_LESS="refblock-past-eof refblock-past-eof-2"
fixed_agree() {
	local name=$1 f=$2 k want got base=${1#check/}
	base=${base%/r-*}
	for k in corruptions-fixed leaks-fixed; do
		want=$(jget "$f.ref" $k)
		got=$(jget "$f.ours" $k)
		want=${want:-0}
		got=${got:-0}
		[ "$got" = "$want" ] && continue
		if [ $k = corruptions-fixed ] && [ $((want - got)) -eq 1 ] &&
			[[ " $FIXED_ONE_LESS " == *" $base "* ]]; then
			note "$name: $k $got, qemu-img's $want (it grows the file first)"
			continue
		fi
		fail "$name" "$k $got, qemu-img's $want"
		return 1
	done
}

# repair_agree NAME IMG MODE: `check -r MODE` with ours and with qemu-img
# on two copies of IMG, then `qemu-img check` of both results.  If
# qemu-img's repair leaves the image clean, ours must too (same exit
# status of the repair, the same counts of what was fixed (fixed_agree),
# the same guest content as qemu-img's repair);
# otherwise ours must not leave more corruptions than the input had or
# than qemu-img's repair leaves, and must not claim success (exit 0) on an
# image that is not clean.  Uses $REF_CHECK (qemu-img check of IMG).
repair_agree() {
	local name=$1 img=$2 mode=$3 f rc rrc arc orc b d oc qc ic lim
	f=$(case_file "$name")
	b=$(basename "$img")
	d=$WORK/rep${BAD_WORKER:-}
	rm -rf "$d"
	mkdir -p "$d/ref" "$d/ours"
	cp "$img" "$d/ref/$b"
	cp "$img" "$d/ours/$b"
	(cd "$d/ref" && trun "$f.ref" "$QEMU_IMG" check -r "$mode" --output=json "$b")
	rrc=$?
	(cd "$d/ours" && trun "$f.ours" "$QCOW_IMG" check -r "$mode" --output=json "$b")
	rc=$?
	broke "$name" "$f.ours" $rc && return 1
	# a report (the JSON), or a failure with a message
	if ! grep -q '"check-errors"' "$f.ours" &&
	   { [ $rc -eq 0 ] || [ ! -s "$f.ours.err" ]; }; then
		fail "$name" "check -r $mode exits $rc without a JSON report or an error message"
		return 1
	fi
	trun "$f.ref.after" "$QEMU_IMG" check --output=json "$d/ref/$b"
	arc=$?
	trun "$f.ours.after" "$QEMU_IMG" check --output=json "$d/ours/$b"
	orc=$?
	oc=$(jget "$f.ours.after" corruptions)
	oc=${oc:-0}
	if [ $arc -eq 0 ]; then
		if [ $orc -ne 0 ]; then
			fail "$name" "after our check -r $mode (exit $rc) qemu-img check exits $orc" \
				"(corruptions ${oc}, leaks $(jget "$f.ours.after" leaks)); qemu-img's own repair ends clean"
			{ head -n 12 "$f.ours.err"; head -n 6 "$f.ours.after.err"; } | diag 18
			return 1
		fi
		if [ $rc -ne $rrc ]; then
			fail "$name" "check -r $mode exits $rc, qemu-img's $rrc"
			return 1
		fi
		fixed_agree "$name" "$f" || return 1
		trun "$f.cmp" "$QEMU_IMG" compare -f qcow2 -F qcow2 "$d/ref/$b" "$d/ours/$b"
		rc=$?
		if [ $rc -ne 0 ]; then
			# qemu-img may be unable to read its own result (damaged
			# data stays damaged): then the content is not compared
			if [ $rc -ge 2 ] && ! trun "$f.cmp2" "$QEMU_IMG" compare \
				-f qcow2 -F qcow2 "$d/ref/$b" "$d/ref/$b"; then
				pass "$name"
				note "guest content not compared: qemu-img cannot read its own repaired image"
				return 0
			fi
			fail "$name" "guest content after our repair differs from qemu-img's repair (compare exit $rc):" \
				"$(head -n 1 "$f.cmp") $(head -n 1 "$f.cmp.err")"
			return 1
		fi
		pass "$name"
		return 0
	fi
	if [ ! -s "$f.ours.after" ] && [ -s "$REF_CHECK" ]; then
		fail "$name" "after our check -r $mode (exit $rc) qemu-img cannot check the image: $(head -n 1 "$f.ours.after.err")"
		return 1
	fi
	if [ $rc -eq 0 ] && [ $orc -ne 0 ]; then
		fail "$name" "check -r $mode exits 0, but qemu-img check then exits $orc (corruptions $oc, leaks $(jget "$f.ours.after" leaks))"
		head -n 12 "$f.ours.after.err" | diag 12
		return 1
	fi
	ic=$(jget "$REF_CHECK" corruptions)
	qc=$(jget "$f.ref.after" corruptions)
	lim=${ic:-0}
	[ "${qc:-0}" -gt "$lim" ] && lim=${qc:-0}
	if [ "$oc" -gt "$lim" ]; then
		fail "$name" "our check -r $mode leaves $oc corruptions (input ${ic:-0}, after qemu-img's repair ${qc:-0})"
		{ head -n 8 "$f.ours.err"; head -n 8 "$f.ours.after.err"; } | diag 16
		return 1
	fi
	pass "$name"
	note "qemu-img's -r $mode does not end clean either (exit $rrc, then check $arc); ours: exit $rc, then check $orc"
}

# --------------------------------------------------- the program matrix
#
# robust NAME CLASS DIR IMG [BASE]: every program on DIR/IMG (DIR holds the
# image and any files of its chain; nothing else).  CLASS:
#   refuse  every program exits non-zero with a one-line error on stderr
#           naming IMG, and prints nothing on stdout;
#   open    the image opens: info succeeds, other programs either succeed
#           with their normal output or fail with an error message;
#   either  refuse or open, decided by what our `info` does;
#   badchain  the image opens alone (info, info --output=json as open)
#           but not with its backing chain (the others as refuse);
#   needfile  a file the image needs (its external data file) cannot be
#           used: info as either, the others as refuse.
# Always: within BAD_TIMEOUT, no signal, no sanitizer report, read-only
# programs leave every file of DIR byte-identical.  `qcow-io -c 'write 0
# 4k'` (and, on images that open, `write 4M 64k`, which allocates) runs on
# a copy of DIR: on an image qemu-img can check, qemu-img check must not
# find more corruptions afterwards (nor fail to open it).
# BASE (default IMG itself) is the second image of `compare`.
# Under valgrind (a second or more a run) see vg_skip.
robust() {
	local name=$1 class=$2 dir=$3 img=$4 base=${5:-} st f rc
	f=$(case_file "$name")
	base=${base:-$dir/$img}
	st=$(dir_state "$dir")
	R_DIR=$dir R_IMG=$img R_ST=$st R_F=$f
	local oc=$class
	if [ "$class" = either ] || [ "$class" = needfile ]; then
		# (under valgrind the probe is not a case: bin/'s tool)
		(cd "$dir" && trun "$f.probe" "$(probe_tool)" info "$img")
		rc=$?
		if [ $rc -eq 0 ]; then oc=open; else oc=refuse; fi
		[ "$class" = either ] && class=$oc
		[ "$class" = needfile ] && class=refuse
		note "$name: our info exits $rc: info checked as '$oc', the rest as '$class'"
	fi
	[ "$class" = badchain ] && oc=open
	r_prog "$name/info" "$oc" info "$QCOW_IMG" info "$img"
	# badchain: the image opens on its own (info), not with its chain
	[ "$class" = badchain ] && class=refuse
	R_VSIZE=
	r_prog "$name/info-json" "$oc" info-json "$QCOW_IMG" info --output=json "$img"
	R_VSIZE=$(jget "$f.info-json" virtual-size)
	r_prog "$name/map" "$class" map "$QCOW_IMG" map --output=json "$img"
	r_prog "$name/check" "$class" check "$QCOW_IMG" check "$img"
	r_prog "$name/convert" "$class" convert "$QCOW_IMG" convert -O raw "$img" "$f.raw"
	rm -f "$f.raw"
	r_prog "$name/compare" "$class" compare "$QCOW_IMG" compare "$img" "$(abs_path "$base")"
	r_prog "$name/io-read" "$class" io-read "$QCOW_IO" -r -c "read 0 64k" "$img"
	r_write "$name/io-write" "$class"
	# a write that allocates (new data cluster, refcount updates)
	[ "$class" = open ] && r_write "$name/io-write-alloc" open 4M 64k
}

probe_tool() {
	if [ "${QCOW_VALGRIND:-0}" = 1 ]; then
		echo "${QCOW_VG_BIN:-$REPO_ROOT/bin}/qcow-img"
	else
		echo "$QCOW_IMG"
	fi
}

abs_path() { case $1 in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }

# vg_skip KIND CLASS: under valgrind (about a second of CPU a run) each
# image gets one read-only program and the writes: info where it is
# refused, info --output=json and convert (block status, every read) where
# it opens, then the writes of r_write.  The rest add no engine path of
# their own (check has its corpus, bad-check.sh).
vg_skip() {
	[ "${QCOW_VALGRIND:-0}" = 1 ] || return 1
	case $1:$2 in
	info:refuse | info-json:open | convert:open) return 1 ;;
	esac
	return 0
}

# r_prog CASE CLASS KIND CMD...: one read-only program, run in R_DIR.
r_prog() {
	local name=$1 class=$2 kind=$3 rc out
	shift 3
	vg_skip "$kind" "$class" && return 0
	out=$R_F.$kind
	rm -f "$R_F.raw"
	(cd "$R_DIR" && trun "$out" "$@")
	rc=$?
	broke "$name" "$out" $rc && return $rc
	if [ "$(dir_state "$R_DIR")" != "$R_ST" ]; then
		fail "$name" "a read-only command modified the files of the image ($R_DIR)"
		return 1
	fi
	if [ "$class" = refuse ]; then
		if [ $rc -eq 0 ]; then
			fail "$name" "exit status 0 on an image that must be refused"
			head -n 5 "$out" | diag 5
			return 1
		fi
		one_line_err "$name" "$out" "$R_IMG" || return $rc
		if [ -s "$out" ]; then
			fail "$name" "refused, but printed on stdout: $(head -c 200 "$out")"
			return $rc
		fi
		pass "$name"
		return $rc
	fi
	# open: success with the program's normal output, or an error message
	if [ $rc -ne 0 ]; then
		if [ "$kind" = info ] || [ "$kind" = info-json ]; then
			fail "$name" "exit status $rc on an image that opens: $(head -n 2 "$out.err")"
			return $rc
		fi
		if [ "$kind" = compare ] && [ $rc -eq 1 ] && grep -q '^Content mismatch at offset' "$out"; then
			pass "$name"
			return $rc
		fi
		if [ "$kind" = check ] && { [ $rc -eq 2 ] || [ $rc -eq 3 ]; } && grep -q 'found on the image' "$out"; then
			pass "$name"
			return $rc
		fi
		if [ ! -s "$out.err" ] && [ ! -s "$out" ]; then
			fail "$name" "exit status $rc without an error message"
			return $rc
		fi
		pass "$name"
		note "$name: exit $rc: $(head -n 1 "$out.err")"
		return $rc
	fi
	if ! case $kind in
	info) grep -q '^virtual size: ' "$out" ;;
	info-json) [ -n "$(jget "$out" virtual-size)" ] ;;
	map) [ "$(head -c 1 "$out")" = "[" ] && grep -q '"start"' "$out" ;;
	check) grep -q 'No errors were found on the image' "$out" ;;
	convert) # (qemu-img rounds the size of a raw file up to 512)
		[ -f "$R_F.raw" ] && [ -n "$R_VSIZE" ] &&
		{ [ "$(stat -c %s "$R_F.raw")" = "$R_VSIZE" ] ||
		  [ "$(stat -c %s "$R_F.raw")" = $(((R_VSIZE + 511) / 512 * 512)) ]; } ;;
	compare) grep -q '^Images are identical' "$out" ;;
	io-read) grep -q '^read 65536/65536 bytes at offset 0' "$out" ;;
	esac then
		fail "$name" "exit status 0 without the normal output of $kind"
		{ head -n 5 "$out"; head -n 3 "$out.err"; } | diag 8
		return 1
	fi
	pass "$name"
	return 0
}

# r_write CASE CLASS [OFF LEN]: `qcow-io -c 'write OFF LEN'` (default 0
# 4k) on a copy of R_DIR.
r_write() {
	local name=$1 class=$2 off=${3:-0} len=${4:-4k} c rc before qb qa cb ca line
	c=$WORK/wcopy${BAD_WORKER:-}
	rm -rf "$c"
	cp -a "$R_DIR" "$c"
	line="wrote $(to_bytes "$len")/$(to_bytes "$len") bytes at offset $(to_bytes "$off")"
	(cd "$c" && trun "$R_F.write" "$QCOW_IO" -c "write $off $len" "$R_IMG")
	rc=$?
	broke "$name" "$R_F.write" $rc && return
	if [ "$class" = refuse ]; then
		if [ $rc -eq 0 ]; then
			fail "$name" "write exits 0 on an image that must be refused"
			return
		fi
		one_line_err "$name" "$R_F.write" "$R_IMG" || return
		if [ "$(dir_state "$c")" != "$R_ST" ]; then
			fail "$name" "refused, but the image files changed"
			return
		fi
		pass "$name"
		return
	fi
	if [ $rc -eq 0 ] && ! grep -qF "$line" "$R_F.write"; then
		fail "$name" "exit status 0 without '$line'"
		return
	fi
	if [ $rc -ne 0 ] && [ ! -s "$R_F.write.err" ] && [ ! -s "$R_F.write" ]; then
		fail "$name" "exit status $rc without an error message"
		return
	fi
	# unchanged files cannot be worse; else compare with qemu-img check
	# of the original
	if [ "$(dir_state "$c")" != "$R_ST" ] &&
	   { trun "$R_F.wref" "$QEMU_IMG" check --output=json "$R_DIR/$R_IMG"
	     qb=$?; [ -s "$R_F.wref" ]; }; then
		cb=$(jget "$R_F.wref" corruptions)
		trun "$R_F.wafter" "$QEMU_IMG" check --output=json "$c/$R_IMG"
		qa=$?
		ca=$(jget "$R_F.wafter" corruptions)
		if [ ! -s "$R_F.wafter" ]; then
			fail "$name" "after our write (exit $rc) qemu-img cannot check the image any more: $(head -n 1 "$R_F.wafter.err")"
			return
		fi
		if [ "${ca:-0}" -gt "${cb:-0}" ]; then
			# as bad as qemu-io's own write on the same image?
			rm -rf "$c"
			cp -a "$R_DIR" "$c"
			(cd "$c" && trun "$R_F.qwrite" "$QEMU_IO" -c "write $off $len" "$R_IMG")
			trun "$R_F.qafter" "$QEMU_IMG" check --output=json "$c/$R_IMG"
			qa=$(jget "$R_F.qafter" corruptions)
			if [ ! -s "$R_F.qafter" ] || [ "${ca:-0}" -gt "${qa:-0}" ]; then
				fail "$name" "our write (exit $rc) made it worse: qemu-img check finds ${ca:-0}" \
					"corruptions, ${cb:-0} before (${qa:-?} after qemu-io's write)"
				{ head -n 3 "$R_F.write" "$R_F.write.err"; head -n 8 "$R_F.wafter.err"; } | diag 14
				return
			fi
			note "$name: corruptions ${cb:-0} -> ${ca:-0}, as after qemu-io's own write (${qa:-0})"
		fi
		note "$name: write exit $rc; qemu-img check $qb -> $qa, corruptions ${cb:-0} -> ${ca:-0}"
	fi
	pass "$name"
}

# io_expect NAME DIR IMG good|bad PATTERN OFF LEN: `qcow-io -r -c 'read
# [-P PATTERN] OFF LEN'`: good: exit 0, the read line, pattern verified;
# bad: exits non-zero with an error (the region is damaged).
io_expect() {
	local name=$1 dir=$2 img=$3 want=$4 pat=$5 off=$6 len=$7 f rc cmd
	# under valgrind, healthy regions are read by convert (vg_skip)
	[ "${QCOW_VALGRIND:-0}" = 1 ] && [ "$want" = good ] && return 0
	f=$(case_file "$name")
	cmd="read${pat:+ -P $pat} $off $len"
	(cd "$dir" && trun "$f" "$QCOW_IO" -r -c "$cmd" "$img")
	rc=$?
	broke "$name" "$f" $rc && return 1
	if [ "$want" = good ]; then
		if [ $rc -ne 0 ] || grep -q 'Pattern verification failed' "$f" ||
		   ! grep -q "^read $(to_bytes "$len")/$(to_bytes "$len") bytes" "$f"; then
			fail "$name" "'$cmd' of a healthy region: exit $rc"
			cat "$f" "$f.err" | diag 6
			return 1
		fi
	else
		if [ $rc -eq 0 ]; then
			fail "$name" "'$cmd' of a damaged region exits 0"
			head -n 3 "$f" | diag 3
			return 1
		fi
		if [ ! -s "$f.err" ] && ! grep -qi 'error\|fail' "$f"; then
			fail "$name" "'$cmd' of a damaged region exits $rc without an error message"
			return 1
		fi
	fi
	pass "$name"
}

# poke_failed NAME PATH ERRFILE: FAIL NAME/setup (and succeed) if
# qpoke.py reported an error for an image under PATH.
poke_failed() {
	grep -qF "qpoke: $2" "$3" 2>/dev/null || return 1
	fail "$1/setup" "qpoke.py could not damage the image (test bug): $(grep -F "qpoke: $2" "$3" | head -n 1)"
	return 0
}

# ---------------------------------------------------------- the sample
# vg_sample TAG TABLE: sets VG_TABLE to the lines of TABLE (first word a
# case name; blank lines and # comments dropped) that run.  Natively: all
# of them.  Under valgrind (about a second of CPU a program) `make check`
# runs a fixed sample: the cases are grouped by the first word of their
# name ("l1-off-0" is in group "l1"), and of each group the 1st, the
# (N+1)th, the (2N+1)th... in table order run, N = QCOW_VG_SAMPLE
# (default 4), so every group of damage keeps at least one case and the
# sample is the same on every run.  QCOW_VG_SAMPLE=1 (`make
# check-valgrind`) runs every case.  A "NOTE:" line (shown by
# tests/run.sh) says how many of how many cases of TAG ran.
vg_sample() {
	local tag=$1 n=1 all
	[ "${QCOW_VALGRIND:-0}" = 1 ] && n=${QCOW_VG_SAMPLE:-4}
	case $n in '' | *[!0-9]* | 0) n=1 ;; esac
	VG_TABLE=$(awk -v n="$n" '
		$1 == "" || $1 ~ /^#/ { next }
		{ g = $1; sub(/-.*/, "", g); if (seen[g]++ % n == 0) print }
	' <<<"$2")
	[ "$n" -gt 1 ] || return 0
	all=$(awk '$1 != "" && $1 !~ /^#/' <<<"$2" | grep -c .)
	echo "NOTE: $tag: valgrind sample, $(grep -c . <<<"$VG_TABLE") of $all" \
		"cases (1 in $n of each group; all: make check-valgrind)"
}

# ---------------------------------------------------------- in workers
# in_workers TAG TABLE FUNC: FUNC W1 W2 W3 for every line of TABLE (its
# first three words; blank lines and # comments skipped), the lines
# spread over BAD_JOBS (default 2) parallel workers: line i to worker
# i % BAD_JOBS, which has BAD_WORKER=.W for its private file names.  The
# workers' output follows, worker by worker, and their PASS/FAIL/SKIP
# lines are added to the counts.
in_workers() {
	local tag=$1 table=$2 func=$3 jobs=${BAD_JOBS:-2} w log
	for ((w = 0; w < jobs; w++)); do
		(
			# shellcheck disable=SC2030  # the worker's own counts
			N_PASS=0 N_FAIL=0 N_SKIP=0 BAD_WORKER=.$w
			i=0
			while read -r w1 w2 w3 _; do
				case $w1 in '' | '#'*) continue ;; esac
				i=$((i + 1))
				[ $((i % jobs)) -eq "$w" ] || continue
				"$func" "$w1" "$w2" "$w3"
			done <<<"$table"
			[ "$N_FAIL" -eq 0 ]
		) >"$WORK/res/$tag-worker$w.log" 2>&1 &
	done
	wait
	# shellcheck disable=SC2031  # added up from the workers' logs
	for ((w = 0; w < jobs; w++)); do
		log=$WORK/res/$tag-worker$w.log
		cat "$log"
		N_PASS=$((N_PASS + $(grep -ac '^PASS: ' "$log")))
		N_FAIL=$((N_FAIL + $(grep -ac '^FAIL: ' "$log")))
		N_SKIP=$((N_SKIP + $(grep -ac '^SKIP: ' "$log")))
	done
}

# ---------------------------------------------------------- a corpus
# run_corpus PREFIX TABLE [READS]: TABLE lines "NAME CLASS BASE
# ASSIGNMENT..."; BASE is an image in $WORK/base/ (its extension is kept).
# Each case gets its own directory c/NAME with the damaged copy, built by
# one qpoke.py run, then `robust PREFIX/NAME CLASS c/NAME NAME.EXT
# base/BASE`.  READS lines "NAME good|bad PATTERN|- OFF LEN" add io_expect
# cases PREFIX/NAME/read-good-OFF, read-bad-OFF.  The cases run in
# workers (in_workers).
run_corpus() {
	local prefix=$1 table reads=${3:-} name base assigns ext
	vg_sample "$prefix" "$2"
	table=$VG_TABLE
	while read -r name _ base assigns; do
		case $name in '' | '#'*) continue ;; esac
		ext=${base##*.}
		rm -rf "c/$name"
		mkdir -p "c/$name"
		cp "base/$base" "c/$name/$name.$ext"
		[ -n "$assigns" ] && printf 'c/%s/%s.%s %s\n' "$name" "$name" "$ext" "$assigns"
	done <<<"$table" | poke_batch 2>"$WORK/res/poke-$prefix.err"
	C_PREFIX=$prefix C_READS=$reads in_workers "$prefix" "$table" corpus_case
}

# corpus_case NAME CLASS BASE: one case of run_corpus (C_PREFIX, C_READS).
corpus_case() {
	local name=$1 class=$2 base=$3 prefix=$C_PREFIX ext nfail t0 en ew ep eo el
	ext=${base##*.}
	poke_failed "$prefix/$name" "c/$name/" "$WORK/res/poke-$prefix.err" && return
	nfail=$N_FAIL
	t0=$EPOCHREALTIME
	robust "$prefix/$name" "$class" "c/$name" "$name.$ext" "base/$base"
	while read -r en ew ep eo el; do
		[ "$en" = "$name" ] || continue
		[ "$ep" = - ] && ep=
		io_expect "$prefix/$name/read-$ew-$eo" "c/$name" "$name.$ext" "$ew" "$ep" "$eo" "$el"
	done <<<"$C_READS"
	note "$prefix/$name: $(awk "BEGIN{printf \"%.2f\", $EPOCHREALTIME - $t0}")s"
	[ "$N_FAIL" -eq "$nfail" ] && [ "${KEEP_TMP:-0}" != 1 ] && rm -rf "c/$name"
}
