#!/bin/bash
# UBLK_F_BATCH_IO (Linux 7.0): `add --batch-io` devices, whose queues are
# handed new requests' tags in bulk by multishot FETCH_IO_CMDS and commit
# many results per COMMIT_IO_CMDS.  In each data mode (the kernel copying
# into our buffers, user copy, zero copy), 1 and 2 queues: the device says
# batch-io in `list --json`, fio's crc32c verify passes, dd writes at odd
# offsets read back and equal, by `qemu-img compare` after del, a raw file
# given the same writes; qemu-img check after each; a kill -9 under fio and
# `recover` (which keeps batch-io) with fio's verify passing across it;
# `-o batch_io=off` gives a device without it.  SKIP where the kernel does
# not offer UBLK_F_BATCH_IO (the default 6.12 guest):
#     GUEST_KERNEL=forky tests/guest/run.sh tests/guest/ublk-batch.sh
. "$(dirname "$0")/lib-ublk.sh"

MODES=("kcopy:-o zero_copy=off" "ucopy:--user-copy" "zcopy:--zero-copy")

# has_flags ID KEY...: list --json says true for every KEY.
has_flags() {
	local id=$1 k
	shift
	for k in "$@"; do
		list_flat "$id" | grep -q "\"$k\":true" || return 1
	done
}

mode_key() {
	case $1 in
	ucopy) echo user-copy ;;
	zcopy) echo zero-copy ;;
	*) echo batch-io ;;
	esac
}

check_features() {
	if ! "$UBLK_QCOW" features >features.log 2>&1; then
		fail features "exit status"
	elif ! grep -q '^15 *BATCH_IO$' features.log ||
		! grep -q '^batch io: offered' features.log; then
		fail features "BATCH_IO not listed"
		diag <features.log
	else
		pass features
	fi
}

# fio_batch CASE MODE-OPTS QUEUES: fio 4k and mixed sizes, verified.
fio_batch() {
	local c=$1 opts=$2 q=$3 key=$4
	rm -f "$c.qcow2"
	qemu-img create -q -f qcow2 "$c.qcow2" 128M
	# shellcheck disable=SC2086 # options, word-split on purpose
	if ! ublk_add "$c-add.log" -f "$c.qcow2" -q "$q" --batch-io $opts; then
		fail "$c" "add --batch-io $opts"
		return
	fi
	if ! has_flags "$ID" batch-io "$key"; then
		fail "$c" "device without batch-io or $key"
		list_flat "$ID" | diag 3
	elif ! fio_verify "$c-fio.log" "$DEV" --size=32M; then
		fail "$c" "fio 4k verify failed"
		grep -i 'verify\|err' "$c-fio.log" | diag 10
	elif ! fio_verify "$c-mix.log" "$DEV" --offset=64M --size=48M \
		--bsrange=512-256k --iodepth=16; then
		fail "$c" "fio mixed verify failed"
		grep -i 'verify\|err' "$c-mix.log" | diag 10
	else
		ublk_del "$ID" || { fail "$c" del; return; }
		img_check "$c" "$c.qcow2" && pass "$c"
		host_check "$c.qcow2"
		return
	fi
	ublk_del "$ID"
}

# dd_batch CASE MODE-OPTS: dd at odd offsets, read back through the
# device, then the image compared with a raw file given the same writes.
dd_batch() {
	local c=$1 opts=$2 off
	rm -f "$c.qcow2" "$c.raw"
	qemu-img create -q -f qcow2 "$c.qcow2" 64M
	truncate -s 64M "$c.raw"
	random_file "$c.bin" 3000
	# shellcheck disable=SC2086
	ublk_add "$c-add.log" -f "$c.qcow2" -q 2 --batch-io $opts ||
		{ fail "$c" add; return; }
	for off in 1 777 40001 121000; do
		dd if="$c.bin" of="$DEV" bs=64k seek=$((off * 512)) \
			oflag=direct,seek_bytes conv=notrunc,fsync 2>/dev/null
		dd if="$c.bin" of="$c.raw" bs=64k seek=$((off * 512)) \
			oflag=seek_bytes conv=notrunc 2>/dev/null
	done
	if ! cmp -s "$DEV" "$c.raw"; then
		fail "$c" "the device reads back other bytes"
		ublk_del "$ID"
		return
	fi
	ublk_del "$ID" || { fail "$c" del; return; }
	if ! qemu-img compare -q -f raw -F qcow2 "$c.raw" "$c.qcow2"; then
		fail "$c" "qemu-img compare: the image differs from the raw file"
		return
	fi
	img_check "$c" "$c.qcow2" && pass "$c"
}

# recover_batch CASE MODE-OPTS QUEUES: fio loses its daemon, recover,
# fio's verify passes; the device keeps batch-io.
recover_batch() {
	local c=$1 opts=$2 q=$3 fpid st
	rm -f "$c.qcow2"
	qemu-img create -q -f qcow2 -o preallocation=metadata "$c.qcow2" 64M
	# shellcheck disable=SC2086
	ublk_add "$c-add.log" -f "$c.qcow2" -q "$q" --batch-io $opts ||
		{ fail "$c" add; return; }
	fio_verify "$c-fio.log" "$DEV" --size=32M --rate_iops=2500 &
	fpid=$!
	sleep 1
	kill_daemon "$ID" || { fail "$c" "kill -9"; kill $fpid; return; }
	sleep 1
	recover_dev "$c" "$ID" || { kill $fpid; return; }
	if ! has_flags "$ID" batch-io; then
		fail "$c" "the recovered device lost batch-io"
		kill $fpid
		return
	fi
	wait $fpid
	st=$?
	if [ $st != 0 ]; then
		fail "$c" "fio exit $st"
		grep -i 'verify\|err' "$c-fio.log" | diag 10
		return
	fi
	ublk_del "$ID" || { fail "$c" del; return; }
	img_check "$c" "$c.qcow2" 3 && pass "$c"
}

batch_off() {
	local c=batch-off
	qemu-img create -q -f qcow2 off.qcow2 16M
	ublk_add "$c-add.log" -f off.qcow2 -o batch_io=off ||
		{ fail "$c" add; return; }
	if list_flat "$ID" | grep -q '"batch-io":false'; then
		pass "$c"
	else
		fail "$c" "-o batch_io=off: the device has batch-io"
	fi
	ublk_del "$ID"
}

ublk_init
if ! "$UBLK_QCOW" features | grep -q '^batch io: offered'; then
	skip all "the kernel $(uname -r) does not offer UBLK_F_BATCH_IO (Linux 7.0+)"
	ublk_main_end
fi
check_features
batch_off
for m in "${MODES[@]}"; do
	name=${m%%:*} opts=${m#*:}
	fio_batch "fio-$name-q1" "$opts" 1 "$(mode_key "$name")"
	fio_batch "fio-$name-q2" "$opts" 2 "$(mode_key "$name")"
	dd_batch "dd-$name" "$opts"
	recover_batch "recover-$name-q2" "$opts" 2
done
ublk_main_end
