#!/bin/bash
# Read-only devices: `add -r` gives a read-only block device whose image
# never changes; an image on a read-only filesystem needs -r.
#     tests/guest/run.sh tests/guest/ublk-readonly.sh
. "$(dirname "$0")/lib-ublk.sh"

ro_add() {
	local c=ro-add sum
	qemu-img create -q -f qcow2 ro.qcow2 64M
	qemu-io -c 'write -P 0x33 0 4M' ro.qcow2 >/dev/null
	sum=$(sha256sum <ro.qcow2)
	ublk_add "$c-add.log" -f ro.qcow2 -r || { fail "$c" add; return; }
	if [ "$(blockdev --getro "$DEV")" != 1 ]; then
		fail "$c" "blockdev --getro says $(blockdev --getro "$DEV")"
	elif dd if=/dev/zero of="$DEV" bs=4k count=1 oflag=direct 2>/dev/null; then
		fail "$c" "a write succeeded"
	elif blkdiscard "$DEV" 2>/dev/null; then
		fail "$c" "a discard succeeded"
	elif ! "$UBLK_QCOW" list -n "$ID" --json | grep -q '"read-only": *true'; then
		fail "$c" "list does not say read-only"
	else
		dd if="$DEV" of=got bs=1M count=4 iflag=direct 2>/dev/null
		tr '\0' '3' </dev/zero | dd of=want bs=1M count=4 iflag=fullblock 2>/dev/null
		cmp -s got want || fail "$c" "reads return wrong data"
	fi
	ublk_del "$ID" || { fail "$c" del; return; }
	if [ -s "$WORK/del.log" ]; then
		fail "$c" "del complained"
		diag <"$WORK/del.log"
	elif [ "$(sha256sum <ro.qcow2)" != "$sum" ]; then
		fail "$c" "the image file changed"
	else
		pass "$c"
	fi
}

ro_fs() {
	local c=ro-filesystem d=$WORK/rofs
	mkdir -p "$d"
	mount -t tmpfs tmpfs "$d"
	qemu-img create -q -f qcow2 "$d/img.qcow2" 16M
	mount -o remount,ro "$d"
	if "$UBLK_QCOW" add -f "$d/img.qcow2" >"$c.log" 2>&1; then
		fail "$c" "a read-write add on a read-only filesystem succeeded"
		"$UBLK_QCOW" del -a
	elif ! grep -q 'Read-only file system' "$c.log"; then
		fail "$c" "unclear error"
		diag <"$c.log"
	elif ! ublk_add "$c-add.log" -f "$d/img.qcow2" -r; then
		fail "$c" "add -r"
	else
		ublk_del "$ID" && pass "$c"
	fi
	umount "$d"
}

ublk_init
ro_add
ro_fs
ublk_main_end
