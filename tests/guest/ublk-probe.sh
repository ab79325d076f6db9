#!/bin/bash
# Format probing from the guest's side (CVE-2008-2004's class): the guest
# of a raw image writes, with dd on its device, a qcow2 header made by
# qemu-img that names a "secret" as backing file and a "victim" as data
# file.  Whatever follows (del, add again, kill -9 and recover), the
# daemon never opens those files and the device shows the raw bytes:
#   probed-*      add without -F warns; the header write fails (EIO) and
#                 changes nothing, other first-sector writes go through;
#                 list --json says raw, probed; after a recovery too
#   explicit-*    add -F raw (-o format=raw): the header is written (as
#                 qemu allows with an explicit format); del, add again, kill -9,
#                 recover: the device reads the raw bytes, the secret is
#                 not in it, no daemon has the secret or the victim open,
#                 the victim is unchanged after writes through the device
#   untrusted-*   add --untrusted / -o untrusted=on refuses an image with a
#                 backing or data file (one line naming the image and the
#                 field, no device); --allow-dir confines them, recorded
#                 for recover
#     tests/guest/run.sh tests/guest/ublk-probe.sh
. "$(dirname "$0")/lib-ublk.sh"

SIZE=8M

# opened_by ID FILE: the daemon of device ID holds FILE open.
opened_by() {
	local pid f
	pid=$(daemon_pid "$1")
	for f in /proc/"$pid"/fd/*; do
		[ "$(readlink "$f")" = "$2" ] && return 0
	done
	return 1
}

# host_files_closed CASE ID: neither the secret nor the victim is open.
host_files_closed() {
	if opened_by "$2" "$WORK/secret.raw" ||
		opened_by "$2" "$WORK/victim.raw"; then
		fail "$1" "the daemon of device $2 has the secret or the victim open"
		return 1
	fi
}

# json_has ID TEXT: list -n ID --json, without blanks, contains TEXT.
json_has() {
	list_flat "$1" | grep -qF "$2"
}

# same_bytes CASE DEV FILE: the whole device reads as FILE.
same_bytes() {
	dd if="$2" of=dev.out bs=64k iflag=direct 2>/dev/null
	if ! cmp -s dev.out "$3"; then
		fail "$1" "the device does not read as $3: $(cmp dev.out "$3" 2>&1 | head -n 1)"
		return 1
	fi
}

setup() {
	head -c 1048576 /dev/zero | tr '\0' '^' >secret.raw &&
	qemu-img create -q -f qcow2 -b "$WORK/secret.raw" -F raw hb.qcow2 1M &&
	qemu-img create -q -f qcow2 \
		-o "data_file=$WORK/victim.raw,data_file_raw=on" hd.qcow2 1M &&
	head -c 1048576 /dev/zero | tr '\0' 'v' >victim.raw &&
	cp victim.raw victim.orig &&
	head -c 512 /dev/zero | tr '\0' 'Q' >q512.bin &&
	mkdir -p jail &&
	head -c 1048576 /dev/zero | tr '\0' 'B' >jail/base.raw &&
	qemu-img create -q -f qcow2 -b base.raw -F raw jail/in.qcow2 1M
}

# The daemon refuses the header; the device stays usable.
probed_refused() {
	local c=probed-refused n
	truncate -s "$SIZE" p.raw
	cp p.raw zero.raw
	"$UBLK_QCOW" add -f p.raw >"$c.out" 2>"$c.err" || { fail "$c" "add: $(cat "$c.err")"; return; }
	DEV=$(cat "$c.out")
	ID=${DEV#/dev/ublkb}
	n=$(grep -c . "$c.err")
	if [ "$n" != 1 ] || ! grep -q '^ublk-qcow: warning: p.raw: .*probed as raw' "$c.err"; then
		fail "$c-warning" "add's stderr: $(head -c 300 "$c.err")"
	else
		pass "$c-warning"
	fi
	if ! json_has "$ID" '"format":"raw","format-probed":true'; then
		fail "$c-list" "list --json: $(list_flat "$ID" | head -c 300)"
	else
		pass "$c-list"
	fi
	if dd if=hb.qcow2 of="$DEV" bs=64k oflag=direct 2>"$c-dd.err"; then
		fail "$c" "dd of the qcow2 header onto the device succeeded"
	elif ! dd if=hb.qcow2 of="$DEV" bs=512 count=1 oflag=direct 2>>"$c-dd.err" &&
		! dd if=hd.qcow2 of="$DEV" bs=4k count=1 oflag=direct 2>>"$c-dd.err" &&
		same_bytes "$c" "$DEV" zero.raw; then
		pass "$c"
	else
		fail "$c" "a first-sector header write went through"
	fi
	grep -q 'first sector refused' "/run/ublk-qcow/ublk$ID.log" ||
		fail "$c-log" "no refusal in the daemon's log"
	host_files_closed "$c" "$ID"
	# the first sector takes other data
	if dd if=q512.bin of="$DEV" bs=512 oflag=direct 2>/dev/null &&
		dd if=hb.qcow2 of="$DEV" bs=512 count=1 seek=1 oflag=direct 2>/dev/null; then
		pass "$c-other-writes"
	else
		fail "$c-other-writes" "a harmless first-sector write failed"
	fi
	kill_daemon "$ID" || { fail "$c-recover" "kill -9"; return; }
	recover_dev "$c-recover" "$ID" || return
	if dd if=hb.qcow2 of="$DEV" bs=512 count=1 oflag=direct 2>/dev/null; then
		fail "$c-recover" "after recover, the header write went through"
	elif ! json_has "$ID" '"format":"raw","format-probed":true'; then
		fail "$c-recover" "list --json: $(list_flat "$ID" | head -c 300)"
	else
		pass "$c-recover"
	fi
	ublk_del "$ID" || fail "$c" del
	if [ "$(head -c 512 p.raw)" != "$(cat q512.bin)" ]; then
		fail "$c-file" "p.raw's first sector is not the data written"
	else
		pass "$c-file"
	fi
}

# explicit_case CASE HEADER FORMAT-OPTION...: add with the format given
# (-F raw, -o format=raw), the guest writes HEADER at 0 (allowed: the
# format is given) and a sector at 1 MiB; del; add again; kill -9;
# recover.  Each time: the device reads the raw bytes, the host files are
# closed, the victim unchanged.
explicit_case() {
	local c=$1 hdr=$2
	shift 2
	truncate -s "$SIZE" "$c.raw"
	ublk_add "$c-add.log" "$@" -f "$c.raw" || { fail "$c" "add $*"; return; }
	if ! dd if="$hdr" of="$DEV" bs=64k oflag=direct 2>"$c-dd.err"; then
		fail "$c" "dd of the header with -F raw: $(cat "$c-dd.err")"
		return
	fi
	dd if=q512.bin of="$DEV" bs=512 seek=2048 oflag=direct 2>/dev/null
	ublk_del "$ID" || { fail "$c" del; return; }
	cp "$c.raw" "$c.expect"
	head -c "$(wc -c <"$hdr")" "$c.raw" >"$c.head"
	if ! cmp -s "$c.head" "$hdr"; then
		fail "$c" "the header is not in the file"
		return
	fi
	ublk_add "$c-add2.log" "$@" -f "$c.raw" || { fail "$c" "add again"; return; }
	same_bytes "$c" "$DEV" "$c.expect" || return
	host_files_closed "$c" "$ID" || return
	json_has "$ID" '"format":"raw","format-probed":false' ||
		{ fail "$c" "list --json: $(list_flat "$ID" | head -c 300)"; return; }
	pass "$c"
	kill_daemon "$ID" || { fail "$c-recover" "kill -9"; return; }
	recover_dev "$c-recover" "$ID" || return
	dd if=q512.bin of="$DEV" bs=512 seek=4096 oflag=direct 2>/dev/null
	dd if=q512.bin of="$c.expect" bs=512 seek=4096 conv=notrunc 2>/dev/null
	same_bytes "$c-recover" "$DEV" "$c.expect" || return
	host_files_closed "$c-recover" "$ID" || return
	ublk_del "$ID" || { fail "$c-recover" del; return; }
	if ! cmp -s victim.raw victim.orig; then
		fail "$c-recover" "the victim changed"
	elif ! cmp -s "$c.raw" "$c.expect"; then
		fail "$c-recover" "the image file is not what the device showed"
	else
		pass "$c-recover"
	fi
}

# untrusted_refused CASE IMAGE FIELD ADD-OPTIONS...
untrusted_refused() {
	local c=$1 img=$2 field=$3 before after
	shift 3
	before=$(ls /sys/class/ublk-char 2>/dev/null | wc -l)
	if "$UBLK_QCOW" add "$@" -f "$img" >"$c.out" 2>"$c.err"; then
		fail "$c" "add succeeded: $(cat "$c.out")"
		"$UBLK_QCOW" del -a >/dev/null 2>&1
		return
	fi
	after=$(ls /sys/class/ublk-char 2>/dev/null | wc -l)
	if [ "$(grep -c . "$c.err")" != 1 ] || ! grep -qF "$img" "$c.err" ||
		! grep -qF "$field" "$c.err"; then
		fail "$c" "add's stderr: $(head -c 300 "$c.err")"
	elif [ "$before" != "$after" ]; then
		fail "$c" "a device was left behind"
	else
		pass "$c"
	fi
}

untrusted() {
	local c=untrusted-allow-dir
	untrusted_refused untrusted-backing hb.qcow2 "backing file" --untrusted
	untrusted_refused untrusted-datafile hd.qcow2 "data file" -o untrusted=on
	untrusted_refused untrusted-outside hb.qcow2 "backing file" \
		--allow-dir "$WORK/jail"
	cmp -s victim.raw victim.orig || fail untrusted-datafile "the victim changed"
	head -c 1048576 /dev/zero | tr '\0' 'B' >base.expect
	ublk_add "$c-add.log" -o "allow_dir=$WORK/jail" -f jail/in.qcow2 ||
		{ fail "$c" add; return; }
	same_bytes "$c" "$DEV" base.expect || return
	json_has "$ID" '"untrusted":true' ||
		{ fail "$c" "list --json: $(list_flat "$ID" | head -c 300)"; return; }
	kill_daemon "$ID" || { fail "$c" "kill -9"; return; }
	# recover keeps the confinement: base.raw is now outside it
	mv jail/base.raw base.raw && ln -s ../base.raw jail/base.raw
	if "$UBLK_QCOW" recover -n "$ID" >"$c-rec.out" 2>"$c-rec.err"; then
		fail "$c" "recover opened a backing file outside the allowed folder"
		return
	fi
	grep -q "outside the allowed folders" "$c-rec.err" ||
		{ fail "$c" "recover's stderr: $(head -c 300 "$c-rec.err")"; return; }
	rm jail/base.raw && mv base.raw jail/base.raw
	recover_dev "$c" "$ID" || return
	same_bytes "$c" "$DEV" base.expect || return
	ublk_del "$ID" || { fail "$c" del; return; }
	pass "$c"
}

ublk_init
if ! setup >setup.log 2>&1; then
	fail setup "building the images"
	diag <setup.log
	ublk_main_end
fi
probed_refused
explicit_case explicit-backing hb.qcow2 -F raw
explicit_case explicit-datafile hd.qcow2 -o format=raw
untrusted
ublk_main_end
