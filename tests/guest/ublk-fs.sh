#!/bin/bash
# A filesystem on the device: mkfs.ext4, files written and read back,
# then the image checked by qemu-img and its raw conversion loop-mounted
# with the same files.  Once on a fresh image, once on an overlay of a
# base made by qemu-img.
#     tests/guest/run.sh tests/guest/ublk-fs.sh
. "$(dirname "$0")/lib-ublk.sh"

# make_files DIR: a few files of different sizes, and their checksums.
make_files() {
	mkdir -p "$1/sub/deeper"
	random_file "$1/small" 3
	random_file "$1/one-meg" 1024
	random_file "$1/sub/ten-megs" 10240
	random_file "$1/sub/deeper/odd" 777
	echo hello >"$1/hello"
	(cd "$1" && find . -type f | sort | xargs sha256sum) >"$WORK/sums"
}

same_files() {
	(cd "$1" && sha256sum -c -s "$WORK/sums") >"$WORK/sum.log" 2>&1
}

# fs_case NAME IMAGE: the whole cycle on IMAGE.
fs_case() {
	local c=$1 img=$2 loop
	if ! ublk_add "$c-add.log" -f "$img"; then
		fail "$c" "add"
		return
	fi
	run "$c-mkfs.log" mkfs.ext4 -q -F "$DEV" || { fail "$c" "mkfs.ext4"; return; }
	run "$c-mount.log" mount -t ext4 "$DEV" "$MNT" || { fail "$c" "mount"; return; }
	make_files "$MNT"
	umount "$MNT"
	# read back through the device after a fresh mount (cold page cache)
	echo 3 >/proc/sys/vm/drop_caches
	mount -t ext4 -o ro "$DEV" "$MNT"
	if ! same_files "$MNT"; then
		fail "$c" "files read back differ"
		diag <"$WORK/sum.log"
		umount "$MNT"
		return
	fi
	umount "$MNT"
	ublk_del "$ID" || { fail "$c" "del"; return; }
	img_check "$c" "$img" || return
	run "$c-convert.log" qemu-img convert -O raw "$img" "$c.raw" ||
		{ fail "$c" "qemu-img convert"; return; }
	run "$c-fsck.log" e2fsck -f -n "$c.raw" || { fail "$c" "e2fsck on the raw conversion"; return; }
	loop=$(losetup -f)
	losetup "$loop" "$c.raw" && mount -t ext4 -o ro "$loop" "$MNT"
	if ! is_mounted "$MNT"; then
		fail "$c" "cannot loop-mount the raw conversion"
	elif ! same_files "$MNT"; then
		fail "$c" "files in the raw conversion differ"
		diag <"$WORK/sum.log"
	else
		pass "$c"
	fi
	is_mounted "$MNT" && umount "$MNT"
	losetup -d "$loop"
	rm -f "$c.raw"
}

ublk_init
qemu-img create -q -f qcow2 fresh.qcow2 128M
fs_case fresh fresh.qcow2
# a base with data everywhere, written by QEMU, under an empty overlay
qemu-img create -q -f qcow2 base.qcow2 128M
qemu-io -c 'write -P 0x5a 0 128M' base.qcow2 >/dev/null
qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 overlay.qcow2
fs_case overlay overlay.qcow2
if ! qemu-io -r -c 'read -P 0x5a 0 128M' base.qcow2 >base.log 2>&1; then
	fail overlay-base "the base image changed"
else
	pass overlay-base
fi
ublk_main_end
