#!/bin/bash
# fio writes with a crc32c verify pass, with 1 and 2 queues, on a fresh
# image and on an overlay of a base qemu-img made; then qemu-img check.
#     tests/guest/run.sh tests/guest/ublk-fio.sh
. "$(dirname "$0")/lib-ublk.sh"

# fio_case NAME IMAGE QUEUES FIO-ARGS...
fio_case() {
	local c=$1 img=$2 q=$3
	shift 3
	# shellcheck disable=SC2086 # q may carry more options
	if ! ublk_add "$c-add.log" -f "$img" -q $q; then
		fail "$c" "add -q $q"
		return
	fi
	if [ "$(cat /sys/block/ublkb$ID/mq/*/nr_tags 2>/dev/null | wc -l)" != "${q%% *}" ]; then
		fail "$c" "the device has not $q queues"
	elif ! fio_verify "$c-fio.log" "$DEV" "$@"; then
		fail "$c" "fio verify failed"
		grep -i 'verify\|err' "$c-fio.log" | diag 10
	else
		ublk_del "$ID" || { fail "$c" "del"; return; }
		img_check "$c" "$img" && pass "$c"
		return
	fi
	ublk_del "$ID"
}

new_image() {
	rm -f "$1"
	qemu-img create -q -f qcow2 "$1" 128M
}

new_overlay() {
	rm -f "$1"
	qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 "$1"
}

# del while fio writes: fio sees errors, del returns, the image is clean.
del_under_load() {
	local c=del-under-load fpid
	new_image busy.qcow2
	ublk_add "$c-add.log" -f busy.qcow2 -q 2 || { fail "$c" add; return; }
	(cd "$WORK" && fio --name=busy --filename="$DEV" --ioengine=io_uring \
		--direct=1 --rw=randwrite --bs=4k --iodepth=32 --size=128M \
		--time_based --runtime=60 --verify_state_save=0) >"$c-fio.log" 2>&1 &
	fpid=$!
	sleep 2
	if ! timeout 60 "$UBLK_QCOW" del -n "$ID" >"$c-del.log" 2>&1; then
		fail "$c" "del failed or hung"
		diag <"$c-del.log"
	elif [ -b "$DEV" ]; then
		fail "$c" "$DEV still there"
	else
		img_check "$c" busy.qcow2 && pass "$c"
	fi
	kill $fpid 2>/dev/null
	wait $fpid
}

ublk_init
FIO4K=(--size=64M --numjobs=1)
FIOMIX=(--size=96M --bsrange=512-256k --iodepth=16)
qemu-img create -q -f qcow2 base.qcow2 128M
qemu-io -c 'write -P 0xa5 0 128M' base.qcow2 >/dev/null

new_image fresh.qcow2
fio_case fresh-q1 fresh.qcow2 1 "${FIO4K[@]}"
new_image fresh.qcow2
fio_case fresh-q2 fresh.qcow2 2 "${FIO4K[@]}" --numjobs=2 --offset_increment=64M --size=32M
new_image fresh.qcow2
fio_case fresh-mixed-q2 fresh.qcow2 2 "${FIOMIX[@]}"
# O_DIRECT on the image (tmpfs has it since 6.6): 4 KiB blocks
new_image fresh.qcow2
fio_case fresh-direct-q2 fresh.qcow2 "2 --direct" "${FIO4K[@]}" --numjobs=2 --offset_increment=64M --size=32M
# and extended L2: 2 KiB subclusters, smaller than the file's blocks
rm -f xl2.qcow2
qemu-img create -q -f qcow2 -o extended_l2=on xl2.qcow2 128M
fio_case extl2-direct-q2 xl2.qcow2 "2 --direct" --size=96M --bsrange=4k-256k --iodepth=16
new_overlay overlay.qcow2
fio_case overlay-q1 overlay.qcow2 1 "${FIO4K[@]}"
new_overlay overlay.qcow2
fio_case overlay-q2 overlay.qcow2 2 "${FIO4K[@]}" --numjobs=2 --offset_increment=64M --size=32M
new_overlay overlay.qcow2
fio_case overlay-mixed-q2 overlay.qcow2 2 "${FIOMIX[@]}"
del_under_load
ublk_main_end
