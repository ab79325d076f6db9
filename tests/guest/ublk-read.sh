#!/bin/bash
# What the engine computes itself, read and written through the device:
# images built in the guest by qemu-img/qemu-io (the reference) with data,
# zero clusters, holes, compressed clusters (zlib, zstd), a backing file
# shorter than the overlay, extended L2 subclusters, a version 2 image, an
# odd-sized raw file, a legacy qcow image, 4 KiB and 2 MiB clusters.
#   reads: each image added -r; the whole device equals `qemu-img convert
#     -O raw` of it, and O_DIRECT reads at odd sector offsets and lengths
#     (some crossing clusters) equal the same ranges of that raw file.
#   writes: two copies A and B of an image; sector-aligned, not
#     cluster-aligned writes of random data (over holes with and without
#     backing data, zero and compressed clusters, subclusters) with dd
#     O_DIRECT through the device to A and with qemu-io to B; the device
#     reads back B's content, then `qemu-img compare A B` and qemu-img
#     check A.
# ublk-read-zc.sh runs it with `add --zero-copy`.
#     tests/guest/run.sh tests/guest/ublk-read.sh
. "$(dirname "$0")/lib-ublk.sh"

K=65536 # 64 KiB, the usual cluster
M=1048576

# rnd FILE LEN: LEN random bytes.
rnd() {
	head -c "$2" /dev/urandom >"$1"
}

# txt FILE LEN OFF: LEN compressible bytes (numbers, one a line), from
# offset OFF of $WORK/text (so each slice differs).
txt() {
	tail -c +"$(($3 + 1))" "$WORK/text" | head -c "$2" >"$1"
}

# qio LOG IMAGE CMD...: qemu-io -c CMD... on IMAGE (in one process).
qio() {
	local log=$1 img=$2 a=() c
	shift 2
	for c in "$@"; do
		a+=(-c "$c")
	done
	run "$log" qemu-io "${a[@]}" "$img"
}

# has_compressed IMAGE: qemu-img map shows a compressed cluster (data
# that has no plain offset in the file).
has_compressed() {
	qemu-img map --output=json "$1" 2>/dev/null |
		grep '"data": true' | grep -qv '"offset"'
}

# setup_fail CASE WHAT: the test could not build its image.
setup_fail() {
	fail "$1" "setup: $2 (not the server's fault)"
}

# first_diff A B [BASE]: "byte N" (absolute: BASE + cmp's 1-based char - 1)
# of the first difference, or cmp's message (EOF, ...).
first_diff() {
	local out ch
	out=$(cmp "$1" "$2" 2>&1)
	ch=$(echo "$out" | sed -n 's/.* differ: [a-z]* \([0-9]*\).*/\1/p')
	if [ -n "$ch" ]; then
		echo "first difference at byte $((${3:-0} + ch - 1)) ($out)"
	else
		echo "$out"
	fi
}

# same_ranges CASE REF RANGE...: each RANGE "SECTOR COUNT" read from $DEV
# with O_DIRECT in one request equals REF's bytes there.  Ranges past the
# device's end are left out.
same_ranges() {
	local c=$1 ref=$2 r s n sectors
	shift 2
	sectors=$(($(blockdev --getsize64 "$DEV") / 512))
	for r in "$@"; do
		read -r s n <<<"$r"
		[ $((s + n)) -le "$sectors" ] || continue
		if ! dd if="$DEV" of=got bs=$((n * 512)) count=1 skip=$((s * 512)) \
			iflag=direct,skip_bytes 2>dd.log; then
			fail "$c" "O_DIRECT read of sectors $s+$n failed"
			diag 5 <dd.log
			return 1
		fi
		dd if="$ref" of=want bs=512 count="$n" skip="$s" 2>/dev/null
		if ! cmp -s got want; then
			fail "$c" "O_DIRECT read of sectors $s+$n: $(first_diff got want $((s * 512)))"
			return 1
		fi
	done
	return 0
}

# same_device CASE REF: the whole device (buffered reads, after dropping
# the page cache) has REF's size and bytes.
same_device() {
	local c=$1 ref=$2 size
	size=$(blockdev --getsize64 "$DEV")
	if [ "$size" != "$(stat -c %s "$ref")" ]; then
		fail "$c" "device size $size, expected $(stat -c %s "$ref")"
		return 1
	fi
	sync
	echo 3 >/proc/sys/vm/drop_caches
	if ! cmp -s "$DEV" "$ref"; then
		fail "$c" "device differs: $(first_diff "$DEV" "$ref")"
		return 1
	fi
	return 0
}

# The O_DIRECT ranges of every read case: odd offsets and lengths, one
# inside a cluster, 1 MiB + 3 sectors crossing 64 KiB and 2 MiB cluster
# boundaries, the last sectors; read_case adds the case's own.
RANGES=("7 13" "127 2051" "4093 2051" "8190 5")

# read_case CASE IMAGE [REF] [RANGE...]: IMAGE added read-only reads as
# REF (default: qemu-img convert -O raw of IMAGE) as a whole and in RANGES
# and the RANGEs given.
read_case() {
	local c=$1 img=$2 ref=${3:-} sectors
	shift 2
	[ $# -gt 0 ] && shift
	if [ -z "$ref" ]; then
		ref=$c.raw
		run "$c-convert.log" qemu-img convert -O raw "$img" "$ref" ||
			{ setup_fail "$c" "qemu-img convert"; return; }
	fi
	if ! ublk_add "$c-add.log" -f "$img" -r; then
		fail "$c" "add -r $img"
		return
	fi
	sectors=$(($(blockdev --getsize64 "$DEV") / 512))
	if same_device "$c" "$ref" &&
		same_ranges "$c" "$ref" "${RANGES[@]}" "$((sectors - 9)) 9" "$@"; then
		ublk_del "$ID" || { fail "$c" del; return; }
		pass "$c"
	else
		ublk_del "$ID"
	fi
	rm -f "$c.raw"
}

# write_case CASE IMAGE WRITE...: WRITE "OFFSET LENGTH" (bytes, multiples
# of 512) of random data, in order, with dd through the device to a copy
# of IMAGE and with qemu-io to another; the two must end identical.
write_case() {
	local c=$1 img=$2 ia=$1-a.qcow2 ib=$1-b.qcow2 w off len i=0 cmds=() st=0
	shift 2
	if ! cp "$img" "$ia" || ! cp "$img" "$ib"; then
		setup_fail "$c" "cp $img"
		return
	fi
	for w in "$@"; do
		read -r off len <<<"$w"
		rnd "$c-w$i" "$len"
		cmds+=("write -q -s $c-w$i $off $len")
		i=$((i + 1))
	done
	qio "$c-qio.log" "$ib" "${cmds[@]}" || { setup_fail "$c" "qemu-io writes on B"; return; }
	run "$c-convert.log" qemu-img convert -O raw "$ib" "$c-b.raw" ||
		{ setup_fail "$c" "qemu-img convert of B"; return; }
	if ! ublk_add "$c-add.log" -f "$ia"; then
		fail "$c" "add $ia"
		return
	fi
	i=0
	for w in "$@"; do
		read -r off len <<<"$w"
		if ! dd if="$c-w$i" of="$DEV" bs="$len" count=1 seek="$off" \
			oflag=direct,seek_bytes conv=notrunc 2>dd.log; then
			fail "$c" "O_DIRECT write of $len bytes at $off failed"
			diag 5 <dd.log
			ublk_del "$ID"
			return
		fi
		i=$((i + 1))
	done
	same_device "$c" "$c-b.raw" || st=1
	ublk_del "$ID" || { fail "$c" del; return; }
	[ "$st" = 0 ] || return
	if ! qemu-img compare "$ia" "$ib" >"$c-compare.log" 2>&1; then
		fail "$c" "qemu-img compare A B: $(head -n 1 "$c-compare.log")"
		return
	fi
	img_check "$c" "$ia" && pass "$c"
	rm -f "$c-b.raw" "$c"-w*
}

# ----------------------------------------------------------- the images

# base8.qcow2: 8 MiB of random data, one zero cluster, for the overlays.
make_base() {
	rnd base8.data $((8 * M))
	qemu-img create -q -f qcow2 base8.qcow2 8M &&
		qio base8.log base8.qcow2 "write -q -s base8.data 0 8M" \
			"write -q -z $((96 * K)) $K"
}

# 1. qcow2, 64 KiB clusters, 16 MiB: data, zero clusters, holes,
# compressed clusters, a data and a compressed cluster made zero,
# partial writes, the last cluster.
make_q64() {
	rnd q64-d0 $M
	txt q64-c0 $M 0
	txt q64-c1 $((10 * K)) $((3 * M))
	rnd q64-d1 $((193 * 512))
	rnd q64-d2 4096
	txt q64-c2 $K $((5 * M))
	qemu-img create -q -f qcow2 -o cluster_size=64k q64.qcow2 16M &&
		qio q64.log q64.qcow2 \
			"write -q -s q64-d0 0 1M" \
			"write -q -z 1M 1M" \
			"write -q -c -s q64-c0 3M 1M" \
			"write -q -s q64-d0 4M $((2 * K))" \
			"write -q -z $((4 * M + K)) $K" \
			"write -q -c -s q64-c2 $((66 * K)) $K" \
			"write -q -z $((66 * K)) $K" \
			"write -q -s q64-d1 $((70 * K + 1536)) $((193 * 512))" \
			"write -q -c -s q64-c1 $((100 * K)) $((10 * K))" \
			"write -q -s q64-d2 $((105 * K + 4096)) 4096" \
			"write -q -c -s q64-c2 $((254 * K)) $K" \
			"write -q -s q64-d2 $((16 * M - 4096)) 4096" &&
		has_compressed q64.qcow2
}

# 2. zstd: a raw file with compressible, random and zero parts, converted
# with compression (the random parts stay uncompressed, the zeros holes).
make_zstd() {
	truncate -s 16M zstd.data
	txt zc0 $((4 * M)) 0
	rnd zd0 $M
	txt zc1 $((4 * M)) $((4 * M))
	rnd zd1 $K
	txt zc2 $((3 * K + 512)) $((9 * M))
	dd if=zc0 of=zstd.data conv=notrunc 2>/dev/null &&
		dd if=zd0 of=zstd.data bs=1M seek=4 conv=notrunc 2>/dev/null &&
		dd if=zc1 of=zstd.data bs=1M seek=6 conv=notrunc 2>/dev/null &&
		dd if=zd1 of=zstd.data bs=64k seek=192 conv=notrunc 2>/dev/null &&
		dd if=zc2 of=zstd.data bs=512 seek=$((15 * 2048 + 3)) conv=notrunc 2>/dev/null &&
		run zstd.log qemu-img convert -c -O qcow2 -o compression_type=zstd \
			zstd.data zstd.qcow2 &&
		qemu-img info zstd.qcow2 | grep -q 'compression type: zstd' &&
		has_compressed zstd.qcow2
}

# 3. a 16 MiB overlay over base8 (8 MiB): partial-cluster writes over the
# base's data, across its end and past it; zero writes (whole clusters and
# partial); compressed clusters; holes read the base, then zeros.
make_ov() {
	local i cmds=()
	for i in 0 1 2 3 4 5; do
		rnd "ov-d$i" 4096
	done
	txt ov-c0 $((2 * K)) $((6 * M))
	cmds=("write -q -s ov-d0 $((2 * K + 1536)) $((5 * 512))"
		"write -q -s ov-d1 $((5 * K - 1024)) 3072"
		"write -q -z $((10 * K)) $((2 * K))"
		"write -q -z $((13 * K + 512)) 2048"
		"write -q -c -s ov-c0 $((20 * K)) $((2 * K))"
		"write -q -s ov-d2 $((8 * M - 1536)) 4096"
		"write -q -s ov-d3 $((8 * M + 3 * K + 512)) 1024"
		"write -q -s ov-d4 $((95 * K + 512)) 1024"
		"write -q -s ov-d5 $((15 * M + 7 * 512)) 1536")
	qemu-img create -q -f qcow2 -o cluster_size=64k -b base8.qcow2 -F qcow2 \
		ov.qcow2 16M &&
		qio ov.log ov.qcow2 "${cmds[@]}" && has_compressed ov.qcow2
}

# 4. extended L2 (64 KiB clusters: 2 KiB subclusters) over base8: single
# subclusters, runs of them, zero subclusters, a partial subcluster, a
# write across clusters, a compressed, a zero and a full cluster.
make_xl2() {
	local i
	for i in 0 1 2 3 4; do
		rnd "x-d$i" $K
	done
	txt x-c0 $K $((7 * M))
	qemu-img create -q -f qcow2 -o extended_l2=on,cluster_size=64k \
		-b base8.qcow2 -F qcow2 xl2.qcow2 8M &&
		qio xl2.log xl2.qcow2 \
			"write -q -s x-d0 $((2048 * 3)) 2048" \
			"write -q -s x-d1 $((2 * K + 2048 * 5)) 6144" \
			"write -q -z $((4 * K + 2048 * 7)) 4096" \
			"write -q -s x-d2 $((6 * K + 2048 * 9 + 512)) 1024" \
			"write -q -s x-d3 $((8 * K - 2048)) 4096" \
			"write -q -c -s x-c0 $((12 * K)) $K" \
			"write -q -z $((14 * K)) $K" \
			"write -q -s x-d4 $((16 * K)) $K" &&
		qemu-img info xl2.qcow2 | grep -q 'extended l2: true' &&
		has_compressed xl2.qcow2
}

# 5. compat=0.10 (version 2: no zero clusters, qemu writes zeros).
make_v2() {
	rnd v2-d0 $((512 * 1024))
	rnd v2-d1 $((3000 * 512))
	txt v2-c0 $((256 * 1024)) $((2 * M))
	qemu-img create -q -f qcow2 -o compat=0.10 v2.qcow2 8M &&
		qio v2.log v2.qcow2 \
			"write -q -s v2-d0 0 512k" \
			"write -q -z 128k 128k" \
			"write -q -z 1M 128k" \
			"write -q -c -s v2-c0 2M 256k" \
			"write -q -s v2-d1 $((3 * M + 512)) $((3000 * 512))" &&
		qemu-img info v2.qcow2 | grep -q 'compat: 0.10'
}

# A 2 MiB overlay over odd.raw (1000001 bytes): one write inside the
# cluster that holds the base's end (983040-1048575).
make_ovraw() {
	rnd or-d0 1024
	qemu-img create -q -f qcow2 -b odd.raw -F raw ovraw.qcow2 2M &&
		qio ovraw.log ovraw.qcow2 "write -q -s or-d0 $((15 * K + 512)) 1024"
}

# 7. legacy qcow (4 KiB clusters; qemu-io `write -c` takes one cluster).
make_qcow1() {
	local i cmds=()
	rnd q1-d0 $((256 * 1024))
	rnd q1-d1 $((40 * 512))
	cmds=("write -q -s q1-d0 0 256k"
		"write -q -s q1-d1 $((M + 1536)) $((40 * 512))"
		"write -q -z $((64 * 1024)) $((8 * 1024))")
	for i in $(seq 0 15); do
		txt "q1-c$i" 4096 $((i * 5000))
		cmds+=("write -q -c -s q1-c$i $((512 * 1024 + i * 8192)) 4096")
	done
	qemu-img create -q -f qcow q1.qcow 8M &&
		qio q1.log q1.qcow "${cmds[@]}" && has_compressed q1.qcow
}

# 8. cluster_size=4096 (8 MiB) and 2M (32 MiB): data, holes, compressed
# and zero clusters.
make_c4k() {
	rnd c4k-d0 $((300 * 1024))
	txt c4k-c0 $((256 * 1024)) $M
	qemu-img create -q -f qcow2 -o cluster_size=4096 c4k.qcow2 8M &&
		qio c4k.log c4k.qcow2 \
			"write -q -s c4k-d0 $((4096 + 512)) $((300 * 1024 - 1024))" \
			"write -q -c -s c4k-c0 1M 256k" \
			"write -q -z $((M + 64 * 1024)) 8k" \
			"write -q -z 2M 64k" \
			"write -q -s c4k-d0 $((8 * M - 4096)) 4096" &&
		has_compressed c4k.qcow2
}

make_c2m() {
	rnd c2m-d0 $((5 * M / 2))
	txt c2m-c0 $((4 * M)) 0
	txt c2m-c1 $((2 * M)) $((4 * M))
	qemu-img create -q -f qcow2 -o cluster_size=2M c2m.qcow2 32M &&
		qio c2m.log c2m.qcow2 \
			"write -q -s c2m-d0 512 $((3 * M))" \
			"write -q -c -s c2m-c0 4M 4M" \
			"write -q -z 8M 2M" \
			"write -q -s c2m-d0 $((20 * M + 1536)) $((5 * M / 2))" \
			"write -q -c -s c2m-c1 $((30 * M)) 2M" &&
		has_compressed c2m.qcow2
}

# A 16 MiB overlay with 2 MiB clusters over base8: a compressed, a zero
# and a partially written cluster; holes over the base and past its end.
make_ov2m() {
	rnd o2-d0 4096
	txt o2-c0 $((2 * M)) $((10 * M))
	qemu-img create -q -f qcow2 -o cluster_size=2M -b base8.qcow2 -F qcow2 \
		ov2m.qcow2 16M &&
		qio ov2m.log ov2m.qcow2 \
			"write -q -c -s o2-c0 2M 2M" \
			"write -q -z 4M 2M" \
			"write -q -s o2-d0 $((6 * M + 512)) 4096" &&
		has_compressed ov2m.qcow2
}

# ------------------------------------------------------------ the cases

ublk_init
seq 1 2000000 >text

if make_q64; then
	read_case read-qcow2-64k q64.qcow2
else
	setup_fail read-qcow2-64k "building q64.qcow2"
fi

if ! qemu-img create -q -f qcow2 -o compression_type=zstd zprobe.qcow2 1M 2>/dev/null; then
	skip read-zstd "this qemu-img cannot make zstd-compressed images"
elif make_zstd; then
	read_case read-zstd zstd.qcow2 "" "16380 2051" "$((15 * 2048)) 9"
else
	setup_fail read-zstd "building zstd.qcow2"
fi

if ! make_base; then
	setup_fail base "building base8.qcow2"
elif make_ov; then
	# around and at the base's end (8 MiB = sector 16384)
	read_case read-overlay-short-base ov.qcow2 "" "16380 2051" "16383 3" \
		"$((8 * 2048 - 200)) 2051" "$((15 * 2048)) 13"
else
	setup_fail read-overlay-short-base "building ov.qcow2"
fi

if make_xl2; then
	read_case read-extended-l2 xl2.qcow2 "" "11 3" "$((2 * 128 + 9)) 7" \
		"$((6 * 128 + 36)) 3" "$((8 * 128 - 5)) 10" "$((12 * 128 - 1)) 131"
else
	setup_fail read-extended-l2 "building xl2.qcow2"
fi

if make_v2; then
	read_case read-compat-0.10 v2.qcow2 "" "$((4 * 2048 - 3)) 2051"
else
	setup_fail read-compat-0.10 "building v2.qcow2"
fi

# 6. raw, 1000001 bytes: the device is 1000448 bytes (rounded up to 512),
# the tail beyond the file reads as zeros.
rnd odd.raw 1000001
cp odd.raw odd.ref && truncate -s 1000448 odd.ref
read_case read-raw-odd-size odd.raw odd.ref "1950 4" "1953 1" "1000 954"

# 6b. a 2 MiB overlay over that raw file (qemu reads the base's last
# partial sector with zeros after its end): holes read the file's end
# short; a write in the cluster holding the end merges it.
if make_ovraw; then
	read_case read-overlay-odd-raw-base ovraw.qcow2 "" "1950 4" "1953 1" \
		"1953 95" "1900 2051"
else
	setup_fail read-overlay-odd-raw-base "building ovraw.qcow2"
fi

if make_qcow1; then
	read_case read-qcow-legacy q1.qcow "" "$((1024 + 7)) 129" "$((2048 + 1)) 43"
else
	setup_fail read-qcow-legacy "building q1.qcow"
fi

if make_c4k; then
	read_case read-cluster-4k c4k.qcow2 "" "$((2048 - 3)) 520"
else
	setup_fail read-cluster-4k "building c4k.qcow2"
fi

if make_c2m; then
	read_case read-cluster-2m c2m.qcow2 "" "$((8 * 2048 - 1)) 4099" \
		"$((20 * 2048 + 1)) 5003" "$((30 * 2048 - 3)) 4101"
else
	setup_fail read-cluster-2m "building c2m.qcow2"
fi

# Writes over the copy-on-write paths (no backing: the merge is with
# zeros, decompressed data or a zero cluster's zeros).
if [ -f q64.qcow2 ]; then
	write_case write-qcow2-64k q64.qcow2 \
		"1536 $((5 * 512))" \
		"$((M + 2 * K + 1536)) 1536" \
		"$((M + 15 * K + 100 * 512)) $((K + 7 * 512))" \
		"$((2 * M + 7 * 512)) $((300 * 512))" \
		"$((3 * M + K + 5 * 512)) $((11 * 512))" \
		"$((3 * M + 4 * K - 3 * 512)) $((K + 6 * 512))" \
		"$((4 * M - 5 * 512)) $((M + 3 * 512))" \
		"$((3 * M + K + 9 * 512)) 1024" \
		"$((66 * K + 512)) 512" \
		"$((101 * K + 3 * 512)) $((2 * K))" \
		"$((16 * M - K - 512)) 1024"
fi

# Over the overlay: holes with the base's data, zero and compressed
# clusters, across the base's end, past it.
if [ -f ov.qcow2 ]; then
	write_case write-overlay-short-base ov.qcow2 \
		"$((3 * K + 1536)) $((5 * 512))" \
		"$((10 * K + 9 * 512)) $((30 * 512))" \
		"$((20 * K + 512)) 1536" \
		"$((2 * K + 50 * 512)) 2048" \
		"$((8 * M - K - 3 * 512)) $((K + 7 * 512))" \
		"$((8 * M + 5 * K + 512)) 512" \
		"$((30 * K - 512)) $((M + 3 * 512))" \
		"$((13 * K + 3 * 512)) 1024" \
		"$((96 * K + 512)) 512"
fi

# Extended L2: allocated, unallocated (base), zero subclusters, a
# compressed and a zero cluster, across clusters.
if [ -f xl2.qcow2 ]; then
	write_case write-extended-l2 xl2.qcow2 \
		"$((2048 * 3 + 512)) 1024" \
		"$((2048 * 10 + 512)) 512" \
		"$((4 * K + 2048 * 7 + 1024)) 2048" \
		"$((12 * K + 5 * 512)) $((7 * 512))" \
		"$((14 * K + 2048 * 3 + 512)) 1536" \
		"$((20 * K - 3 * 512)) $((K + 6 * 512))" \
		"$((6 * K + 2048 * 9)) 512" \
		"$((40 * K + 2048 * 31 + 512)) $((3 * 512))"
fi

# Over the overlay of the odd-sized raw file: in the cluster that holds
# its end (before, across and after it) and in the next one.
if [ -f ovraw.qcow2 ]; then
	write_case write-overlay-odd-raw-base ovraw.qcow2 \
		"$((16 * K - 2 * 512)) 512" \
		"$((1000448 - 1024)) 2048" \
		"$((999936 + 4096)) 512" \
		"$((14 * K + 7 * 512)) $((K + 3 * 512))"
fi

if [ -f base8.qcow2 ] && make_ov2m; then
	write_case write-cluster-2m-overlay ov2m.qcow2 \
		"$((2 * M + 3 * 512)) $((5 * 512))" \
		"$((4 * M + K + 512)) $((9 * 512))" \
		"$((7 * 512)) $((13 * 512))" \
		"$((6 * M + 8192)) 512" \
		"$((8 * M - 3 * 512)) $((6 * 512))" \
		"$((10 * M + 512)) $((M + 3 * 512))" \
		"$((2 * M - 512)) 1024"
else
	setup_fail write-cluster-2m-overlay "building ov2m.qcow2"
fi
ublk_main_end
