# Shared by the ublk-*.sh guest tests; sourced, runs INSIDE the guest.
#
# One line per case: PASS: guest/<script>/<case> | FAIL: ... <why> |
# SKIP: ... (<reason>).  ublk_main ends the script: exit 1 if a case
# failed, 77 if every case skipped.  Every test works in /tmp/ublk-test
# (tmpfs: 9p is slow), and its exit deletes whatever devices are left.
#
# The server under test: /host/bin/ublk-qcow, or with the argument
# "asan" the sanitizer build /host/build-asan/bin/ublk-qcow.
#
# UBLK_ADD_OPTS: options added to every ublk_add; the *-uc.sh scripts run
# a test with UBLK_ADD_OPTS=--user-copy, the *-zc.sh ones with
# --zero-copy (and SKIP where the kernel lacks it; ublk-read-zc.sh adds
# --batch-io, the others -o batch_io=off: zero copy's two command sets).

if [ "${1:-}" = asan ]; then
	UBLK_QCOW=/host/build-asan/bin/ublk-qcow
else
	UBLK_QCOW=/host/bin/ublk-qcow
fi
T=${T:-$(basename "$0" .sh)}
UBLK_ADD_OPTS=${UBLK_ADD_OPTS:-}
WORK=/tmp/ublk-test
MNT=$WORK/mnt
N_PASS=0
N_FAIL=0
N_SKIP=0

pass() {
	echo "PASS: guest/$T/$1"
	N_PASS=$((N_PASS + 1))
}

fail() {
	local n=$1
	shift
	echo "FAIL: guest/$T/$n $*"
	N_FAIL=$((N_FAIL + 1))
}

skip() {
	echo "SKIP: guest/$T/$1 ($2)"
	N_SKIP=$((N_SKIP + 1))
}

note() { echo "    # $*"; }
diag() { head -n "${1:-20}" | sed 's/^/    | /'; }
have() { command -v "$1" >/dev/null 2>&1; }
is_mounted() { awk -v d="$1" '$2 == d { f = 1 } END { exit !f }' /proc/mounts; }

# run LOG CMD...: CMD's output to LOG, shown (indented) when CMD fails.
run() {
	local log=$1 st=0
	shift
	"$@" >"$log" 2>&1 || st=$?
	if [ "$st" != 0 ]; then
		echo "    # failed ($st): $*"
		diag 20 <"$log"
	fi
	return "$st"
}

# ublk_add LOG ARGS...: `ublk-qcow add $UBLK_ADD_OPTS ARGS`; sets DEV
# (/dev/ublkbN) and ID (N).  Fails unless it printed exactly one
# /dev/ublkbN line and that block device exists (and, with --user-copy or
# --zero-copy, unless the device moves data that way).
ublk_add() {
	local log=$1
	shift
	DEV= ID=
	# shellcheck disable=SC2086 # options, word-split on purpose
	run "$log" "$UBLK_QCOW" add $UBLK_ADD_OPTS "$@" || return 1
	DEV=$(grep -x '/dev/ublkb[0-9]*' "$log")
	if [ -z "$DEV" ] || [ "$(wc -l <"$log")" != 1 ] || [ ! -b "$DEV" ]; then
		echo "    # add printed something else than one block device:"
		diag 5 <"$log"
		DEV=
		return 1
	fi
	ID=${DEV#/dev/ublkb}
	check_user_copy "$ID"
}

# check_user_copy ID: with --user-copy (--zero-copy) in UBLK_ADD_OPTS,
# device ID moves data by user copy (zero copy): list --json, from the
# kernel's flags.
check_user_copy() {
	local key
	case " $UBLK_ADD_OPTS " in
	*" --user-copy "*) key=user-copy ;;
	*" --zero-copy "*) key=zero-copy ;;
	*) return 0 ;;
	esac
	list_flat "$1" | grep -q "\"$key\":true" && return 0
	echo "    # device $1 does not use $key"
	return 1
}

# ublk_del ID: `ublk-qcow del -n ID`, its output in $WORK/del.log.
ublk_del() {
	run "$WORK/del.log" "$UBLK_QCOW" del -n "$1"
}

# daemon_pid ID: the pid serving device ID, from `list --json`.
daemon_pid() {
	"$UBLK_QCOW" list -n "$1" --json 2>/dev/null |
		sed -n 's/^ *"pid": *\([0-9-]*\).*/\1/p'
}

# list_flat ID: `list -n ID --json` without blanks or newlines.
list_flat() {
	"$UBLK_QCOW" list -n "$1" --json 2>/dev/null | tr -d ' \t\n'
}

# queue_field ID Q KEY: KEY (cpus, tid) of queue Q in list's queue-affinity.
queue_field() {
	list_flat "$1" | grep -o "{\"queue\":$2,[^}]*}" | sed -n \
		-e "s/.*\"$3\":\"\([^\"]*\)\".*/\1/p" -e t \
		-e "s/.*\"$3\":\([0-9]*\).*/\1/p"
}

# cpu_set LIST: a CPU list ("0-2,5", blk-mq's "0, 1, 2, 5", or this
# function's own "0 1 2 5 ") as one line of sorted CPU numbers.
cpu_set() {
	echo "$1" | tr ', ' '\n\n' | awk -F- 'NF {
		e = NF > 1 ? $2 : $1
		for (i = $1; i <= e; i++) print i }' | sort -n | tr '\n' ' '
}

# kill_daemon ID: SIGKILL, then wait until the kernel quiesced the device.
kill_daemon() {
	local pid i
	pid=$(daemon_pid "$1")
	[ -n "$pid" ] && [ "$pid" -gt 0 ] || return 1
	kill -KILL "$pid"
	for i in $(seq 100); do
		[ "$(dev_state "$1")" = QUIESCED ] && return 0
		sleep 0.1
	done
	echo "    # device $1 is $(dev_state "$1") after kill -9 of $pid"
	return 1
}

# recover_dev CASE ID: `recover -n ID` prints the same device, LIVE again.
recover_dev() {
	local c=$1 old new
	old=$(daemon_pid "$2")
	run "$c-recover.log" "$UBLK_QCOW" recover -n "$2" || { fail "$c" recover; return 1; }
	new=$(daemon_pid "$2")
	if [ "$(cat "$c-recover.log")" != "/dev/ublkb$2" ]; then
		fail "$c" "recover printed: $(head -c 200 "$c-recover.log")"
	elif [ "$(dev_state "$2")" != LIVE ] || [ "$new" = "$old" ] ||
		[ ! -d "/proc/$new" ]; then
		fail "$c" "device $2: $(dev_state "$2"), pid $old -> $new"
	elif ! check_user_copy "$2"; then
		fail "$c" "device $2 lost user/zero copy in the recovery"
	else
		return 0
	fi
	return 1
}

# host_check IMAGE...: copied to $GUEST_RUN/host-check/, where
# tests/guest/run.sh runs qemu-img check on them on the host after the
# guest ends (a case host-check/NAME each).
host_check() {
	local d=${GUEST_RUN:-}/host-check
	[ -n "${GUEST_RUN:-}" ] || return 0
	mkdir -p "$d" && cp "$@" "$d/"
}

# dev_state ID: LIVE, QUIESCED, ...
dev_state() {
	"$UBLK_QCOW" list -n "$1" --json 2>/dev/null |
		sed -n 's/^ *"state": *"\([A-Z_]*\)".*/\1/p'
}

# img_check CASE IMAGE [ALLOWED...]: qemu-img check exits 0 (or one of
# ALLOWED, e.g. 3 for leaks after a crash).  Prints nothing on success.
img_check() {
	local c=$1 img=$2 st=0 a
	shift 2
	qemu-img check "$img" >"$WORK/check.log" 2>&1 || st=$?
	for a in 0 "$@"; do
		[ "$st" = "$a" ] && return 0
	done
	fail "$c" "qemu-img check $img exit $st"
	diag 15 <"$WORK/check.log"
	return 1
}

# random_file FILE SIZE_KIB: random bytes.
random_file() {
	dd if=/dev/urandom of="$1" bs=1k count="$2" 2>/dev/null
}

# fio_verify LOG DEV EXTRA...: random 4k writes then a crc32c verify pass.
fio_verify() {
	local log=$1 dev=$2
	shift 2
	(cd "$WORK" && fio --name=verify --filename="$dev" --ioengine=io_uring \
		--direct=1 --rw=randwrite --bs=4k --iodepth=32 \
		--verify=crc32c --do_verify=1 --verify_fatal=1 \
		--verify_state_save=0 --randrepeat=0 "$@") >"$log" 2>&1
}

ublk_cleanup() {
	cd /
	is_mounted "$MNT" && umount "$MNT" 2>/dev/null
	"$UBLK_QCOW" del -a >/dev/null 2>&1
	rm -rf "$WORK"
}

# ublk_init: checks the guest, makes $WORK, arranges the cleanup.
ublk_init() {
	if [ "${GUEST:-}" != 1 ]; then
		echo "$0 runs inside the test guest: tests/guest/run.sh $0" >&2
		exit 2
	fi
	if [ ! -x "$UBLK_QCOW" ]; then
		skip all "$UBLK_QCOW not built (make)"
		exit 77
	fi
	if [ ! -c /dev/ublk-control ]; then
		fail all "/dev/ublk-control missing in the guest"
		exit 1
	fi
	case " $UBLK_ADD_OPTS " in
	*" --user-copy "*)
		if ! "$UBLK_QCOW" features | grep -q '^7 *USER_COPY$'; then
			skip all "the kernel does not offer UBLK_F_USER_COPY"
			exit 77
		fi
		;;
	*" --zero-copy "*)
		if ! "$UBLK_QCOW" features | grep -q '^zero copy: offered'; then
			skip all "the kernel $(uname -r) does not offer zero copy (UBLK_F_AUTO_BUF_REG)"
			exit 77
		fi
		;;
	esac
	case " $UBLK_ADD_OPTS " in
	*" --batch-io "*)
		if ! "$UBLK_QCOW" features | grep -q '^batch io: offered'; then
			skip all "the kernel $(uname -r) does not offer UBLK_F_BATCH_IO"
			exit 77
		fi
		;;
	esac
	rm -rf "$WORK"
	mkdir -p "$WORK" "$MNT"
	cd "$WORK" || exit 1
	trap ublk_cleanup EXIT
	set +e
}

# Sanitizer reports of the daemons (their stderr is the device's log).
check_daemon_logs() {
	local f
	for f in /run/ublk-qcow/*.log; do
		[ -f "$f" ] || continue
		if grep -q 'Sanitizer\|runtime error:\|on another thread' "$f"; then
			fail daemon-log "$f has a sanitizer or engine report"
			diag 30 <"$f"
		fi
	done
}

ublk_main_end() {
	check_daemon_logs
	echo "    # $T: $N_PASS passed, $N_FAIL failed, $N_SKIP skipped"
	[ "$N_FAIL" -gt 0 ] && exit 1
	[ "$N_PASS" -eq 0 ] && exit 77
	exit 0
}
