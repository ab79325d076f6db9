#!/bin/bash
# User recovery: the daemon is killed with SIGKILL, the device stays
# (its I/O queued), `recover` serves it again; requests in flight are
# issued again.  fio's verify pass succeeds across the kill.
#
# fio runs on an image with preallocated metadata: a write that was
# acknowledged but not yet flushed is, by the block layer's rules, allowed
# to be lost with the daemon (a volatile write cache); overwrites of
# allocated clusters change no metadata, so fio's data must all be there.
#     tests/guest/run.sh tests/guest/ublk-recover.sh
. "$(dirname "$0")/lib-ublk.sh"

recover_idle() {
	local c=recover-idle
	qemu-img create -q -f qcow2 idle.qcow2 64M
	random_file data.bin 4096
	ublk_add "$c-add.log" -f idle.qcow2 || { fail "$c" add; return; }
	dd if=data.bin of="$DEV" bs=64k oflag=direct conv=fsync 2>/dev/null
	kill_daemon "$ID" || { fail "$c" "kill -9"; return; }
	recover_dev "$c" "$ID" || return
	dd if="$DEV" of=got bs=64k count=64 iflag=direct 2>/dev/null
	if ! cmp -s got data.bin; then
		fail "$c" "data written before the kill reads back wrong"
		return
	fi
	ublk_del "$ID" || { fail "$c" del; return; }
	img_check "$c" idle.qcow2 3 && pass "$c"
}

# recover_fio CASE QUEUES: fio (rate-limited so that it runs for a few
# seconds) loses its daemon after 1 s; recover; fio completes, verified.
recover_fio() {
	local c=$1 q=$2 fpid st
	rm -f "$c.qcow2"
	qemu-img create -q -f qcow2 -o preallocation=metadata "$c.qcow2" 64M
	ublk_add "$c-add.log" -f "$c.qcow2" -q "$q" || { fail "$c" add; return; }
	fio_verify "$c-fio.log" "$DEV" --size=32M --rate_iops=2500 &
	fpid=$!
	sleep 1
	kill_daemon "$ID" || { fail "$c" "kill -9"; kill $fpid; return; }
	sleep 1
	recover_dev "$c" "$ID" || { kill $fpid; return; }
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

ublk_init
recover_idle
recover_fio recover-fio-q1 1
recover_fio recover-fio-q2 2
ublk_main_end
