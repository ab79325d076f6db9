#!/bin/bash
# Legacy qcow (version 1) encrypted with AES (encrypt.format=aes), against
# qemu-img and qemu-io 7.2, the secret s0 given with --object and the
# images named with --image-opts.  Images qemu-img made (with and without
# a backing file) and qemu-io wrote are read by us as qemu-img converts
# them; images we create (byte-identical to qemu-img's) and write at
# assorted offsets are read by qemu-img compare as the same writes on a
# raw twin; refusals leave the file unchanged.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

require_qemu
require_cmd sha256sum
setup_work
SETUP_LOG=$WORK/res/setup.log

SEC=(--object "secret,id=s0,data=pw")
BAD=(--object "secret,id=s0,data=not-pw")

# io_opts FILE: the --image-opts string naming an encrypted image.
io_opts() {
	echo "driver=qcow,file.filename=$1,encrypt.key-secret=s0"
}


# ref_raw IMG OUT [SECRET...]: qemu-img's raw export of an encrypted image.
ref_raw() {
	local img=$1 out=$2
	shift 2
	setup_cmd "$SETUP_LOG" "$QEMU_IMG" convert "${@:-${SEC[@]}}" \
		--image-opts "$(io_opts "$img")" -O raw "$out"
}

# read_same NAME IMG: our raw export equals qemu-img's, byte for byte.
read_same() {
	local name=$1 img=$2 r=${1//\//-}
	ref_raw "$img" "$r.ref.raw" ||
		{ fail "$name" "qemu-img convert failed"; return; }
	run_ok "$name/convert" "$QCOW_IMG" convert "${SEC[@]}" --image-opts \
		"$(io_opts "$img")" -O raw "$r.our.raw" || return
	if cmp -s "$r.ref.raw" "$r.our.raw"; then
		pass "$name"
	else
		fail "$name" "our read differs from qemu-img's: $(cmp "$r.ref.raw" "$r.our.raw" 2>&1 | head -1)"
	fi
}

# same_raw NAME IMG RAW: qemu-img compare reads IMG (with the secret) as RAW.
same_raw() {
	local name=$1 f
	f=$(case_file "$name.cmp")
	if run_to "$f" "$QEMU_IMG" compare "${SEC[@]}" --image-opts \
		"$(io_opts "$2")" "driver=raw,file.filename=$3"; then
		pass "$name"
	else
		fail "$name" "qemu-img compare: $(head -c 200 "$f" "$f.err")"
	fi
}

# twin_write NAME IMG RAW CMD...: each qemu-io CMD by $QCOW_IO on the
# encrypted image and by qemu-io on its raw twin; they must compare equal.
twin_write() {
	local name=$1 img=$2 raw=$3 c args=() ref=()
	shift 3
	for c in "$@"; do
		args+=(-c "$c")
		ref+=(-c "${c/#write -c /write }")
	done
	run_ok "$name/ours" "$QCOW_IO" "${SEC[@]}" --image-opts "${args[@]}" \
		"$(io_opts "$img")" || return 1
	run_ok "$name/ref" "$QEMU_IO" -f raw "${ref[@]}" "$raw" || return 1
	same_raw "$name" "$img" "$raw"
}

qimg() { setup_cmd "$SETUP_LOG" "$QEMU_IMG" "$@"; }
# qio_enc IMG CMD...: qemu-io with the secret
qio_enc() {
	local img=$1 c args=()
	shift
	for c in "$@"; do
		args+=(-c "$c")
	done
	setup_cmd "$SETUP_LOG" "$QEMU_IO" "${SEC[@]}" --image-opts \
		"${args[@]}" "$(io_opts "$img")"
}

CREATE_O=encrypt.format=aes,encrypt.key-secret=s0

# the writes: partial sectors and clusters, whole clusters, across
# clusters, rewrites in place (also of part of a sector), zero writes
# over data and over nothing, the last bytes of the disk
workload() {
	local size=$1
	echo "write -P 0xa1 0 4k"
	echo "write -P 0xa2 100 300"
	echo "write -P 0xa3 5000 70000"
	echo "write -P 0xa4 9000 10"
	echo "write -P 0xa5 1048576 512"
	echo "write -z 3000 9000"
	echo "write -z 2000000 4096"
	echo "write -P 0xa6 70000 4096"
	echo "write -P 0xa7 $((size - 700)) 700"
}

# ---- read: images qemu-img made and qemu-io wrote

if ! { qimg create -f qcow "${SEC[@]}" -o "$CREATE_O" q.qcow 5M &&
	qio_enc q.qcow "write -P 0x11 0 64k" "write -P 0x22 100k 3000" \
		"write -P 0x23 200007 77" "write -c -P 0x33 1M 4k" \
		"write -z 8k 4k" "write -P 0x44 $((5 * 1048576 - 512)) 512"; }
then
	fail "read/setup" "qemu-img or qemu-io failed"
fi
read_same read/plain q.qcow

if ! { qimg create -f raw base.raw 3M &&
	setup_cmd "$SETUP_LOG" "$QEMU_IO" -f raw -c "write -P 0x55 0 3M" \
		base.raw &&
	qimg create -f qcow "${SEC[@]}" -o "$CREATE_O" -b base.raw -F raw \
		qb.qcow 4M &&
	qio_enc qb.qcow "write -P 0x66 1000 2000" "write -P 0x67 3M 600" \
		"write -P 0x68 $((3 * 1048576 - 300)) 600"; }
then
	fail "read/backing-setup" "qemu-img or qemu-io failed"
fi
read_same read/backing qb.qcow

# ---- create: byte-identical to qemu-img's (nothing of the key is stored)

# create_same NAME SIZE [OPTION...]
create_same() {
	local name=$1 size=$2
	shift 2
	mkdir -p "cr/$name"
	qimg create -f qcow "${SEC[@]}" -o "$CREATE_O" "$@" "cr/$name/ref.qcow" \
		"$size" || { fail "create/$name" "qemu-img create failed"; return; }
	run_ok "create/$name/ours" "$QCOW_IMG" create -f qcow "${SEC[@]}" \
		-o "$CREATE_O" "$@" "cr/$name/our.qcow" "$size" || return
	if cmp -s "cr/$name/ref.qcow" "cr/$name/our.qcow"; then
		pass "create/$name"
	else
		fail "create/$name" "differs from qemu-img's"
	fi
}
create_same 5m 5M
create_same backing 4M -b "$WORK/base.raw" -F raw

# the Formatting line as qemu-img's (the old encryption=on too)
for o in "$CREATE_O" encryption=on,encrypt.key-secret=s0; do
	name="create/line-${o%%,*}"
	name=${name/=/-}
	mkdir -p "ln/${name##*/}/ref" "ln/${name##*/}/ours"
	f=$(case_file "$name")
	(cd "ln/${name##*/}/ref" && "$QEMU_IMG" create -f qcow "${SEC[@]}" \
		-o "$o" i.qcow 1M) >"$f.ref" 2>&1
	(cd "ln/${name##*/}/ours" && run_to "$f" "$QCOW_IMG" create -f qcow \
		"${SEC[@]}" -o "$o" i.qcow 1M)
	if cmp -s "$f" "$f.ref" &&
	   cmp -s "ln/${name##*/}/ref/i.qcow" "ln/${name##*/}/ours/i.qcow"; then
		pass "$name"
	else
		fail "$name" "ours: $(cat "$f" "$f.err") qemu-img: $(cat "$f.ref")"
	fi
done

f=$(case_file create/luks)
run_to "$f" "$QCOW_IMG" create -f qcow "${SEC[@]}" \
	-o encrypt.format=luks,encrypt.key-secret=s0 luks.qcow 1M
rc=$?
if [ $rc -ne 0 ] && [ ! -e luks.qcow ] && [ "$(wc -l <"$f.err")" -eq 1 ]; then
	pass create/luks
else
	fail create/luks "exit $rc: $(cat "$f.err")"
fi
f=$(case_file create/no-secret)
run_to "$f" "$QCOW_IMG" create -f qcow -o encrypt.format=aes nosec.qcow 1M
rc=$?
if [ $rc -ne 0 ] && [ ! -e nosec.qcow ] && grep -q "encrypt.key-secret" "$f.err"; then
	pass create/no-secret
else
	fail create/no-secret "exit $rc: $(cat "$f.err")"
fi

# ---- write: ours written, qemu reads it as the same writes on raw

SIZE=$((5 * 1048576))
run_ok write/create "$QCOW_IMG" create -f qcow "${SEC[@]}" -o "$CREATE_O" \
	w.qcow $SIZE &&
	qimg create -f raw w.raw $SIZE &&
	mapfile -t W < <(workload $SIZE) &&
	twin_write write/plain w.qcow w.raw "${W[@]}" &&
	twin_write write/again w.qcow w.raw "write -P 0xb1 10 20" \
		"write -P 0xb2 4090 20" "write -z 0 1000" "write -c -P 0xb3 3M 4k" \
		"write -P 0xb4 1000000 200000"
read_same write/read-back w.qcow

# over a backing file, with 4 KiB clusters (qemu-img makes 512-byte ones
# there: the header's cluster and L2 sizes changed while no L2 exists,
# the L1 table's length the same) so partial clusters fill from the base
cp base.raw wb-base.raw
if qimg create -f qcow "${SEC[@]}" -o "$CREATE_O" -b "$WORK/wb-base.raw" \
	-F raw wb.qcow $SIZE &&
   python3 "$TESTS_DIR/interop/qpoke.py" wb.qcow u8@32=12 u8@33=9 \
	>>"$SETUP_LOG" 2>&1 &&
   qimg create -f raw wb.raw $SIZE &&
   setup_cmd "$SETUP_LOG" "$QEMU_IO" -f raw -c "write -P 0x55 0 3M" wb.raw
then
	base_sum=$(sha256sum <wb-base.raw)
	mapfile -t W < <(workload $SIZE)
	twin_write backing/write wb.qcow wb.raw "${W[@]}" \
		"write -P 0xc1 $((3 * 1048576 - 100)) 200" "write -P 0xc2 2097000 100"
	if [ "$(sha256sum <wb-base.raw)" = "$base_sum" ]; then
		pass backing/base-unchanged
	else
		fail backing/base-unchanged "the backing file changed"
	fi
	read_same backing/read-back wb.qcow
else
	fail backing/setup "qemu-img or qpoke failed"
fi

# O_DIRECT (qcow-io -n): the sectors bounced through aligned memory
run_ok direct/create "$QCOW_IMG" create -f qcow "${SEC[@]}" -o "$CREATE_O" \
	d.qcow $SIZE && qimg create -f raw d.raw $SIZE
mapfile -t W < <(workload $SIZE)
ARGS=()
for c in "${W[@]}"; do
	ARGS+=(-c "$c")
done
if run_ok direct/write "$QCOW_IO" -n "${SEC[@]}" --image-opts "${ARGS[@]}" \
	"$(io_opts d.qcow)" &&
   run_ok direct/ref "$QEMU_IO" -f raw "${ARGS[@]}" d.raw; then
	same_raw direct d.qcow d.raw
fi

# ---- convert

# to qcow2 (plain), compared with the source and checked
run_ok convert/to-qcow2 "$QCOW_IMG" convert "${SEC[@]}" -f qcow --image-opts \
	"$(io_opts q.qcow)" -O qcow2 conv.qcow2 &&
	f=$(case_file convert/to-qcow2.cmp) &&
	if run_to "$f" "$QEMU_IMG" compare "${SEC[@]}" --image-opts \
		"$(io_opts q.qcow)" "driver=qcow2,file.filename=conv.qcow2"; then
		pass convert/to-qcow2
	else
		fail convert/to-qcow2 "qemu-img compare: $(head -c 200 "$f" "$f.err")"
	fi
f=$(case_file convert/to-qcow2.check)
if run_to "$f" "$QEMU_IMG" check conv.qcow2; then
	pass convert/to-qcow2-check
else
	fail convert/to-qcow2-check "$(head -c 200 "$f")"
fi

# raw to encrypted qcow: read by qemu-img as the raw
ref_raw q.qcow src.raw
run_ok convert/to-aes "$QCOW_IMG" convert "${SEC[@]}" -f raw -O qcow \
	-o "$CREATE_O" src.raw conv.qcow && same_raw convert/to-aes conv.qcow src.raw
# the same file as qemu-img's convert (nothing of the key is stored, the
# clusters are encrypted with the same IVs)
if qimg convert "${SEC[@]}" -f raw -O qcow -o "$CREATE_O" src.raw conv.ref.qcow; then
	if cmp -s conv.qcow conv.ref.qcow; then
		pass convert/to-aes-identical
	else
		fail convert/to-aes-identical "differs from qemu-img's convert"
	fi
else
	fail convert/to-aes-identical "qemu-img convert failed"
fi
# encrypted qcow to encrypted qcow
run_ok convert/aes-to-aes "$QCOW_IMG" convert "${SEC[@]}" --image-opts \
	"$(io_opts qb.qcow)" -O qcow -o "$CREATE_O" conv2.qcow &&
	ref_raw qb.qcow qb.raw && same_raw convert/aes-to-aes conv2.qcow qb.raw

f=$(case_file convert/compressed)
run_to "$f" "$QCOW_IMG" convert -c "${SEC[@]}" -f raw -O qcow -o "$CREATE_O" \
	src.raw convc.qcow
rc=$?
if [ $rc -ne 0 ] && [ ! -s convc.qcow ] && [ "$(wc -l <"$f.err")" -eq 1 ]; then
	pass convert/compressed
else
	fail convert/compressed "exit $rc: $(cat "$f.err")"
fi

# ---- refusals and a wrong passphrase

# refused NAME IMG CMD...: fails with one line naming what is missing,
# the file unchanged
refused() {
	local name=$1 img=$2 f before rc
	shift 2
	before=$(sha256sum <"$img")
	f=$(case_file "$name")
	run_to "$f" "$@"
	rc=$?
	if [ $rc -ne 0 ] && [ "$(sha256sum <"$img")" = "$before" ] &&
	   [ "$(wc -l <"$f.err")" -eq 1 ] && grep -q "encrypt.key-secret" "$f.err"; then
		pass "$name"
	else
		fail "$name" "exit $rc, or the file changed: $(head -c 300 "$f.err")"
	fi
}
refused refuse/write-no-secret q.qcow "$QCOW_IO" -f qcow -c "write 0 512" q.qcow
refused refuse/read-no-secret q.qcow "$QCOW_IO" -f qcow -c "read 0 512" q.qcow
refused refuse/convert-no-secret q.qcow "$QCOW_IMG" convert -f qcow -O raw \
	q.qcow nosec.raw

# an L2 entry off a sector boundary cannot hold an encrypted cluster
# (its IVs are the guest's sectors): reads and writes there fail with a
# line naming the image, the file unchanged
cp w.qcow dmg.qcow
python3 "$TESTS_DIR/interop/qpoke.py" dmg.qcow 'q1l2[0][0]+=1' >>"$SETUP_LOG" 2>&1
for op in "read 0 512" "write -P 7 100 10" "write -P 7 0 4096"; do
	name="damaged/unaligned-${op%% *}-${op##* }"
	before=$(sha256sum <dmg.qcow)
	f=$(case_file "$name")
	run_to "$f" "$QCOW_IO" "${SEC[@]}" --image-opts -c "$op" \
		"$(io_opts dmg.qcow)"
	rc=$?
	if [ $rc -ne 0 ] && [ "$(sha256sum <dmg.qcow)" = "$before" ] &&
	   grep -q "dmg.qcow: L2 entry .* not sector aligned" "$f.err"; then
		pass "$name"
	else
		fail "$name" "exit $rc, or the file changed: $(head -c 300 "$f.err")"
	fi
done

# info needs no passphrase: as qemu-img's
f=$(case_file info)
if run_to "$f" "$QCOW_IMG" info q.qcow &&
   "$QEMU_IMG" info q.qcow >"$f.ref" 2>&1 &&
   diff <(grep -v '^disk size' "$f") <(grep -v '^disk size' "$f.ref") >"$f.diff"; then
	pass info
else
	fail info "$(head -c 300 "$f.diff" "$f.err")"
fi

# map: allocated clusters without host offsets, as qemu-img's (which
# gives none for encrypted data); info with the secret as without
cmp_map map/plain "$(io_opts q.qcow)" "${SEC[@]}" --image-opts
cmp_map map/backing "$(io_opts qb.qcow)" "${SEC[@]}" --image-opts
cmp_info info/json q.qcow

# legacy AES cannot tell a wrong passphrase: the data reads as another
# key decrypts it, the same as qemu-img's with that passphrase, and a
# read leaves the file as it was
before=$(sha256sum <q.qcow)
ref_raw q.qcow bad.ref.raw "${BAD[@]}"
if run_ok wrong/convert "$QCOW_IMG" convert "${BAD[@]}" --image-opts \
	"$(io_opts q.qcow)" -O raw bad.our.raw; then
	if cmp -s bad.ref.raw bad.our.raw && ! cmp -s bad.our.raw src.raw &&
	   [ "$(sha256sum <q.qcow)" = "$before" ]; then
		pass wrong/passphrase
	else
		fail wrong/passphrase "not qemu-img's garbage, or the right data, or the file changed"
	fi
fi

finish
