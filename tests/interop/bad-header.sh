#!/bin/bash
# Untrusted images, part 2a: headers.  Every qcow2 header field out of
# range, unknown feature bits, broken header extensions, bad backing-file
# fields, qcow v1 headers (iotest 092's scenarios), and files truncated at
# many lengths.  Each image goes through every program (see `robust` in
# bad-lib.bash): info, info --output=json, map, check, convert -O raw,
# compare, qcow-io read, qcow-io write on a copy.
# Classes: refuse (must be refused at open: non-zero exit, a one-line error
# naming the image), open (must open), either (ours decides; then as
# refuse or open), needfile (the external data file cannot be used: info
# may show the image, as qemu-img's does, every other program refuses).
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source=tests/interop/bad-lib.bash
. "$(dirname "$0")/bad-lib.bash"

require_qemu
setup_work
SETUP_LOG=$WORK/res/setup.log

# plain.qcow2: v3, 64k clusters, 16M (reftable 0x10000, refblock 0x20000,
# L1 0x30000, L2 0x40000, data from 0x50000, EOF 0x70000); the header
# extensions (a feature-name table) start at 112 and end before 0x200.
# q1.qcow: qcow v1, 16M, 4k clusters.
build_bases() {
	mkdir -p base
	cd base || return 1
	qimg create -f qcow2 plain.qcow2 16M &&
		qio plain.qcow2 "write -P 1 0 64k" "write -P 2 1M 64k" &&
		qimg create -f qcow2 -o compat=0.10 v2.qcow2 16M &&
		qio v2.qcow2 "write -P 1 0 64k" &&
		qimg create -f qcow q1.qcow 16M &&
		qio -f qcow q1.qcow "write -P 1 0 64k" "write -P 2 1M 64k"
	local rc=$?
	cd "$WORK" || exit 1
	return $rc
}

if ! build_bases; then
	fail "hdr/setup" "qemu could not build the base images (log: $SETUP_LOG)"
	finish
fi

BF=0xe2792aca   # backing file format extension
FT=0x6803f857   # feature name table
BM=0x23852875   # bitmaps
FDE=0x0537be77  # full disk encryption header
DF=0x44415441   # external data file name

# NAME CLASS BASE ASSIGNMENT...
run_corpus hdr "$(cat <<EOF
version-4            refuse plain.qcow2 h.version=4
version-ffffffff     refuse plain.qcow2 h.version=0xffffffff
version-1            refuse plain.qcow2 h.version=1
cluster-bits-8       refuse plain.qcow2 h.cluster_bits=8
cluster-bits-22      refuse plain.qcow2 h.cluster_bits=22
cluster-bits-ffff    refuse plain.qcow2 h.cluster_bits=0xffffffff
cluster-bits-9       either plain.qcow2 h.cluster_bits=9
cluster-bits-21      either plain.qcow2 h.cluster_bits=21
size-2e63            refuse plain.qcow2 h.size=1<<63
size-l1-too-small    refuse plain.qcow2 h.size=1<<56
size-0               open   plain.qcow2 h.size=0
size-huge-l1-past    either plain.qcow2 h.size=1<<50 h.l1_size=0x200000
crypt-3              refuse plain.qcow2 h.crypt_method=3
crypt-luks-no-fde    refuse plain.qcow2 h.crypt_method=2
crypt-luks-bad-fde   refuse plain.qcow2 h.crypt_method=2 'raw@hlen=ext($FDE, be64(0x12345)+be64(0x1000))+ext(0)'
crypt-luks-fde-eof   refuse plain.qcow2 h.crypt_method=2 'raw@hlen=ext($FDE, be64(0x100000)+be64(0xffffffffffff))+ext(0)'
l1-size-0            refuse plain.qcow2 h.l1_size=0
l1-size-too-big      refuse plain.qcow2 h.l1_size=0x400001
l1-size-max-past-eof either plain.qcow2 h.l1_size=0x400000
l1-off-unaligned     refuse plain.qcow2 h.l1_table_offset=0x12345678
l1-off-0             either plain.qcow2 h.l1_table_offset=0
l1-off-huge          refuse plain.qcow2 h.l1_table_offset=0xffffffffffff0000
l1-off-wraps         refuse plain.qcow2 h.l1_table_offset=0xfffffffffffffe00 h.l1_size=0x1000
l1-off-past-eof      either plain.qcow2 h.l1_table_offset=0x10000000
l1-off-reftable      either plain.qcow2 h.l1_table_offset=rt_off
rt-off-unaligned     refuse plain.qcow2 h.refcount_table_offset=0x12345678
rt-off-0             either plain.qcow2 h.refcount_table_offset=0
rt-off-huge          refuse plain.qcow2 h.refcount_table_offset=0xffffffffffff0000
rt-off-wraps         refuse plain.qcow2 h.refcount_table_offset=0xffffffffffff0000 h.refcount_table_clusters=0x7f
rt-off-past-eof      either plain.qcow2 h.refcount_table_offset=0x10000000
rt-off-l1            either plain.qcow2 h.refcount_table_offset=l1_off
rt-clusters-0        refuse plain.qcow2 h.refcount_table_clusters=0
rt-clusters-huge     refuse plain.qcow2 h.refcount_table_clusters=0xffffff
rt-clusters-max-eof  either plain.qcow2 h.refcount_table_clusters=0x80
rt-clusters-81       refuse plain.qcow2 h.refcount_table_clusters=0x81
snap-nb-ffffffff     refuse plain.qcow2 h.nb_snapshots=0xffffffff
snap-nb-65537        refuse plain.qcow2 h.nb_snapshots=65537
snap-nb-1-off-0      either plain.qcow2 h.nb_snapshots=1
snap-off-unaligned   refuse plain.qcow2 h.nb_snapshots=1 h.snapshots_offset=0x12345678
snap-off-huge        refuse plain.qcow2 h.nb_snapshots=0x7fff h.snapshots_offset=0xffffffffffff0000
snap-off-past-eof    either plain.qcow2 h.nb_snapshots=1 h.snapshots_offset=0x10000000
snap-20000-zeros     either plain.qcow2 h.nb_snapshots=20000 h.snapshots_offset=eof eof=eof+0x100000
incompat-bit5        refuse plain.qcow2 'h.incompatible_features|=1<<5'
incompat-bit63       refuse plain.qcow2 'h.incompatible_features|=1<<63'
incompat-all         refuse plain.qcow2 h.incompatible_features=(1<<64)-1
incompat-dirty       open   plain.qcow2 'h.incompatible_features|=1'
incompat-corrupt     open   plain.qcow2 'h.incompatible_features|=2'
incompat-datafile    either plain.qcow2 'h.incompatible_features|=4'
incompat-compression refuse plain.qcow2 'h.incompatible_features|=8'
incompat-extl2       either plain.qcow2 'h.incompatible_features|=16'
autoclear-all        either plain.qcow2 h.autoclear_features=(1<<64)-1
autoclear-unknown    open   plain.qcow2 h.autoclear_features=1<<40
compat-all           either plain.qcow2 h.compatible_features=(1<<64)-1
refcount-order-7     refuse plain.qcow2 h.refcount_order=7
refcount-order-0     open   plain.qcow2 h.refcount_order=0
refcount-order-6     open   plain.qcow2 h.refcount_order=6
hlen-0               refuse plain.qcow2 h.header_length=0
hlen-103             refuse plain.qcow2 h.header_length=103
hlen-105             either plain.qcow2 h.header_length=105
hlen-4096            either plain.qcow2 h.header_length=4096
hlen-cluster         either plain.qcow2 h.header_length=cs
hlen-cluster-plus-1  refuse plain.qcow2 h.header_length=cs+1
hlen-ffffffff        refuse plain.qcow2 h.header_length=0xffffffff
compression-1-no-bit refuse plain.qcow2 h.compression_type=1
compression-2        refuse plain.qcow2 h.compression_type=2 'h.incompatible_features|=8'
v2-ext-garbage       refuse v2.qcow2   u64@72=(1<<64)-1 u32@100=0xffffffff
backing-off-past-eof either plain.qcow2 h.backing_file_offset=0x10000000 h.backing_file_size=10
backing-size-1024    refuse plain.qcow2 h.backing_file_offset=0x800 h.backing_file_size=1024
backing-size-ffff    refuse plain.qcow2 h.backing_file_offset=0x800 h.backing_file_size=0xffffffff
backing-crosses-cl   either plain.qcow2 h.backing_file_offset=cs-16 h.backing_file_size=100
backing-off-header   either plain.qcow2 h.backing_file_offset=8 h.backing_file_size=16
backing-off-huge     refuse plain.qcow2 h.backing_file_offset=0xfffffffffffffff0 h.backing_file_size=100
ext-len-huge         refuse plain.qcow2 'raw@hlen=ext(0x12345678, b"", 0xffffffff)'
ext-len-cluster      refuse plain.qcow2 'raw@hlen=ext(0x12345678, b"", cs)'
ext-len-to-end       either plain.qcow2 'raw@hlen=ext(0x12345678, b"", cs-hlen-8)'
ext-no-end           either plain.qcow2 'raw@hlen=b"\x12\x34\x56\x78\x00\x00\x00\x00"*((cs-hlen)//8)'
ext-garbage          refuse plain.qcow2 'raw@hlen=b"\xff"*(cs-hlen)'
ext-unknown          open   plain.qcow2 'raw@hlen=ext(0x12345678, b"hello")+ext(0)'
ext-many             open   plain.qcow2 'raw@hlen=ext(0x1234, b"")*4000+ext(0)'
ext-bf-long          refuse plain.qcow2 'raw@hlen=ext($BF, b"q"*2000)+ext(0)'
ext-bf-ctrl          either plain.qcow2 'raw@hlen=ext($BF, b"q\ncow\x1b[2J")+ext(0)'
ext-ft-odd-len       either plain.qcow2 'raw@hlen=ext($FT, b"\x00\x05x", 47)+ext(0)'
ext-bm-short         either plain.qcow2 h.autoclear_features=1 'raw@hlen=ext($BM, bytes(8))+ext(0)'
ext-bm-bad-dir       either plain.qcow2 h.autoclear_features=1 'raw@hlen=ext($BM, be32(1)+be32(0)+be64(0x1000000)+be64(0x12345))+ext(0)'
ext-bm-dir-eof       either plain.qcow2 h.autoclear_features=1 'raw@hlen=ext($BM, be32(65535)+be32(0)+be64(0x10000)+be64(0x10000000))+ext(0)'
ext-df-missing       needfile plain.qcow2 'h.incompatible_features|=4' 'raw@hlen=ext($DF, b"no-such-file.raw")+ext(0)'
ext-df-ctrl          needfile plain.qcow2 'h.incompatible_features|=4' 'raw@hlen=ext($DF, b"bad\nname\x1b[0m")+ext(0)'
ext-df-empty         needfile plain.qcow2 'h.incompatible_features|=4' 'raw@hlen=ext($DF, b"")+ext(0)'
ext-df-huge          needfile plain.qcow2 'h.incompatible_features|=4' 'raw@hlen=ext($DF, b"x"*5000)+ext(0)'
ext-df-no-bit        open   plain.qcow2 'raw@hlen=ext($DF, b"no-such-file.raw")+ext(0)'
q1-cluster-bits-8    refuse q1.qcow    q1.cluster_bits=8
q1-cluster-bits-17   refuse q1.qcow    q1.cluster_bits=17
q1-l2-bits-5         refuse q1.qcow    q1.l2_bits=5
q1-l2-bits-14        refuse q1.qcow    q1.l2_bits=14
q1-size-huge         refuse q1.qcow    q1.size=1<<62
q1-size-l1-past-eof  either q1.qcow    q1.size=1<<45
q1-crypt-2           refuse q1.qcow    q1.crypt_method=2
q1-crypt-1           open   q1.qcow    q1.crypt_method=1
q1-l1-past-eof       either q1.qcow    q1.l1_table_offset=0x10000000
q1-l1-unaligned      either q1.qcow    q1.l1_table_offset=E+3
q1-l1-wraps          refuse q1.qcow    q1.l1_table_offset=0xfffffffffffffff0
q1-backing-size-huge refuse q1.qcow    q1.backing_file_offset=48 q1.backing_file_size=0xffffffff
q1-backing-past-eof  either q1.qcow    q1.backing_file_offset=0x10000000 q1.backing_file_size=8
q1-version-2         refuse q1.qcow    q1.version=2
q1-cluster-bits-ff   refuse q1.qcow    q1.cluster_bits=0xff
q1-cluster-bits-1f   refuse q1.qcow    q1.cluster_bits=0x1f
q1-l2-bits-ff        refuse q1.qcow    q1.l2_bits=0xff
q1-l2-bits-1b        refuse q1.qcow    q1.l2_bits=0x1b
q1-size-eeee         refuse q1.qcow    q1.size=0xeeeeeeeeeeeeeeee
q1-size-7fff         refuse q1.qcow    q1.size=0x7fffffffffffffff
q1-backing-size-7fff refuse q1.qcow    q1.backing_file_offset=0xff q1.backing_file_size=0x7fffffff
EOF
)"

# Truncated files: the header, every table, the data.
trunc_table() {
	local n
	for n in 0 1 4 20 48 72 104 112 500 65544 131080 196612 262152 \
		360448 393215; do
		printf 'trunc-%s either plain.qcow2 eof=%s\n' "$n" "$n"
	done
	for n in 4 48 512 8192; do
		printf 'q1-trunc-%s either q1.qcow eof=%s\n' "$n" "$n"
	done
}
run_corpus hdr "$(trunc_table)"
finish
