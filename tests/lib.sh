# Shared helpers for the shell tests in tests/interop/.  Source it:
#     . "$(dirname "$0")/../lib.sh"
#
# Output contract (read by tests/run.sh): one line per case,
#     PASS: <name>
#     FAIL: <name> <message>
#     SKIP: <name> (<reason>)
# Anything else a script prints (diagnostics) is indented so that it can
# never be mistaken for a result line.  `finish` exits 1 if any case
# failed, 77 if every case was skipped, 0 otherwise.
#
# Environment:
#   QCOW_IMG, QCOW_IO   the tools under test (default: the sanitizer build
#                       build-asan/bin/ if present, else bin/)
#   QCOW_VALGRIND=1     bin/'s tools under valgrind memcheck instead, in the
#                       scripts that call require_valgrind (tests/valgrind/)
#   QEMU_IMG, QEMU_IO   the oracle (default: qemu-img, qemu-io in PATH)
#   CMD_TIMEOUT         seconds one command may take (default 120)
#   KEEP_TMP=1          keep the scratch directory even when all cases pass

set -u
ulimit -c 0 2>/dev/null  # qemu-io's "abort" command must not leave cores

TESTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(dirname "$TESTS_DIR")
OUT_DIR=$TESTS_DIR/out
QJSON=$TESTS_DIR/interop/qjson.py
SCRIPT_NAME=$(basename "$0" .sh)
CMD_TIMEOUT=${CMD_TIMEOUT:-120}

# A tool path with a slash is made absolute now: scripts cd into $WORK.
abs_tool() {
	case $1 in
	/*) printf '%s\n' "$1" ;;
	*/*) printf '%s\n' "$PWD/$1" ;;
	*) printf '%s\n' "$1" ;;
	esac
}

default_tool() {
	if [ -x "$REPO_ROOT/build-asan/bin/$1" ]; then
		printf '%s\n' "$REPO_ROOT/build-asan/bin/$1"
	else
		printf '%s\n' "$REPO_ROOT/bin/$1"
	fi
}

QCOW_IMG=$(abs_tool "${QCOW_IMG:-$(default_tool qcow-img)}")
QCOW_IO=$(abs_tool "${QCOW_IO:-$(default_tool qcow-io)}")
# QCOW_VALGRIND=1: the tools under test are bin/'s under valgrind memcheck
# (tests/valgrind/run.sh), whatever QCOW_IMG and QCOW_IO say; a script
# that supports it calls require_valgrind.
if [ "${QCOW_VALGRIND:-0}" = 1 ]; then
	QCOW_IMG=$TESTS_DIR/valgrind/qcow-img
	QCOW_IO=$TESTS_DIR/valgrind/qcow-io
fi
QEMU_IMG=$(abs_tool "${QEMU_IMG:-qemu-img}")
QEMU_IO=$(abs_tool "${QEMU_IO:-qemu-io}")
export QCOW_IMG QCOW_IO QEMU_IMG QEMU_IO

N_PASS=0
N_FAIL=0
N_SKIP=0
WORK=

# ---------------------------------------------------------------- results

pass() {
	echo "PASS: $1"
	N_PASS=$((N_PASS + 1))
}

# fail NAME MESSAGE...
fail() {
	local name=$1
	shift
	echo "FAIL: $name ${*:-failed}"
	N_FAIL=$((N_FAIL + 1))
}

# skip NAME REASON
skip() {
	echo "SKIP: $1 (${2:-no reason given})"
	N_SKIP=$((N_SKIP + 1))
}

# Diagnostics: indented, at most $2 lines (default 20) of stdin.
diag() {
	head -n "${1:-20}" | sed 's/^/    | /'
}

# Prints a diagnostic line.
note() {
	echo "    # $*"
}

# --------------------------------------------------------- requirements

# skip_all REASON: the whole script cannot run; one SKIP line, exit 77.
skip_all() {
	skip "$SCRIPT_NAME" "$1"
	cleanup_work
	exit 77
}

have_cmd() {
	command -v "$1" >/dev/null 2>&1
}

# require_cmd CMD...: skip the whole script when a command is missing.
require_cmd() {
	local c
	for c in "$@"; do
		have_cmd "$c" || skip_all "$c not found"
	done
}

# require_qemu: the oracle must be installed (qemu-utils).
require_qemu() {
	have_cmd "$QEMU_IMG" || skip_all "qemu-img not found ($QEMU_IMG); install qemu-utils"
	have_cmd "$QEMU_IO" || skip_all "qemu-io not found ($QEMU_IO); install qemu-utils"
	require_cmd python3 cmp timeout
}

# require_valgrind: with QCOW_VALGRIND=1, valgrind and the tools of bin/
# (or $QCOW_VG_BIN) must be there.
require_valgrind() {
	local b=${QCOW_VG_BIN:-$REPO_ROOT/bin}
	[ "${QCOW_VALGRIND:-0}" = 1 ] || return 0
	have_cmd valgrind || skip_all "valgrind not found; install valgrind"
	[ -x "$b/qcow-img" ] && [ -x "$b/qcow-io" ] ||
		skip_all "$b/qcow-img or qcow-io not built (make all)"
}

# qemu_has_zstd: does this qemu-img build know compression_type=zstd?
qemu_has_zstd() {
	"$QEMU_IMG" create -f qcow2 -o compression_type=zstd \
		"$WORK/.zstd-probe.qcow2" 1M >/dev/null 2>&1
	local rc=$?
	rm -f "$WORK/.zstd-probe.qcow2"
	return $rc
}

# ------------------------------------------------------------ work area

# setup_work: per-script scratch dir under tests/out/tmp; cd into it.
setup_work() {
	mkdir -p "$OUT_DIR/tmp" || exit 1
	WORK=$(mktemp -d "$OUT_DIR/tmp/$SCRIPT_NAME.XXXXXX") || exit 1
	cd "$WORK" || exit 1
	mkdir -p res
}

cleanup_work() {
	if [ -n "$WORK" ] && [ -d "$WORK" ]; then
		cd "$REPO_ROOT" || return
		rm -rf "$WORK"
	fi
}

# finish: summary line, scratch dir removed on success, exit status.
finish() {
	note "$SCRIPT_NAME: $N_PASS passed, $N_FAIL failed, $N_SKIP skipped"
	if [ "$N_FAIL" -eq 0 ] && [ "${KEEP_TMP:-0}" != 1 ]; then
		cleanup_work
	elif [ -n "$WORK" ]; then
		note "scratch files kept in $WORK"
	fi
	[ "$N_FAIL" -gt 0 ] && exit 1
	[ "$N_PASS" -eq 0 ] && [ "$N_SKIP" -gt 0 ] && exit 77
	exit 0
}

# ------------------------------------------------------------- running

# run_to OUT CMD...: stdout to OUT, stderr to OUT.err, under a timeout.
# Returns the command's exit status (124 on timeout, 127 if missing).
run_to() {
	local out=$1
	shift
	timeout -k 5 "$CMD_TIMEOUT" "$@" >"$out" 2>"$out.err"
}

# ------------------------------------------------------ error messages
# Our tools reproduce qemu's interface (exit codes, stdout, the fixed
# report lines) but word their error messages themselves, so stderr is
# compared by the kind of outcome, except for the per-cluster report
# lines of check, which are interface and must be the same.

IFACE_ERR_RE='^(Leaked cluster |ERROR|Repairing |Rebuilding refcount structure$)'

# err_words ARGS...: what an error message about a command with ARGS may
# name, one per line: its operands and options, each part of an -o list
# (split at "," and "="), and the last component of paths.  Format names
# (any message may contain them) and single characters are left out.
err_words() {
	local a w parts
	for a in "$@"; do
		IFS=',=' read -ra parts <<<"$a"
		for w in "$a" "${parts[@]}" "${a##*/}"; do
			case $w in qcow2 | qcow | raw | ?) continue ;; esac
			[ -n "$w" ] && printf '%s\n' "$w"
		done
	done | LC_ALL=C sort -u
}

# err_kind REF OURS PROG ARGS...: qemu's stderr REF against ours (OURS,
# the program name already rewritten to PROG): the lines matching
# $IFACE_ERR_RE must be equal; of the other lines, none from qemu means
# none from us, and some from qemu means exactly one from us, "PROG: ...",
# naming one of err_words ARGS.  Otherwise prints why and returns 1.
err_kind() {
	local ref=$1 ours=$2 prog=$3 nref nours msg body w
	shift 3
	if ! diff <(grep -E "$IFACE_ERR_RE" "$ref") \
		<(grep -E "$IFACE_ERR_RE" "$ours") >/dev/null; then
		echo "the per-cluster lines on stderr differ from qemu's"
		return 1
	fi
	nref=$(grep -cvE "$IFACE_ERR_RE" "$ref")
	nours=$(grep -cvE "$IFACE_ERR_RE" "$ours")
	msg=$(grep -vE "$IFACE_ERR_RE" "$ours")
	if [ "$nref" -eq 0 ]; then
		[ "$nours" -eq 0 ] && return 0
		echo "qemu printed no message on stderr, ours: $(printf '%s' "$msg" | head -n 2 | tr '\n' ' ')"
		return 1
	fi
	if [ "$nours" -ne 1 ]; then
		echo "qemu printed a message on stderr; ours has $nours lines instead of one"
		return 1
	fi
	case $msg in
	"$prog: "?*) body=${msg#"$prog: "} ;;
	*)
		echo "our message does not start with '$prog: ': $msg"
		return 1 ;;
	esac
	while IFS= read -r w; do
		case $body in *"$w"*) return 0 ;; esac
	done < <(err_words "$@")
	echo "our message names none of the command's files or options: $msg"
	return 1
}

# Case names become file names for saved outputs.
case_file() {
	printf '%s/res/%s' "$WORK" "$(printf '%s' "$1" | tr -c 'A-Za-z0-9._-' '_')"
}

# run_ok NAME CMD...: CMD must succeed (output in res/NAME.*).
run_ok() {
	local name=$1 f rc
	shift
	f=$(case_file "$name")
	run_to "$f" "$@"
	rc=$?
	if [ $rc -ne 0 ]; then
		fail "$name" "exit $rc: $*"
		diag 5 <"$f.err"
		return 1
	fi
}

# setup_cmd LOG CMD...: a setup step (qemu-img / qemu-io building an
# image); its output is appended to LOG; on failure the output is shown.
setup_cmd() {
	local log=$1 rc
	shift
	echo "\$ $*" >>"$log"
	timeout -k 5 "$CMD_TIMEOUT" "$@" >>"$log" 2>&1
	rc=$?
	if [ $rc -ne 0 ]; then
		note "setup command failed (exit $rc): $*"
		tail -n 5 "$log" | diag
	fi
	return $rc
}

# to_bytes SIZE: 64k -> 65536 (suffixes k, M, G, T as in qemu-io).
to_bytes() {
	local n=${1%[kKmMgGtT]} m=1
	case $1 in
	*[kK]) m=1024 ;;
	*[mM]) m=$((1024 * 1024)) ;;
	*[gG]) m=$((1024 * 1024 * 1024)) ;;
	*[tT]) m=$((1024 * 1024 * 1024 * 1024)) ;;
	esac
	echo $((n * m))
}

# ---------------------------------------------------- image comparisons
# Each runs qemu-img (the reference) and the tool under test on the same
# image, then reports one case.  The image is never written.

# cmp_convert NAME IMG [FMT]: convert to raw with both; must be identical.
cmp_convert() {
	local name=$1 img=$2 fmt=${3:-qcow2} f rc rrc
	f=$(case_file "$name")
	rm -f "$f.ref.raw" "$f.ours.raw"
	run_to "$f.ref" "$QEMU_IMG" convert -f "$fmt" -O raw "$img" "$f.ref.raw"
	rrc=$?
	if [ $rrc -ne 0 ]; then
		fail "$name" "qemu-img convert failed (exit $rrc): test bug"
		diag 5 <"$f.ref.err"
		return 1
	fi
	run_to "$f.ours" "$QCOW_IMG" convert -f "$fmt" -O raw "$img" "$f.ours.raw"
	rc=$?
	if ! guard_ok "$name"; then
		rc=1
	elif [ $rc -ne 0 ]; then
		fail "$name" "convert exited $rc"
		diag 10 <"$f.ours.err"
	elif [ ! -f "$f.ours.raw" ]; then
		fail "$name" "convert exited 0 but wrote no output file"
	elif [ "$(stat -c %s "$f.ours.raw")" != "$(stat -c %s "$f.ref.raw")" ]; then
		fail "$name" "raw size $(stat -c %s "$f.ours.raw"), qemu-img's $(stat -c %s "$f.ref.raw")"
		rc=1
	elif ! cmp -s "$f.ref.raw" "$f.ours.raw"; then
		fail "$name" "raw contents differ from qemu-img's"
		raw_diff "$f.ref.raw" "$f.ours.raw" | diag 12
		rc=1
	else
		pass "$name"
	fi
	rm -f "$f.ref.raw" "$f.ours.raw"
	return $rc
}

# raw_diff REF OURS: the first differing byte ranges (guest offsets).
raw_diff() {
	python3 - "$1" "$2" <<'EOF'
import sys
a, b = (open(p, "rb") for p in sys.argv[1:3])
off, shown, start = 0, 0, None
while shown < 8:
    x, y = a.read(1 << 16), b.read(1 << 16)
    if not x and not y:
        break
    for i in range(max(len(x), len(y))):
        d = i >= len(x) or i >= len(y) or x[i] != y[i]
        if d and start is None:
            start = off + i
            exp = x[i] if i < len(x) else None
            got = y[i] if i < len(y) else None
        elif not d and start is not None:
            print(f"differ at {start}..{off + i} (qemu-img byte {exp}, ours {got})")
            start, shown = None, shown + 1
            if shown >= 8:
                break
    off += max(len(x), len(y))
if start is not None and shown < 8:
    print(f"differ at {start}..{off} (qemu-img byte {exp}, ours {got})")
EOF
}

# cmp_json VERB MODE NAME IMG ARGS...: `qemu-img VERB --output=json ARGS
# IMG` against ours: same exit status, and `qjson.py MODE` agrees.
cmp_json() {
	local verb=$1 mode=$2 name=$3 img=$4 f rc rrc kdiff
	shift 4
	f=$(case_file "$name")
	run_to "$f.ref" "$QEMU_IMG" "$verb" --output=json "$@" "$img"
	rrc=$?
	run_to "$f.ours" "$QCOW_IMG" "$verb" --output=json "$@" "$img"
	rc=$?
	guard_ok "$name" || return 1
	if [ $rc -ne $rrc ]; then
		fail "$name" "exit status $rc, qemu-img's $rrc"
		cat "$f.ours.err" "$f.ours" | diag 10
		return 1
	fi
	if [ ! -s "$f.ref" ]; then
		# qemu-img printed nothing (an error): ours must print nothing too
		if [ -s "$f.ours" ]; then
			fail "$name" "qemu-img printed no JSON (exit $rrc), ours did"
			return 1
		fi
		pass "$name"
		return 0
	fi
	kdiff=$(python3 "$QJSON" "$mode" "$f.ref" "$f.ours" 2>&1)
	rc=$?
	if [ $rc -eq 0 ]; then
		pass "$name"
	elif [ $rc -eq 2 ] && [ "${kdiff#reference}" != "$kdiff" ]; then
		fail "$name" "qemu-img output unusable: test bug"
		printf '%s\n' "$kdiff" | diag 10
	else
		fail "$name" "$verb JSON differs from qemu-img's"
		printf '%s\n' "$kdiff" | diag 20
	fi
	return $rc
}

cmp_map() { cmp_json map map "$@"; }
cmp_info() { cmp_json info info "$@"; }
cmp_check() { cmp_json check check "$@"; }
# cmp_check_keys: same exit status and JSON keys, values not compared.
cmp_check_keys() { cmp_json check keys "$@"; }

# ------------------------------------------------------- write guard
# Every command compared here is read-only: the image files must not
# change.  compare_image arms the guard over the configuration's files
# ($CFG.*, $CFG/); each comparison calls guard_ok after running ours.
GUARD=

files_state() {
	find . -path ./res -prune -o -path "./$CFG*" -type f -print |
		LC_ALL=C sort | xargs -r md5sum | md5sum
}

guard_arm() { GUARD=$(files_state); }
guard_off() { GUARD=; }

# guard_ok NAME: FAIL NAME (and re-arm) if the files changed.
guard_ok() {
	[ -n "$GUARD" ] || return 0
	local now
	now=$(files_state)
	[ "$now" = "$GUARD" ] && return 0
	GUARD=$now
	fail "$1" "a read-only command modified the image files ($CFG*)"
	return 1
}

# ref_json NAME FILE KEY EXPECTED: sanity check of qemu-img's own output
# (validates the setup, e.g. that an image really is dirty).
ref_json() {
	local name=$1 file=$2 key=$3 want=$4 got
	got=$(python3 "$QJSON" get "$file" "$key" 2>&1)
	if [ "$got" = "$want" ]; then
		pass "$name"
	else
		fail "$name" "qemu-img reports $key=$got, expected $want: setup did not do what the test needs"
	fi
}

# io_read NAME IMG PATTERN OFF LEN: `read -P PATTERN OFF LEN` read-only
# must succeed: exit 0, qemu-io's "read N/N bytes at offset OFF" line, no
# "Pattern verification failed".  qemu-io checks the expectation first.
io_read() {
	local name=$1 img=$2 pat=$3 off=$4 len=$5 f out rc line
	f=$(case_file "$name")
	line="read $(to_bytes "$len")/$(to_bytes "$len") bytes at offset $(to_bytes "$off")"
	run_to "$f.ref" "$QEMU_IO" -f qcow2 -r -c "read -P $pat $off $len" "$img"
	rc=$?
	if [ $rc -ne 0 ] || grep -q "Pattern verification failed" "$f.ref"; then
		fail "$name" "qemu-io itself fails read -P $pat $off $len (exit $rc): test bug"
		cat "$f.ref" "$f.ref.err" | diag 5
		return 1
	fi
	run_to "$f.ours" "$QCOW_IO" -f qcow2 -r -c "read -P $pat $off $len" "$img"
	rc=$?
	guard_ok "$name" || return 1
	out=$(cat "$f.ours" "$f.ours.err")
	if [ $rc -ne 0 ]; then
		fail "$name" "read -P $pat $off $len: exit $rc"
	elif printf '%s\n' "$out" | grep -q "Pattern verification failed"; then
		fail "$name" "read -P $pat $off $len: pattern verification failed"
	elif ! printf '%s\n' "$out" | grep -qF "$line"; then
		fail "$name" "read -P $pat $off $len: no '$line' line"
	else
		pass "$name"
		return 0
	fi
	printf '%s\n' "$out" | diag 8
	return 1
}

# io_read_bad NAME IMG PATTERN OFF LEN: a read with a wrong pattern must
# print "Pattern verification failed" and exit as qemu-io does.
io_read_bad() {
	local name=$1 img=$2 pat=$3 off=$4 len=$5 f rc rrc
	f=$(case_file "$name")
	run_to "$f.ref" "$QEMU_IO" -f qcow2 -r -c "read -P $pat $off $len" "$img"
	rrc=$?
	if ! grep -q "Pattern verification failed" "$f.ref" "$f.ref.err"; then
		fail "$name" "qemu-io finds pattern $pat at $off+$len: test bug"
		return 1
	fi
	run_to "$f.ours" "$QCOW_IO" -f qcow2 -r -c "read -P $pat $off $len" "$img"
	rc=$?
	guard_ok "$name" || return 1
	if ! grep -q "Pattern verification failed" "$f.ours" "$f.ours.err"; then
		fail "$name" "read -P $pat $off $len of other data: no 'Pattern verification failed' (exit $rc)"
		cat "$f.ours" "$f.ours.err" | diag 8
		return 1
	fi
	if [ $rc -ne $rrc ]; then
		fail "$name" "exit status $rc after a pattern mismatch, qemu-io's $rrc"
		return 1
	fi
	pass "$name"
}

# ------------------------------------------------- the read-path suite
# A configuration's builder records regions it wrote with a constant
# pattern (still intact at the end) with expect_pattern; compare_image
# then runs every read-path comparison on the image.

EXPECT=()

expect_reset() { EXPECT=(); }

# expect_pattern PATTERN OFF LEN
expect_pattern() { EXPECT+=("$1 $2 $3"); }

# compare_image PREFIX IMG [chain]: convert, map, info, (info
# --backing-chain), check, pattern reads, one wrong-pattern read.  With
# DIRTY=1 (an image qemu left with the dirty bit) check is compared on
# exit status and keys, and separately on values (check-values).
DIRTY=
compare_image() {
	local p=$1 img=$2 chain=${3:-} i=0 e pat off len
	guard_arm
	case $img in
	*.raw) cmp_convert "$p/convert" "$img" raw ;;
	*) cmp_convert "$p/convert" "$img" ;;
	esac
	cmp_map "$p/map" "$img"
	cmp_info "$p/info" "$img"
	[ -n "$chain" ] && cmp_info "$p/info-chain" "$img" --backing-chain
	if [ -n "$DIRTY" ]; then
		cmp_check_keys "$p/check" "$img"
		cmp_check "$p/check-values" "$img"
	else
		cmp_check "$p/check" "$img"
	fi
	for e in "${EXPECT[@]}"; do
		i=$((i + 1))
		read -r pat off len <<<"$e"
		io_read "$p/io-read-$i" "$img" "$pat" "$off" "$len"
	done
	if [ ${#EXPECT[@]} -gt 0 ]; then
		read -r pat off len <<<"${EXPECT[0]}"
		io_read_bad "$p/io-badpattern" "$img" "$(printf '0x%02x' $((pat ^ 0xa5)))" "$off" "$len"
	fi
	guard_off
}

# Builders (in the scripts) make one image with qemu-img/qemu-io through
# qimg / qio, which log to $SETUP_LOG; they name their files "$CFG.*"
# (one name per configuration), set IMG to the image's path, set
# CHAIN=1 if it has a backing file, DIRTY=1 if it is meant to be left
# dirty, and call expect_pattern for regions
# that still hold a constant pattern.  They return non-zero on failure.
IMG=
CHAIN=
CFG=cfg
SETUP_LOG=/dev/null

# qimg ARGS...: qemu-img ARGS, logged.
qimg() { setup_cmd "$SETUP_LOG" "$QEMU_IMG" "$@"; }

# qio [-f FMT] IMAGE CMD...: one qemu-io run, one -c per CMD, logged.
qio() {
	local fmt=qcow2 img a args=()
	if [ "$1" = -f ]; then
		fmt=$2
		shift 2
	fi
	img=$1
	shift
	for a in "$@"; do
		args+=(-c "$a")
	done
	setup_cmd "$SETUP_LOG" "$QEMU_IO" -f "$fmt" "${args[@]}" "$img"
}

# mkdata FILE SIZE SEED [compressible]: deterministic data file.
mkdata() { python3 "$QJSON" mkdata "$@"; }

# config NAME BUILDER ARGS...: build an image with BUILDER ARGS, then run
# compare_image read/NAME on it.  A failing builder is one FAIL
# (read/NAME/setup) and the rest of that configuration is not run.  The
# configuration's files ($CFG.*) are deleted when all its cases pass.
config() {
	local name=$1 nfail=$N_FAIL
	shift
	expect_reset
	IMG=
	CHAIN=
	DIRTY=
	CFG=$(printf '%s' "$name" | tr -c 'A-Za-z0-9._-' '_')
	SETUP_LOG=$(case_file "read/$name").setup.log
	: >"$SETUP_LOG"
	if ! "$@" || [ -z "$IMG" ] || [ ! -f "$IMG" ]; then
		fail "read/$name/setup" "could not build the image with qemu (log: $SETUP_LOG)"
		return 1
	fi
	compare_image "read/$name" "$IMG" "$CHAIN"
	if [ "$N_FAIL" -eq "$nfail" ] && [ "${KEEP_TMP:-0}" != 1 ]; then
		rm -rf "./$CFG".* "./$CFG"
	fi
}
