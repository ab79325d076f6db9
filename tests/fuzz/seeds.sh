#!/bin/bash
# Seed corpus for the fuzz targets (tests/README.md, "Fuzzing").
#
#   tests/fuzz/seeds.sh [OUTDIR]        default build-fuzz/seeds
#
# Writes small valid images of every feature the engine reads, made with
# qemu-img and qemu-io when they are installed, into OUTDIR/all/ (every
# image), OUTDIR/qcow1/ (legacy qcow only) and OUTDIR/write/ (the qcow2,
# qcow and raw images with a trailer of write operations for fuzz_write).
# Backing and data files are named as the fuzz targets' scratch directory
# provides them: base.raw, base.qcow2 (a qcow2 whose backing is base.raw)
# and data.raw.  Without qemu-img, a few images are built by hand.
# Every seed stays within 1 MiB (a larger image loses its trailing zeros
# when it still checks, else is cut at 1 MiB).

set -u
cd "$(dirname "$0")/../.." || exit 2
OUT=${1:-build-fuzz/seeds}
QEMU_IMG=${QEMU_IMG:-qemu-img}
QEMU_IO=${QEMU_IO:-qemu-io}
MAX=$((1024 * 1024))
ulimit -c 0 2>/dev/null	# qemu-io's "abort" must not leave cores

rm -rf "$OUT"
mkdir -p "$OUT/all" "$OUT/qcow1" "$OUT/write" || exit 2
WORK=$(mktemp -d "${TMPDIR:-/tmp}/qcow-seeds.XXXXXX") || exit 2
trap 'rm -rf "$WORK"' EXIT
NSEEDS=0

# the scratch files the targets provide, for qemu to open while building
qemu_base() {
	"$QEMU_IMG" create -q -f raw "$WORK/base.raw" 1M &&
		"$QEMU_IO" -f raw -c 'write -P 0x11 0 256k' "$WORK/base.raw" &&
		"$QEMU_IMG" create -q -f qcow2 -b base.raw -F raw \
			"$WORK/base.qcow2" 4M &&
		"$QEMU_IO" -f qcow2 -c 'write -P 0x22 0 64k' \
			"$WORK/base.qcow2" &&
		"$QEMU_IMG" create -q -f raw "$WORK/data.raw" 1M
} >/dev/null

# qio FMT FILE CMD...: qemu-io commands on an image, quietly
qio() {
	local fmt=$1 file=$2 args=() c
	shift 2
	for c in "$@"; do args+=(-c "$c"); done
	"$QEMU_IO" -f "$fmt" "${args[@]}" "$file" >/dev/null 2>&1
}

# the usual writes: data, a zero range, a discard, an odd tail
workload() {
	qio "$1" "$2" 'write -P 0xaa 0 64k' 'write -P 0x55 100k 3k' \
		'write -z 192k 64k' 'write -P 0x33 1M 4k' 'discard 1M 4k' \
		'write -P 0x77 2M 512'
}

# Last byte that is not zero, rounded up to 512.
data_end() {
	python3 - "$1" <<'EOF' 2>/dev/null || stat -c %s "$1"
import sys
d = open(sys.argv[1], 'rb').read()
end = len(d.rstrip(b'\0'))
print((end + 511) // 512 * 512)
EOF
}

# add NAME FILE FMT: keep an image as a seed; one above 1 MiB loses its
# trailing zeros if it still checks, else is cut at 1 MiB
add() {
	local name=$1 file=$2 fmt=$3 size end
	[ -f "$file" ] || return 0
	size=$(stat -c %s "$file")
	if [ "$size" -gt "$MAX" ]; then
		end=$(data_end "$file")
		cp "$file" "$WORK/cut" && truncate -s "$end" "$WORK/cut"
		if [ "$end" -le "$MAX" ] && (cd "$WORK" &&
			"$QEMU_IMG" check -f "$fmt" cut) >/dev/null 2>&1; then
			:
		else
			truncate -s "$MAX" "$WORK/cut"
		fi
		file=$WORK/cut
	fi
	cp "$file" "$OUT/all/$name" || return 1
	[ "$fmt" = qcow ] && cp "$file" "$OUT/qcow1/$name"
	NSEEDS=$((NSEEDS + 1))
	return 0
}

# q2 NAME SIZE OPTIONS [qemu-io commands...]: a qcow2 seed
q2() {
	local name=$1 size=$2 opts=$3 f
	shift 3
	f=$WORK/$name
	rm -f "$f"
	if ! (cd "$WORK" && "$QEMU_IMG" create -q -u -f qcow2 -o "$opts" \
		"$name" "$size") >/dev/null 2>&1; then
		echo "  seeds: skipped $name (qemu-img create -o $opts failed)"
		return 0
	fi
	# (stderr: the shell's notice of qemu-io's "abort")
	if [ $# -gt 0 ]; then
		(cd "$WORK" && qio qcow2 "$name" "$@") 2>/dev/null
	else
		(cd "$WORK" && workload qcow2 "$name") 2>/dev/null
	fi
	add "$name.qcow2" "$f" qcow2
}

qemu_seeds() {
	local cs rb f
	qemu_base || return 1

	q2 v2 4M compat=0.10
	q2 v3 4M compat=1.1
	q2 v3-empty 1M compat=1.1 'read 0 512'
	for cs in 512 1k 2k 4k 8k 16k 32k 64k; do
		q2 "cs-$cs" 4M "cluster_size=$cs"
	done
	q2 cs-512-big 64M cluster_size=512 'write -P 0x44 0 4k' \
		'write -P 0x45 40M 8k' 'write -z 50M 1M'
	q2 big-1T 1T cluster_size=64k 'write -P 0x46 0 4k' \
		'write -P 0x47 900G 64k'
	for rb in 1 2 4 8 16 32 64; do
		q2 "refbits-$rb" 4M "refcount_bits=$rb,cluster_size=4k"
	done
	q2 extl2-32k 4M extended_l2=on,cluster_size=32k \
		'write -P 0xaa 0 1k' 'write -P 0xbb 33k 2k' 'write -z 40k 1k' \
		'discard 64k 32k' 'write -P 0xcc 128k 32k'
	q2 extl2-64k 4M extended_l2=on,cluster_size=64k
	q2 extl2-16k-v 4M extended_l2=on,cluster_size=16k \
		'write -P 0x12 512 512' 'write -z 8k 4k'
	q2 lazy 4M lazy_refcounts=on
	q2 dirty-lazy 4M lazy_refcounts=on 'write -P 0x99 0 128k' \
		'write -P 0x98 1M 64k' abort
	q2 prealloc-meta 512k preallocation=metadata,cluster_size=4k \
		'write -P 0x66 8k 4k'
	q2 backing-qcow2 4M backing_file=base.qcow2,backing_fmt=qcow2 \
		'write -P 0x31 4k 4k' 'write -z 64k 64k'
	q2 backing-raw 2M backing_file=base.raw,backing_fmt=raw,cluster_size=4k \
		'write -P 0x32 0 2k' 'write -P 0x34 300k 8k'
	q2 backing-chain-self 1M backing_file=img,backing_fmt=qcow2 \
		'read 0 512'
	q2 datafile 4M data_file=data.raw 'write -P 0x41 0 64k' \
		'write -z 128k 64k'
	q2 datafile-raw 4M data_file=data.raw,data_file_raw=on \
		'write -P 0x42 0 64k'
	q2 zstd 4M compression_type=zstd 'write -c -P 0x51 0 64k' \
		'write -c -P 0x52 128k 64k' 'write -P 0x53 256k 4k'
	q2 zlib 4M compression_type=zlib 'write -c -P 0x61 0 64k' \
		'write -c -P 0x62 64k 64k'
	q2 zlib-4k 1M compression_type=zlib,cluster_size=4k \
		'write -c -P 0x63 0 4k' 'write -c -P 0x64 12k 4k'
	q2 zstd-extl2 4M compression_type=zstd,extended_l2=on,cluster_size=32k \
		'write -c -P 0x65 0 32k' 'write -P 0x66 32k 1k'

	# internal snapshots
	q2 snapshots 4M cluster_size=4k 'write -P 0x71 0 16k'
	if [ -f "$WORK/snapshots" ]; then
		f=$WORK/snap
		cp "$WORK/snapshots" "$f"
		"$QEMU_IMG" snapshot -c s1 "$f" >/dev/null 2>&1
		qio qcow2 "$f" 'write -P 0x72 4k 4k' 'write -P 0x73 1M 8k'
		"$QEMU_IMG" snapshot -c second-snapshot "$f" >/dev/null 2>&1
		qio qcow2 "$f" 'discard 0 4k'
		add snapshots.qcow2 "$f" qcow2
	fi

	# persistent dirty bitmaps (the autoclear bit and the extension)
	q2 bitmaps 4M cluster_size=4k 'write -P 0x81 0 8k'
	if [ -f "$WORK/bitmaps" ]; then
		"$QEMU_IMG" bitmap --add "$WORK/bitmaps" b0 >/dev/null 2>&1 &&
			"$QEMU_IMG" bitmap --add -g 64k "$WORK/bitmaps" b1 \
				>/dev/null 2>&1 &&
			add bitmaps.qcow2 "$WORK/bitmaps" qcow2
	fi

	# encrypted images: the engine refuses them, the header is parsed
	if tests/helpers/pbkdf-retry "$QEMU_IMG" create -q \
		-f qcow2 --object secret,id=s0,data=x \
		-o encrypt.format=luks,encrypt.key-secret=s0,encrypt.iter-time=10,cluster_size=4k \
		"$WORK/luks" 1M >/dev/null 2>&1; then
		add luks.qcow2 "$WORK/luks" qcow2
	fi

	# legacy qcow
	f=$WORK/q1
	for cs in plain backing compressed; do
		rm -f "$f"
		if [ $cs = backing ]; then
			(cd "$WORK" && "$QEMU_IMG" create -q -f qcow -b base.raw \
				-F raw q1 2M) >/dev/null 2>&1 || continue
			(cd "$WORK" && qio qcow q1 'write -P 0x91 4k 4k')
		else
			"$QEMU_IMG" create -q -f qcow "$f" 4M >/dev/null 2>&1 ||
				continue
			if [ $cs = plain ]; then
				(cd "$WORK" && workload qcow q1)
			else
				qio qcow "$f" 'write -c -P 0x92 0 4k' \
					'write -c -P 0x93 8k 4k' \
					'write -P 0x94 64k 4k'
			fi
		fi
		add "qcow1-$cs.qcow" "$f" qcow
	done
	"$QEMU_IMG" convert -O qcow "$WORK/base.qcow2" "$f" >/dev/null 2>&1 &&
		add qcow1-converted.qcow "$f" qcow
	# encrypted with AES, the passphrase fuzz_qcow1 gives
	rm -f "$f"
	if "$QEMU_IMG" create -q -f qcow --object \
		secret,id=s0,data=fuzz-passphrase \
		-o encrypt.format=aes,encrypt.key-secret=s0 "$f" 1M \
		>/dev/null 2>&1 &&
	   "$QEMU_IO" --object secret,id=s0,data=fuzz-passphrase \
		--image-opts -c 'write -P 0x95 0 4k' \
		-c 'write -P 0x96 10000 3000' -c 'write -c -P 0x97 64k 4k' \
		"driver=qcow,file.filename=$f,encrypt.key-secret=s0" \
		>/dev/null 2>&1; then
		add qcow1-aes.qcow "$f" qcow
	fi

	# raw
	"$QEMU_IMG" create -q -f raw "$WORK/raw" 256k >/dev/null 2>&1 &&
		qio raw "$WORK/raw" 'write -P 0xe1 0 4k' 'write -P 0xe2 128k 1k' &&
		add raw.raw "$WORK/raw" raw
	return 0
}

# ---- without qemu-img: a few images built by hand ----

# bytes HEX...: print the bytes
bytes() {
	local h
	for h in "$@"; do printf "\\x$h"; done
}
be32() { bytes $(printf '%08x' "$1" | sed 's/../& /g'); }
be64() { bytes $(printf '%016x' "$1" | sed 's/../& /g'); }

# put FILE OFFSET: stdin at OFFSET of FILE
put() { dd of="$1" bs=1 seek="$2" conv=notrunc status=none; }

hand_seeds() {
	local f=$WORK/hand.qcow2
	# qcow2 v3, 512-byte clusters, 1 MiB: header, L1 @512, reftable
	# @1024, refblock @1536, L2 @2048, data @2560
	: >"$f"
	{
		be32 $((0x514649fb)); be32 3; be64 0; be32 0; be32 9
		be64 $((1 << 20)); be32 0; be32 32; be64 512
		be64 1024; be32 1; be32 0; be64 0
		be64 0; be64 0; be64 0; be32 4; be32 104
	} | put "$f" 0
	{ be64 $(((1 << 63) | 2048)); } | put "$f" 512
	{ be64 1536; } | put "$f" 1024
	{ for _ in 1 2 3 4 5 6; do bytes 00 01; done; } | put "$f" 1536
	{ be64 $(((1 << 63) | 2560)); } | put "$f" 2048
	head -c 512 /dev/zero | tr '\0' '\253' | put "$f" 2560
	add hand-v3.qcow2 "$f" qcow2

	# legacy qcow, 512-byte clusters, 64-entry L2: L1 @512, L2 @1024,
	# data @1536
	f=$WORK/hand.qcow
	: >"$f"
	{
		be32 $((0x514649fb)); be32 1; be64 0; be32 0; be32 0
		be64 $((1 << 20)); bytes 09 06 00 00; be32 0; be64 512
	} | put "$f" 0
	{ be64 1024; } | put "$f" 512
	{ be64 1536; } | put "$f" 1024
	head -c 512 /dev/zero | tr '\0' '\315' | put "$f" 1536
	add hand.qcow "$f" qcow

	f=$WORK/hand.raw
	head -c 4096 /dev/zero | tr '\0' '\357' >"$f"
	add hand.raw "$f" raw
}

# ---- the write seeds: image + operations trailer (fuzz_write.c) ----

write_trailer() {
	# kind|shift<<3, seed, 6-byte offset, 4-byte length
	bytes 00 11 00 00 00 00 10 00 00 00 20 00	# write 8k @4k
	bytes 01 02 00 00 00 01 00 00 00 01 00 00	# zeroes 64k @64k
	bytes 07 03 00 00 00 00 02 01 00 00 01 23	# small write
	bytes 03 04 00 00 00 00 00 00 00 00 80 00	# discard 32k @0
	bytes 05 05 00 00 00 02 00 00 00 00 00 00	# compressed @128k
	bytes 02 06 00 00 00 03 00 00 00 00 40 00	# zeroes+unmap
	bytes 00 07 00 00 00 00 00 00 00 00 00 01	# 1-byte write @0
	bytes 04 00 00 00 00 00 00 00 00 00 00 00	# flush
	# a batch (seed bit 7): concurrent requests, one with FUA
	bytes 00 81 00 00 00 01 00 00 00 01 00 00	# write 64k @64k
	bytes 00 c2 00 00 00 01 20 00 00 00 20 00	# write 8k @72k
	bytes 01 84 00 00 00 04 00 00 00 00 10 00	# zeroes 4k @256k
	bytes 07 86 00 00 00 05 00 10 00 00 02 00	# small write
	bytes 04 00 00 00 00 00 00 00 00 00 00 00	# flush, ends it
	bytes 06 08 00 00 00 00 00 00 00 10 00 00	# grow by 1M
	bytes 0e
	printf QFZW
}

if command -v "$QEMU_IMG" >/dev/null 2>&1 &&
	command -v "$QEMU_IO" >/dev/null 2>&1; then
	qemu_seeds || echo "  seeds: qemu-img failed; hand-built seeds only"
fi
[ "$NSEEDS" -gt 0 ] || hand_seeds
for f in "$OUT"/all/*; do
	case $f in
	*.qcow2 | *.raw | *.qcow)
		{ cat "$f"; write_trailer; } >"$OUT/write/$(basename "$f")" ;;
	esac
done
# without qemu-img there may be no legacy seed from qemu: keep one anyway
[ -n "$(ls "$OUT/qcow1")" ] || cp "$OUT"/all/*.qcow "$OUT/qcow1/" 2>/dev/null
echo "seeds: $NSEEDS images in $OUT ($(du -sh "$OUT" | cut -f1))"
