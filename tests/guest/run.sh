#!/bin/bash
# Runs one script inside the ublk-capable test guest (Debian trixie 6.12
# kernel, or the one GUEST_KERNEL names, under qemu-system-x86_64 with TCG)
# and exits with its status.
#
#     tests/guest/run.sh SCRIPT [ARGS...]
#
# SCRIPT is a path inside the repository; the repository root is the 9p
# share "host", mounted at /host in the guest.  SCRIPT runs with ARGS as
# its arguments and /host as its working directory (cd elsewhere before
# running tools that drop files there, such as fio's verify state).  Its
# output is streamed here (carriage returns removed) and saved in the run
# directory tests/out/guest/NAME.XXXXXX/console.log, kept when it fails.
# In the guest the script sees GUEST=1, HOST_REPO=/host and GUEST_RUN (the
# run directory, as seen from the guest; scratch files may go there).
# Images the script leaves in GUEST_RUN/host-check/ are checked here with
# the host's qemu-img after the guest ends (a case host-check/FILE each;
# a failing one makes the exit status 1).
# The guest has busybox, bash, fio, mkfs.ext4, e2fsck, blkdiscard,
# qemu-img/-io/-nbd, the modules of fetch-kernel.sh already loaded
# (/dev/ublk-control exists), those of crypto-modules.sh to load
# (lib-crypto.sh), and a tmpfs on /tmp: 9p is slow, so put
# images there for anything timed and copy results back to $GUEST_RUN.
#
# A guest kernel that panics before /init starts SCRIPT (seen under TCG:
# an int3 Oops while the kernel patches its own text), or that has not
# started it after GUEST_BOOT_TIMEOUT seconds (seen with 7.2: a silent
# hang early in boot, once in 75 boots), is booted once more.
#
# Kernel and initramfs come from fetch-kernel.sh and mkinitrd.sh (cached
# in .cache/guest/; the initramfs is rebuilt only when its inputs change).
#
# Exit status: the script's, or
#     77   SKIP: qemu-system-x86_64 missing, the kernel cannot be fetched,
#          or busybox-static missing (a "SKIP: guest/NAME (reason)" line)
#     124  the run exceeded GUEST_TIMEOUT ("FAIL: guest/NAME timed out")
#     130  interrupted (SIGINT, SIGTERM or SIGHUP): the VM is stopped
#     1    the guest did not run the script or report its status
#
# Environment:
#     GUEST_TIMEOUT   seconds for the whole VM run (default 600)
#     GUEST_BOOT_TIMEOUT  seconds for the guest to start SCRIPT (default 120)
#     GUEST_MEM       MiB of guest memory (default 2048)
#     GUEST_SMP       vCPUs (default 2)
#     GUEST_CPU       qemu -cpu model (default qemu64,+rdrand)
#     GUEST_APPEND    extra kernel command line words
#     GUEST_BIOS      firmware file (default qboot.rom if installed; empty:
#                     qemu's default SeaBIOS)
#     GUEST_KEEP=1    keep the run directory even when the script passed
#     GUEST_KERNEL    Debian suite of the guest kernel (default trixie:
#                     6.12; e.g. forky, trixie-backports: their newer
#                     kernel, fetched once into its own cache folder)
#     QEMU_SYSTEM     the emulator (default qemu-system-x86_64)
set -eu

GUEST_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$GUEST_DIR/../.." && pwd)
CACHE=$REPO_ROOT/.cache/guest
# shellcheck source=tests/guest/lib-kernel.sh
. "$GUEST_DIR/lib-kernel.sh"
OUT_BASE=$REPO_ROOT/tests/out/guest

GUEST_TIMEOUT=${GUEST_TIMEOUT:-600}
GUEST_BOOT_TIMEOUT=${GUEST_BOOT_TIMEOUT:-120}
GUEST_MEM=${GUEST_MEM:-2048}
GUEST_SMP=${GUEST_SMP:-2}
# RDRAND lets the guest kernel seed its CRNG at boot; without it every
# early getrandom() user waits (mkfs.ext4 took 4 s, libuuid retrying).
GUEST_CPU=${GUEST_CPU:-qemu64,+rdrand}
QEMU_SYSTEM=${QEMU_SYSTEM:-qemu-system-x86_64}

NAME=guest
RUN_DIR=
INTERRUPTED=
QEMU_CMD=()
BIOS_OPT=()

note() { echo "    # $*"; }

skip() {
	echo "SKIP: guest/$NAME ($*)"
	exit 77
}

# fail_exit STATUS MESSAGE: a harness failure (the script did not run or
# did not report); the run directory is kept.
fail_exit() {
	local st=$1
	shift
	echo "FAIL: guest/$NAME $*"
	[ -n "$RUN_DIR" ] && note "console log kept in ${RUN_DIR#"$REPO_ROOT"/}/console.log"
	exit "$st"
}

usage() {
	echo "usage: $0 SCRIPT [ARGS...]" >&2
	exit 2
}

# guest_path SCRIPT: SCRIPT relative to the repository root.
guest_path() {
	local abs
	abs=$(readlink -f "$1") || return 1
	[ -f "$abs" ] || return 1
	case $abs in
	"$REPO_ROOT"/*) printf '%s\n' "${abs#"$REPO_ROOT"/}" ;;
	*) return 1 ;;
	esac
}

# shell_quote WORD: WORD in single quotes, for any POSIX sh.
shell_quote() {
	printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"
}

write_args() {
	local a line="set --"
	for a in "$@"; do
		line+=" $(shell_quote "$a")"
	done
	printf '%s\n' "$line" >"$RUN_DIR/args.sh"
}

prepare() {
	local log
	command -v "$QEMU_SYSTEM" >/dev/null 2>&1 ||
		skip "$QEMU_SYSTEM not found; install qemu-system-x86 (--no-install-recommends)"
	command -v timeout >/dev/null 2>&1 || skip "timeout (coreutils) not found"
	mkdir -p "$CACHE"
	log=$CACHE/last-fetch$KERNEL_TAG.log
	if ! "$GUEST_DIR/fetch-kernel.sh" >"$log" 2>&1; then
		sed 's/^/    | /' "$log" | tail -n 5
		skip "cannot fetch the guest kernel: $(grep 'error:' "$log" | tail -n 1 | sed 's/^fetch-kernel: error: //')"
	fi
	# the kernel crypto backend's modules, for the guest to load
	"$GUEST_DIR/crypto-modules.sh" || true
	log=$CACHE/last-mkinitrd$KERNEL_TAG.log
	local st=0
	INITRD=$("$GUEST_DIR/mkinitrd.sh" 2>"$log") || st=$?
	grep -v '^mkinitrd: building\|MiB, .* entries$' "$log" | sed 's/^/    # /' || true
	case $st in
	0) ;;
	77) skip "$(sed -n 's/^mkinitrd: error: //p' "$log" | tail -n 1)" ;;
	*) fail_exit 1 "could not build the initramfs: $(tail -n 1 "$log")" ;;
	esac
}

# bios_option: sets BIOS_OPT to qboot when installed (a second faster than
# SeaBIOS, and it draws nothing on the console); GUEST_BIOS overrides,
# empty = qemu's default SeaBIOS.
bios_option() {
	local f=${GUEST_BIOS-/usr/share/qemu/qboot.rom}
	BIOS_OPT=()
	if [ -n "$f" ] && [ -f "$f" ]; then
		BIOS_OPT=(-bios "$f")
	fi
}

# console_filter: the serial console as plain lines (no CR, no terminal
# escape sequences such as SeaBIOS's screen clearing), unbuffered.
console_filter() {
	sed -u -e 's/\r$//' -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/\x1b[c78]//g'
}

# qemu_cmd SCRIPT_REL: the VM; it powers off after the script.
qemu_cmd() {
	local append
	append="console=ttyS0 quiet panic=-1 guest_script=$1 guest_run=${RUN_DIR#"$REPO_ROOT"/}"
	append+=${GUEST_APPEND:+ $GUEST_APPEND}
	bios_option
	QEMU_CMD=("$QEMU_SYSTEM" -accel tcg -m "$GUEST_MEM" -smp "$GUEST_SMP"
		-cpu "$GUEST_CPU" -nographic -no-reboot -nic none "${BIOS_OPT[@]}"
		-kernel "$KDIR/vmlinuz" -initrd "$INITRD" -append "$append"
		-virtfs "local,path=$REPO_ROOT,mount_tag=host,security_model=none,multidevs=remap,id=host"
		-pidfile "$RUN_DIR/qemu.pid")
}

# on_signal NAME: stop the VM; main reports the interruption.
on_signal() {
	INTERRUPTED=$1
	[ -s "$RUN_DIR/qemu.pid" ] && kill -TERM "$(cat "$RUN_DIR/qemu.pid")" 2>/dev/null
	return 0
}

# boot_watchdog: stops the VM (and leaves RUN_DIR/boot-stuck) when the
# console shows no GUEST-START within GUEST_BOOT_TIMEOUT seconds.
boot_watchdog() {
	local i
	for ((i = 0; i < GUEST_BOOT_TIMEOUT; i++)); do
		sleep 1
		grep -q '^GUEST-START$' "$RUN_DIR/console.log" 2>/dev/null && return 0
		[ -e "$RUN_DIR/qemu.status" ] && return 0
	done
	: >"$RUN_DIR/boot-stuck"
	[ -s "$RUN_DIR/qemu.pid" ] && kill -TERM "$(cat "$RUN_DIR/qemu.pid")" 2>/dev/null
	return 0
}

# boot SCRIPT_REL: the VM's console goes to stdout and console.log.
# Returns qemu's status (124 when the timeout stopped it).  The pipeline
# runs in the background so that a signal to this script is handled at
# once (on_signal), not after the VM ends.
boot() {
	local pid wpid
	qemu_cmd "$1"
	rm -f "$RUN_DIR/qemu.status" "$RUN_DIR/boot-stuck"
	trap 'on_signal SIGINT' INT
	trap 'on_signal SIGTERM' TERM
	trap 'on_signal SIGHUP' HUP
	{
		timeout -k 10 "$GUEST_TIMEOUT" "${QEMU_CMD[@]}" </dev/null 2>&1
		echo $? >"$RUN_DIR/qemu.status"
	} | console_filter | tee "$RUN_DIR/console.log" &
	pid=$!
	boot_watchdog &
	wpid=$!
	while kill -0 "$pid" 2>/dev/null; do
		wait "$pid" || true # returns early when a trapped signal arrives
	done
	kill "$wpid" 2>/dev/null || true
	wait "$wpid" 2>/dev/null || true
	trap - INT TERM HUP
	return "$(cat "$RUN_DIR/qemu.status" 2>/dev/null || echo 1)"
}

# guest_status: the script's exit status as the guest reported it.
guest_status() {
	local st
	st=$(sed -n 's/^GUEST-EXIT: \([0-9][0-9]*\)$/\1/p' "$RUN_DIR/console.log" | tail -n 1)
	if [ -z "$st" ] && [ -f "$RUN_DIR/exit" ]; then
		st=$(cat "$RUN_DIR/exit") # the console line was garbled
	fi
	printf '%s\n' "$st"
}

# boot_stuck: the watchdog stopped a guest that did not start the script.
boot_stuck() {
	[ -e "$RUN_DIR/boot-stuck" ]
}

# boot_panicked: the kernel panicked before /init started the script.
boot_panicked() {
	! grep -q '^GUEST-START$' "$RUN_DIR/console.log" &&
		grep -q 'Kernel panic' "$RUN_DIR/console.log"
}

# host_checks: qemu-img check on the host of each file the script left
# in the run directory's host-check/; returns 1 if one is not clean.
host_checks() {
	local f n ret=0 cst
	[ -d "$RUN_DIR/host-check" ] || return 0
	for f in "$RUN_DIR"/host-check/*; do
		[ -f "$f" ] || continue
		n=guest/$NAME/host-check/$(basename "$f")
		if ! command -v qemu-img >/dev/null 2>&1; then
			echo "SKIP: $n (qemu-img is not installed on the host)"
			continue
		fi
		cst=0
		qemu-img check "$f" >"$f.log" 2>&1 || cst=$?
		if [ "$cst" = 0 ]; then
			echo "PASS: $n"
		else
			echo "FAIL: $n qemu-img check exit $cst"
			sed 's/^/    | /' "$f.log" | head -n 15
			ret=1
		fi
	done
	return "$ret"
}

main() {
	local rel st qst start err
	[ $# -ge 1 ] || usage
	NAME=$(basename "$1" .sh)
	rel=$(guest_path "$1") || {
		echo "run.sh: $1: not a file inside $REPO_ROOT (the guest sees only the repository)" >&2
		exit 2
	}
	shift
	prepare
	mkdir -p "$OUT_BASE"
	RUN_DIR=$(mktemp -d "$OUT_BASE/$NAME.XXXXXX")
	write_args "$@"
	start=$(date +%s)
	qst=0
	boot "$rel" || qst=$?
	if [ -z "$INTERRUPTED" ] && boot_panicked; then
		# seen under TCG: an int3 Oops while patching kernel text
		note "the guest kernel panicked before the script ran; booting again"
		mv "$RUN_DIR/console.log" "$RUN_DIR/console-panic.log"
		qst=0
		boot "$rel" || qst=$?
	elif [ -z "$INTERRUPTED" ] && boot_stuck; then
		note "the guest did not start the script in ${GUEST_BOOT_TIMEOUT}s; booting again"
		mv "$RUN_DIR/console.log" "$RUN_DIR/console-stuck.log"
		qst=0
		boot "$rel" || qst=$?
	fi
	[ -n "$INTERRUPTED" ] && fail_exit 130 "interrupted ($INTERRUPTED)"
	boot_stuck && fail_exit 1 "the guest did not start the script in ${GUEST_BOOT_TIMEOUT}s (GUEST_BOOT_TIMEOUT), twice"
	if [ "$qst" = 124 ] || [ "$qst" = 137 ]; then
		fail_exit 124 "timed out after ${GUEST_TIMEOUT}s (GUEST_TIMEOUT)"
	fi
	err=$(sed -n 's/^GUEST-ERROR: //p' "$RUN_DIR/console.log" | tail -n 1)
	[ -n "$err" ] && fail_exit 1 "guest setup failed: $err"
	st=$(guest_status)
	if [ -z "$st" ]; then
		fail_exit 1 "the guest did not report the script's exit status (qemu exit $qst)"
	fi
	note "guest/$NAME: exit $st, $(($(date +%s) - start)) s in the VM${KERNEL_TAG:+ (kernel $(cat "$KDIR/version"))}"
	if ! host_checks && [ "$st" = 0 ]; then
		st=1
	fi
	if [ "$st" = 0 ] && [ "${GUEST_KEEP:-0}" != 1 ]; then
		rm -rf "$RUN_DIR"
	else
		note "run directory kept: ${RUN_DIR#"$REPO_ROOT"/}"
	fi
	exit "$st"
}

main "$@"
