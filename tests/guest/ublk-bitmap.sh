#!/bin/bash
# Persistent dirty bitmaps behind a device (issue #19): a qcow2 image with
# bitmaps made by qemu-img (b0 enabled, 64 KiB granularity; b1 disabled)
# is written through the device with dd, fio, a discard and a zero write
# at known offsets; after del qemu-img sees b0 dirty exactly over the
# written ranges rounded out to 64 KiB (read through qemu-nbd -B), b1
# unchanged, neither in use, check clean; a t0 copy patched with only the
# dirty ranges equals the final image (an incremental backup).  list
# --json shows the bitmaps and their dirty bytes.  kill -9 leaves them in
# use, and so does recover; SIGTERM and del of one device of two store
# them; a read-only device leaves the file byte-identical.
#     tests/guest/run.sh tests/guest/ublk-bitmap.sh
. "$(dirname "$0")/lib-ublk.sh"

G=65536
MIB=1048576
SIZE=$((64 * MIB))

# new_image IMG: 64 MiB qcow2, data before t0 at 8, 48 and 59 MiB, b1
# dirty over it and disabled, b0 enabled and clean.
new_image() {
	rm -f "$1"
	qemu-img create -q -f qcow2 "$1" 64M &&
		qemu-img bitmap --add -g 64k "$1" b0 &&
		qemu-img bitmap --add -g 64k "$1" b1 &&
		qemu-io -c 'write -P 0x33 8M 1M' -c 'write -P 0x11 48M 4M' \
			-c 'write -P 0x22 59M 2M' "$1" >/dev/null &&
		qemu-img bitmap --disable "$1" b1 &&
		qemu-img bitmap --clear "$1" b0
}

# dirty_ranges IMG NAME: "start length" of each dirty range of bitmap
# NAME, as qemu-nbd -B exports it (qemu-img map shows dirty as data false).
dirty_ranges() {
	local sock=$WORK/nbd.sock
	rm -f "$sock"
	qemu-nbd -r -f qcow2 -B "$2" -k "$sock" --fork "$1" || return 1
	qemu-img map --output=json --image-opts \
		"driver=nbd,server.type=unix,server.path=$sock,x-dirty-bitmap=qemu:dirty-bitmap:$2" |
		tr -d ' ' | sed -n 's/.*"start":\([0-9]*\),"length":\([0-9]*\),.*"data":false.*/\1 \2/p' |
		merge_ranges
}

# merge_ranges: "start length" lines (sorted) with neighbours joined.
merge_ranges() {
	awk 'NF == 2 {
		if (n && $1 == s + l) { l += $2; next }
		if (n) print s, l
		s = $1; l = $2; n = 1 }
	END { if (n) print s, l }'
}

# qcow_img_ranges CASE IMG NAME WANT: qcow-img map --bitmap NAME
# --output=json gives the dirty ranges in WANT (SKIP without --bitmap).
qcow_img_ranges() {
	local c=$1
	if ! /host/bin/qcow-img map --bitmap "$3" --output=json "$2" \
		>"$c.json" 2>"$c.err"; then
		if grep -q "unknown option '--bitmap'" "$c.err"; then
			skip "$c" "this qcow-img has no map --bitmap"
		else
			fail "$c" "qcow-img map --bitmap: $(head -n 1 "$c.err")"
		fi
		return
	fi
	tr -d ' \n' <"$c.json" | grep -o '"start":[0-9]*,"length":[0-9]*,"dirty":true' |
		sed 's/"start":\([0-9]*\),"length":\([0-9]*\),.*/\1 \2/' |
		merge_ranges >"$c.got"
	same_ranges "$c" "qcow-img map --bitmap $3" "$c.got" "$4" && pass "$c"
}

# rounded OFF LEN...: the ranges rounded out to G, merged.
rounded() {
	while [ $# -ge 2 ]; do
		echo "$(($1 / G * G)) $((($1 + $2 + G - 1) / G * G - $1 / G * G))"
		shift 2
	done | sort -n | awk '{
		if (n && $1 <= s + l) { e = $1 + $2; if (e > s + l) l = e - s; next }
		if (n) print s, l
		s = $1; l = $2; n = 1 }
	END { if (n) print s, l }'
}

sum_len() { awk '{ t += $2 } END { print t + 0 }'; }

# bitmap_json IMG NAME: b's object of qemu-img info --output=json, flat.
bitmap_json() {
	qemu-img info -U --output=json "$1" 2>/dev/null | tr -d ' \n' |
		grep -o "{\"flags\":\[[^]]*\],\"name\":\"$2\",[^}]*}"
}

# in_use IMG NAME: the bitmap's flags have "in-use".
in_use() { bitmap_json "$1" "$2" | grep -q '"in-use"'; }

# stored_ok CASE IMG: b0 auto, b1 not, neither in use, qemu-img check 0.
stored_ok() {
	local c=$1 img=$2 n j
	for n in b0 b1; do
		j=$(bitmap_json "$img" "$n")
		if [ -z "$j" ]; then
			fail "$c" "qemu-img info shows no bitmap $n"
			return 1
		elif in_use "$img" "$n"; then
			fail "$c" "bitmap $n still in use: $j"
			return 1
		fi
	done
	if ! bitmap_json "$img" b0 | grep -q '"auto"' ||
		bitmap_json "$img" b1 | grep -q '"auto"'; then
		fail "$c" "enabled flags changed: $(bitmap_json "$img" b0) $(bitmap_json "$img" b1)"
		return 1
	fi
	img_check "$c" "$img"
}

# same_ranges CASE WHAT GOT WANT: two files of ranges are equal.
same_ranges() {
	cmp -s "$3" "$4" && return 0
	fail "$1" "$2: dirty ranges differ (got, want):"
	paste "$3" "$4" | diag 20
	return 1
}

# list_bitmap ID NAME: list --json's entry for bitmap NAME, flat.
list_bitmap() {
	list_flat "$1" | grep -o "{\"name\":\"$2\",[^}]*}"
}

# wait_dirty_bytes ID NAME BYTES: list shows them within 3 s.
wait_dirty_bytes() {
	local _
	for _ in $(seq 30); do
		list_bitmap "$1" "$2" | grep -q "\"dirty-bytes\":$3,\"in-use\":false" && return 0
		sleep 0.1
	done
	return 1
}

# The written ranges (bytes), in the order the writes go out.
WRITES="1048576 4096  3072000 204800  $((20 * MIB)) $MIB  $((40 * MIB)) $((2 * MIB))
	$((50 * MIB)) $MIB  $((60 * MIB)) 131072  $((SIZE - 512)) 512"

device_writes() {
	dd if=/dev/urandom of="$DEV" bs=4k seek=256 count=1 oflag=direct 2>/dev/null &&
		dd if=/dev/urandom of="$DEV" bs=1k seek=3000 count=200 oflag=direct 2>/dev/null &&
		dd if=/dev/urandom of="$DEV" bs=1M seek=20 count=1 oflag=direct 2>/dev/null &&
		(cd "$WORK" && fio --name=w --filename="$DEV" --ioengine=io_uring \
			--direct=1 --rw=randwrite --bs=4k --iodepth=32 \
			--offset=40M --size=2M --randrepeat=0 >/dev/null) &&
		blkdiscard -o $((50 * MIB)) -l $MIB "$DEV" &&
		blkdiscard -z -o $((60 * MIB)) -l 131072 "$DEV" &&
		dd if=/dev/urandom of="$DEV" bs=512 seek=$((SIZE / 512 - 1)) count=1 \
			oflag=direct conv=fsync 2>/dev/null
}

# track: the whole backup cycle.
track() {
	local c=track img=track.qcow2 want_b0 n1 n0
	new_image "$img" || { fail "$c" "qemu-img could not make the image"; return; }
	qemu-img convert -O raw "$img" t0.raw
	dirty_ranges "$img" b1 >b1-before || { fail "$c" "qemu-nbd -B b1"; return; }
	[ -s b1-before ] || { fail "$c" "b1 has no dirty range before"; return; }
	# shellcheck disable=SC2086 # pairs of numbers
	rounded $WRITES >b0-want
	want_b0=$(sum_len <b0-want)
	n1=$(sum_len <b1-before)
	ublk_add "$c-add.log" -f "$img" || { fail "$c" add; return; }
	if ! in_use "$img" b0 || ! in_use "$img" b1; then
		fail "$c" "bitmaps not in use while attached: $(bitmap_json "$img" b0)"
	fi
	device_writes || { fail "$c" "writes through $DEV failed"; return; }
	if ! wait_dirty_bytes "$ID" b0 "$want_b0"; then
		fail "$c" "list: b0 is '$(list_bitmap "$ID" b0)', want dirty-bytes $want_b0"
	elif ! list_bitmap "$ID" b0 | grep -q '"enabled":true,"granularity":65536,' ||
		! list_bitmap "$ID" b1 | grep -q "\"enabled\":false,\"granularity\":65536,\"dirty-bytes\":$n1,\"in-use\":false"; then
		fail "$c" "list: $(list_flat "$ID" | grep -o '"bitmaps":\[[^]]*\]')"
	elif ! "$UBLK_QCOW" list -n "$ID" | grep -q "^ *bitmaps: b0 (64K, .* dirty), b1 (disabled, 64K, .* dirty)$"; then
		fail "$c" "human list: $("$UBLK_QCOW" list -n "$ID" | tail -n 1)"
	else
		pass "$c-list"
	fi
	ublk_del "$ID" || { fail "$c" del; return; }
	stored_ok "$c" "$img" || return
	dirty_ranges "$img" b0 >b0-got || { fail "$c" "qemu-nbd -B b0"; return; }
	dirty_ranges "$img" b1 >b1-got || { fail "$c" "qemu-nbd -B b1"; return; }
	note "b0 dirty: $(tr '\n' ',' <b0-got)"
	same_ranges "$c" b0 b0-got b0-want || return
	same_ranges "$c" "b1 (disabled)" b1-got b1-before || return
	pass "$c-ranges"
	qcow_img_ranges "$c-qcow-img-map" "$img" b0 b0-got
	# the incremental backup: t0 + the dirty ranges of the final image
	qemu-img convert -O raw "$img" final.raw
	while read -r s l; do
		dd if=final.raw of=t0.raw bs=512 skip=$((s / 512)) seek=$((s / 512)) \
			count=$((l / 512)) conv=notrunc 2>/dev/null
	done <b0-got
	n0=$(cmp t0.raw final.raw 2>&1)
	if [ -n "$n0" ]; then
		fail "$c-backup" "t0 patched with the dirty ranges: $n0"
	else
		pass "$c-backup"
	fi
	host_check "$img"
	rm -f t0.raw final.raw
}

# kill-recover: kill -9 leaves the bitmaps in use; recover and del too.
kill_recover() {
	local c=kill-recover img=kill.qcow2 n
	new_image "$img" || { fail "$c" "qemu-img could not make the image"; return; }
	ublk_add "$c-add.log" -f "$img" || { fail "$c" add; return; }
	dd if=/dev/urandom of="$DEV" bs=64k seek=3 count=2 oflag=direct conv=fsync 2>/dev/null
	kill_daemon "$ID" || { fail "$c" "kill -9"; return; }
	for n in b0 b1; do
		in_use "$img" "$n" || { fail "$c" "after kill -9, $n: $(bitmap_json "$img" "$n")"; return; }
	done
	img_check "$c" "$img" 3 || return
	recover_dev "$c" "$ID" || return
	if ! list_bitmap "$ID" b0 | grep -q '"in-use":true'; then
		fail "$c" "list after recover: $(list_bitmap "$ID" b0)"
		return
	fi
	dd if=/dev/urandom of="$DEV" bs=64k seek=9 count=1 oflag=direct 2>/dev/null
	ublk_del "$ID" || { fail "$c" del; return; }
	for n in b0 b1; do
		in_use "$img" "$n" || { fail "$c" "after recover and del, $n: $(bitmap_json "$img" "$n")"; return; }
	done
	img_check "$c" "$img" 3 && pass "$c"
}

# wait_gone PID: the process ended within 10 s.
wait_gone() {
	local _
	for _ in $(seq 100); do
		[ -d "/proc/$1" ] || return 0
		sleep 0.1
	done
	return 1
}

# sigterm: two images in one daemon; del of one stores its bitmaps while
# the other is served; SIGTERM stores the other's.
sigterm() {
	local c=sigterm pid
	if ! new_image a.qcow2 || ! new_image b.qcow2; then
		fail "$c" "qemu-img could not make the images"
		return
	fi
	# shellcheck disable=SC2086 # options, word-split on purpose
	run "$c-add.log" "$UBLK_QCOW" add $UBLK_ADD_OPTS -f a.qcow2 -f b.qcow2 ||
		{ fail "$c" add; return; }
	local da db
	da=$(sed -n 1p "$c-add.log")
	db=$(sed -n 2p "$c-add.log")
	pid=$(daemon_pid "${db#/dev/ublkb}")
	dd if=/dev/urandom of="$da" bs=64k seek=5 count=1 oflag=direct 2>/dev/null
	dd if=/dev/urandom of="$db" bs=64k seek=7 count=1 oflag=direct 2>/dev/null
	ublk_del "${da#/dev/ublkb}" || { fail "$c" "del of $da"; return; }
	[ -d "/proc/$pid" ] || { fail "$c" "the daemon ended with its first device"; return; }
	stored_ok "$c-del" a.qcow2 || return
	in_use b.qcow2 b0 || { fail "$c" "b.qcow2's b0 not in use while served"; return; }
	kill -TERM "$pid"
	wait_gone "$pid" || { fail "$c" "the daemon did not end after SIGTERM"; return; }
	stored_ok "$c" b.qcow2 || return
	dirty_ranges a.qcow2 b0 >a-got
	dirty_ranges b.qcow2 b0 >b-got
	echo "$((5 * G)) $G" >a-want
	echo "$((7 * G)) $G" >b-want
	same_ranges "$c" a.qcow2 a-got a-want && same_ranges "$c" b.qcow2 b-got b-want &&
		pass "$c"
}

# readonly: add -r changes no byte of the file; list shows the bitmaps.
readonly_dev() {
	local c=readonly img=ro.qcow2 sum
	new_image "$img" || { fail "$c" "qemu-img"; return; }
	sum=$(sha256sum <"$img")
	ublk_add "$c-add.log" -f "$img" -r || { fail "$c" add; return; }
	dd if="$DEV" of=/dev/null bs=1M iflag=direct 2>/dev/null
	list_bitmap "$ID" b0 | grep -q '"enabled":true,"granularity":65536,' ||
		fail "$c" "list: $(list_flat "$ID" | grep -o '"bitmaps":\[[^]]*\]')"
	ublk_del "$ID" || { fail "$c" del; return; }
	if [ "$(sha256sum <"$img")" != "$sum" ]; then
		fail "$c" "the image file changed"
	else
		pass "$c"
	fi
}

ublk_init
track
kill_recover
sigterm
readonly_dev
ublk_main_end
