# Shared by the ublk-*.sh guest tests; sourced, runs INSIDE the guest.
#
# One line per case: PASS: guest/<script>/<case> | FAIL: ... <why> |
# SKIP: ... (<reason>).  ublk_main ends the script: exit 1 if a case
# failed, 77 if every case skipped.  Every test works in /tmp/ublk-test
# (tmpfs: 9p is slow), and its exit deletes whatever devices are left.
#
# The server under test: /host/bin/ublk-qcow, or with the argument
# "asan" the sanitizer build /host/build-asan/bin/ublk-qcow.

if [ "${1:-}" = asan ]; then
	UBLK_QCOW=/host/build-asan/bin/ublk-qcow
else
	UBLK_QCOW=/host/bin/ublk-qcow
fi
T=${T:-$(basename "$0" .sh)}
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

# ublk_add LOG ARGS...: `ublk-qcow add ARGS`; sets DEV (/dev/ublkbN) and
# ID (N).  Fails unless it printed exactly one /dev/ublkbN line and that
# block device exists.
ublk_add() {
	local log=$1
	shift
	DEV= ID=
	run "$log" "$UBLK_QCOW" add "$@" || return 1
	DEV=$(grep -x '/dev/ublkb[0-9]*' "$log")
	if [ -z "$DEV" ] || [ "$(wc -l <"$log")" != 1 ] || [ ! -b "$DEV" ]; then
		echo "    # add printed something else than one block device:"
		diag 5 <"$log"
		DEV=
		return 1
	fi
	ID=${DEV#/dev/ublkb}
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
