#!/bin/bash
# Unprivileged devices (UBLK_F_UNPRIVILEGED_DEV): uid 1000 attaches an
# image it owns.  The guest has no udev: what udev/90-ublk-qcow.rules
# does is done here by hand (/dev/ublk-control mode 0666; a loop that
# gives each new unprivileged device's nodes to its owner, asking
# `ublk-qcow list -n N --udev` as the rule does).  Without the control
# node's mode a user's add fails with one line naming the rules; with
# it: the device is the user's (list --json: unprivileged, owner-uid;
# nodes chowned), the user's record and by-name link are in
# $XDG_RUNTIME_DIR/ublk-qcow; data the user writes through the device is
# read back by the user and, after the user's del, by qemu-img from the
# image; uid 1001 can neither open the device nor delete it; root lists
# it; user copy is refused; a root device stays root's; a user's killed
# daemon cannot be recovered (the kernel gives unprivileged devices no
# user recovery) and the user deletes its device.
#     tests/guest/run.sh tests/guest/ublk-unpriv.sh
. "$(dirname "$0")/lib-ublk.sh"

AS_USER=/host/build/tests/helpers/as-user
U=1000
XDG=$WORK/xdg-$U

# as USER CMD...: CMD as uid/gid USER, with its own runtime folder.
as() {
	local u=$1
	shift
	"$AS_USER" "$u" "$u" env XDG_RUNTIME_DIR="$WORK/xdg-$u" "$@"
}

# The rule's chown, for the devices that appear while it runs.
fake_udev() {
	local n id kv
	while :; do
		for n in /dev/ublkc[0-9]* /dev/ublkb[0-9]*; do
			[ -e "$n" ] && [ "$(stat -c %u "$n" 2>/dev/null)" = 0 ] || continue
			id=${n#/dev/ublk?}
			kv=$("$UBLK_QCOW" list -n "$id" --udev 2>/dev/null) || continue
			case $kv in
			*UBLK_QCOW_UNPRIVILEGED=1*)
				eval "$kv"
				chown "$UBLK_QCOW_OWNER_UID:$UBLK_QCOW_OWNER_GID" "$n" 2>/dev/null
				chmod 600 "$n" 2>/dev/null
				;;
			esac
		done
		sleep 0.2
	done
}

nr_devs() {
	local n=0 f
	for f in /sys/class/ublk-char/ublkc*; do
		[ -e "$f" ] && n=$((n + 1))
	done
	echo "$n"
}

# refused CASE WANT CMD...: CMD fails with one line holding WANT, no device.
refused() {
	local c=$1 want=$2 before st=0
	shift 2
	before=$(nr_devs)
	"$@" >"$c.log" 2>&1 || st=$?
	if [ "$st" = 0 ] || [ "$(grep -c . "$c.log")" != 1 ] ||
		! grep -q -- "$want" "$c.log"; then
		fail "$c" "exit $st:"
		diag 5 <"$c.log"
	elif [ "$(nr_devs)" != "$before" ]; then
		fail "$c" "devices $before -> $(nr_devs)"
	else
		note "$c: $(cat "$c.log")"
		pass "$c"
	fi
}

unpriv() {
	local c dev id st=0
	mkdir -p u "$XDG" "$WORK/xdg-1001"
	qemu-img create -q -f qcow2 u/img.qcow2 64M
	qemu-img create -q -f qcow2 u/other.qcow2 64M
	chown -R $U:$U u "$XDG"
	chown 1001:1001 "$WORK/xdg-1001"
	random_file data.bin 1024
	chmod 644 data.bin

	chmod 600 /dev/ublk-control
	refused unpriv-no-rule "udev/90-ublk-qcow.rules" \
		as $U "$UBLK_QCOW" add -f u/img.qcow2 -F qcow2
	chmod 666 /dev/ublk-control
	fake_udev &
	UDEV_PID=$!

	refused unpriv-user-copy "root's devices only" \
		as $U "$UBLK_QCOW" add -f u/img.qcow2 -F qcow2 --user-copy

	c=unpriv-add
	if ! run "$c.log" as $U "$UBLK_QCOW" add -f u/img.qcow2 -F qcow2 --name mine; then
		fail "$c" add
		return
	fi
	dev=$(cat "$c.log")
	id=${dev#/dev/ublkb}
	for _ in $(seq 50); do
		[ "$(stat -c %u "$dev" 2>/dev/null)" = $U ] && break
		sleep 0.1
	done
	if ! list_flat "$id" | grep -q '"unprivileged":true,"owner-uid":1000,"owner-gid":1000'; then
		fail "$c" "root's list: $(list_flat "$id" | head -c 400)"
	elif [ "$(stat -c %u "/dev/ublkc$id")" != $U ] || [ "$(stat -c %u "$dev")" != $U ]; then
		fail "$c" "nodes not the user's: $(ls -l "/dev/ublkc$id" "$dev" | tr '\n' ' ')"
	elif [ ! -e "$XDG/ublk-qcow/ublk$id.json" ] ||
		[ "$(readlink "$XDG/ublk-qcow/by-name/mine")" != "$dev" ]; then
		fail "$c" "no record or link in $XDG/ublk-qcow: $(ls -R "$XDG" | tr '\n' ' ')"
	elif ! as $U "$UBLK_QCOW" list --name mine --json | tr -d ' \n' |
		grep -q "\"image\":\"$WORK/u/img.qcow2\""; then
		fail "$c" "the user's list --name mine does not show the image"
	else
		pass "$c"
	fi

	c=unpriv-io
	if ! as $U dd if=data.bin of="$dev" bs=64k oflag=direct conv=fsync 2>"$c.log"; then
		fail "$c" "the user's write failed: $(head -c 200 "$c.log")"
	elif ! as $U dd if="$dev" of="$WORK/u/got" bs=64k count=16 iflag=direct 2>"$c.log" ||
		! cmp -s u/got data.bin; then
		fail "$c" "the user reads back other data"
	else
		pass "$c"
	fi

	c=unpriv-other-user
	if as 1001 dd if="$dev" of=/dev/null bs=4k count=1 2>/dev/null; then
		fail "$c" "uid 1001 read the device"
	elif as 1001 "$UBLK_QCOW" del -n "$id" >"$c.log" 2>&1 ||
		[ ! -e "/sys/class/ublk-char/ublkc$id" ]; then
		fail "$c" "uid 1001 deleted the device"
	else
		note "$c: del said $(head -c 200 "$c.log")"
		pass "$c"
	fi

	c=unpriv-root-list
	if "$UBLK_QCOW" list | grep -q "^$id .*LIVE"; then
		pass "$c"
	else
		fail "$c" "root's list:"
		"$UBLK_QCOW" list 2>&1 | diag 5
	fi

	c=unpriv-del
	if ! run "$c.log" as $U "$UBLK_QCOW" del --name mine; then
		fail "$c" "the user's del"
	elif [ -e "/sys/class/ublk-char/ublkc$id" ] || [ -L "$XDG/ublk-qcow/by-name/mine" ] ||
		[ -e "$XDG/ublk-qcow/ublk$id.json" ]; then
		fail "$c" "device, link or record left"
	else
		rm -f raw.img
		img_check "$c" u/img.qcow2 && qemu-img convert -O raw u/img.qcow2 raw.img &&
			cmp -s <(head -c 1048576 raw.img) data.bin && pass "$c" ||
			fail "$c" "qemu-img reads other data from the image"
	fi
	host_check u/img.qcow2

	c=unpriv-root-device
	if ublk_add "$c.log" -f u/other.qcow2 -F qcow2; then
		sleep 1
		if list_flat "$ID" | grep -q '"unprivileged":false' &&
			[ "$(stat -c %u "/dev/ublkc$ID")" = 0 ]; then
			pass "$c"
		else
			fail "$c" "root's device: $(ls -l "/dev/ublkc$ID") $(list_flat "$ID" | head -c 300)"
		fi
		ublk_del "$ID" || fail "$c" del
	else
		fail "$c" "root's add"
	fi

	c=unpriv-killed
	if ! run "$c.log" as $U "$UBLK_QCOW" add -f u/other.qcow2 -F qcow2; then
		fail "$c" add
		return
	fi
	id=$(sed 's,/dev/ublkb,,' "$c.log")
	kill -KILL "$(daemon_pid "$id")"
	sleep 1
	as $U "$UBLK_QCOW" recover -n "$id" >"$c-recover.log" 2>&1 || st=$?
	if [ "$st" != 1 ] || ! grep -q "without user recovery" "$c-recover.log"; then
		fail "$c" "recover exit $st: $(head -c 200 "$c-recover.log")"
	elif ! run "$c-del.log" as $U "$UBLK_QCOW" del -n "$id" ||
		[ -e "/sys/class/ublk-char/ublkc$id" ]; then
		fail "$c" "the user's del of the dead device"
	else
		img_check "$c" u/other.qcow2 3 && pass "$c"
	fi
}

ublk_init
if [ ! -x "$AS_USER" ]; then
	skip all "$AS_USER not built (make)"
elif ! "$UBLK_QCOW" features | grep -q '^5 *UNPRIVILEGED_DEV$'; then
	skip all "the kernel $(uname -r) does not offer UBLK_F_UNPRIVILEGED_DEV"
elif [ "$(cat /proc/sys/kernel/io_uring_disabled 2>/dev/null || echo 0)" != 0 ]; then
	skip all "io_uring is disabled for users (kernel.io_uring_disabled)"
else
	UDEV_PID=
	unpriv
	[ -n "$UDEV_PID" ] && kill "$UDEV_PID"
	chmod 600 /dev/ublk-control
fi
ublk_main_end
