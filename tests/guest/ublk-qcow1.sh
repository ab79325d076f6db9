#!/bin/bash
# Legacy qcow (version 1) images served read-write: fio writes with a
# crc32c verify pass on a fresh image (1 and 2 queues) and on an overlay
# of a raw base; dd writes of random data at odd offsets, the device
# detached, then `qemu-img compare` of the image against the data
# written, and qemu-io reading the base's pattern where nothing was;
# the dd writes again on an AES-encrypted image qemu-img made, attached
# with --key-file, compared with the secret; fio with 2 queues on another
# such image, the device's bytes then equal to qemu-img's read of it.
#     tests/guest/run.sh tests/guest/ublk-qcow1.sh
. "$(dirname "$0")/lib-ublk.sh"

# fio_case NAME IMAGE QUEUES FIO-ARGS...
fio_case() {
	local c=$1 img=$2 q=$3
	shift 3
	if ! ublk_add "$c-add.log" -f "$img" -F qcow -q "$q"; then
		fail "$c" "add -q $q"
		return
	fi
	if ! fio_verify "$c-fio.log" "$DEV" "$@"; then
		fail "$c" "fio verify failed"
		grep -i 'verify\|err' "$c-fio.log" | diag 10
		ublk_del "$ID"
		return
	fi
	ublk_del "$ID" || { fail "$c" "del"; return; }
	# qemu reads what the device wrote: the whole disk once
	if run "$c-read.log" qemu-img convert -f qcow -O raw "$img" "$c.raw"; then
		pass "$c"
	else
		fail "$c" "qemu-img cannot read the image"
	fi
	rm -f "$c.raw"
}

PW=guest-passphrase
SEC="secret,id=s0,data=$PW"

# img_cmp LOG IMAGE TWIN: qemu-img compare (the secret for aes*.qcow)
img_cmp() {
	case $2 in
	aes*) run "$1" qemu-img compare --object "$SEC" --image-opts \
		"driver=qcow,file.filename=$2,encrypt.key-secret=s0" \
		"driver=raw,file.filename=$3" ;;
	*) run "$1" qemu-img compare -f qcow -F raw "$2" "$3" ;;
	esac
}

# dd_case NAME IMAGE TWIN [ADD-OPTION...]: random data at odd offsets
# through the device, the same into TWIN (raw, the expected disk); then
# qemu-img compare.
dd_case() {
	local c=$1 img=$2 twin=$3 off len
	shift 3
	if ! ublk_add "$c-add.log" -f "$img" -F qcow "$@"; then
		fail "$c" "add"
		return
	fi
	random_file data.bin 2048
	for off_len in 1:7 4095:130 16384:1 2047:2048 30000:100; do
		off=${off_len%:*} len=${off_len#*:}
		dd if=data.bin of="$DEV" bs=512 seek="$off" count="$len" \
			oflag=direct conv=notrunc 2>/dev/null &&
		dd if=data.bin of="$twin" bs=512 seek="$off" count="$len" \
			conv=notrunc 2>/dev/null || {
			fail "$c" "dd at sector $off"
			ublk_del "$ID"
			return
		}
	done
	blkdiscard -z -o $((8 << 20)) -l $((1 << 20)) "$DEV" 2>/dev/null &&
		dd if=/dev/zero of="$twin" bs=1M seek=8 count=1 conv=notrunc \
			2>/dev/null
	sync
	ublk_del "$ID" || { fail "$c" "del"; return; }
	if img_cmp "$c-cmp.log" "$img" "$twin"; then
		pass "$c"
	else
		fail "$c" "the image differs from the data written"
	fi
}

# aes_fio_case NAME IMAGE: fio verify through 2 queues, then the whole
# device read back equals qemu-img's conversion with the secret.
aes_fio_case() {
	local c=$1 img=$2
	if ! ublk_add "$c-add.log" -f "$img" -F qcow -q 2 --key-file key; then
		fail "$c" "add"
		return
	fi
	if ! fio_verify "$c-fio.log" "$DEV" --size=24M --numjobs=2 \
		--offset_increment=24M --bsrange=512-64k; then
		fail "$c" "fio verify failed"
		grep -i 'verify\|err' "$c-fio.log" | diag 10
		ublk_del "$ID"
		return
	fi
	dd if="$DEV" of="$c.dev" bs=1M iflag=direct 2>/dev/null ||
		{ fail "$c" "reading the device"; ublk_del "$ID"; return; }
	ublk_del "$ID" || { fail "$c" "del"; return; }
	if run "$c-read.log" qemu-img convert --object "$SEC" --image-opts \
		"driver=qcow,file.filename=$img,encrypt.key-secret=s0" \
		-O raw "$c.raw" && cmp -s "$c.raw" "$c.dev"; then
		pass "$c"
	else
		fail "$c" "qemu-img's read differs from the device's"
	fi
	rm -f "$c.raw" "$c.dev"
}

ublk_init
qemu-img create -q -f qcow fresh.qcow 64M
fio_case fresh-q1 fresh.qcow 1 --size=48M
rm -f fresh.qcow
qemu-img create -q -f qcow fresh.qcow 64M
fio_case fresh-q2 fresh.qcow 2 --size=32M --numjobs=2 --offset_increment=32M \
	--bsrange=512-64k

qemu-img create -q -f raw base.raw 24M
qemu-io -f raw -c 'write -P 0xa5 0 24M' base.raw >/dev/null
qemu-img create -q -f qcow -b base.raw -F raw ov.qcow 32M
fio_case overlay-q2 ov.qcow 2 --size=16M --numjobs=2 --offset_increment=16M

rm -f ov.qcow
qemu-img create -q -f qcow -b base.raw -F raw ov.qcow 32M
cp base.raw twin.raw && truncate -s 32M twin.raw
dd_case dd-overlay ov.qcow twin.raw
if run base-read.log qemu-io -f qcow -r -c 'read -P 0xa5 20M 1M' ov.qcow &&
   ! grep -q 'Pattern verification failed' base-read.log; then
	pass dd-overlay-base
else
	fail dd-overlay-base "the base's data is not read through the overlay"
fi
qemu-img create -q -f qcow plain.qcow 32M
truncate -s 32M plain.raw
dd_case dd-plain plain.qcow plain.raw
printf '%s' "$PW" >key
chmod 600 key
qemu-img create -q -f qcow --object "$SEC" \
	-o encrypt.format=aes,encrypt.key-secret=s0 aes.qcow 32M
truncate -s 32M aes.raw
dd_case dd-aes aes.qcow aes.raw --key-file key
qemu-img create -q -f qcow --object "$SEC" \
	-o encrypt.format=aes,encrypt.key-secret=s0 aesf.qcow 48M
aes_fio_case fio-aes-q2 aesf.qcow
ublk_main_end
