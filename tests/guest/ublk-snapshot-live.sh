#!/bin/bash
# `ublk-qcow snapshot -n ID -c NAME | -d NAME | -l` on a device in use.
#
# snapshot-cli: the verb's errors are one line and exit 1 (no device, a
# read-only device, a raw image, an unknown snapshot), usage errors exit
# 2, `-l` of an image without snapshots prints nothing, `-d` takes a name
# (the first snapshot of it), not an ID, as qemu-img 7.2; the control
# socket is the owner's only and goes with `del`.
#
# snapshot-recover: -l of a killed daemon's device: "not served"; after
# `recover`, -c works on the new daemon.
#
# snapshot-live: ext4 on the device (2 queues); a writer creates files
# and syncs, recording each file's checksum once `sync` returned, while
# fio with verify writes a file of its own (O_DIRECT); three snapshots
# s1-s3 (and one taken and deleted again) are made meanwhile.  Neither
# writer sees an error, the kernel logs none.  After `del`: qemu-img check
# is clean and lists s1-s3 as `-l` did; each, exported with qemu-img convert -l,
# holds an ext4 that e2fsck finds clean once its journal is replayed (a
# snapshot of a mounted filesystem is crash-consistent), and every file
# synced before the snapshot was asked for, with its checksum.
#     tests/guest/run.sh tests/guest/ublk-snapshot-live.sh
. "$(dirname "$0")/lib-ublk.sh"

# snap LOG ARGS...: `ublk-qcow snapshot ARGS`, output in LOG; its status.
snap() {
	local log=$1
	shift
	"$UBLK_QCOW" snapshot "$@" >"$log" 2>"$log.err"
}

# one_error CASE LOG WHAT PATTERN: exit 1 and one stderr line with PATTERN.
one_error() {
	local c=$1 log=$2 what=$3 pat=$4 st=$5
	if [ "$st" != 1 ] || [ "$(wc -l <"$log.err")" != 1 ] ||
		! grep -q -- "$pat" "$log.err"; then
		fail "$c" "$what: exit $st, stderr:"
		diag 5 <"$log.err"
		return 1
	fi
	return 0
}

snapshot_cli() {
	local c=snapshot-cli st sock ok=1
	qemu-img create -q -f qcow2 cli.qcow2 64M
	ublk_add "$c-add.log" -f cli.qcow2 || { fail "$c" add; return; }
	sock=/run/ublk-qcow/ublk$ID.sock
	if [ "$(stat -c '%a %F' "$sock" 2>&1)" != "600 socket" ]; then
		fail "$c" "$sock: $(stat -c '%a %F' "$sock" 2>&1)"
		ok=
	fi
	snap "$c-l.log" -n "$ID" -l
	st=$?
	if [ "$st" != 0 ] || [ -s "$c-l.log" ]; then
		fail "$c" "-l without snapshots: exit $st, printed $(head -c 100 "$c-l.log")"
		ok=
	fi
	snap "$c-u1.log" -n "$ID"
	st=$?
	[ "$st" = 2 ] || { fail "$c" "no operation: exit $st"; ok=; }
	snap "$c-u2.log" -n "$ID" -l -c x
	st=$?
	[ "$st" = 2 ] || { fail "$c" "two operations: exit $st"; ok=; }
	snap "$c-u3.log" -c x
	st=$?
	[ "$st" = 2 ] || { fail "$c" "no -n: exit $st"; ok=; }
	snap "$c-nodev.log" -n 999 -l
	one_error "$c" "$c-nodev.log" "device 999" "no ublk device 999" $? || ok=
	snap "$c-gone.log" -n "$ID" -d nosuch
	st=$?
	note "-d nosuch: $(head -n 1 "$c-gone.log.err")"
	one_error "$c" "$c-gone.log" "-d of a missing snapshot" . $st || ok=
	# two of one name (IDs 1, 2); -d takes a name only, the first of it
	snap "$c-a1.log" -n "$ID" -c a && snap "$c-a2.log" -n "$ID" -c a ||
		{ fail "$c" "-c a twice: $(cat "$c-a1.log.err" "$c-a2.log.err")"; ok=; }
	snap "$c-d1.log" -n "$ID" -d 1
	one_error "$c" "$c-d1.log" "-d of an ID" "snapshot '1' not found" $? || ok=
	snap "$c-da.log" -n "$ID" -d a || { fail "$c" "-d a: $(cat "$c-da.log.err")"; ok=; }
	snap "$c-la.log" -n "$ID" -l
	if [ "$(awk 'NR > 2 { print $1 "=" $2 }' "$c-la.log")" != "2=a" ]; then
		fail "$c" "-l after -d a:"
		diag 5 <"$c-la.log"
		ok=
	fi
	ublk_del "$ID" || { fail "$c" del; return; }
	[ -e "$sock" ] && { fail "$c" "$sock left after del"; ok=; }
	img_check "$c" cli.qcow2 || ok=

	# a read-only device: -l works, -c and -d are refused before anything
	ublk_add "$c-ro.log" -r -f cli.qcow2 || { fail "$c" "add -r"; return; }
	snap "$c-rol.log" -n "$ID" -l || { fail "$c" "-l of a read-only device"; ok=; }
	snap "$c-roc.log" -n "$ID" -c s1
	one_error "$c" "$c-roc.log" "-c on a read-only device" "read-only" $? || ok=
	snap "$c-rod.log" -n "$ID" -d s1
	one_error "$c" "$c-rod.log" "-d on a read-only device" "read-only" $? || ok=
	ublk_del "$ID" || { fail "$c" "del -r"; return; }

	# a raw image has no snapshots: the engine's reason, I/O unharmed
	qemu-img create -q -f raw cli.raw 16M
	ublk_add "$c-raw.log" -F raw -f cli.raw || { fail "$c" "add raw"; return; }
	snap "$c-rawc.log" -n "$ID" -c s1
	one_error "$c" "$c-rawc.log" "-c on a raw image" "raw" $? || ok=
	dd if=/dev/urandom of=rnd bs=64k count=4 2>/dev/null
	dd if=rnd of="$DEV" bs=64k oflag=direct 2>/dev/null
	cmp -s rnd <(dd if="$DEV" bs=64k count=4 iflag=direct 2>/dev/null) ||
		{ fail "$c" "the raw device reads back wrong after the refusal"; ok=; }
	ublk_del "$ID" || { fail "$c" "del raw"; return; }
	[ -n "$ok" ] && pass "$c"
}

# snapshot-recover: a killed daemon's device is "not served"; the daemon
# of `recover` answers on a new socket and takes snapshots.
snapshot_recover() {
	local c=snapshot-recover ok=1
	qemu-img create -q -f qcow2 rec.qcow2 64M
	ublk_add "$c-add.log" -f rec.qcow2 || { fail "$c" add; return; }
	kill_daemon "$ID" || { fail "$c" "kill -9"; return; }
	snap "$c-dead.log" -n "$ID" -l
	one_error "$c" "$c-dead.log" "-l without a daemon" "not served" $? || ok=
	recover_dev "$c" "$ID" || return
	snap "$c-c.log" -n "$ID" -c r1 || { fail "$c" "-c after recover: $(cat "$c-c.log.err")"; ok=; }
	snap "$c-l.log" -n "$ID" -l
	[ "$(awk 'NR > 2 { print $2 }' "$c-l.log")" = r1 ] ||
		{ fail "$c" "-l after recover: $(cat "$c-l.log" "$c-l.log.err")"; ok=; }
	ublk_del "$ID" || { fail "$c" del; return; }
	img_check "$c" rec.qcow2 3 || ok=
	[ -n "$ok" ] && pass "$c"
}

# writer DIR MANIFEST STOP: files f1, f2... in DIR from the random pool;
# after each `sync` the new files' md5 go to MANIFEST (so a line there is
# a file that was durable).  The number of the file being written is in
# `started`.  Errors go to $WORK/writer.err.
writer() {
	local dir=$1 man=$2 stop=$3 i=0 j last=0
	while [ ! -e "$stop" ]; do
		i=$((i + 1))
		echo "$i" >started
		dd if=pool of="$dir/f$i" bs=4k skip=$((RANDOM % 192)) \
			count=$((4 + RANDOM % 60)) 2>/dev/null ||
			echo "write f$i failed" >>"$WORK/writer.err"
		[ $((i % 3)) = 0 ] || continue
		sync || echo "sync after f$i failed" >>"$WORK/writer.err"
		for ((j = last + 1; j <= i; j++)); do
			md5sum "$dir/f$j" | sed "s|  $dir/|  |" >>"$man"
		done
		last=$i
	done
}

# take_snapshot CASE NAME: records how many files were durable before,
# and the last file begun when it returned (none after can be in it).
take_snapshot() {
	local c=$1 s=$2 st
	wc -l <manifest >"durable-$s"
	snap "$c-$s.log" -n "$ID" -c "$s"
	st=$?
	cat started >"started-$s"
	if [ "$st" != 0 ]; then
		fail "$c" "snapshot -c $s: exit $st: $(head -n 1 "$c-$s.log.err")"
		return 1
	fi
	return 0
}

# check_snapshot CASE IMAGE NAME: its ext4 clean after journal replay,
# the files durable before it intact, none begun after it.
check_snapshot() {
	local c=$1 img=$2 s=$3 n loop last bad=0
	rm -f "$s.raw"
	run "$c-conv-$s.log" qemu-img convert -l "snapshot.name=$s" -O raw "$img" "$s.raw" ||
		{ fail "$c" "qemu-img convert -l snapshot.name=$s"; return 1; }
	run "$c-replay-$s.log" e2fsck -E journal_only -y "$s.raw" ||
		{ fail "$c" "$s: e2fsck journal replay"; return 1; }
	run "$c-fsck-$s.log" e2fsck -f -n "$s.raw" ||
		{ fail "$c" "$s: e2fsck -fn after the journal replay"; return 1; }
	n=$(cat "durable-$s")
	[ "$n" -gt 0 ] || note "$s: no file was durable before it"
	loop=$(losetup -f)
	losetup "$loop" "$s.raw" && mount -t ext4 -o ro "$loop" "$MNT"
	if ! is_mounted "$MNT"; then
		fail "$c" "$s: cannot loop-mount"
		losetup -d "$loop"
		return 1
	fi
	head -n "$n" manifest >"want-$s"
	[ "$n" = 0 ] || (cd "$MNT/files" && md5sum -c -s "$WORK/want-$s") || bad=1
	last=$(ls "$MNT/files" | sed 's/^f//' | sort -n | tail -n 1)
	if [ "${last:-0}" -gt "$(cat "started-$s")" ]; then
		fail "$c" "$s holds f$last, begun after it (f$(cat "started-$s") was the last before)"
		bad=2
	fi
	umount "$MNT"
	losetup -d "$loop"
	rm -f "$s.raw"
	if [ "$bad" = 1 ]; then
		fail "$c" "$s: files synced before it differ (of $n)"
		return 1
	fi
	[ "$bad" = 0 ] || return 1
	note "$s: $n durable files intact, ${last:-no file} the last, e2fsck clean"
	return 0
}

kernel_errors() {
	dmesg | tail -n +"$((DMESG0 + 1))" |
		grep -i 'I/O error\|EXT4-fs error\|blk_update\|timeout\|Buffer I/O'
}

snapshot_live() {
	local c=snapshot-live img=live.qcow2 fpid wpid st s log log0 ok=1
	qemu-img create -q -f qcow2 "$img" 128M
	dd if=/dev/urandom of=pool bs=1M count=1 2>/dev/null
	ublk_add "$c-add.log" -q 2 -f "$img" || { fail "$c" add; return; }
	log=/run/ublk-qcow/ublk$ID.log
	log0=$(wc -l <"$log")
	# the engine without snapshots: nothing to take (SKIP, not FAIL)
	snap "$c-probe.log" -n "$ID" -c probe
	if grep -q 'no internal snapshots\|not supported' "$c-probe.log.err"; then
		skip "$c" "the engine cannot create snapshots: $(cat "$c-probe.log.err")"
		ublk_del "$ID"
		return
	fi
	snap "$c-probe-d.log" -n "$ID" -d probe ||
		{ fail "$c" "-d probe: $(cat "$c-probe-d.log.err")"; ublk_del "$ID"; return; }
	run "$c-mkfs.log" mkfs.ext4 -q "$DEV" || { fail "$c" mkfs; return; }
	run "$c-mount.log" mount -t ext4 "$DEV" "$MNT" || { fail "$c" mount; return; }
	mkdir "$MNT/files"
	: >manifest
	rm -f stop "$WORK/writer.err"
	DMESG0=$(dmesg | wc -l)
	(cd "$WORK" && fio --name=live --filename="$MNT/fio.dat" --size=16M \
		--ioengine=io_uring --direct=1 --rw=randwrite --bs=4k \
		--iodepth=16 --rate_iops=500 --verify=crc32c --do_verify=1 \
		--verify_fatal=1 --verify_state_save=0 --randrepeat=0) \
		>"$c-fio.log" 2>&1 &
	fpid=$!
	writer "$MNT/files" manifest stop &
	wpid=$!
	for s in s1 s2 tmp s3; do
		sleep 1.5
		take_snapshot "$c" "$s" || ok=
	done
	snap "$c-dtmp.log" -n "$ID" -d tmp ||
		{ fail "$c" "-d tmp: $(cat "$c-dtmp.log.err")"; ok=; }
	snap "$c-list.log" -n "$ID" -l || { fail "$c" "-l"; ok=; }
	# writes after the snapshots: copies on write, the snapshots unchanged
	sleep 2
	: >stop
	wait "$wpid"
	wait "$fpid"
	st=$?
	if [ "$st" != 0 ]; then
		fail "$c" "fio exit $st"
		grep -i 'verify\|err' "$c-fio.log" | diag 10
		ok=
	fi
	if [ -s "$WORK/writer.err" ]; then
		fail "$c" "the writer saw errors"
		diag 10 <"$WORK/writer.err"
		ok=
	fi
	if kernel_errors >"$c-dmesg.log"; then
		fail "$c" "the kernel logged errors"
		diag 10 <"$c-dmesg.log"
		ok=
	fi
	(cd "$MNT/files" && md5sum -c -s "$WORK/manifest") ||
		{ fail "$c" "files read back wrong from the live device"; ok=; }
	note "$(wc -l <manifest) files synced; I/O paused for" \
		"$(tail -n +"$((log0 + 1))" "$log" |
			sed -n 's/.*ed, I\/O paused for \([0-9]*\) ms$/\1/p' | tr '\n' ' ')ms"
	umount "$MNT"
	run "$c-fsck-live.log" e2fsck -f -n "$DEV" || { fail "$c" "e2fsck of the device"; ok=; }
	if [ "$(awk 'NR > 2 { print $2 }' "$c-list.log" | tr '\n' ' ')" != "s1 s2 s3 " ]; then
		fail "$c" "-l after the deletion of tmp:"
		diag 8 <"$c-list.log"
		ok=
	fi
	ublk_del "$ID" || { fail "$c" del; return; }
	img_check "$c" "$img" || return
	qemu-img snapshot -l "$img" >qemu-list
	if ! cmp -s qemu-list "$c-list.log"; then
		fail "$c" "qemu-img snapshot -l lists otherwise than -l did:"
		diff qemu-list "$c-list.log" | diag 10
		ok=
	fi
	for s in s1 s2 s3; do
		check_snapshot "$c" "$img" "$s" || ok=
	done
	host_check "$img"
	[ -n "$ok" ] && pass "$c"
}

ublk_init
snapshot_cli
snapshot_recover
snapshot_live
ublk_main_end
