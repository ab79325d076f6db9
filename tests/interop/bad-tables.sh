#!/bin/bash
# Untrusted images, part 2b: damaged tables and data in images whose
# header is sound.  L1/L2 entries unaligned, past EOF, far beyond it,
# overlapping metadata, with reserved bits; refcount tables and blocks
# unaligned, missing, overlapping, all-zero, all-ones; bad compressed
# streams and descriptors; extended-L2 bitmaps; snapshot tables; the
# dirty and corrupt bits; qcow v1 tables.  Every program runs on every
# image (`robust` in bad-lib.bash); where the damage is in data a read of
# the damaged region must fail and a read of a healthy region must work
# (read-bad-OFF, read-good-OFF), and a write to an image with the corrupt
# bit must fail (write-refused).
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source=tests/interop/bad-lib.bash
. "$(dirname "$0")/bad-lib.bash"

require_qemu
setup_work
SETUP_LOG=$WORK/res/setup.log

# big.qcow2: 1G, 64k clusters: pattern 1 at 0 (guest cluster 0), a
#   compressed cluster at 1M (guest cluster 16), pattern 3 at 2M, pattern
#   5 at 512M (under L1 entry 1).
# ext.qcow2: the same with extended L2 entries: pattern 1 at 0+4k,
#   pattern 2 at 1M+64k, a compressed cluster at 4M, pattern 5 at 512M.
# snap.qcow2: 16M, snapshot s1 taken after pattern 1 at 0 and 2 at 1M,
#   then pattern 3 at 1M and 4 at 8M.
# v2.qcow2: compat 0.10, pattern 1 at 0, 2 at 1M.
# q1.qcow: qcow v1 (4k clusters, 2M per L2 table), pattern 1 at 0+64k,
#   3 at 8M+4k.  q1c.qcow: qcow v1, 2M, two compressed clusters: the
#   compressible data at 0+4k, pattern 2 at 1M+4k.
build_bases() {
	mkdir -p base
	cd base || return 1
	mkdata comp.data 65536 5 compressible &&
		qimg create -f qcow2 big.qcow2 1G &&
		qio big.qcow2 "write -P 1 0 64k" "write -c -s comp.data 1M 64k" \
			"write -P 3 2M 64k" "write -P 5 512M 64k" &&
		qimg create -f qcow2 -o extended_l2=on ext.qcow2 1G &&
		qio ext.qcow2 "write -P 1 0 4k" "write -P 2 1M 64k" \
			"write -c -s comp.data 4M 64k" "write -P 5 512M 64k" &&
		qimg create -f qcow2 snap.qcow2 16M &&
		qio snap.qcow2 "write -P 1 0 64k" "write -P 2 1M 64k" &&
		qimg snapshot -c s1 snap.qcow2 &&
		qio snap.qcow2 "write -P 3 1M 64k" "write -P 4 8M 64k" &&
		qimg create -f qcow2 -o compat=0.10 v2.qcow2 16M &&
		qio v2.qcow2 "write -P 1 0 64k" "write -P 2 1M 64k" &&
		qimg create -f qcow q1.qcow 16M &&
		qio -f qcow q1.qcow "write -P 1 0 64k" "write -P 3 8M 4k" &&
		qimg create -f qcow q1c.qcow 2M &&
		qio -f qcow q1c.qcow "write -c -s comp.data 0 4k" "write -c -P 2 1M 4k"
	local rc=$?
	rm -f comp.data
	cd "$WORK" || exit 1
	return $rc
}

if ! build_bases; then
	fail "tables/setup" "qemu could not build the base images (log: $SETUP_LOG)"
	finish
fi

CM='((1<<54)-1)'          # offset bits of a compressed descriptor, 64k clusters
Q1M='((1<<(63-cb))-1)'    # the same for qcow v1

# NAME CLASS BASE ASSIGNMENT...
TABLE=$(cat <<EOF
l1e-l2-past-eof     open   big.qcow2  'l1[0]=COPIED|0x10000000'
l1e-l2-unaligned    open   big.qcow2  'l1[0]+=0x200'
l1e-l2-far          open   big.qcow2  'l1[0]=COPIED|(1<<55)'
l1e-l2-reftable     open   big.qcow2  'l1[0]=COPIED|rt_off'
l1e-l2-refblock     open   big.qcow2  'l1[0]=COPIED|rb(0)'
l1e-l2-l1           open   big.qcow2  'l1[0]=COPIED|l1_off'
l1e-l2-data         open   big.qcow2  'l1[0]=COPIED|data(0)'
l1e-reserved        open   big.qcow2  'l1[0]|=0x100'
l1e-shared-l2       open   big.qcow2  'l1[1]=l1(0)'
l2-all-ones         open   big.qcow2  'raw@l2off(0)=b"\xff"*cs'
l2e-unaligned       open   big.qcow2  'l2[0][0]+=0x200'
l2e-past-eof        open   big.qcow2  'l2[0][0]=COPIED|0x10000000'
l2e-far             open   big.qcow2  'l2[0][0]=COPIED|(1<<55)'
l2e-reftable        open   big.qcow2  'l2[0][0]=COPIED|rt_off'
l2e-refblock        open   big.qcow2  'l2[0][0]=COPIED|rb(0)'
l2e-l1              open   big.qcow2  'l2[0][0]=COPIED|l1_off'
l2e-own-l2          open   big.qcow2  'l2[0][0]=COPIED|l2off(0)'
l2e-reserved        open   big.qcow2  'l2[0][0]|=0x100'
l2e-zero-unaligned  open   big.qcow2  'l2[0][0]=ZERO|COPIED|(data(0)+0x200)'
l2e-all-ones        open   big.qcow2  'l2[0][0]=(1<<64)-1'
comp-garbage        open   big.qcow2  'raw@(l2(0,16)&$CM)=b"\xff"*256'
comp-zeros          open   big.qcow2  'raw@(l2(0,16)&$CM)=bytes(512)'
comp-short          open   big.qcow2  'l2[0][16]&=~(0xff<<54)'
comp-huge-count     open   big.qcow2  'l2[0][16]|=0xff<<54'
comp-past-eof       open   big.qcow2  'l2[0][16]=(E&~$CM)|0x10000000'
comp-far            open   big.qcow2  'l2[0][16]=(E&~$CM)|$CM-0x1000'
comp-header         open   big.qcow2  'l2[0][16]=(E&~$CM)|0x10'
comp-copied         open   big.qcow2  'l2[0][16]|=COPIED'
comp-zero-flag      open   big.qcow2  'l2[0][16]|=ZERO'
ext-alloc-and-zero  open   ext.qcow2  'l2bm[0][0]|=1<<32'
ext-unalloc-alloc   open   ext.qcow2  'l2bm[0][5]=0xffffffff'
ext-comp-bitmap     open   ext.qcow2  'l2bm[0][64]=1'
ext-all-ones        open   ext.qcow2  'l2bm[0][0]=(1<<64)-1'
ext-unaligned       open   ext.qcow2  'l2[0][0]+=0x200'
rt0-unaligned       open   big.qcow2  'rt[0]+=0x2a00'
rt0-zero            open   big.qcow2  'rt[0]=0'
rt0-past-eof        open   big.qcow2  'rt[0]=0x10000000'
rt0-l2              open   big.qcow2  'rt[0]=l2off(0)'
rt0-l1              open   big.qcow2  'rt[0]=l1_off'
rt-all-ones         open   big.qcow2  'raw@rt_off=b"\xff"*cs'
rb-all-ones         open   big.qcow2  'raw@rb(0)=b"\xff"*cs'
rb-zero             open   big.qcow2  'raw@rb(0)=bytes(cs)'
rc-l2-zero          open   big.qcow2  'rc[l2off(0)//cs]=0'
rc-l1-zero          open   big.qcow2  'rc[l1_off//cs]=0'
rc-header-zero      open   big.qcow2  'rc[0]=0'
rc-data-zero        open   big.qcow2  'rc[data(32)//cs]=0'
snap-l1-unaligned   either snap.qcow2 'snap[0].l1_table_offset+=0x200'
snap-l1-huge        either snap.qcow2 'snap[0].l1_size=0xffffffff'
snap-l1-past-eof    either snap.qcow2 'snap[0].l1_table_offset=0x10000000'
snap-id-huge        either snap.qcow2 'snap[0].id_size=0xffff'
snap-name-huge      either snap.qcow2 'snap[0].name_size=0xffff'
snap-extra-huge     either snap.qcow2 'snap[0].extra_size=0xffffffff'
snap-extra-2000     either snap.qcow2 'snap[0].extra_size=2000'
snap-nb-2           either snap.qcow2 'h.nb_snapshots=2'
snap-l2-past-eof    open   snap.qcow2 'sl1[0][0]=0x1000000'
snap-l2e-active     open   snap.qcow2 'u64@(sl1(0,0)&MASK)=COPIED|l2off(0)'
v2-zero-flag        open   v2.qcow2   'l2[0][0]|=ZERO'
corrupt-bit         open   big.qcow2  'h.incompatible_features|=2'
dirty-l1e-unaligned open   big.qcow2  'h.incompatible_features|=1' 'l1[0]+=0x200'
dirty-rb-zero       open   big.qcow2  'h.incompatible_features|=1' 'raw@rb(0)=bytes(cs)'
dirty-l2e-reftable  open   big.qcow2  'h.incompatible_features|=1' 'l2[0][0]=COPIED|rt_off'
q1-comp-garbage     open   q1c.qcow   'raw@(q1l2(0,0)&$Q1M)=b"\xff"*64'
q1-comp-past-eof    open   q1c.qcow   'q1l2[0][0]=(E&~$Q1M)|0x10000000'
q1-comp-size-huge   open   q1c.qcow   'q1l2[0][0]|=~$Q1M&~(1<<63)'
q1-l2-past-eof      open   q1.qcow    'q1l1[0]=0x10000000'
q1-l2-header        open   q1.qcow    'q1l1[0]=8'
q1-l2e-past-eof     open   q1.qcow    'q1l2[0][0]=0x10000000'
q1-l2e-far          open   q1.qcow    'q1l2[0][0]=(1<<62)'
q1-l2e-unaligned    open   q1.qcow    'q1l2[0][0]+=3'
EOF
)

# NAME good|bad PATTERN|- OFF LEN
READS=$(cat <<'EOF'
l1e-l2-past-eof     good 0x05 512M 64k
l1e-l2-unaligned    bad  -    0    64k
l1e-l2-unaligned    good 0x05 512M 64k
l1e-l2-far          good 0x05 512M 64k
l1e-l2-reftable     good 0x05 512M 64k
l1e-l2-l1           good 0x05 512M 64k
l2-all-ones         good 0x05 512M 64k
l2e-unaligned       bad  -    0    64k
l2e-unaligned       good 0x03 2M   64k
l2e-past-eof        good 0x03 2M   64k
l2e-far             good 0x03 2M   64k
l2e-reftable        good 0x03 2M   64k
comp-garbage        bad  -    1M   64k
comp-garbage        good 0x03 2M   64k
comp-garbage        good 0x01 0    64k
comp-zeros          bad  -    1M   64k
comp-zeros          good 0x03 2M   64k
comp-short          bad  -    1M   64k
comp-short          good 0x03 2M   64k
comp-past-eof       bad  -    1M   64k
comp-past-eof       good 0x03 2M   64k
comp-far            bad  -    1M   64k
comp-header         bad  -    1M   64k
comp-header         good 0x03 2M   64k
ext-alloc-and-zero  good 0x02 1M   64k
ext-unalloc-alloc   good 0x02 1M   64k
ext-comp-bitmap     good 0x02 1M   64k
rt0-unaligned       good 0x01 0    64k
rt0-zero            good 0x01 0    64k
rb-zero             good 0x01 0    64k
rc-l2-zero          good 0x01 0    64k
snap-l2-past-eof    good 0x04 8M   64k
snap-l2e-active     good 0x04 8M   64k
v2-zero-flag        good 0x02 1M   64k
corrupt-bit         good 0x01 0    64k
q1-comp-garbage     bad  -    0    4k
q1-comp-garbage     good 0x02 1M   4k
q1-comp-past-eof    bad  -    0    4k
q1-comp-past-eof    good 0x02 1M   4k
q1-l2-past-eof      good 0x03 8M   4k
q1-l2e-past-eof     good 0x03 8M   4k
q1-l2e-far          good 0x03 8M   4k
EOF
)

run_corpus tables "$TABLE" "$READS"

# An image with the corrupt bit opens read-only only: a write must fail
# and leave the file as it was (qemu-io: "Image is corrupt; cannot be
# opened read/write").
corrupt_write() {
	local name=tables/corrupt-bit/write-refused f rc st
	f=$(case_file "$name")
	mkdir -p cw
	cp base/big.qcow2 cw/corrupt.qcow2
	poke cw/corrupt.qcow2 'h.incompatible_features|=2'
	st=$(dir_state cw)
	(cd cw && trun "$f" "$QCOW_IO" -c "write -P 9 0 4k" corrupt.qcow2)
	rc=$?
	broke "$name" "$f" $rc && return
	if [ $rc -eq 0 ] || grep -q '^wrote ' "$f"; then
		fail "$name" "a write to an image marked corrupt succeeded (exit $rc)"
	elif [ "$(dir_state cw)" != "$st" ]; then
		fail "$name" "the refused write changed the image"
	elif [ ! -s "$f.err" ] && [ ! -s "$f" ]; then
		fail "$name" "exit $rc without an error message"
	else
		pass "$name"
	fi
	rm -rf cw
}
corrupt_write
finish
