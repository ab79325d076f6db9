#!/bin/bash
# Untrusted images, part 1: `check` agreement on damaged images.
#
# The scenarios of QEMU's iotests 060, 080, 138 and 026/108-style refcount
# damage, rebuilt here: images made by qemu-img/qemu-io, then bytes poked
# with qpoke.py.  Per case NAME:
#   check/NAME          `check --output=json`: same exit status and the
#                       same JSON (corruptions, leaks, check-errors,
#                       image-end-offset, allocated/fragmented/compressed/
#                       total clusters) as qemu-img; where qemu-img refuses
#                       to open the image ours must refuse too (one line
#                       naming the image): agreement on refusal;
#   check/NAME/r-leaks  `check -r leaks` and `-r all` on copies: where
#   check/NAME/r-all    qemu-img's own repair ends clean (qemu-img check
#                       exit 0), ours must too, with qemu-img's exit status
#                       and guest content; elsewhere ours must not leave
#                       more corruptions than there were (or than qemu-img
#                       leaves) nor exit 0 on an image that is not clean.
#   check/NAME/io-write `qcow-io -c 'write 0 4k'` and, where qemu-img opens
#   check/NAME/io-write-alloc  the image, `write 4M 64k` on a copy
#                       (r_write in bad-lib.bash): refused as qemu-img
#                       refuses, else no worse than qemu-io's own write.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source=tests/interop/bad-lib.bash
. "$(dirname "$0")/bad-lib.bash"

require_qemu
setup_work
SETUP_LOG=$WORK/res/setup.log

# ----------------------------------------------------------- base images
# plain: 64k clusters, 16M: header 0, reftable 0x10000, refblock 0x20000,
# L1 0x30000, L2 0x40000, data: guest cluster 0 at 0x50000, 16-17 at
# 0x60000-0x70000, 128 at 0x80000; EOF 0x90000.
build_bases() {
	mkdir -p base
	cd base || return 1
	qimg create -f qcow2 plain.qcow2 16M &&
		qio plain.qcow2 "write -P 1 0 64k" "write -P 2 1M 128k" "write -P 3 8M 64k" &&
		qimg create -f qcow2 zero0.qcow2 16M &&
		qio zero0.qcow2 "write -P 0 0 64k" "write -P 2 1M 128k" "write -P 3 8M 64k" &&
		qimg create -f qcow2 snap.qcow2 16M &&
		qio snap.qcow2 "write -P 1 0 64k" "write -P 2 1M 128k" &&
		qimg snapshot -c s1 snap.qcow2 &&
		qio snap.qcow2 "write -P 3 1M 64k" "write -P 4 8M 64k" &&
		qimg create -f qcow2 snapsh.qcow2 16M &&
		qio snapsh.qcow2 "write -P 1 0 64k" "write -P 2 1M 128k" &&
		qimg snapshot -c s1 snapsh.qcow2 &&
		mkdata comp.data 65536 11 compressible &&
		qimg create -f qcow2 comp.qcow2 16M &&
		qio comp.qcow2 "write -c -s comp.data 0 64k" "write -P 2 1M 64k" &&
		qimg create -f qcow2 -o extended_l2=on ext.qcow2 16M &&
		qio ext.qcow2 "write -P 1 0 4k" "write -P 2 1M 64k" "write -z 2M 4k" \
			"write -c -s comp.data 4M 64k" &&
		qimg create -f qcow2 -o compat=0.10 v2.qcow2 16M &&
		qio v2.qcow2 "write -P 1 0 64k" "write -P 2 1M 64k" &&
		qimg create -f qcow2 -o cluster_size=512 c512.qcow2 512 &&
		qio c512.qcow2 "write 0 512" &&
		qimg create -f qcow2 -o refcount_bits=64 r64.qcow2 16M &&
		qio r64.qcow2 "write -P 1 0 64k" "write -P 2 1M 64k"
	local rc=$?
	rm -f comp.data
	cd "$WORK" || exit 1
	return $rc
}

# ----------------------------------------------------------------- cases
# NAME BASE ASSIGNMENT...   (qpoke.py assignments, applied in order)
CASES=$(cat <<'EOF'
leak-bump            plain  'rc[data(0)//cs]+=1'
leak-past-eof        plain  'eof=eof+3*cs' 'rc[eof//cs-1]=1' 'rc[eof//cs-2]=1' 'rc[eof//cs-3]=1'
leak-r64             r64    'rc[data(16)//cs]+=5'
leak-dirty           plain  'h.incompatible_features|=1' 'rc[data(0)//cs]+=1'
rc-zero-data         plain  'rc[data(0)//cs]=0'
rc-zero-data-r64     r64    'rc[data(0)//cs]=0'
rc-zero-l2           plain  'rc[l2off(0)//cs]=0'
rc-zero-l1           plain  'rc[l1_off//cs]=0'
rc-zero-refblock     plain  'rc[rb(0)//cs]=0'
rc-zero-reftable     plain  'rc[rt_off//cs]=0'
rc-zero-header       plain  'rc[0]=0'
rc-low-shared        snap   'rc[data(0)//cs]=1'
rc-low-shared-l2     snapsh 'rc[l2off(0)//cs]=1'
rc-high-shared       snap   'rc[data(0)//cs]=3'
dup-reference        plain  'l2[0][1]=COPIED|data(0)'
l2e-unaligned        plain  'l2[0][0]+=0x2a00'
l2e-unaligned-512    plain  'l2[0][16]+=0x200'
l2e-zero-unaligned   plain  'l2[0][0]=ZERO|(data(0)+0x200)'
l1e-unaligned        zero0  'l1[0]+=0x200'
l2-table-past-eof    plain  'l1[0]=COPIED|0x1000000'
l2-table-far         plain  'l1[0]=COPIED|(1<<55)'
data-past-eof        plain  'l2[0][1]=COPIED|0x1000000'
data-at-eof          plain  'l2[0][1]=COPIED|eof'
data-unallocated     plain  'eof=eof+2*cs' 'l2[0][1]=COPIED|(eof-cs)'
data-32pb-138        c512   'l2[0][0]=COPIED|(1<<55)'
refblock-unaligned   plain  'rt[0]+=0x2a00'
refblock-unaligned-2 plain  'rt[1]=0x2a00'
refblock-past-eof    plain  'rt[0]=0x1000000'
refblock-past-eof-2  plain  'rt[1]=0x1000000'
refblock-reserved    plain  'rt[0]|=0x100'
l2-over-l1           plain  'l1[0]=COPIED|l1_off'
l2-over-reftable     plain  'l1[0]=COPIED|rt_off'
l2-over-refblock     plain  'l1[0]=COPIED|rb(0)'
data-over-header     comp   'l2[0][0]=(E&~((1<<54)-1))|0x10'
data-over-reftable   plain  'l2[0][0]=COPIED|rt_off'
data-over-refblock   plain  'l2[0][0]=COPIED|rb(0)'
data-over-l1         plain  'l2[0][0]=COPIED|l1_off'
data-over-l2         plain  'l2[0][0]=COPIED|l2off(0)'
refblock-over-l1     plain  'rt[0]=l1_off'
refblock-over-l2     plain  'rt[1]=l2off(0)'
snap-l2e-to-active   snap   'u64@(sl1(0,0)&MASK)=COPIED|l2off(0)'
copied-l2-missing    snap   'l2[0][16]&=~COPIED'
copied-l2-extra      snap   'l2[0][0]|=COPIED'
copied-l1-missing    plain  'l1[0]&=~COPIED'
copied-l1-extra      snapsh 'l1[0]|=COPIED'
copied-v2-missing    v2     'l2[0][0]&=~COPIED'
compressed-copied    comp   'l2[0][0]|=COPIED'
compressed-past-eof  comp   'l2[0][0]=(E&~((1<<54)-1))|0x1000000'
reserved-bits-l2     plain  'l2[0][0]|=0x100'
reserved-bits-l1     plain  'l1[0]|=0x100'
zero-flag-v2         v2     'l2[0][0]|=ZERO'
snap-l1-unaligned    snap   'snap[0].l1_table_offset+=0x200'
snap-l1-too-big      snap   'snap[0].l1_size=0x2000000'
snap-l1-past-eof     snap   'snap[0].l1_table_offset=0x10000000'
snap-l2-past-eof     snap   'sl1[0][0]=0x1000000'
extl2-alloc-and-zero ext    'l2bm[0][0]|=1<<32'
extl2-unalloc-alloc  ext    'l2bm[0][5]=1'
extl2-unalloc-both   ext    'l2bm[0][32]|=1'
extl2-unalloc-zero   ext    'l2bm[0][5]=1<<33'
extl2-compressed-bm  ext    'l2bm[0][64]=1'
extl2-unaligned      ext    'l2[0][0]+=0x200'
hdr-l1-unaligned     plain  'h.l1_table_offset=0x12345678'
hdr-l1-too-big       plain  'h.l1_size=0x400001'
hdr-l1-too-small     plain  'h.l1_size=0'
hdr-rt-unaligned     plain  'h.refcount_table_offset+=0x200'
hdr-rt-too-big       plain  'h.refcount_table_clusters=0xffffff'
hdr-snap-too-many    plain  'h.nb_snapshots=65537'
hdr-unknown-incompat plain  'h.incompatible_features|=1<<20'
EOF
)

if ! build_bases; then
	fail "check/setup" "qemu could not build the base images (log: $SETUP_LOG)"
	finish
fi

# Build every damaged image with one python run.
mkdir -p img
while read -r name base assigns; do
	[ -n "$name" ] || continue
	cp "base/$base.qcow2" "img/$name.qcow2"
	printf 'img/%s.qcow2 %s\n' "$name" "$assigns"
done <<<"$CASES" | poke_batch 2>"$WORK/res/poke.err"

# io_writes NAME IMG: the writes of `robust` on a copy of IMG in its own
# directory; refused where qemu-img refused to open IMG.
io_writes() {
	local class=open
	[ -n "$CHECK_REFUSED" ] && class=refuse
	R_DIR=$WORK/wr/$1
	R_IMG=$2
	R_F=$(case_file "check/$1/io-write")
	rm -rf "$R_DIR"
	mkdir -p "$R_DIR"
	cp "$2" "$R_DIR/"
	R_ST=$(dir_state "$R_DIR")
	r_write "check/$1/io-write" $class
	[ $class = open ] && r_write "check/$1/io-write-alloc" open 4M 64k
	rm -rf "$R_DIR"
}

# check_case NAME: the cases of one damaged image, img/NAME.qcow2.
check_case() {
	local name=$1 img=$1.qcow2 mode
	poke_failed "check/$name" "img/$img:" "$WORK/res/poke.err" && return
	check_agree "check/$name" "$img"
	io_writes "$name" "$img"
	[ -n "$CHECK_REFUSED" ] && return
	for mode in leaks all; do
		# under valgrind, -r all only (it repairs leaks too)
		[ "${QCOW_VALGRIND:-0}" = 1 ] && [ $mode = leaks ] && continue
		repair_agree "check/$name/r-$mode" "$img" $mode
	done
	[ "${KEEP_TMP:-0}" = 1 ] || rm -rf "$WORK/rep${BAD_WORKER:-}"
}

cd img || exit 1
vg_sample check "$CASES"
in_workers check "$VG_TABLE" check_case
cd "$WORK" || exit 1
finish
