#!/bin/bash
# The main job, INSIDE the test guest (scripts/main-job.sh boots it):
# a qcow2 image becomes /dev/ublkbN, gets an ext4 filesystem, files are
# written and read back, the device is removed and the image checked,
# here and (from $GUEST_RUN) on the host.
set -eu

BIN=${BIN:-/host/bin}
WORK=/tmp/main-job
MNT=$WORK/mnt
IMG=$WORK/disk.qcow2
DEV=
ID=

say() { printf '\n== %s\n' "$*"; }

# show CMD...: prints the command, then runs it.
show() {
	echo "\$ $*"
	"$@"
}

die() {
	echo "main-job: FAILED: $*"
	exit 1
}

cleanup() {
	cd /
	grep -q " $MNT " /proc/mounts && umount "$MNT"
	[ -n "$ID" ] && [ -e "/sys/class/ublk-char/ublkc$ID" ] &&
		"$BIN/ublk-qcow" del -n "$ID"
	return 0
}

make_files() {
	mkdir -p "$MNT/docs"
	dd if=/dev/urandom of="$MNT/random-16M.bin" bs=1M count=16 2>/dev/null
	dd if=/dev/urandom of="$MNT/docs/random-300K.bin" bs=1k count=300 2>/dev/null
	seq 1 100000 >"$MNT/docs/numbers.txt"
	echo "written through ublk-qcow on $(date)" >"$MNT/hello.txt"
	(cd "$MNT" && find . -type f | sort | xargs sha256sum) >"$WORK/sums"
}

check_files() {
	(cd "$1" && sha256sum -c "$WORK/sums") | sed 's/^/    /'
}

main() {
	echo "main-job: inside the test guest, Linux $(uname -r), $(nproc) vCPUs"
	rm -rf "$WORK"
	mkdir -p "$WORK" "$MNT"
	trap cleanup EXIT

	say "1. a new 256 MiB qcow2 image (in the guest's memory, /tmp)"
	show "$BIN/qcow-img" create -f qcow2 "$IMG" 256M

	say "2. attach it: ublk-qcow prints the block device once it is ready"
	echo "\$ $BIN/ublk-qcow add -f $IMG -q 2"
	DEV=$("$BIN/ublk-qcow" add -f "$IMG" -q 2) || die "ublk-qcow add"
	echo "$DEV"
	ID=${DEV#/dev/ublkb}
	[ -b "$DEV" ] || die "$DEV is not a block device"
	show "$BIN/ublk-qcow" list
	echo "    size $(blockdev --getsize64 "$DEV") bytes," \
		"logical block $(cat /sys/block/ublkb$ID/queue/logical_block_size)," \
		"write cache: $(cat /sys/block/ublkb$ID/queue/write_cache)"

	say "3. an ext4 filesystem on it, mounted"
	show mkfs.ext4 -q "$DEV"
	show mount -t ext4 "$DEV" "$MNT"

	say "4. files written (checksums kept), unmounted, mounted again, read back"
	make_files
	show ls -lR "$MNT"
	show umount "$MNT"
	echo 3 >/proc/sys/vm/drop_caches
	show mount -t ext4 -o ro "$DEV" "$MNT"
	check_files "$MNT" || die "files read back differ"
	show umount "$MNT"

	say "5. detach: del flushes, waits for the daemon to close the image"
	show "$BIN/ublk-qcow" del -n "$ID"
	ID=

	say "6. the image, checked by our tool and by qemu-img"
	show "$BIN/qcow-img" check "$IMG" || die "qcow-img check"
	show qemu-img check "$IMG" || die "qemu-img check"
	show "$BIN/qcow-img" info "$IMG"

	say "7. QEMU's own reading of it: converted to raw, loop-mounted, same files"
	show qemu-img convert -O raw "$IMG" "$WORK/disk.raw"
	LOOP=$(losetup -f)
	show losetup "$LOOP" "$WORK/disk.raw"
	show mount -t ext4 -o ro "$LOOP" "$MNT"
	check_files "$MNT" || die "files in QEMU's conversion differ"
	umount "$MNT"
	losetup -d "$LOOP"

	if [ -n "${GUEST_RUN:-}" ]; then
		say "8. the image copied to the host for a check there"
		show cp "$IMG" "$GUEST_RUN/disk.qcow2"
	fi
	echo
	echo "main-job: OK"
}

main "$@"
