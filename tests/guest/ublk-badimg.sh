#!/bin/bash
# Untrusted images through `ublk-qcow add`: a damaged image is refused
# with one line naming it, within seconds, no device is left behind and
# the file is unchanged; damage the open cannot see (a bad L2 entry) fails
# the reads of that cluster with EIO and nothing else.
#     tests/guest/run.sh tests/guest/ublk-badimg.sh
# Images are qemu-img's with 64 KiB clusters: header 0, refcount table
# 0x10000, refcount block 0x20000, L1 0x30000, first L2 0x40000, data from
# 0x50000 on.
. "$(dirname "$0")/lib-ublk.sh"

# poke_be FILE OFFSET BYTES VALUE: VALUE big-endian in BYTES bytes.
poke_be() {
	local f=$1 off=$2 n=$3 v=$4 i s=
	for i in $(seq $((n - 1)) -1 0); do
		s="$s\\$(printf '%03o' $(((v >> (8 * i)) & 255)))"
	done
	# shellcheck disable=SC2059 # the escapes are the data
	printf "$s" | dd of="$f" bs=1 seek="$off" conv=notrunc 2>/dev/null
}

base_image() {
	qemu-img create -q -f qcow2 "$1" 64M &&
		qemu-io -c 'write -P 0x5a 0 1M' "$1" >/dev/null
}

# no /dev/ublk[bc]N node, and list knows no device
no_device_left() {
	[ -z "$(ls /dev/ublkb* /dev/ublkc* 2>/dev/null)" ] &&
		! "$UBLK_QCOW" list --json 2>/dev/null | grep -q '"id"'
}

# refused CASE IMAGE [ADD OPTIONS]: add fails cleanly.
refused() {
	local c=$1 img=$2 sum st=0 t0 t1
	shift 2
	sum=$(sha256sum <"$img")
	t0=$(date +%s)
	timeout 30 "$UBLK_QCOW" add -f "$img" "$@" >"$c.out" 2>"$c.err" || st=$?
	t1=$(date +%s)
	if [ "$st" = 0 ]; then
		fail "$c" "add succeeded: $(head -c 200 "$c.out")"
		"$UBLK_QCOW" del -a >/dev/null 2>&1
	elif [ "$st" = 124 ] || [ "$st" -gt 128 ]; then
		fail "$c" "add ended with status $st (timeout or signal)"
	elif [ -s "$c.out" ] || [ "$(wc -l <"$c.err")" != 1 ]; then
		fail "$c" "not one line of error (stdout $(wc -c <"$c.out") bytes, stderr $(wc -l <"$c.err") lines)"
		diag 5 <"$c.err"
	elif ! grep -qF "$img" "$c.err"; then
		fail "$c" "the error does not name the image: $(cat "$c.err")"
	elif ! no_device_left; then
		fail "$c" "a device was left behind: $(ls /dev/ublk[bc]* 2>/dev/null)"
		"$UBLK_QCOW" del -a >/dev/null 2>&1
	elif [ "$(sha256sum <"$img")" != "$sum" ]; then
		fail "$c" "the image file changed"
	else
		pass "$c"
		note "$(($t1 - $t0)) s: $(cat "$c.err")"
	fi
}

# refused_both CASE IMAGE: refused read-write and with -r.
refused_both() {
	refused "$1" "$2"
	refused "$1-ro" "$2" -r
}

bad_header_cases() {
	base_image good.qcow2 || { fail setup "qemu could not make the image"; return; }

	cp good.qcow2 version.qcow2 && poke_be version.qcow2 4 4 4
	refused_both version-4 version.qcow2

	cp good.qcow2 incompat.qcow2 && poke_be incompat.qcow2 72 8 $((1 << 20))
	refused_both unknown-incompatible-bit incompat.qcow2

	cp good.qcow2 cbits.qcow2 && poke_be cbits.qcow2 20 4 31
	refused_both cluster-bits-31 cbits.qcow2

	cp good.qcow2 l1eof.qcow2 && poke_be l1eof.qcow2 40 8 $((0x10000000))
	refused_both l1-past-eof l1eof.qcow2

	cp good.qcow2 l1big.qcow2 && poke_be l1big.qcow2 36 4 $((0x2000000))
	refused_both l1-too-big l1big.qcow2

	cp good.qcow2 size.qcow2 && poke_be size.qcow2 24 8 $((1 << 62))
	refused_both size-too-big size.qcow2

	cp good.qcow2 rt.qcow2 && poke_be rt.qcow2 $((0x10000)) 8 $((0x20200))
	refused refblock-unaligned rt.qcow2

	head -c 100 good.qcow2 >trunc.qcow2
	refused_both truncated trunc.qcow2

	qemu-img create -q -f qcow2 loop-a.qcow2 64M &&
		qemu-img create -q -f qcow2 -b loop-a.qcow2 -F qcow2 loop-b.qcow2 &&
		qemu-img rebase -u -b loop-b.qcow2 -F qcow2 loop-a.qcow2
	refused_both backing-loop loop-a.qcow2
}

# One L2 entry points at an unaligned offset: only that cluster fails.
damaged_read() {
	local c=damaged-l2-entry sum
	base_image l2.qcow2 || { fail "$c" "qemu could not make the image"; return; }
	# guest cluster 2 (0x20000) -> host 0x70200, unaligned
	poke_be l2.qcow2 $((0x40000 + 16)) 8 $(((1 << 63) | 0x70200))
	sum=$(sha256sum <l2.qcow2)
	ublk_add "$c-add.log" -f l2.qcow2 -r || { fail "$c" add; return; }
	if dd if="$DEV" of=/dev/null bs=64k skip=2 count=1 iflag=direct 2>"$c.dd"; then
		fail "$c" "reading the damaged cluster succeeded"
	elif ! grep -q 'Input/output error' "$c.dd"; then
		fail "$c" "the damaged cluster: $(head -n 1 "$c.dd"), not EIO"
	elif ! dd if="$DEV" of=got bs=64k count=2 iflag=direct 2>/dev/null ||
		! dd if="$DEV" of=got3 bs=64k skip=3 count=13 iflag=direct 2>/dev/null; then
		fail "$c" "reads around the damaged cluster failed"
	elif [ "$(tr -d 'Z' <got | wc -c)" != 0 ] ||
		[ "$(tr -d 'Z' <got3 | wc -c)" != 0 ]; then
		fail "$c" "reads around the damaged cluster return wrong data"
	else
		ublk_del "$ID" || { fail "$c" del; return; }
		if [ "$(sha256sum <l2.qcow2)" != "$sum" ]; then
			fail "$c" "the image file changed"
		else
			pass "$c"
		fi
		return
	fi
	ublk_del "$ID"
}

ublk_init
bad_header_cases
damaged_read
ublk_main_end
