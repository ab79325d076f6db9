#!/bin/bash
# Format probing and untrusted images (CVE-2008-2004's class), on the host
# with the tools.  A guest of a raw image that writes a qcow2 header naming
# host files (a "secret" as backing file, a "victim" as data file) into its
# first sectors must not reach those files:
#   setup/*        the attack images are real: qemu-io, probing, reads the
#                  secret through one and writes the victim through the other
#   forced-raw/*   opened with -f raw, such a file shows its own bytes, and
#                  neither host file is opened (strace) or changed
#   probed/*       a probed raw image refuses (EPERM) a write after which it
#                  would probe as qcow2/qcow, whole or partial, as qemu-io
#                  does (same exit status and stdout, same file afterwards);
#                  other writes go through; -f raw lifts the rule
#   warning/*      a read-write open that probed raw warns in one line, as
#                  qemu-io does (and only then)
#   untrusted/*    --untrusted refuses backing and data files (one line
#                  naming the image and the field, the file never opened);
#                  --allow-dir confines them (symlinks resolved), block
#                  devices there only with --allow-block-devices; without
#                  the options, images work as with qemu
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

require_qemu
setup_work

SETUP_LOG=$WORK/setup.log
K=1024
M=$((1024 * 1024))

# The timing line of qemu-io's read/write reports differs run to run.
untimed() { grep -v ' ops; ' "$1"; }

have_cmd strace && HAVE_STRACE=1 || HAVE_STRACE=0

# opened_files LOG CMD...: CMD's output in LOG and LOG.err, its exit
# status returned; then CMD again under strace (LeakSanitizer cannot run
# there), every path it opened in LOG.opened.
opened_files() {
	local log=$1 st
	shift
	run_to "$log" "$@"
	st=$?
	[ "$HAVE_STRACE" = 1 ] || return $st
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
		timeout -k 5 "$CMD_TIMEOUT" strace -f -qq \
		-e trace=open,openat,openat2 -o "$log.strace" "$@" \
		>/dev/null 2>&1
	sed -n 's/.*open[a-z0-9]*([^"]*"\([^"]*\)".*/\1/p' "$log.strace" \
		>"$log.opened"
	return $st
}

# never_opened CASE LOG FILE...: none of FILE in LOG.opened.
never_opened() {
	local c=$1 log=$2 f
	shift 2
	if [ "$HAVE_STRACE" != 1 ]; then
		skip "$c/not-opened" "strace not found"
		return 0
	fi
	if ! grep -q . "$log.opened"; then
		fail "$c/not-opened" "no trace of the files opened"
		return 1
	fi
	for f in "$@"; do
		if grep -q "$(basename "$f")\$" "$log.opened"; then
			fail "$c/not-opened" "$f was opened"
			return 1
		fi
	done
	pass "$c/not-opened"
}

# one_line_naming CASE ERRFILE WORD...: exactly one line, naming each WORD.
one_line_naming() {
	local c=$1 err=$2 w
	shift 2
	if [ "$(wc -l <"$err")" != 1 ]; then
		fail "$c" "expected one line on stderr, got: $(head -c 300 "$err")"
		return 1
	fi
	for w in "$@"; do
		if ! grep -qF -- "$w" "$err"; then
			fail "$c" "the message does not name '$w': $(cat "$err")"
			return 1
		fi
	done
	pass "$c"
}

build() {
	mkdir -p jail &&
	qimg create -f raw secret.raw 1M &&
	qio -f raw secret.raw "write -P 0x5e 0 1M" &&
	qimg create -f qcow2 -b "$WORK/secret.raw" -F raw hb.qcow2 1M &&
	qimg create -f qcow2 -o "data_file=$WORK/victim.raw,data_file_raw=on" \
		hd.qcow2 1M &&
	qio -f raw victim.raw "write -P 0x76 0 1M" &&
	cp victim.raw victim.orig &&
	qimg create -f raw guest.raw 4M &&
	cp guest.raw zero.raw &&
	# what the guest wrote before the rule: the headers at offset 0
	cp guest.raw atk-b.raw && dd if=hb.qcow2 of=atk-b.raw conv=notrunc \
		status=none &&
	cp guest.raw atk-d.raw && dd if=hd.qcow2 of=atk-d.raw conv=notrunc \
		status=none &&
	# qcow2's magic and version 3 (qemu probes magic + version 0 as raw,
	# we as a qcow2 image that does not open: refused too, see below)
	printf 'QFI\373\0\0\0\3' >magic.bin && printf 'QF' >qf.bin &&
	printf 'I\373\0\0\0\3' >ifb.bin && printf 'QFI\373' >magic0.bin &&
	qimg create -f raw jail/base.raw 1M &&
	qio -f raw jail/base.raw "write -P 0x42 0 1M" &&
	qimg create -f qcow2 -b base.raw -F raw jail/in.qcow2 1M &&
	ln -s ../secret.raw jail/link.raw &&
	qimg create -f qcow2 -b link.raw -F raw -u jail/esc.qcow2 1M
}

# The attack images are what they should be: qemu follows them.
test_setup() {
	if "$QEMU_IO" -r -c "read -P 0x5e 0 64k" atk-b.raw >/dev/null 2>&1; then
		pass setup/hazard-backing
	else
		fail setup/hazard-backing "qemu-io does not read the secret through atk-b.raw"
	fi
	cp atk-d.raw atk-d.tmp && cp victim.raw victim.keep
	if "$QEMU_IO" -c "write -P 0x11 0 512" atk-d.tmp >/dev/null 2>&1 &&
		! cmp -s victim.raw victim.orig; then
		pass setup/hazard-datafile
	else
		fail setup/hazard-datafile "qemu-io does not write the victim through atk-d.raw"
	fi
	cp victim.orig victim.raw
	rm -f atk-d.tmp victim.keep
}

# -f raw: the file's own bytes; the named files are neither opened nor
# changed.
test_forced_raw() {
	local c
	c=forced-raw/read-backing
	cp atk-b.raw fb.raw
	if ! opened_files res/fb "$QCOW_IMG" convert -f raw -O raw fb.raw fb.out; then
		fail "$c" "convert exit $?: $(head -c 300 res/fb.err)"
	elif ! cmp -s fb.out atk-b.raw; then
		fail "$c" "the device does not show the file's bytes"
	else
		pass "$c"
	fi
	never_opened "$c" res/fb secret.raw

	c=forced-raw/write-datafile
	cp atk-d.raw fd.raw
	if ! opened_files res/fd "$QCOW_IO" -f raw -c "write -P 0x33 1M 64k" \
		-c "read -P 0x33 1M 64k" fd.raw; then
		fail "$c" "qcow-io exit $?: $(head -c 300 res/fd.err)"
	elif ! cmp -s victim.raw victim.orig; then
		fail "$c" "the victim changed"
	elif [ -s res/fd.err ]; then
		fail "$c" "stderr with -f raw: $(head -c 300 res/fd.err)"
	else
		pass "$c"
	fi
	never_opened "$c" res/fd victim.raw
}

# probe_case NAME EXPECT CMD...: the qemu-io commands CMD on a fresh raw
# file without -f, by qemu-io and by ours: same exit status (1 when
# EXPECT is refused, 0 when ok), same stdout, same file afterwards.
probe_case() {
	local c=probed/$1 want=$2 ref ours a
	shift 2
	local args=()
	for a in "$@"; do args+=(-c "$a"); done
	cp zero.raw "p-ref.raw" && cp zero.raw "p-ours.raw"
	run_to res/p-ref "$QEMU_IO" "${args[@]}" p-ref.raw
	ref=$?
	run_to res/p-ours "$QCOW_IO" "${args[@]}" p-ours.raw
	ours=$?
	if [ "$want" = refused ] && [ "$ref" != 1 ]; then
		fail "$c" "qemu-io exit $ref, expected a refusal"
	elif [ "$ours" != "$ref" ]; then
		fail "$c" "exit $ours, qemu-io $ref: $(head -c 300 res/p-ours.err)"
	elif ! diff <(untimed res/p-ref) <(untimed res/p-ours) >res/p.diff; then
		fail "$c" "stdout differs from qemu-io's"
		diag <res/p.diff
	elif ! cmp -s p-ref.raw p-ours.raw; then
		fail "$c" "the file differs from qemu-io's"
	elif [ "$want" = refused ] &&
		! grep -q 'Operation not permitted' res/p-ours; then
		fail "$c" "not refused with EPERM: $(head -c 300 res/p-ours)"
	elif [ "$want" = refused ] && [ "$("$QCOW_IMG" info --output=json p-ours.raw |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["format"])')" != raw ]; then
		fail "$c" "the file no longer probes as raw"
	else
		pass "$c"
	fi
}

# The magic with version 0: qemu probes it as raw, we as qcow2 (whose
# open then fails on the version): refused by us, the file unchanged.
probe_ours_magic0() {
	local c=probed/magic-version0
	cp zero.raw p0.raw
	run_to res/p0 "$QCOW_IO" -c "write -s $WORK/magic0.bin 0 4" p0.raw
	if [ $? != 1 ] || ! grep -q 'Operation not permitted' res/p0; then
		fail "$c" "not refused: $(head -c 300 res/p0 res/p0.err)"
	elif ! cmp -s p0.raw zero.raw; then
		fail "$c" "the file changed"
	else
		pass "$c"
	fi
}

test_probed() {
	local hsz
	hsz=$(stat -c %s hb.qcow2)
	probe_case header-backing refused "write -s $WORK/hb.qcow2 0 $hsz"
	probe_case header-datafile refused "write -s $WORK/hd.qcow2 0 $(stat -c %s hd.qcow2)"
	probe_case header-sector refused "write -s $WORK/hb.qcow2 0 512"
	probe_case magic-only refused "write -s $WORK/magic.bin 0 8"
	probe_case magic-in-two refused "write -s $WORK/qf.bin 0 2" \
		"write -s $WORK/ifb.bin 2 6"
	probe_case magic-unaligned refused "write -P 0x51 0 512" \
		"write -s $WORK/ifb.bin 2 6" "write -s $WORK/qf.bin 0 2"
	probe_case magic-over-data refused "write -P 0x51 0 512" \
		"write -s $WORK/magic0.bin 0 4"
	probe_case header-then-data ok "write -s $WORK/hb.qcow2 4096 512" \
		"write -P 0x51 0 512" "read -P 0x51 0 512"
	probe_case magic-past-probe ok "write -s $WORK/magic.bin 8 8" \
		"write -s $WORK/magic.bin 512 8" "write -z 0 4k"
	probe_ours_magic0
	probe_case header-past-sector ok "write -s $WORK/hb.qcow2 512 $((hsz - 512))"

	# the guest's attack, then the next probing open: still raw, and the
	# secret is never opened
	cp zero.raw pg.raw
	"$QCOW_IO" -c "write -s $WORK/hb.qcow2 0 $hsz" pg.raw >/dev/null 2>&1
	if ! opened_files res/pg "$QCOW_IO" -r -c "read -P 0 0 4M" pg.raw; then
		fail probed/reopen "the refused header changed the file: $(head -c 300 res/pg)"
	else
		pass probed/reopen
	fi
	never_opened probed/reopen res/pg secret.raw

	cp zero.raw pf.raw
	if "$QCOW_IO" -f raw -c "write -s $WORK/hb.qcow2 0 512" pf.raw \
		>res/pf 2>res/pf.err && cmp -s <(head -c 512 pf.raw) \
		<(head -c 512 hb.qcow2) && [ ! -s res/pf.err ]; then
		pass probed/explicit-raw-allowed
	else
		fail probed/explicit-raw-allowed "-f raw: $(head -c 300 res/pf res/pf.err)"
	fi
}

# warn_case NAME WANT ARGS...: qemu-io and ours on a raw file; qemu-io's
# stderr has its WARNING block iff ours has exactly one warning line
# naming the file, and WANT (yes/no) says which.
warn_case() {
	local c=warning/$1 want=$2 q o
	shift 2
	cp zero.raw w.raw
	"$QEMU_IO" "$@" -c "read 0 512" w.raw >/dev/null 2>res/w-ref.err
	"$QCOW_IO" "$@" -c "read 0 512" w.raw >/dev/null 2>res/w-ours.err
	q=no o=no
	grep -q '^WARNING: Image format was not specified' res/w-ref.err && q=yes
	if [ "$(wc -l <res/w-ours.err)" = 1 ] &&
		grep -q "^qcow-io: warning: w.raw: .*probed as raw" res/w-ours.err; then
		o=yes
	elif [ -s res/w-ours.err ]; then
		o="other: $(head -c 200 res/w-ours.err)"
	fi
	if [ "$q" != "$want" ]; then
		fail "$c" "qemu-io warned: $q, expected $want"
	elif [ "$o" != "$want" ]; then
		fail "$c" "ours warned: $o, qemu-io: $q"
	else
		pass "$c"
	fi
}

test_warning() {
	warn_case read-write yes
	warn_case read-only no -r
	warn_case explicit-raw no -f raw
}

# untrusted_refused NAME IMAGE FIELD HOSTFILE TOOL ARGS...
untrusted_refused() {
	local c=untrusted/$1 log=res/u-$1 img=$2 field=$3 host=$4 st
	shift 4
	opened_files "$log" "$@"
	st=$?
	if [ "$st" = 0 ]; then
		fail "$c" "opened: $(head -c 200 "$log")"
	else
		one_line_naming "$c" "$log.err" "$img" "$field"
	fi
	never_opened "$c" "$log" "$host"
}

test_untrusted() {
	untrusted_refused backing hb.qcow2 "backing file" secret.raw \
		"$QCOW_IO" --untrusted -r -c "read 0 512" hb.qcow2
	untrusted_refused datafile hd.qcow2 "data file" victim.raw \
		"$QCOW_IO" --untrusted -c "write -P 1 0 512" hd.qcow2
	untrusted_refused img-info hd.qcow2 "data file" victim.raw \
		"$QCOW_IMG" info --untrusted hd.qcow2
	untrusted_refused img-convert hb.qcow2 "backing file" secret.raw \
		"$QCOW_IMG" convert --untrusted -O raw hb.qcow2 u.out
	untrusted_refused outside-allowed hb.qcow2 "backing file" secret.raw \
		"$QCOW_IO" --allow-dir "$WORK/jail" -r -c "read 0 512" hb.qcow2
	untrusted_refused symlink-escape jail/esc.qcow2 "backing file" secret.raw \
		"$QCOW_IO" --allow-dir jail -r -c "read 0 512" jail/esc.qcow2
	if ! cmp -s victim.raw victim.orig; then
		fail untrusted/victim-unchanged "the victim changed"
	else
		pass untrusted/victim-unchanged
	fi

	if run_to res/u-in "$QCOW_IO" --allow-dir jail -r \
		-c "read -P 0x42 0 1M" jail/in.qcow2; then
		pass untrusted/inside-allowed
	else
		fail untrusted/inside-allowed "$(head -c 300 res/u-in res/u-in.err)"
	fi
	# defaults as qemu's: the same image reads its backing file
	if run_to res/u-def "$QCOW_IO" -r -c "read -P 0x5e 0 64k" hb.qcow2 &&
		"$QEMU_IO" -r -c "read -P 0x5e 0 64k" hb.qcow2 >/dev/null 2>&1; then
		pass untrusted/default-as-qemu
	else
		fail untrusted/default-as-qemu "$(head -c 300 res/u-def res/u-def.err)"
	fi
	test_block_device
}

# A data file that is a block device (a loop device): refused inside an
# allowed folder unless --allow-block-devices.
test_block_device() {
	local loop c=untrusted/block-device
	truncate -s 4M blk.img
	loop=$(losetup -f --show blk.img 2>/dev/null) || {
		skip "$c" "no loop device (losetup)"
		return
	}
	if ! qimg create -f qcow2 -o "data_file=$loop,data_file_raw=on" \
		bd.qcow2 4M; then
		fail "$c" "qemu-img create with data file $loop"
	else
		untrusted_refused block-device bd.qcow2 "block device" "$loop" \
			"$QCOW_IO" --allow-dir /dev -r -c "read 0 512" bd.qcow2
		if run_to res/u-blk "$QCOW_IO" --allow-dir /dev \
			--allow-block-devices -r -c "read -P 0 0 4M" bd.qcow2; then
			pass "$c-allowed"
		else
			fail "$c-allowed" "$(head -c 300 res/u-blk res/u-blk.err)"
		fi
	fi
	losetup -d "$loop"
}

if ! build >>"$SETUP_LOG" 2>&1; then
	fail setup "building the images"
	diag <"$SETUP_LOG"
	finish
fi
test_setup
test_forced_raw
test_probed
test_warning
test_untrusted
finish
