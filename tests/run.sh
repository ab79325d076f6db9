#!/bin/bash
# The test runner (`make check` calls it from the repository root).
#
#   tests/run.sh [FILTER...]
#
# Runs, in order: every executable in build/tests/ (engine tests), every
# executable in build-asan/tests/ (the same under ASan/UBSan), then every
# tests/docs/*.sh (docs checked against the tree), then every
# tests/interop/*.sh with QCOW_IMG and QCOW_IO set to the tools under test
# (default build-asan/bin/ if built, else bin/; values already in the
# environment win), then tests/interop/bad-*.sh again with bin/'s tools
# under valgrind (valgrind/NAME), then tests/fuzz/run-short.sh (label
# fuzz/short), then the ublk tests tests/guest/ublk-*.sh and the crypto
# tests tests/guest/crypto-*.sh in the test guest
# (guest/NAME; the zero-copy ones, *-zc.sh, on a newer kernel:
# run_guest).  A
# FILTER selects programs whose label (build/NAME, build-asan/NAME,
# docs/NAME, interop/NAME, valgrind/NAME, fuzz/short, guest/NAME) contains it.
#
# A program reports cases with lines "PASS: name", "FAIL: name ...",
# "SKIP: name (reason)".  If it prints none, its exit status is one case:
# 0 pass, 77 skip, anything else fail.  If it prints cases but exits
# non-zero (not 77) without a FAIL line, one more failure is counted.
# Its "NOTE: ..." lines (reports that are not verdicts) are shown.
# Each program runs under `timeout $TEST_TIMEOUT` (default 1800 s) with its
# output in tests/out/<build>-<name>.log; its line ends with its wall time
# and its CPU time (user + sys, its children included).  The last two
# lines are the run's wall time with the sum of CPU times, then
# "N passed, N failed, N skipped"; the exit status is 1 iff any failed.
#
# Programs run TEST_JOBS (default nproc; 1: one at a time) at once, the
# guest scripts alone after all the others; each line is printed in the
# order above as soon as its program and those before it have ended, so
# the output is the same whatever TEST_JOBS is (run_queue).

set -u
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
OUT=$ROOT/tests/out
TEST_TIMEOUT=${TEST_TIMEOUT:-1800}
TEST_JOBS=${TEST_JOBS:-$(nproc 2>/dev/null || echo 1)}
case $TEST_JOBS in
'' | *[!0-9]* | 0) echo "tests/run.sh: TEST_JOBS=$TEST_JOBS is not a number > 0" >&2; exit 2 ;;
esac
FILTERS=("$@")

TOTAL_PASS=0
TOTAL_FAIL=0
TOTAL_SKIP=0
TOTAL_CPU=0
NPROGS=0

# tool PATH-VAR NAME: the tool under test, absolute if it is a path.
tool() {
	local v=${!1:-}
	if [ -z "$v" ]; then
		if [ -x "build-asan/bin/$2" ]; then
			v=build-asan/bin/$2
		else
			v=bin/$2
		fi
	fi
	case $v in
	/* | "") ;;
	*/*) v=$ROOT/$v ;;
	esac
	printf '%s\n' "$v"
}

selected() {
	local f
	[ ${#FILTERS[@]} -eq 0 ] && return 0
	for f in "${FILTERS[@]}"; do
		case $1 in *"$f"*) return 0 ;; esac
	done
	return 1
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

count() { grep -c "^$1: " "$2"; }

# run_prog RES LABEL LOG CMD...: run one program, count; its report (the
# line the runner prints, FAIL and NOTE lines) goes to RES.out, then its
# counts "PASS FAIL SKIP" to RES.cnt.
run_prog() {
	local res=$1 label=$2 log=$3 rc t0 ms cpu p f s extra="" status
	shift 3
	t0=$(now_ms)
	# in a subshell: bash's "Segmentation fault" notice lands in the log;
	# written under a private name first, so that a concurrent run of the
	# suite in the same tree cannot mix its output into our counts
	# `times` there: the CPU (user, sys) of everything it waited for
	(
		timeout -k 10 "$TEST_TIMEOUT" "$@"
		rc=$?
		times >"$res.times"
		exit $rc
	) </dev/null >"$log.$$" 2>&1
	rc=$?
	mv -f "$log.$$" "$log"
	ms=$(($(now_ms) - t0))
	cpu=$(cpu_ms "$res.times")
	p=$(count PASS "$log")
	f=$(count FAIL "$log")
	s=$(count SKIP "$log")
	if [ $((p + f + s)) -eq 0 ]; then
		case $rc in
		0) p=1 ;;
		77) s=1 ;;
		*) f=1 ;;
		esac
	elif [ $rc -ne 0 ] && [ $rc -ne 77 ] && [ "$f" -eq 0 ]; then
		f=1
		extra=1
	fi
	case $rc in
	124 | 137) extra="timed out after ${TEST_TIMEOUT}s" ;;
	0 | 77) ;;
	*) [ -n "$extra" ] && extra="exit status $rc without a FAIL line" ||
		extra="exit status $rc" ;;
	esac
	status=ok
	[ "$f" -gt 0 ] && status=FAIL
	[ "$f" -eq 0 ] && [ "$p" -eq 0 ] && [ "$s" -gt 0 ] && status=skip
	{
		printf '%-4s %-36s %4d passed, %d failed, %d skipped  %d.%ds cpu %d.%ds%s\n' \
			"$status" "$label" "$p" "$f" "$s" $((ms / 1000)) $((ms % 1000 / 100)) \
			$((cpu / 1000)) $((cpu % 1000 / 100)) "${extra:+  ($extra)}"
		if [ "$f" -gt 0 ]; then
			grep '^FAIL: ' "$log" | head -n 50 | sed 's/^/    /'
			echo "    --- last 30 lines of ${log#"$ROOT"/}:"
			tail -n 30 "$log" | sed 's/^/    | /'
		fi
		grep '^NOTE: ' "$log" | head -n 10 | sed 's/^/    /'
	} >"$res.out"
	echo "$p $f $s $ms $cpu" >"$res.cnt"
}

# cpu_ms FILE: the children's user + sys time in `times` output FILE
# (second line, "XmY.YYYs XmY.YYYs"), in milliseconds.
cpu_ms() {
	local u=0m0s s=0m0s
	[ -f "$1" ] && { read -r _ _ && read -r u s; } <"$1"
	echo $(($(tms_ms "$u") + $(tms_ms "$s")))
}

# tms_ms XmY.YYYs: milliseconds.
tms_ms() {
	local m=${1%%m*} sec=${1#*m}
	sec=${sec%s}
	echo $((10#$m * 60000 + 10#${sec%.*} * 1000 + 10#${sec#*.}))
}

# queue [--serial] LABEL LOG CMD...: a program for run_queue; --serial:
# it runs alone (nothing else starts before it ends).
Q_LABEL=()
Q_LOG=()
Q_CMD=()
Q_SERIAL=()
queue() {
	local serial=0
	if [ "$1" = --serial ]; then
		serial=1
		shift
	fi
	Q_LABEL+=("$1")
	Q_LOG+=("$2")
	shift 2
	Q_CMD+=("$(printf '%q ' "$@")")
	Q_SERIAL+=("$serial")
}

# start I: program I of the queue in the background; when it ends, its
# number is written to the fifo on fd $DONE_FD.
start() {
	local i=$1
	eval "set -- ${Q_CMD[i]}"
	{
		run_prog "$RES/$i" "${Q_LABEL[i]}" "${Q_LOG[i]}" "$@" {DONE_FD}>&-
		echo "$i" >&"$DONE_FD"
	} &
}

# show I: print program I's report, add its counts.
show() {
	local p=0 f=1 s=0 ms=0 cpu=0
	if [ -s "$RES/$1.cnt" ]; then
		read -r p f s ms cpu <"$RES/$1.cnt"
		cat "$RES/$1.out"
	else
		echo "FAIL ${Q_LABEL[$1]}: the runner lost its result"
	fi
	TOTAL_PASS=$((TOTAL_PASS + p))
	TOTAL_FAIL=$((TOTAL_FAIL + f))
	TOTAL_SKIP=$((TOTAL_SKIP + s))
	TOTAL_CPU=$((TOTAL_CPU + cpu))
	NPROGS=$((NPROGS + 1))
}

# run_queue: the queued programs, up to TEST_JOBS at a time, started in
# queue order (--serial ones alone).  Reports are printed in queue order,
# each as soon as it and every one before it have ended, so the output
# is the same as one at a time.
run_queue() {
	local n=${#Q_LABEL[@]} next=0 shown=0 running=0 excl=0 i
	local -a ended=()
	[ "$n" -gt 0 ] || return 0
	RES=$(mktemp -d "${TMPDIR:-/tmp}/run.sh.XXXXXX") || exit 2
	trap 'rm -rf "$RES"' EXIT
	mkfifo "$RES/done" || exit 2
	# read-write: opening never blocks, and the fifo never sees EOF
	exec {DONE_FD}<>"$RES/done"
	while [ "$shown" -lt "$n" ]; do
		while [ "$next" -lt "$n" ] && [ "$excl" -eq 0 ] &&
			[ "$running" -lt "$TEST_JOBS" ]; do
			if [ "${Q_SERIAL[next]}" = 1 ]; then
				[ "$running" -eq 0 ] || break
				excl=1
			fi
			start "$next"
			running=$((running + 1))
			next=$((next + 1))
		done
		read -r -u "$DONE_FD" i || exit 2
		ended[i]=1
		running=$((running - 1))
		[ "$running" -eq 0 ] && excl=0
		while [ "$shown" -lt "$n" ] && [ -n "${ended[shown]:-}" ]; do
			show "$shown"
			shown=$((shown + 1))
		done
	done
	wait
	exec {DONE_FD}>&-
}

# run_dir BUILD: every executable file in BUILD/tests/.
run_dir() {
	local build=$1 t name
	[ -d "$build/tests" ] || return 0
	for t in "$build"/tests/*; do
		if [ ! -f "$t" ] || [ ! -x "$t" ]; then continue; fi
		name=$(basename "$t")
		selected "$build/$name" || continue
		queue "$build/$name" "$OUT/$build-$name.log" "$ROOT/$t"
	done
}

# tests/docs/*.sh: the docs checked against the tree (docs/NAME).
run_docs() {
	local t name
	for t in tests/docs/*.sh; do
		[ -f "$t" ] || continue
		name=$(basename "$t" .sh)
		selected "docs/$name" || continue
		queue "docs/$name" "$OUT/docs-$name.log" bash "$ROOT/$t"
	done
}

run_interop() {
	local t name
	for t in tests/interop/*.sh; do
		[ -f "$t" ] || continue
		name=$(basename "$t" .sh)
		selected "interop/$name" || continue
		queue "interop/$name" "$OUT/interop-$name.log" bash "$ROOT/$t"
	done
}

# The damaged-image corpus (tests/interop/bad-*.sh) once more with bin/'s
# tools under valgrind memcheck (QCOW_VALGRIND=1, tests/valgrind/run.sh):
# uninitialised reads, which ASan and UBSan do not see.
run_valgrind() {
	local t name
	for t in tests/interop/bad-*.sh; do
		[ -f "$t" ] || continue
		name=$(basename "$t" .sh)
		selected "valgrind/$name" || continue
		queue "valgrind/$name" "$OUT/valgrind-$name.log" \
			env QCOW_VALGRIND=1 bash "$ROOT/$t"
	done
}

# The libFuzzer targets: built, regression inputs replayed, each fuzzed
# for FUZZ_SECONDS (20); the script SKIPs without clang's libFuzzer.
run_fuzz() {
	[ -f tests/fuzz/run-short.sh ] || return 0
	selected "fuzz/short" || return 0
	queue "fuzz/short" "$OUT/fuzz-short.log" \
		bash "$ROOT/tests/fuzz/run-short.sh"
}

# Last phase: the ublk block-device tests, tests/guest/ublk-*.sh, each in
# its own test guest (tests/guest/run.sh, which SKIPs with the reason when
# qemu-system-x86_64 or the guest kernel is missing).  Zero copy needs a
# newer kernel than the default guest's 6.12: the *-zc.sh scripts boot
# Debian's GUEST_KERNEL_ZC (default forky; set empty, they boot the same
# kernel as the others and SKIP there).  GUEST_KERNEL, when set, is the
# kernel of every script.  ublk-batch.sh runs only when named
# (make check-batch), on the same newer kernel.
run_guest() {
	local t name kernel
	for t in tests/guest/ublk-*.sh; do
		[ -f "$t" ] || continue
		name=$(basename "$t" .sh)
		selected "guest/$name" || continue
		kernel=${GUEST_KERNEL:-}
		case $name in
		*-zc) [ -z "$kernel" ] && kernel=${GUEST_KERNEL_ZC-forky} ;;
		# only by name (make check-batch): 10 minutes of TCG on 7.2
		*-batch)
			[ ${#FILTERS[@]} -eq 0 ] && continue
			[ -z "$kernel" ] && kernel=${GUEST_KERNEL_ZC-forky} ;;
		esac
		queue --serial "guest/$name" "$OUT/guest-$name.log" \
			env GUEST_KERNEL="$kernel" \
			"$ROOT/tests/guest/run.sh" "$ROOT/$t"
	done
	# the crypto library's kernel backend: the script prepares modules
	# on the host, then boots the guest itself
	for t in tests/guest/crypto-*.sh; do
		[ -f "$t" ] || continue
		name=$(basename "$t" .sh)
		selected "guest/$name" || continue
		queue --serial "guest/$name" "$OUT/guest-$name.log" \
			bash "$ROOT/$t"
	done
}

main() {
	local t0
	mkdir -p "$OUT" || exit 2
	# scratch dirs kept by failed runs more than 2 hours ago (not newer
	# ones: another run of the suite may be using them)
	[ -d "$OUT/tmp" ] && find "$OUT/tmp" -mindepth 1 -maxdepth 1 -type d \
		-mmin +120 -exec rm -rf {} +
	QCOW_IMG=$(tool QCOW_IMG qcow-img)
	QCOW_IO=$(tool QCOW_IO qcow-io)
	export QCOW_IMG QCOW_IO
	export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
	echo "tests/run.sh: QCOW_IMG=$QCOW_IMG QCOW_IO=$QCOW_IO timeout=${TEST_TIMEOUT}s jobs=$TEST_JOBS"
	run_dir build
	run_dir build-asan
	run_docs
	run_interop
	run_valgrind
	run_fuzz
	run_guest
	t0=$(now_ms)
	run_queue
	t0=$(($(now_ms) - t0))
	echo "tests/run.sh: $NPROGS programs, $((t0 / 1000))s wall, $((TOTAL_CPU / 1000))s CPU (user+sys)"
	echo "$TOTAL_PASS passed, $TOTAL_FAIL failed, $TOTAL_SKIP skipped"
	[ "$TOTAL_FAIL" -eq 0 ]
}

# on one line: bash has read it whole before main runs, so an edit of
# this file while the suite runs cannot change what follows main
main; exit
