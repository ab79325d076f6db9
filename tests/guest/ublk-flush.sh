#!/bin/bash
# Durability: what a FLUSH (fsync of the device) or a FUA write covered
# is in the image file after `kill -9` of the daemon, metadata included;
# so is what was written a few seconds before the kill (the idle timer's
# write-back); `del` flushes what the kernel still caches before removing
# the device.
#     tests/guest/run.sh tests/guest/ublk-flush.sh
. "$(dirname "$0")/lib-ublk.sh"

# image_has CASE IMAGE FILE OFF_KIB: FILE's bytes are at OFF_KIB in IMAGE.
image_has() {
	local n
	n=$(($(stat -c %s "$3") / 1024))
	qemu-img convert -O raw "$2" img.raw 2>/dev/null
	dd if=img.raw of=got bs=1k skip="$4" count="$n" 2>/dev/null
	rm -f img.raw
	if ! cmp -s got "$3"; then
		fail "$1" "the image lacks data written before the kill"
		return 1
	fi
}

# crash_case NAME WRITE-CMD...: write data (data.bin at 1 MiB) with
# WRITE-CMD, kill -9 the daemon, check the image, delete the device.
crash_case() {
	local c=$1
	shift
	rm -f "$c.qcow2"
	qemu-img create -q -f qcow2 "$c.qcow2" 64M
	ublk_add "$c-add.log" -f "$c.qcow2" || { fail "$c" add; return; }
	"$@" >"$c-write.log" 2>&1 || { fail "$c" "write: $*"; diag <"$c-write.log"; return; }
	kill_daemon "$ID" || { fail "$c" "kill -9"; return; }
	# the dead daemon's device is still there, its requests queued
	if image_has "$c" "$c.qcow2" "$WANT" 1024 &&
		img_check "$c" "$c.qcow2" 3; then
		pass "$c"
	fi
	ublk_del "$ID" || fail "$c" "del of a device without daemon"
	[ -b "$DEV" ] && fail "$c" "$DEV still there after del"
}

fsync_write() {
	dd if=data.bin of="$DEV" bs=64k seek=16 oflag=direct conv=fsync
}

# O_DSYNC direct writes to a device with FUA are FUA writes (no FLUSH).
fua_write() {
	fio --name=fua --filename="$DEV" --rw=write --bs=64k --offset=1M \
		--size=8M --direct=1 --sync=dsync --ioengine=psync \
		--buffer_pattern=0x5c --verify_state_save=0
}

# No flush at all, but the device idle for a few seconds: the idle timer's
# write-back put the metadata in the image file before the kill.
idle_write() {
	dd if=data.bin of="$DEV" bs=64k seek=16 oflag=direct && sleep 3
}

# Written through the page cache, then del at once: del flushes it.
del_flushes() {
	local c=del-flushes
	qemu-img create -q -f qcow2 "$c.qcow2" 64M
	ublk_add "$c-add.log" -f "$c.qcow2" || { fail "$c" add; return; }
	dd if=data.bin of="$DEV" bs=64k seek=16 2>/dev/null
	ublk_del "$ID" || { fail "$c" del; return; }
	image_has "$c" "$c.qcow2" data.bin 1024 && img_check "$c" "$c.qcow2" &&
		pass "$c"
}

ublk_init
random_file data.bin 8192
WANT=data.bin crash_case flush-kill fsync_write
tr '\0' '\134' </dev/zero | dd of=fua.bin bs=1M count=8 iflag=fullblock 2>/dev/null
WANT=fua.bin crash_case fua-kill fua_write
WANT=data.bin crash_case idle-writeback-kill idle_write
del_flushes
ublk_main_end
