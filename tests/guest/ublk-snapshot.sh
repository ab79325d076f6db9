#!/bin/bash
# Internal snapshots served read-only: `add --snapshot` (and -o snapshot=)
# of each of two snapshots qemu-img made, with other data in each and in
# the active layer: the device reads as `qemu-img convert -l` exports the
# snapshot, is read-only (blockdev --getro, direct writes fail), `list
# --json` names the snapshot, `recover` serves the same snapshot again, and
# the image file is byte-identical after `del` and clean for qemu-img check.
#     tests/guest/run.sh tests/guest/ublk-snapshot.sh
. "$(dirname "$0")/lib-ublk.sh"

IMG=snap.qcow2

make_image() {
	qemu-img create -q -f qcow2 $IMG 32M &&
	qemu-io -c 'write -P 0x11 0 4M' -c 'write -P 0x12 24M 64k' $IMG &&
	qemu-img snapshot -c s1 $IMG &&
	qemu-io -c 'write -P 0x21 1M 2M' -c 'write -P 0x22 20M 1M' \
		-c 'write -z 24M 64k' $IMG &&
	qemu-img snapshot -c s2 $IMG &&
	qemu-io -c 'write -P 0x31 0 8M' -c 'discard 20M 1M' $IMG &&
	qemu-img convert -O raw -l s1 $IMG s1.raw &&
	qemu-img convert -O raw -l s2 $IMG s2.raw &&
	qemu-img convert -O raw $IMG active.raw
} >/dev/null

# served CASE EXPORT SNAPSHOT: the device DEV serves SNAPSHOT read-only.
served() {
	local c=$1 want=$2 snap=$3
	if [ "$(blockdev --getro "$DEV")" != 1 ]; then
		fail "$c" "blockdev --getro says $(blockdev --getro "$DEV")"
	elif dd if=/dev/zero of="$DEV" bs=4k count=1 oflag=direct 2>/dev/null; then
		fail "$c" "a write succeeded"
	elif ! list_flat "$ID" | grep -q "\"snapshot\":\"$snap\""; then
		fail "$c" "list --json does not name snapshot $snap"
		"$UBLK_QCOW" list -n "$ID" --json | diag 30
	elif ! list_flat "$ID" | grep -q '"read-only":true'; then
		fail "$c" "list --json does not say read-only"
	elif ! "$UBLK_QCOW" list -n "$ID" |
	     grep -qx "     snapshot: $snap (read-only)"; then
		fail "$c" "list does not name snapshot $snap"
		"$UBLK_QCOW" list -n "$ID" | diag 10
	elif ! dd if="$DEV" of=got bs=1M iflag=direct 2>/dev/null ||
	     ! cmp -s got "$want"; then
		fail "$c" "the device does not read as qemu-img convert -l $snap"
		cmp got "$want" 2>&1 | diag 2
	else
		return 0
	fi
	return 1
}

# snap_add CASE EXPORT SNAPSHOT ADD_ARGS...
snap_add() {
	local c=$1 want=$2 snap=$3 sum
	shift 3
	sum=$(sha256sum <$IMG)
	ublk_add "$c-add.log" -f $IMG "$@" || { fail "$c" add; return; }
	served "$c" "$want" "$snap"
	local ok=$?
	ublk_del "$ID" || { fail "$c" del; return; }
	[ $ok = 0 ] || return
	if [ -s "$WORK/del.log" ]; then
		fail "$c" "del complained"
		diag <"$WORK/del.log"
	elif [ "$(sha256sum <$IMG)" != "$sum" ]; then
		fail "$c" "the image file changed"
	else
		img_check "$c" $IMG && pass "$c"
	fi
}

snap_recover() {
	local c=snapshot-recover sum
	sum=$(sha256sum <$IMG)
	ublk_add "$c-add.log" -f $IMG --snapshot s2 || { fail "$c" add; return; }
	kill_daemon "$ID" || { fail "$c" "kill -9"; return; }
	recover_dev "$c" "$ID" || return
	served "$c" s2.raw s2 || { ublk_del "$ID"; return; }
	ublk_del "$ID" || { fail "$c" del; return; }
	if [ "$(sha256sum <$IMG)" != "$sum" ]; then
		fail "$c" "the image file changed"
	else
		img_check "$c" $IMG && pass "$c"
	fi
}

snap_missing() {
	local c=snapshot-missing
	if "$UBLK_QCOW" add -f $IMG --snapshot nope >"$c.log" 2>&1; then
		fail "$c" "add of a missing snapshot succeeded"
		"$UBLK_QCOW" del -a
	elif ! grep -q "Can't find snapshot" "$c.log"; then
		fail "$c" "unclear error"
		diag <"$c.log"
	elif ls /dev/ublkb* >/dev/null 2>&1; then
		fail "$c" "a device was left: $(ls /dev/ublkb*)"
	else
		pass "$c"
	fi
}

ublk_init
if ! make_image; then
	fail setup "qemu-img could not make the image"
	ublk_main_end
fi
if cmp -s s1.raw s2.raw || cmp -s s2.raw active.raw; then
	fail setup "the snapshots and the active layer should differ"
fi
snap_add snapshot-s1-name s1.raw s1 --snapshot s1
snap_add snapshot-s2-id s2.raw 2 --snapshot 2
snap_add snapshot-o-option s1.raw s1 -o snapshot=s1
snap_recover
snap_missing
ublk_main_end
