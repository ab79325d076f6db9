#!/bin/bash
# Encrypted images on the device: qemu-img makes a legacy AES and a LUKS
# qcow2 image; ublk-qcow add takes the passphrase from a file (and from
# standard input); ext4 made, files written and read back cold; after
# del qemu-img reads the image with the secret: check clean, and its raw
# conversion loop-mounts with the same files.  A wrong LUKS passphrase
# fails the add with one line and no device.
#     tests/guest/run.sh tests/guest/ublk-encrypt.sh
. "$(dirname "$0")/lib-ublk.sh"

PW=guest-passphrase
SEC="secret,id=s0,data=$PW"

make_files() {
	mkdir -p "$1/sub"
	random_file "$1/small" 3
	random_file "$1/sub/five-megs" 5120
	random_file "$1/odd" 777
	(cd "$1" && find . -type f | sort | xargs sha256sum) >"$WORK/sums"
}

same_files() {
	(cd "$1" && sha256sum -c -s "$WORK/sums") >"$WORK/sum.log" 2>&1
}

# enc_case NAME IMAGE KEYOPT...: the cycle with the passphrase given so.
enc_case() {
	local c=$1 img=$2 loop
	shift 2
	if ! ublk_add "$c-add.log" -f "$img" "$@"; then
		fail "$c" "add"
		return
	fi
	run "$c-mkfs.log" mkfs.ext4 -q -F "$DEV" || { fail "$c" "mkfs.ext4"; return; }
	run "$c-mount.log" mount -t ext4 "$DEV" "$MNT" || { fail "$c" "mount"; return; }
	make_files "$MNT"
	umount "$MNT"
	echo 3 >/proc/sys/vm/drop_caches
	mount -t ext4 -o ro "$DEV" "$MNT"
	if ! same_files "$MNT"; then
		fail "$c" "files read back differ"
		umount "$MNT"
		return
	fi
	umount "$MNT"
	ublk_del "$ID" || { fail "$c" "del"; return; }
	run "$c-check.log" qemu-img check --object "$SEC" --image-opts \
		"driver=qcow2,file.filename=$img,encrypt.key-secret=s0" ||
		{ fail "$c" "qemu-img check"; return; }
	run "$c-convert.log" qemu-img convert --object "$SEC" --image-opts \
		"driver=qcow2,file.filename=$img,encrypt.key-secret=s0" \
		-O raw "$c.raw" || { fail "$c" "qemu-img convert"; return; }
	loop=$(losetup -f)
	losetup "$loop" "$c.raw" && mount -t ext4 -o ro "$loop" "$MNT"
	if ! is_mounted "$MNT"; then
		fail "$c" "cannot loop-mount qemu-img's raw conversion"
	elif ! same_files "$MNT"; then
		fail "$c" "files in qemu-img's raw conversion differ"
	else
		pass "$c"
	fi
	is_mounted "$MNT" && umount "$MNT"
	losetup -d "$loop"
	rm -f "$c.raw"
}

ublk_init
printf '%s' "$PW" >key
chmod 600 key
qemu-img create -q -f qcow2 --object "$SEC" \
	-o encrypt.format=aes,encrypt.key-secret=s0 aes.qcow2 64M
qemu-img create -q -f qcow2 --object "$SEC" \
	-o encrypt.format=luks,encrypt.key-secret=s0,encrypt.iter-time=10 \
	luks.qcow2 64M
enc_case aes-key-file aes.qcow2 --key-file key
enc_case luks-key-stdin-2q luks.qcow2 -q 2 --key-file - <key

# a wrong passphrase: one line, exit non-zero, no new device
printf 'not-%s' "$PW" >badkey
ndev() { find /dev -maxdepth 1 -name 'ublkb*' | wc -l; }
before=$(ndev)
if "$UBLK_QCOW" add -f luks.qcow2 --key-file badkey >bad.log 2>&1; then
	fail wrong-passphrase "add succeeded"
elif [ "$(wc -l <bad.log)" != 1 ] || ! grep -q passphrase bad.log; then
	fail wrong-passphrase "not one line naming the passphrase"
	diag <bad.log
elif [ "$(ndev)" != "$before" ]; then
	fail wrong-passphrase "a device appeared"
else
	pass wrong-passphrase
fi
ublk_main_end
