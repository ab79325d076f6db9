#!/bin/bash
# Builds the libFuzzer targets, replays the regression inputs, then fuzzes
# every target for a fixed time (tests/README.md, "Fuzzing").
#
#   tests/fuzz/run-short.sh [TARGET...]     default: all four targets
#
# Output follows the test contract (PASS:/FAIL:/SKIP: lines, exit 77 when
# everything is skipped): one case per regression input
# (regress/TARGET/FILE) and one per target run (fuzz/TARGET).  Exits 77
# when clang cannot build libFuzzer programs.
#
# Environment:
#   FUZZ_SECONDS   seconds per target (default 20; `make fuzz`: 600)
#   FUZZ_SEED      libFuzzer's seed (default 1, so that make check mutates
#                  the same way every time; 0 picks one at random)
#   FUZZ_ARGS      more libFuzzer options (e.g. -fork=4 or -jobs=2)
#   FUZZ_SAVE=1    copy new crash inputs into tests/fuzz/regress/TARGET/
#   FUZZ_KEEP_CORPUS=1  fuzz on build-fuzz/corpus/TARGET/, kept and grown
#                  from run to run (`make fuzz`); else on the seeds and a
#                  corpus thrown away at the end, so that a short run does
#                  not spend its time replaying a large corpus
#   FUZZ_CC        the compiler (default clang)
#   FUZZ_TIMEOUT   seconds one input may run before it counts as a hang
#                  (default 60)
#
# An input slower than FUZZ_SLOW seconds (default 10) that still ends in
# time is reported on a NOTE: line with its path, not failed: how fast a
# sanitized build runs on a shared machine is not a verdict on the code.
#
# Everything goes to build-fuzz/: the seeds, the corpus, the crash inputs
# (artifacts/TARGET/), the logs (logs/).

set -u
cd "$(dirname "$0")/../.." || exit 2
ROOT=$PWD
B=$ROOT/build-fuzz
SECONDS_PER=${FUZZ_SECONDS:-20}
FUZZ_CC=${FUZZ_CC:-clang}
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(fuzz_open_read fuzz_check fuzz_write fuzz_qcow1)
# libFuzzer options shared by the runs and the replays
LIMITS=(-rss_limit_mb=2048 -malloc_limit_mb=2048
	-timeout="${FUZZ_TIMEOUT:-60}" -report_slow_units="${FUZZ_SLOW:-10}"
	-error_exitcode=71 -timeout_exitcode=72)
MAX_LEN=$((1024 * 1024 + 4096))
NPASS=0
NFAIL=0

export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ulimit -c 0 2>/dev/null

indent() { sed 's/^/    /'; }

# ---- is libFuzzer there? ----
mkdir -p "$B/logs" || exit 2
printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
	'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)' \
	'{ return d && n > 1 ? 0 : 0; }' >"$B/probe.c"
if ! "$FUZZ_CC" -fsanitize=fuzzer,address,undefined -o "$B/probe" \
	"$B/probe.c" >"$B/logs/probe.log" 2>&1; then
	echo "SKIP: fuzz ($FUZZ_CC cannot build libFuzzer programs:" \
		"$(head -n 1 "$B/logs/probe.log"))"
	exit 77
fi

# ---- build ----
# (a fresh make: the one that may have started us does not share its jobs)
if ! env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -j"$(nproc)" \
	FUZZ_CC="$FUZZ_CC" fuzz-build >"$B/logs/build.log" 2>&1; then
	echo "FAIL: fuzz/build (make fuzz-build failed)"
	tail -n 30 "$B/logs/build.log" | indent
	exit 1
fi

# ---- seeds (regenerated when seeds.sh changed) ----
if [ ! -d "$B/seeds/all" ] || [ tests/fuzz/seeds.sh -nt "$B/seeds/all" ]; then
	tests/fuzz/seeds.sh "$B/seeds" >"$B/logs/seeds.log" 2>&1
	touch "$B/seeds/all"
fi

# scratch directories of the targets: gone at the end, even after a crash
TMP_PARENT=${TMPDIR:-/tmp}
[ -w /dev/shm ] && TMP_PARENT=/dev/shm
QCOW_FUZZ_TMP=$(mktemp -d "$TMP_PARENT/qcow-fuzz-run.XXXXXX") || exit 2
export QCOW_FUZZ_TMP
trap 'rm -rf "$QCOW_FUZZ_TMP"' EXIT

seeds_for() {
	case $1 in
	fuzz_write) echo "$B/seeds/write" ;;
	fuzz_qcow1) echo "$B/seeds/qcow1" ;;
	*) echo "$B/seeds/all" ;;
	esac
}

# the first line of the sanitizer's or the oracle's verdict in a log
verdict() {
	grep -a -m 1 -E '^(SUMMARY: |==FUZZ ORACLE==|==[0-9]+== ?ERROR: libFuzzer)' \
		"$1" || grep -a -v 'NEW_FUNC' "$1" | grep -a -m 1 -E 'ERROR|error' ||
		echo "(no verdict)"
}

# ---- the regression inputs: each must run clean ----
replay() {
	local t=$1 f name log rc
	[ -d "tests/fuzz/regress/$t" ] || return 0
	for f in "tests/fuzz/regress/$t"/*; do
		[ -f "$f" ] || continue
		name=regress/$t/$(basename "$f")
		log=$B/logs/$t-regress-$(basename "$f").log
		# as a one-input corpus: libFuzzer checks it for leaks too
		rm -rf "$QCOW_FUZZ_TMP/replay" && mkdir "$QCOW_FUZZ_TMP/replay" &&
			cp "$f" "$QCOW_FUZZ_TMP/replay/"
		"$B/$t" "${LIMITS[@]}" -runs=0 -max_len=$MAX_LEN \
			-artifact_prefix="$QCOW_FUZZ_TMP/" "$QCOW_FUZZ_TMP/replay" \
			>"$log" 2>&1
		rc=$?
		if [ $rc -eq 0 ]; then
			echo "PASS: $name"
			NPASS=$((NPASS + 1))
		else
			echo "FAIL: $name exit $rc: $(verdict "$log")"
			grep -a -E '^ +#[0-9]+ ' "$log" | grep -v -E \
				'libFuzzer|fuzzer::|libc\.so|_start|__sanitizer|abort|raise|pthread_kill' |
				head -n 12 | indent
			echo "    log: ${log#"$ROOT"/}"
			NFAIL=$((NFAIL + 1))
		fi
	done
}

# ---- fuzzing ----
slow_note() {
	local slow secs
	slow=$(grep -a -o 'Test unit written to .*/slow-unit-.*' "$2" |
		tail -n 1 | sed 's/^Test unit written to //')
	[ -n "$slow" ] || return 0
	secs=$(grep -a -o 'Slowest unit: [0-9]* s' "$2" | tail -n 1 |
		grep -a -o '[0-9]* s')
	echo "NOTE: fuzz/$1: an input took ${secs:-over ${FUZZ_SLOW:-10} s}" \
		"(a speed report, not a failure): ${slow#"$ROOT"/}"
}

fuzz() {
	local t=$1 corpus=$B/corpus/$1 art=$B/artifacts/$1 log=$B/logs/$1.log
	local rc runs cov unit
	[ "${FUZZ_KEEP_CORPUS:-0}" = 1 ] || corpus=$QCOW_FUZZ_TMP/corpus-$t
	mkdir -p "$corpus" "$art"
	"$B/$t" "${LIMITS[@]}" -max_total_time="$SECONDS_PER" \
		-max_len=$MAX_LEN -len_control=0 -print_final_stats=1 \
		-artifact_prefix="$art/" -seed="${FUZZ_SEED:-1}" ${FUZZ_ARGS:-} \
		"$corpus" "$(seeds_for "$t")" >"$log" 2>&1
	rc=$?
	runs=$(grep -a -o 'stat::number_of_executed_units: *[0-9]*' "$log" |
		grep -a -o '[0-9]*$' | tail -n 1)
	cov=$(grep -a -o 'cov: [0-9]*' "$log" | tail -n 1 | grep -a -o '[0-9]*$')
	unit=$(grep -a -o 'Test unit written to .*' "$log" |
		sed 's/^Test unit written to //' | grep -v '/slow-unit-' |
		tail -n 1)
	slow_note "$t" "$log"
	if [ $rc -eq 0 ] && [ -z "$unit" ]; then
		echo "PASS: fuzz/$t (${SECONDS_PER}s, ${runs:-?} runs," \
			"cov ${cov:-?}, corpus $(find "$corpus" -type f | wc -l))"
		NPASS=$((NPASS + 1))
		return
	fi
	echo "FAIL: fuzz/$t exit $rc: $(verdict "$log")"
	grep -a -E '^ +#[0-9]+ ' "$log" | grep -v -E \
		'libFuzzer|fuzzer::|libc\.so|_start|__sanitizer|abort|raise|pthread_kill' |
		head -n 12 | indent
	if [ -n "$unit" ]; then
		echo "    input: ${unit#"$ROOT"/}"
		if [ "${FUZZ_SAVE:-0}" = 1 ]; then
			mkdir -p "tests/fuzz/regress/$t"
			cp "$unit" "tests/fuzz/regress/$t/"
			echo "    saved as tests/fuzz/regress/$t/$(basename "$unit")"
		else
			echo "    keep it: cp ${unit#"$ROOT"/} tests/fuzz/regress/$t/"
		fi
	fi
	echo "    log: ${log#"$ROOT"/}"
	NFAIL=$((NFAIL + 1))
}

for t in "${TARGETS[@]}"; do
	if [ ! -x "$B/$t" ]; then
		echo "FAIL: fuzz/$t (no such target)"
		NFAIL=$((NFAIL + 1))
		continue
	fi
	replay "$t"
	fuzz "$t"
done
echo "fuzz: $NPASS passed, $NFAIL failed"
[ "$NFAIL" -eq 0 ]
