#!/bin/bash
# What ublk-qcow@NAME.service runs, without systemd (the guest's init is
# busybox): systemd/ublk-qcow-attach NAME adds the image a conf file
# names, with --name NAME; ext4 is made and files written through
# /run/ublk-qcow/by-name/NAME; the daemon is killed with -9; what systemd
# then runs (ExecStop= with SERVICE_RESULT=signal, which must keep the
# device, then ExecStart= again, which must recover it) brings it back:
# the same device, a new pid in the unit's PID file, the filesystem still
# mounted, a file written while the daemon was dead and the older ones
# read back (also cold, after a remount), e2fsck clean; attach refuses a
# device already served; ExecStop= with SERVICE_RESULT=success detaches:
# no device, link, record or PID file left, qemu-img check clean.  An
# encrypted image (legacy AES, its key file in the conf) recovers the same.
#     tests/guest/run.sh tests/guest/ublk-service.sh
. "$(dirname "$0")/lib-ublk.sh"

ATTACH=/host/systemd/ublk-qcow-attach
export UBLK_QCOW UBLK_QCOW_CONF_DIR=$WORK/conf

# unit START|STOP RESULT NAME: what systemd runs (RESULT: $SERVICE_RESULT).
unit() {
	case $1 in
	start) sh "$ATTACH" "$3" ;;
	stop) SERVICE_RESULT=$2 sh "$ATTACH" --detach "$3" ;;
	esac
}

# gone_within SECS PID: PID has ended (and been reaped) within SECS.
gone_within() {
	local i
	for ((i = 0; i < $1 * 10; i++)); do
		[ -d "/proc/$2" ] || return 0
		sleep 0.1
	done
	return 1
}

unit_pid() { cat "/run/ublk-qcow/unit-$1.pid" 2>/dev/null; }

# md5_files DIR: the md5 of DIR's files f1..f4.
md5_files() { (cd "$1" && md5sum f*) 2>/dev/null; }

service_ext4() {
	local c=service-ext4 name=svc dev id pid newpid
	mkdir -p conf
	qemu-img create -q -f qcow2 svc.qcow2 256M
	cat >conf/$name.conf <<-EOF
	# the unit's test image
	image = $WORK/svc.qcow2
	format = qcow2
	queues = 2
	EOF
	if ! run "$c-start.log" unit start - "$name"; then
		fail "$c" "ExecStart"
		return
	fi
	dev=$(cat "$c-start.log")
	id=${dev#/dev/ublkb}
	pid=$(unit_pid "$name")
	if [ "$(readlink "/run/ublk-qcow/by-name/$name")" != "$dev" ] ||
		[ "$pid" != "$(daemon_pid "$id")" ] || [ "$(list_flat "$id" |
			grep -o '"queues":[0-9]*')" != '"queues":2' ]; then
		fail "$c" "after start: $dev, PID file '$pid', list: $(list_flat "$id" | head -c 300)"
		return
	fi
	run "$c-mkfs.log" mkfs.ext4 -q "/run/ublk-qcow/by-name/$name" || { fail "$c" mkfs; return; }
	mount -t ext4 "/run/ublk-qcow/by-name/$name" "$MNT" || { fail "$c" mount; return; }
	mkdir -p src
	for i in 1 2 3 4; do
		random_file "src/f$i" $((i * 700))
	done
	cp src/f1 src/f2 src/f3 "$MNT/"
	sync
	md5_files src >before.md5

	kill_daemon "$id" || { fail "$c" "kill -9"; return; }
	# ext4 may wait for the device: in the background, until the recovery
	(cp src/f4 "$MNT/" && sync) &
	local syncpid=$!
	if ! run "$c-crash-stop.log" unit stop signal "$name"; then
		fail "$c" "ExecStop after the crash failed"
	elif [ ! -e "/sys/class/ublk-char/ublkc$id" ] ||
		[ "$(dev_state "$id")" != QUIESCED ]; then
		fail "$c" "ExecStop after the crash did not leave the device waiting: $(dev_state "$id")"
		return
	fi
	if ! run "$c-restart.log" unit start - "$name"; then
		fail "$c" "the restart's ExecStart"
		return
	fi
	newpid=$(unit_pid "$name")
	wait "$syncpid" || fail "$c" "cp and sync across the recovery failed"
	if [ "$(cat "$c-restart.log")" != "$dev" ] || [ "$newpid" = "$pid" ] ||
		[ "$newpid" != "$(daemon_pid "$id")" ] || [ "$(dev_state "$id")" != LIVE ]; then
		fail "$c" "restart: printed $(head -c 100 "$c-restart.log"), pid $pid -> $newpid, $(dev_state "$id")"
		return
	fi
	if ! md5_files "$MNT" | cmp -s - before.md5; then
		fail "$c" "files differ after the recovery"
		return
	fi
	umount "$MNT"
	if ! run "$c-fsck.log" e2fsck -fn "/run/ublk-qcow/by-name/$name"; then
		fail "$c" "e2fsck after the recovery"
		return
	fi
	echo 3 >/proc/sys/vm/drop_caches
	mount -t ext4 "/run/ublk-qcow/by-name/$name" "$MNT" || { fail "$c" remount; return; }
	if ! md5_files "$MNT" | cmp -s - before.md5; then
		fail "$c" "files differ when read cold"
		umount "$MNT"
		return
	fi
	umount "$MNT"
	pass "$c"

	c=service-already-served
	if unit start - "$name" >"$c.log" 2>&1; then
		fail "$c" "a second ExecStart succeeded"
	elif ! grep -q "already served by pid $newpid" "$c.log"; then
		fail "$c" "said: $(head -c 200 "$c.log")"
	else
		pass "$c"
	fi

	c=service-stop
	if ! run "$c.log" unit stop success "$name"; then
		fail "$c" ExecStop
	elif [ -e "/sys/class/ublk-char/ublkc$id" ] || [ -L "/run/ublk-qcow/by-name/$name" ] ||
		[ -e "/run/ublk-qcow/unit-$name.pid" ] || [ -e "/run/ublk-qcow/ublk$id.json" ]; then
		fail "$c" "left: $(ls /sys/class/ublk-char /run/ublk-qcow /run/ublk-qcow/by-name 2>&1 | tr '\n' ' ')"
	elif ! gone_within 5 "$newpid"; then
		# del returns once the daemon let go of the device and closed
		# the image; its process may take a moment more to be reaped
		fail "$c" "daemon $newpid still there 5 s after the stop"
	elif run "$c-again.log" unit stop success "$name"; then
		# a stop with nothing to stop is not an error
		img_check "$c" svc.qcow2 3 && pass "$c"
	else
		fail "$c" "a second ExecStop failed"
	fi
	host_check svc.qcow2
}

# An encrypted image: the conf's key file serves add and recover.
service_key() {
	local c=service-key name=enc id
	printf 'secret pass' >enc.key
	qemu-img create -q -f qcow2 --object secret,id=s0,file=enc.key \
		-o encrypt.format=aes,encrypt.key-secret=s0 enc.qcow2 64M
	cat >conf/$name.conf <<-EOF
	image = $WORK/enc.qcow2
	format = qcow2
	key-file = $WORK/enc.key
	crypto-backend = openssl
	EOF
	run "$c-start.log" unit start - "$name" || { fail "$c" ExecStart; return; }
	id=$(sed 's,/dev/ublkb,,' "$c-start.log")
	random_file data.bin 1024
	dd if=data.bin of="/run/ublk-qcow/by-name/$name" bs=64k oflag=direct conv=fsync 2>/dev/null
	kill_daemon "$id" || { fail "$c" "kill -9"; return; }
	unit stop signal "$name" >/dev/null 2>&1
	run "$c-restart.log" unit start - "$name" || { fail "$c" "restart"; return; }
	if ! cmp -s <(dd if="/run/ublk-qcow/by-name/$name" bs=64k count=16 iflag=direct 2>/dev/null) data.bin; then
		fail "$c" "data reads back wrong after the recovery"
	elif ! run "$c-stop.log" unit stop success "$name"; then
		fail "$c" ExecStop
	elif ! run "$c-convert.log" qemu-img convert --object secret,id=s0,file=enc.key \
		--image-opts "driver=qcow2,file.filename=enc.qcow2,encrypt.key-secret=s0" \
		-O raw enc.raw; then
		fail "$c" "qemu-img convert with the secret"
	elif ! cmp -s <(head -c 1048576 enc.raw) data.bin; then
		fail "$c" "qemu-img reads other data from the image"
	else
		pass "$c"
	fi
}

ublk_init
service_ext4
service_key
ublk_main_end
