#!/bin/bash
# Smoke test of the test guest itself; runs INSIDE the guest:
#     tests/guest/run.sh tests/guest/smoke.sh
# One line per check: PASS: guest/<name> | FAIL: guest/<name> <why> |
# SKIP: guest/<name> (<reason>).  Exit 1 if any failed, 77 if all skipped.
set -eu

N_PASS=0
N_FAIL=0
N_SKIP=0
WORK=/tmp/smoke
MNT=$WORK/mnt
LOOP=

pass() {
	echo "PASS: guest/$1"
	N_PASS=$((N_PASS + 1))
}
fail() {
	local n=$1
	shift
	echo "FAIL: guest/$n $*"
	N_FAIL=$((N_FAIL + 1))
}
skip() {
	echo "SKIP: guest/$1 ($2)"
	N_SKIP=$((N_SKIP + 1))
}
diag() { head -n "${1:-15}" | sed 's/^/    | /'; }
have() { command -v "$1" >/dev/null 2>&1; }
# is_mounted DIR (busybox here has no mountpoint applet)
is_mounted() { awk -v d="$1" '$2 == d { f = 1 } END { exit !f }' /proc/mounts; }

# run LOG CMD...: CMD's output to LOG, shown (indented) when CMD fails.
run() {
	local log=$1
	shift
	if "$@" >"$log" 2>&1; then
		return 0
	fi
	echo "    # failed: $*"
	diag 15 <"$log"
	return 1
}

in_guest() {
	if [ "${GUEST:-}" != 1 ]; then
		echo "smoke.sh runs inside the test guest: tests/guest/run.sh $0" >&2
		exit 2
	fi
}

check_modules() {
	local m missing=
	while read -r m; do
		[ -d "/sys/module/$m" ] || missing+=" $m"
	done </etc/guest/modules.order
	if [ -z "$missing" ]; then
		pass modules
	else
		fail modules "not loaded:$missing"
	fi
}

check_ublk_control() {
	if [ ! -d /sys/module/ublk_drv ]; then
		fail ublk-control "ublk_drv is not loaded"
	elif [ ! -c /dev/ublk-control ]; then
		fail ublk-control "/dev/ublk-control is missing or not a character device"
	else
		pass ublk-control
	fi
}

check_nbd() {
	if [ -b /dev/nbd0 ]; then
		pass nbd-device
	else
		fail nbd-device "/dev/nbd0 missing after loading nbd"
	fi
}

# check_ext4_loop: mkfs.ext4 and mount on a loop device over a file in
# /tmp (tmpfs); leaves it mounted on $MNT for the fio check.  The kernel
# line "operation not supported error, dev loop0 ... WRITE_ZEROES" it
# causes is expected: tmpfs cannot zero ranges, mke2fs falls back.
check_ext4_loop() {
	if ! have mkfs.ext4; then
		skip ext4-loop "mkfs.ext4 not in the initramfs (install e2fsprogs on the host)"
		return 1
	fi
	mkdir -p "$MNT"
	truncate -s 256M "$WORK/disk.img"
	LOOP=$(losetup -f)
	if ! run "$WORK/losetup.log" losetup "$LOOP" "$WORK/disk.img"; then
		fail ext4-loop "losetup $LOOP failed"
		LOOP=
		return 1
	fi
	if [ ! -b "$LOOP" ]; then
		fail ext4-loop "$LOOP is not a block device"
		return 1
	fi
	if ! run "$WORK/mkfs.log" mkfs.ext4 -q -F "$LOOP"; then
		fail ext4-loop "mkfs.ext4 $LOOP failed"
		return 1
	fi
	if ! run "$WORK/mount.log" mount -t ext4 "$LOOP" "$MNT"; then
		fail ext4-loop "mount -t ext4 $LOOP failed"
		return 1
	fi
	echo hello >"$MNT/hello"
	if [ "$(cat "$MNT/hello")" = hello ]; then
		pass ext4-loop
	else
		fail ext4-loop "a file written on the new ext4 reads back wrong"
		return 1
	fi
}

# check_fio_verify: a short write+verify job on the mounted ext4, with
# io_uring and O_DIRECT (what the ublk tests use).
check_fio_verify() {
	if ! have fio; then
		skip fio-verify "fio not in the initramfs (install fio on the host)"
		return
	fi
	if ! is_mounted "$MNT"; then
		skip fio-verify "no ext4 mounted (ext4-loop did not pass)"
		return
	fi
	if ! run "$WORK/fio.log" fio --name=smoke --filename="$MNT/fio.dat" \
		--size=8M --rw=randwrite --bs=4k --ioengine=io_uring --direct=1 \
		--iodepth=16 --verify=crc32c --do_verify=1 --verify_fatal=1 \
		--randrepeat=0 --verify_state_save=0 --output-format=terse; then
		fail fio-verify "fio verify job failed"
	elif grep -qi 'verify.*fail\|bad magic\|crc32c.*wanted' "$WORK/fio.log"; then
		fail fio-verify "fio reported a verification error"
		diag 10 <"$WORK/fio.log"
	else
		pass fio-verify
	fi
}

check_umount_fsck() {
	[ -n "$LOOP" ] && is_mounted "$MNT" || return 0
	if ! run "$WORK/umount.log" umount "$MNT"; then
		fail ext4-fsck "umount failed"
	elif ! have e2fsck; then
		skip ext4-fsck "e2fsck not in the initramfs"
	elif ! run "$WORK/fsck.log" e2fsck -f -n "$LOOP"; then
		fail ext4-fsck "e2fsck -f -n found errors"
	else
		pass ext4-fsck
	fi
}

check_blkdiscard() {
	if [ -z "$LOOP" ]; then
		skip blkdiscard "no loop device"
	elif ! have blkdiscard; then
		skip blkdiscard "blkdiscard not in the initramfs (util-linux)"
	elif ! run "$WORK/discard.log" blkdiscard "$LOOP"; then
		fail blkdiscard "blkdiscard $LOOP failed"
	else
		pass blkdiscard
	fi
}

check_host_share() {
	local dir=${GUEST_RUN:-/host/tests/out/guest} f
	f=$dir/smoke-9p.$$
	if ! is_mounted /host; then
		fail host-share "/host is not mounted"
	elif ! mkdir -p "$dir" || ! dd if=/dev/urandom of="$f" bs=64k count=16 2>/dev/null; then
		fail host-share "cannot write $f"
	elif [ "$(wc -c <"$f")" != 1048576 ]; then
		fail host-share "$f has $(wc -c <"$f") bytes, expected 1048576"
	elif ! cp "$f" "$WORK/back" || ! cmp -s "$f" "$WORK/back"; then
		fail host-share "$f does not read back"
	else
		pass host-share
	fi
	rm -f "$f"
}

# check_tools: qemu-img, qemu-nbd (and their libraries) start, and so
# does the project's qcow-img from the share (liburing, zlib, zstd, json-c).
check_tools() {
	local t missing='' broken=''
	for t in qemu-img qemu-io qemu-nbd; do
		if ! have "$t"; then
			missing+=" $t"
		elif ! "$t" --version >"$WORK/$t.log" 2>&1; then
			broken+=" $t"
			diag 3 <"$WORK/$t.log"
		fi
	done
	if [ -n "$broken" ]; then
		fail tools "do not start:$broken"
	elif [ -n "$missing" ]; then
		skip tools "not in the initramfs:$missing (install qemu-utils on the host)"
	else
		pass tools
	fi
}

check_project_bin() {
	local img=$WORK/p.qcow2
	if [ ! -x /host/bin/qcow-img ]; then
		skip project-bin "bin/qcow-img not built (make)"
	elif ! have qemu-img; then
		skip project-bin "qemu-img not in the initramfs"
	elif ! run "$WORK/create.log" qemu-img create -q -f qcow2 "$img" 64M; then
		fail project-bin "qemu-img create failed"
	elif ! run "$WORK/check.log" /host/bin/qcow-img check "$img"; then
		fail project-bin "bin/qcow-img check on a fresh image failed"
	else
		pass project-bin
	fi
}

cleanup() {
	cd /
	is_mounted "$MNT" && umount "$MNT"
	[ -n "$LOOP" ] && losetup -d "$LOOP" 2>/dev/null
	rm -rf "$WORK"
}

main() {
	in_guest
	echo "    # guest kernel $(uname -r), $(nproc) CPUs"
	rm -rf "$WORK"
	mkdir -p "$WORK"
	cd "$WORK" # tools that drop files in the working directory (fio)
	trap cleanup EXIT
	set +e # every check runs; each reports its own result
	check_modules
	check_ublk_control
	check_nbd
	check_ext4_loop
	check_fio_verify
	check_umount_fsck
	check_blkdiscard
	check_host_share
	check_tools
	check_project_bin
	echo "    # smoke: $N_PASS passed, $N_FAIL failed, $N_SKIP skipped"
	[ "$N_FAIL" -gt 0 ] && exit 1
	[ "$N_PASS" -eq 0 ] && exit 77
	exit 0
}

main "$@"
