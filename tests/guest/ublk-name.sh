#!/bin/bash
# Stable names: `add --name NAME` and the link /run/ublk-qcow/by-name/NAME.
# Data written through the link is what qemu-img reads from the image
# (here, and qemu-img check on the host); list (human and --json) shows
# the name and the path; a taken name, a bad one and one given twice are
# refused with no device made; kill -9 leaves name and link, recover
# --name keeps both and the data; del --name (of a live daemon's device
# and of a dead one's) removes device, link and record, and the name can
# be used again; list, recover, snapshot and del take --name.
#     tests/guest/run.sh tests/guest/ublk-name.sh
. "$(dirname "$0")/lib-ublk.sh"

LINKS=/run/ublk-qcow/by-name

# json_str ID KEY: the string KEY of device ID in list --json ("" for null).
json_str() {
	list_flat "$1" | sed -n "s/^\[{\"id\":[0-9]*,.*\"$2\":\"\([^\"]*\)\".*/\1/p"
}

nr_devs() {
	ls /sys/class/ublk-char 2>/dev/null | grep -c '^ublkc'
}

# refused CASE STATUS ARGS...: add exits STATUS with one line, no device made.
refused() {
	local c=$1 want=$2 before st=0
	shift 2
	before=$(nr_devs)
	"$UBLK_QCOW" add "$@" >"$c.log" 2>&1 || st=$?
	if [ "$st" != "$want" ]; then
		fail "$c" "add $* exit $st, want $want"
		diag 5 <"$c.log"
	elif [ "$(nr_devs)" != "$before" ]; then
		fail "$c" "devices $before -> $(nr_devs)"
	elif [ "$(grep -c . "$c.log")" != 1 ]; then
		fail "$c" "not one line:"
		diag 5 <"$c.log"
	else
		note "$c: $(cat "$c.log")"
		pass "$c"
	fi
}

# named CASE ID NAME: list --json, the human list and the link agree.
named() {
	local c=$1 id=$2 name=$3
	if [ "$(json_str "$id" name)" != "$name" ]; then
		fail "$c" "list --json name: '$(json_str "$id" name)'"
	elif [ "$(json_str "$id" path)" != "$LINKS/$name" ]; then
		fail "$c" "list --json path: '$(json_str "$id" path)'"
	elif ! "$UBLK_QCOW" list -n "$id" | grep -qx "  *name: $name ($LINKS/$name)"; then
		fail "$c" "human list:"
		"$UBLK_QCOW" list -n "$id" | diag 5
	elif [ "$(readlink "$LINKS/$name")" != "/dev/ublkb$id" ]; then
		fail "$c" "$LINKS/$name -> '$(readlink "$LINKS/$name")'"
	elif [ "$("$UBLK_QCOW" list --name "$name" --json | tr -d ' \n' |
		sed -n 's/^\[{"id":\([0-9]*\),.*/\1/p')" != "$id" ]; then
		fail "$c" "list --name $name does not show device $id"
	else
		return 0
	fi
	return 1
}

# expect_raw CASE IMAGE DATA: qemu-img's raw export holds DATA at 1 MiB.
expect_raw() {
	rm -f raw.img
	qemu-img convert -O raw "$2" raw.img &&
		cmp -s <(dd if=raw.img bs=64k skip=16 count=16 2>/dev/null) "$3" &&
		return 0
	fail "$1" "qemu-img reads other data at 1 MiB of $2"
	return 1
}

name_cycle() {
	local c=name-add
	qemu-img create -q -f qcow2 a.qcow2 64M
	qemu-img create -q -f qcow2 b.qcow2 64M
	random_file one.bin 1024
	random_file two.bin 1024
	ublk_add "$c.log" -f a.qcow2 -F qcow2 --name data.0 || { fail "$c" add; return; }
	named "$c" "$ID" data.0 && pass "$c"
	A=$ID

	c='name-path-write'
	dd if=one.bin of="$LINKS/data.0" bs=64k seek=16 oflag=direct conv=fsync,notrunc 2>/dev/null
	cmp -s <(dd if="$DEV" bs=64k skip=16 count=16 iflag=direct 2>/dev/null) one.bin &&
		pass "$c" || fail "$c" "the device reads other data than written through the link"

	refused name-taken 1 -f b.qcow2 --name data.0
	refused name-twice 1 -f b.qcow2 -f a.qcow2 -r --name x --name x
	refused name-bad-slash 2 -f b.qcow2 --name ../x
	refused name-bad-dash 2 -f b.qcow2 --name -x
	refused name-bad-long 2 -f b.qcow2 --name "$(printf 'n%.0s' $(seq 65))"
	refused name-per-f 2 -f b.qcow2 -f a.qcow2 --name x

	c=name-unknown
	if "$UBLK_QCOW" list --name nosuch >"$c.log" 2>&1; then
		fail "$c" "list --name nosuch succeeded"
	elif ! grep -q "no ublk device named 'nosuch'" "$c.log"; then
		fail "$c" "list --name nosuch said: $(head -c 200 "$c.log")"
	elif "$UBLK_QCOW" snapshot --name data.0 -l >"$c-snap.log" 2>&1 &&
		[ ! -s "$c-snap.log" ]; then
		pass "$c"
	else
		fail "$c" "snapshot --name data.0 -l:"
		diag 5 <"$c-snap.log"
	fi

	c=name-recover
	kill_daemon "$A" || { fail "$c" "kill -9"; return; }
	if [ "$(readlink "$LINKS/data.0")" != "/dev/ublkb$A" ]; then
		fail "$c" "the link did not outlive the daemon"
	fi
	dd if=two.bin of="$LINKS/data.0" bs=64k seek=16 oflag=direct conv=notrunc 2>/dev/null &
	local ddpid=$!
	sleep 0.5
	if ! run "$c.log" "$UBLK_QCOW" recover --name data.0; then
		fail "$c" "recover --name"
		kill "$ddpid"
		return
	fi
	wait "$ddpid" || fail "$c" "a write queued across the recovery failed"
	if [ "$(cat "$c.log")" != "/dev/ublkb$A" ]; then
		fail "$c" "recover printed $(head -c 100 "$c.log")"
	elif [ "$(dev_state "$A")" != LIVE ]; then
		fail "$c" "device $A is $(dev_state "$A")"
	elif named "$c" "$A" data.0; then
		cmp -s <(dd if="$LINKS/data.0" bs=64k skip=16 count=16 iflag=direct 2>/dev/null) two.bin &&
			pass "$c" || fail "$c" "the write queued across the recovery reads back wrong"
	fi

	c=name-del
	if ! run "$c.log" "$UBLK_QCOW" del --name data.0; then
		fail "$c" "del --name"
	elif [ -e "/sys/class/ublk-char/ublkc$A" ] || [ -L "$LINKS/data.0" ] ||
		[ -e "/run/ublk-qcow/ublk$A.json" ]; then
		fail "$c" "device, link or record left: $(ls -l "$LINKS" /run/ublk-qcow 2>&1 | tr '\n' ' ')"
	else
		img_check "$c" a.qcow2 3 && expect_raw "$c" a.qcow2 two.bin && pass "$c"
	fi
	host_check a.qcow2

	# the name is free again; del of a dead daemon's device removes the link
	c=name-reuse-dead-del
	ublk_add "$c.log" -f b.qcow2 -F qcow2 --name data.0 || { fail "$c" add; return; }
	named "$c" "$ID" data.0 || return
	kill_daemon "$ID" || { fail "$c" "kill -9"; return; }
	if ! run "$c-del.log" "$UBLK_QCOW" del --name data.0; then
		fail "$c" "del --name of a dead daemon's device"
	elif [ -L "$LINKS/data.0" ] || [ -e "/sys/class/ublk-char/ublkc$ID" ]; then
		fail "$c" "link or device left behind"
	else
		pass "$c"
	fi
}

ublk_init
name_cycle
ublk_main_end
