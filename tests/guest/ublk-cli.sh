#!/bin/bash
# The ublk-qcow command line: features, add, list, del and their errors.
#     tests/guest/run.sh tests/guest/ublk-cli.sh
. "$(dirname "$0")/lib-ublk.sh"

check_features() {
	if ! run features.log "$UBLK_QCOW" features; then
		fail features "exit status"
	elif ! grep -q '^0x0*1fe$\|^0x[0-9a-f]*$' features.log ||
		! grep -q 'CMD_IOCTL_ENCODE' features.log ||
		! grep -q 'USER_RECOVERY_REISSUE' features.log; then
		fail features "unexpected output"
		diag <features.log
	elif ! check_copy_summary features.log; then
		fail features "user copy / zero copy / batch io lines disagree with the mask"
		diag <features.log
	else
		pass features
	fi
}

# The summary lines follow the mask: user copy is bit 7, zero copy (ours)
# needs bit 11 (AUTO_BUF_REG) and bit 7, batch io is bit 15.
check_copy_summary() {
	local mask uc=not zc=not bio=not
	mask=$(head -n 1 "$1")
	(((mask >> 7) & 1)) && uc=
	(((mask >> 7) & (mask >> 11) & 1)) && zc=
	(((mask >> 15) & 1)) && bio=
	grep -q "^user copy: ${uc:+not }offered" "$1" &&
		grep -q "^zero copy: ${zc:+not }offered" "$1" &&
		grep -q "^batch io: ${bio:+not }offered" "$1"
}

check_add() {
	qemu-img create -q -f qcow2 a.qcow2 64M
	if ! ublk_add add.log -f a.qcow2; then
		fail add "add -f a.qcow2"
		return 1
	fi
	A_ID=$ID A_DEV=$DEV
	if [ "$(blockdev --getsize64 "$DEV")" != $((64 << 20)) ]; then
		fail add "$DEV has $(blockdev --getsize64 "$DEV") bytes"
		return 1
	fi
	pass add
}

check_list() {
	local pid zc
	run list.log "$UBLK_QCOW" list || { fail list "exit status"; return; }
	if ! grep -q "^$ID  *LIVE  *1  *128  *[0-9][0-9]*  *$WORK/a.qcow2\$" list.log; then
		fail list "no row for device $ID"
		diag <list.log
		return
	fi
	run listj.log "$UBLK_QCOW" list -n "$ID" --json || { fail list-json "exit status"; return; }
	pid=$(daemon_pid "$ID")
	if ! grep -q "\"image\": *\"$WORK/a.qcow2\"" listj.log ||
		! grep -q '"state": *"LIVE"' listj.log ||
		! grep -q '"queues": *1' listj.log ||
		! grep -q '"depth": *128' listj.log ||
		[ -z "$pid" ] || [ ! -d "/proc/$pid" ]; then
		fail list-json "unexpected output"
		diag <listj.log
		return
	fi
	# zero copy is the default where the kernel offers it
	zc=false
	"$UBLK_QCOW" features | grep -q '^zero copy: offered' && zc=true
	if ! grep -q "\"zero-copy\": *$zc" listj.log; then
		fail list-json "zero-copy is not $zc (the kernel's offer)"
		diag <listj.log
		return
	fi
	pass list
}

check_add_options() {
	local id2=7
	qemu-img create -q -f qcow2 b.qcow2 32M
	local cache=l2-cache-size=1M,cache-clean-interval=30
	if ! ublk_add add2.log -f b.qcow2 -n "$id2" -q 1 -d 16 -o "$cache"; then
		fail add-options "add -n $id2 -d 16 -o $cache"
		return
	fi
	if [ "$DEV" != /dev/ublkb$id2 ]; then
		fail add-options "got $DEV, not /dev/ublkb$id2"
	elif ! "$UBLK_QCOW" list | grep -q "^$id2  *LIVE  *1  *16 "; then
		fail add-options "list does not show depth 16"
	elif ! "$UBLK_QCOW" list -n "$id2" --json |
		grep -q "\"cache-options\": *\"$cache\""; then
		fail add-options "list --json does not show -o $cache"
	elif qemu-img create -q -f qcow2 b3.qcow2 32M &&
		"$UBLK_QCOW" add -f b3.qcow2 -o l2-cache-size=2M,cache-size=1M \
			>badcache.log 2>&1; then
		fail add-options "add -o l2-cache-size=2M,cache-size=1M succeeded"
	elif ! grep -q "l2-cache-size may not exceed cache-size" badcache.log; then
		fail add-options "no qemu-img words for a bad cache option"
		diag <badcache.log
	elif qemu-img create -q -f qcow2 b2.qcow2 32M &&
		"$UBLK_QCOW" add -f b2.qcow2 -n "$id2" >taken.log 2>&1; then
		fail add-options "a second add -n $id2 succeeded"
	elif ! grep -q "device id $id2 is taken" taken.log; then
		fail add-options "no clear error for a taken id"
		diag <taken.log
	else
		pass add-options
	fi
	ublk_del "$id2" || fail del "del -n $id2"
}

# A second writer of a served image is refused, and leaves nothing: the
# same devices in /dev and in `list`.
check_same_image() {
	local before
	before=$(ls /dev | grep '^ublk[bc][0-9]'; "$UBLK_QCOW" list)
	if "$UBLK_QCOW" add -f a.qcow2 >same.log 2>&1; then
		fail same-image "a second add of a served image succeeded"
		"$UBLK_QCOW" del -n "$(sed -n 's|^/dev/ublkb||p' same.log)"
	elif ! grep -q "already served by $A_DEV" same.log; then
		fail same-image "unclear error"
		diag <same.log
	elif [ "$(ls /dev | grep '^ublk[bc][0-9]'; "$UBLK_QCOW" list)" != "$before" ]; then
		fail same-image "the failed add left a device: $(ls /dev | grep '^ublk[bc][0-9]' | tr '\n' ' ')"
	else
		pass same-image
	fi
}

check_bad_image() {
	local before after
	printf 'not an image at all' >bad.img
	before=$(ls /sys/class/ublk-char | wc -l)
	if "$UBLK_QCOW" add -f missing.qcow2 >missing.log 2>&1; then
		fail bad-image "add of a missing file succeeded"
	elif ! grep -q "^ublk-qcow: missing.qcow2: .*No such file" missing.log; then
		fail bad-image "unclear error for a missing file"
		diag <missing.log
	else
		pass missing-image
	fi
	qemu-img create -q -f qcow2 c.qcow2 16M
	# an unknown incompatible feature bit (byte 79 of the header)
	printf '\x80' | dd of=c.qcow2 bs=1 seek=79 conv=notrunc 2>/dev/null
	if "$UBLK_QCOW" add -f c.qcow2 >badimg.log 2>&1; then
		fail bad-image "add of an image with unknown features succeeded"
	elif ! grep -q "^ublk-qcow: c.qcow2: .*incompatible" badimg.log; then
		fail bad-image "no engine reason in the error"
		diag <badimg.log
	else
		pass bad-image
	fi
	after=$(ls /sys/class/ublk-char | wc -l)
	[ "$before" = "$after" ] || fail bad-image "a failed add left a device"
}

check_del() {
	local ID=$A_ID DEV=$A_DEV
	[ -n "$ID" ] || { skip del "add failed"; return; }
	if ! ublk_del "$ID"; then
		fail del "del -n $ID"
	elif [ -e "/sys/class/ublk-char/ublkc$ID" ] || [ -b "$DEV" ]; then
		fail del "device $ID still there"
	elif "$UBLK_QCOW" del -n "$ID" >del2.log 2>&1; then
		fail del "a second del -n $ID succeeded"
	elif ! grep -q "no ublk device $ID" del2.log; then
		fail del "unclear error for a missing device"
		diag <del2.log
	else
		img_check del a.qcow2 && pass del
	fi
}

check_del_all() {
	qemu-img create -q -f qcow2 d1.qcow2 16M
	qemu-img create -q -f qcow2 d2.qcow2 16M
	ublk_add all1.log -f d1.qcow2 && ublk_add all2.log -f d2.qcow2 || {
		fail del-all "add"
		return
	}
	if ! run delall.log "$UBLK_QCOW" del -a; then
		fail del-all "exit status"
	elif [ -n "$(ls /sys/class/ublk-char)" ]; then
		fail del-all "devices left: $(ls /sys/class/ublk-char)"
	else
		pass del-all
	fi
}

# --foreground: served by this process, deleted on SIGTERM.
check_foreground() {
	local pid dev i st
	qemu-img create -q -f qcow2 fg.qcow2 16M
	"$UBLK_QCOW" add -f fg.qcow2 --foreground >fg.out 2>&1 &
	pid=$!
	for i in $(seq 100); do
		dev=$(grep -x '/dev/ublkb[0-9]*' fg.out)
		[ -n "$dev" ] && break
		sleep 0.1
	done
	if [ -z "$dev" ] || [ ! -b "$dev" ]; then
		fail foreground "no device printed"
		diag <fg.out
		kill -KILL $pid
		return
	fi
	echo data | dd of="$dev" bs=4k conv=sync 2>/dev/null
	kill -TERM $pid
	wait $pid
	st=$?
	if [ $st != 0 ]; then
		fail foreground "exit status $st after SIGTERM"
	elif [ -b "$dev" ]; then
		fail foreground "$dev still there after SIGTERM"
	elif ! qemu-io -r -c 'read -P 0x64 0 1' fg.qcow2 >fgio.log 2>&1; then
		fail foreground "data written before SIGTERM not in the image"
		diag <fgio.log
	else
		img_check foreground fg.qcow2 && pass foreground
	fi
}

# Without the module /dev/ublk-control is missing: the error says so.
check_no_module() {
	local ko
	ko=/lib/modules/$(uname -r)/ublk_drv.ko
	if ! rmmod ublk_drv 2>rmmod.log; then
		skip no-module "rmmod ublk_drv failed: $(cat rmmod.log)"
		return
	fi
	if "$UBLK_QCOW" add -f a.qcow2 >nomod.log 2>&1; then
		fail no-module "add succeeded without ublk_drv"
	elif ! grep -q "the ublk_drv module is not loaded" nomod.log; then
		fail no-module "unclear error"
		diag <nomod.log
	else
		pass no-module
	fi
	insmod "$ko" || fail no-module "insmod $ko"
	[ -c /dev/ublk-control ] || fail no-module "/dev/ublk-control not back"
}

ublk_init
check_features
check_add && check_list && check_same_image
check_add_options
check_bad_image
check_del
check_del_all
check_foreground
check_no_module
ublk_main_end
