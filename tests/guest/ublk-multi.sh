#!/bin/bash
# One daemon serving several devices: `add -f A -f B` prints both devices
# in order, `list` shows one pid for both, fio verifies on both at once,
# `del` of one leaves the other served (fio again) and the daemon alive,
# `del` of the last ends the daemon; qemu-img check both images (here,
# and on the host after the guest ends).  A failing add (an image that
# does not open, an id taken after the first device was made, an image
# named twice, an image already served, an image locked by qemu-nbd)
# leaves no device and no daemon behind.  Recovery of one device of a
# killed multi-device daemon.
#     tests/guest/run.sh tests/guest/ublk-multi.sh
. "$(dirname "$0")/lib-ublk.sh"

# add_many LOG ARGS...: sets IDS (the ids printed, in order).
add_many() {
	local log=$1 line
	shift
	IDS=()
	run "$log" "$UBLK_QCOW" add "$@" || return 1
	while read -r line; do
		case $line in
		/dev/ublkb[0-9]*) IDS+=("${line#/dev/ublkb}") ;;
		*) echo "    # add printed: $line"; return 1 ;;
		esac
	done <"$log"
}

# image_of ID: the image `list` shows for device ID.
image_of() {
	list_flat "$1" | sed -n 's/.*"image":"\([^"]*\)".*/\1/p'
}

# dev_snapshot: the ublk devices (char and block) and what list shows.
dev_snapshot() {
	ls /sys/class/ublk-char /dev 2>/dev/null | grep '^ublk[bc][0-9]' | sort
	"$UBLK_QCOW" list
}

# nr_daemons: ublk-qcow processes.
nr_daemons() {
	local n=0 f
	for f in /proc/[0-9]*/comm; do
		[ "$(cat "$f" 2>/dev/null)" = ublk-qcow ] && n=$((n + 1))
	done
	echo "$n"
}

# gone ID: neither the block device, nor the char device, nor a list row.
gone() {
	[ ! -b "/dev/ublkb$1" ] && [ ! -e "/sys/class/ublk-char/ublkc$1" ] &&
		! "$UBLK_QCOW" list | grep -q "^$1 "
}

# wait_gone PID: the process ended (5 s at most).
wait_gone() {
	local _
	for _ in $(seq 50); do
		[ -d "/proc/$1" ] || return 0
		sleep 0.1
	done
	return 1
}

A_ID='' B_ID='' PID=''

multi_add() {
	local c=add pa pb
	qemu-img create -q -f qcow2 a.qcow2 64M
	qemu-img create -q -f qcow2 b.qcow2 48M
	if ! add_many add.log -f a.qcow2 -f b.qcow2 -q 2; then
		fail "$c" "add -f a.qcow2 -f b.qcow2"
		return 1
	fi
	A_ID=${IDS[0]:-} B_ID=${IDS[1]:-}
	pa=$(daemon_pid "$A_ID")
	pb=$(daemon_pid "$B_ID")
	PID=$pa
	if [ "${#IDS[@]}" != 2 ] || [ ! -b "/dev/ublkb$A_ID" ] ||
		[ ! -b "/dev/ublkb$B_ID" ]; then
		fail "$c" "add printed: $(tr '\n' ' ' <add.log)"
	elif [ "$(image_of "$A_ID")" != "$WORK/a.qcow2" ] ||
		[ "$(image_of "$B_ID")" != "$WORK/b.qcow2" ]; then
		fail "$c" "the devices are not in the order of -f: $A_ID is $(image_of "$A_ID"), $B_ID is $(image_of "$B_ID")"
	elif [ "$(blockdev --getsize64 "/dev/ublkb$B_ID")" != $((48 << 20)) ]; then
		fail "$c" "/dev/ublkb$B_ID has the wrong size"
	elif [ -z "$pa" ] || [ "$pa" != "$pb" ] || [ ! -d "/proc/$pa" ]; then
		fail "$c" "list shows pids '$pa' and '$pb'"
	elif [ "$(nr_daemons)" != 1 ]; then
		fail "$c" "$(nr_daemons) ublk-qcow processes"
	elif [ ! -f "/run/ublk-qcow/ublk$B_ID.log" ]; then
		fail "$c" "no log for device $B_ID"
	else
		pass "$c"
		return 0
	fi
	return 1
}

multi_fio() {
	local c=fio-both st1=0 st2=0 p1 p2
	fio_verify fio-a.log "/dev/ublkb$A_ID" --size=32M &
	p1=$!
	fio_verify fio-b.log "/dev/ublkb$B_ID" --size=32M &
	p2=$!
	wait $p1 || st1=$?
	wait $p2 || st2=$?
	if [ $st1 != 0 ] || [ $st2 != 0 ]; then
		fail "$c" "fio exit $st1 (a) and $st2 (b)"
		grep -ih 'verify\|err' fio-a.log fio-b.log | diag 10
	else
		pass "$c"
	fi
}

# del of A: gone, its image closed clean; B still served by the same pid.
multi_del_one() {
	local c=del-one
	if ! ublk_del "$A_ID"; then
		fail "$c" "del -n $A_ID"
	elif ! gone "$A_ID"; then
		fail "$c" "device $A_ID still there"
	elif [ ! -d "/proc/$PID" ]; then
		fail "$c" "the daemon ended with device $B_ID still served"
	elif [ "$(dev_state "$B_ID")" != LIVE ] ||
		[ "$(daemon_pid "$B_ID")" != "$PID" ]; then
		fail "$c" "device $B_ID: $(dev_state "$B_ID"), pid $(daemon_pid "$B_ID")"
	elif ! img_check "$c" a.qcow2; then
		:
	elif ! fio_verify fio-b2.log "/dev/ublkb$B_ID" --size=32M --offset=16M; then
		fail "$c" "fio on device $B_ID after del of $A_ID"
		grep -i 'verify\|err' fio-b2.log | diag 10
	else
		pass "$c"
	fi
}

# del of the last device ends the daemon.
multi_del_last() {
	local c=del-last
	if ! ublk_del "$B_ID"; then
		fail "$c" "del -n $B_ID"
	elif ! gone "$B_ID"; then
		fail "$c" "device $B_ID still there"
	elif ! wait_gone "$PID"; then
		fail "$c" "the daemon $PID is still running without devices"
	elif img_check "$c" b.qcow2; then
		host_check a.qcow2 b.qcow2
		pass "$c"
	fi
}

# fails_clean CASE GREP ARGS...: `add ARGS` fails with a message matching
# GREP, and leaves no device and no daemon behind.
fails_clean() {
	local c=$1 want=$2 before daemons
	shift 2
	before=$(dev_snapshot)
	daemons=$(nr_daemons)
	if "$UBLK_QCOW" add "$@" >"$c.log" 2>&1; then
		fail "$c" "add $* succeeded"
		diag <"$c.log"
		return 1
	fi
	if ! grep -q "$want" "$c.log"; then
		fail "$c" "unclear error (wanted: $want)"
		diag <"$c.log"
	elif [ "$(dev_snapshot)" != "$before" ]; then
		fail "$c" "devices left: $(ls /sys/class/ublk-char | tr '\n' ' ')"
	elif [ "$(nr_daemons)" != "$daemons" ]; then
		fail "$c" "$(nr_daemons) ublk-qcow processes, $daemons before"
	else
		pass "$c"
	fi
}

multi_failures() {
	local keep_id=7
	qemu-img create -q -f qcow2 c.qcow2 16M
	qemu-img create -q -f qcow2 d.qcow2 16M
	qemu-img create -q -f qcow2 f.qcow2 16M
	fails_clean fail-open "^ublk-qcow: missing.qcow2: .*No such file" \
		-f c.qcow2 -f missing.qcow2
	ublk_add keep.log -f d.qcow2 -n $keep_id || { fail fail-late add; return; }
	# device 20 is made before id 7 turns out taken: it must go again
	fails_clean fail-late "device id $keep_id is taken" \
		-f c.qcow2 -n 20 -f f.qcow2 -n $keep_id
	gone 20 || fail fail-late "device 20 left behind"
	fails_clean fail-twice "c.qcow2 is named twice" -f c.qcow2 -f c.qcow2
	fails_clean fail-served "d.qcow2 is already served by /dev/ublkb$keep_id" \
		-f c.qcow2 -f d.qcow2
	ublk_del $keep_id || fail fail-served "del -n $keep_id"
	img_check fail-late c.qcow2
	img_check fail-late f.qcow2
}

# qemu-nbd holds the image (QEMU's OFD locks): the engine's lock refuses
# it, once the engine takes locks (qcow-io tells).
multi_busy() {
	local c=busy npid st=0
	qemu-img create -q -f qcow2 e.qcow2 16M
	qemu-nbd -f qcow2 -k "$WORK/nbd.sock" e.qcow2 >nbd.log 2>&1 &
	npid=$!
	sleep 1
	if [ ! -S "$WORK/nbd.sock" ]; then
		skip "$c" "qemu-nbd did not start: $(head -c 200 nbd.log)"
		kill $npid 2>/dev/null
		return
	fi
	/host/bin/qcow-io -c 'write 0 512' e.qcow2 >qio.log 2>&1 || st=$?
	if [ $st = 0 ]; then
		skip "$c" "the engine takes no image lock (qcow-io wrote to an image qemu-nbd holds)"
	else
		fails_clean "$c" "e.qcow2: image is busy" -f c.qcow2 -f e.qcow2
	fi
	kill $npid 2>/dev/null
	wait $npid 2>/dev/null
}

# kill -9 of a two-device daemon; recover one, then the other.
multi_recover() {
	local c=recover-one x y
	qemu-img create -q -f qcow2 r1.qcow2 32M
	qemu-img create -q -f qcow2 r2.qcow2 32M
	random_file d1.bin 1024
	random_file d2.bin 1024
	add_many r.log -f r1.qcow2 -f r2.qcow2 || { fail "$c" add; return; }
	x=${IDS[0]} y=${IDS[1]}
	dd if=d1.bin of="/dev/ublkb$x" bs=64k oflag=direct conv=fsync 2>/dev/null
	dd if=d2.bin of="/dev/ublkb$y" bs=64k oflag=direct conv=fsync 2>/dev/null
	kill_daemon "$x" || { fail "$c" "kill -9"; return; }
	recover_dev "$c" "$x" || return
	dd if="/dev/ublkb$x" of=got1 bs=64k count=16 iflag=direct 2>/dev/null
	if [ "$(dev_state "$y")" != QUIESCED ]; then
		fail "$c" "device $y is $(dev_state "$y") after recovering $x"
	elif ! cmp -s got1 d1.bin; then
		fail "$c" "device $x reads back wrong after recover"
	else
		pass "$c"
	fi
	c=recover-other
	recover_dev "$c" "$y" || return
	dd if="/dev/ublkb$y" of=got2 bs=64k count=16 iflag=direct 2>/dev/null
	if ! cmp -s got2 d2.bin; then
		fail "$c" "device $y reads back wrong after recover"
	elif ! ublk_del "$x" || ! ublk_del "$y"; then
		fail "$c" "del"
	elif img_check "$c" r1.qcow2 3 && img_check "$c" r2.qcow2 3; then
		pass "$c"
	fi
}

ublk_init
if multi_add; then
	multi_fio
	multi_del_one
	multi_del_last
fi
multi_failures
multi_busy
multi_recover
ublk_main_end
