#!/bin/bash
# Legacy qcow (version 1) written, created and converted, against qemu-img
# and qemu-io 7.2.  Images qemu-img made (plain, several sizes, over a raw
# backing file, with compressed clusters from `convert -c -O qcow`) are
# written by $QCOW_IO at assorted offsets while qemu-io writes the same to
# a raw twin; `qemu-img compare` must find them identical (qemu reading
# what we wrote) and qemu-io must read the patterns back.  Images we
# create must be byte-identical to qemu-img's, and qemu-io's writes to
# them must read back; convert both ways; info, map, compare and check
# (nothing to check: exit 63) as qemu-img's.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

require_qemu
setup_work
SETUP_LOG=$WORK/res/setup.log


# same NAME A B [FMT_A FMT_B]: qemu-img compare finds A and B identical.
same() {
	local name=$1 a=$2 b=$3 f
	f=$(case_file "$name.cmp")
	if run_to "$f" "$QEMU_IMG" compare -f "${4:-qcow}" -F "${5:-raw}" \
		"$a" "$b"; then
		pass "$name"
	else
		fail "$name" "qemu-img compare: $(head -c 200 "$f" "$f.err")"
	fi
}

# twin_write NAME IMG RAW CMD...: each qemu-io CMD by $QCOW_IO on the qcow
# image and by qemu-io on its raw twin (a compressed write, `write -c`,
# as a plain one there); then the two must compare equal.
twin_write() {
	local name=$1 img=$2 raw=$3 c args=() ref=()
	shift 3
	for c in "$@"; do
		args+=(-c "$c")
		ref+=(-c "${c/#write -c /write }")
	done
	run_ok "$name/ours" "$QCOW_IO" -f qcow "${args[@]}" "$img" || return 1
	run_ok "$name/ref" "$QEMU_IO" -f raw "${ref[@]}" "$raw" || return 1
	same "$name" "$img" "$raw"
}

# read_back NAME IMG PATTERN OFF LEN: qemu-io reads the pattern back.
read_back() {
	local f
	f=$(case_file "$1")
	if run_to "$f" "$QEMU_IO" -f qcow -r -c "read -P $3 $4 $5" "$2" &&
	   ! grep -q "Pattern verification failed" "$f"; then
		pass "$1"
	else
		fail "$1" "qemu-io read -P $3 $4 $5: $(head -c 200 "$f" "$f.err")"
	fi
}

# the workload: partial and whole clusters, across the 2M span of a
# 4k-cluster L2 table, zero writes over data and over nothing, the end
# of the disk; SIZE is the image's size
workload() {
	local size=$1
	echo "write -P 0xa1 0 4k"
	echo "write -P 0xa2 100 300"
	echo "write -P 0xa3 2093000 10000"
	echo "write -P 0xa4 5000 70000"
	echo "write -z 3000 9000"
	echo "write -z 1048576 65536"
	echo "write -P 0xa5 $((size - 700)) 700"
	echo "flush"
	echo "write -P 0xa6 $((size / 2 - 33)) 66"
}

plain_case() {
	local name=$1 size=$2 cmds
	qimg create -f qcow "$name.qcow" "$size" &&
		qimg create -f raw "$name.raw" "$size" || {
		fail "plain/$name" "setup failed"
		return
	}
	mapfile -t cmds < <(workload "$size")
	twin_write "plain/$name" "$name.qcow" "$name.raw" "${cmds[@]}"
	read_back "plain/$name/read-a3" "$name.qcow" 0xa3 2093000 10000
	read_back "plain/$name/read-a5" "$name.qcow" 0xa5 $((size - 700)) 700
	# our reader agrees too
	run_ok "plain/$name/ours-compare" "$QCOW_IMG" compare "$name.qcow" \
		"$name.raw" && pass "plain/$name/ours-compare"
}

plain_case p5m $((5 * 1024 * 1024))
plain_case odd $((5 * 1024 * 1024 + 3 * 512))
plain_case p3g $((3 * 1024 * 1024 * 1024))

# over a raw backing file shorter than the image: copy-on-write of the
# backing data, writes across the backing file's end, zero writes over it
backing_case() {
	qimg create -f raw b.raw 3M &&
		qio -f raw b.raw "write -P 0x11 0 3M" &&
		qimg create -f qcow -b b.raw -F raw o.qcow 4M &&
		cp b.raw o.raw && truncate -s 4M o.raw || {
		fail "backing" "setup failed"
		return
	}
	local before
	before=$(sha256sum <b.raw)
	twin_write "backing/writes" o.qcow o.raw \
		"write -P 0x22 100 50" "write -P 0x33 3100000 200000" \
		"write -P 0x44 2097000 3000" "write -z 1000 1000" \
		"write -P 0x55 512 512" "write -z 3144000 1000"
	read_back "backing/read-backing" o.qcow 0x11 4096 4096
	read_back "backing/read-cow" o.qcow 0x11 0 100
	if [ "$(sha256sum <b.raw)" = "$before" ]; then
		pass "backing/base-unchanged"
	else
		fail "backing/base-unchanged" "the backing file changed"
	fi
}
backing_case

# clusters qemu-img compressed: written in part (decompressed into a new
# cluster), whole, and zeroed
compressed_case() {
	qimg create -f raw src.raw 2M &&
		qio -f raw src.raw "write -P 0x55 0 1M" "write -P 0x66 1M 512k" &&
		cp src.raw c.raw || {
		fail "compressed" "setup failed"
		return
	}
	# qemu-img 7.2 exits 1 here without a word, the image complete
	"$QEMU_IMG" convert -c -O qcow src.raw c.qcow >>"$SETUP_LOG" 2>&1
	same "compressed/setup-image" c.qcow src.raw
	# qemu-img map (human) refuses compressed clusters
	if "$QEMU_IMG" map c.qcow >/dev/null 2>&1; then
		fail "compressed/setup" "qemu-img map works: no compressed clusters?"
	fi
	twin_write "compressed/writes" c.qcow c.raw \
		"write -P 0x77 5000 100" "write -P 0x78 1048000 5000" \
		"write -P 0x79 8192 4096" "write -z 20000 3000"
	read_back "compressed/read-rest" c.qcow 0x55 5100 3092
}
compressed_case

# qcow-img create: byte for byte as qemu-img's (QEMU writes mtime 0)
create_case() {
	local name=$1 size=$2 f
	shift 2
	mkdir -p ours ref
	f=$(case_file "create/$name")
	(cd ref && run_to "$f.ref" "$QEMU_IMG" create -f qcow "$@" \
		"$name.qcow" $size)
	(cd ours && run_ok "create/$name/run" "$QCOW_IMG" create -f qcow "$@" \
		"$name.qcow" $size) || return
	sed 's/^qemu-img/P/' "$f.ref" >"$f.ref.n"
	sed 's/^qcow-img/P/' "$(case_file "create/$name/run")" >"$f.ours.n"
	if ! cmp -s "$f.ref.n" "$f.ours.n"; then
		fail "create/$name/stdout" "differs from qemu-img's"
		diff "$f.ref.n" "$f.ours.n" | diag 6
	else
		pass "create/$name/stdout"
	fi
	if cmp "ref/$name.qcow" "ours/$name.qcow" >"$f.cmp" 2>&1; then
		pass "create/$name/bytes"
	else
		fail "create/$name/bytes" "$(cat "$f.cmp")"
	fi
}

cp b.raw ours/ 2>/dev/null || { mkdir -p ours ref && cp b.raw ours/; }
cp b.raw ref/
create_case 1m 1M
create_case 10g 10G
create_case s1000 1000
create_case s1 1
create_case backing "" -b b.raw -F raw
create_case backing-2m 2M -b b.raw -F raw
create_case opts 1M -o nocow=on,preallocation=off

# refused as qemu-img refuses them
create_refused() {
	local name=$1 f
	shift
	f=$(case_file "create-refused/$name")
	rm -f "ours/$name.qcow"
	run_to "$f" "$QCOW_IMG" create -f qcow "$@"
	if [ $? -eq 1 ] && [ "$(nlines_err "$f")" -ge 1 ]; then
		pass "create-refused/$name"
	else
		fail "create-refused/$name" "not refused with exit 1"
	fi
}
nlines_err() { grep -c '' "$1.err"; }
create_refused cluster-size -o cluster_size=4k ours/x.qcow 1M
create_refused size-0 ours/x.qcow 0
create_refused no-backing-fmt -b b.raw ours/x.qcow 1M

# qemu-io writes what we created
run_ok "create/qemu-writes" "$QEMU_IO" -f qcow -c "write -P 0x42 1000 70000" \
	ours/1m.qcow &&
	read_back "create/qemu-writes/read" ours/1m.qcow 0x42 1000 70000
run_ok "create/qemu-writes-b" "$QEMU_IO" -f qcow \
	-c "write -P 0x43 1000 7000" ours/backing-2m.qcow &&
	read_back "create/qemu-writes-b/read" ours/backing-2m.qcow 0x11 8192 4096

# convert -O qcow: byte-identical to qemu-img's; and back
run_ok "convert/to-qcow" "$QCOW_IMG" convert -f raw -O qcow src.raw cv.qcow &&
	qimg convert -f raw -O qcow src.raw cv.ref.qcow &&
	if cmp -s cv.qcow cv.ref.qcow; then
		pass "convert/to-qcow/bytes"
	else
		fail "convert/to-qcow/bytes" "differs from qemu-img convert's"
	fi
same "convert/to-qcow" cv.qcow src.raw

# allocated clusters of TARGET (qemu-img map, depth 0) lie within those of
# SOURCE: unallocated ranges stay unallocated
alloc_within() {
	python3 - "$1" "$2" <<'EOF'
import json, subprocess, sys
def alloc(img):
    out = subprocess.run(["qemu-img", "map", "--output=json", img],
                         check=True, capture_output=True).stdout
    return [(e["start"], e["start"] + e["length"]) for e in json.loads(out)
            if e["depth"] == 0 and e["data"]]
src, dst = alloc(sys.argv[1]), alloc(sys.argv[2])
for s, e in dst:
    for c in range(s, e, 65536):
        if not any(a < c + 65536 and c < b for a, b in src):
            sys.exit("target cluster at %d allocated, source has nothing there" % c)
EOF
}

convert_qcow2() {
	local name=$1 src=$2 f
	shift 2
	rm -f "$name.qcow2"
	run_ok "convert/$name" "$QCOW_IMG" convert "$@" -f qcow -O qcow2 "$src" \
		"$name.qcow2" || return
	same "convert/$name/compare" "$src" "$name.qcow2" qcow qcow2
	f=$(case_file "convert/$name/check")
	if run_to "$f" "$QEMU_IMG" check "$name.qcow2"; then
		pass "convert/$name/check"
	else
		fail "convert/$name/check" "qemu-img check exit $?"
	fi
	if f=$(alloc_within "$src" "$name.qcow2" 2>&1); then
		pass "convert/$name/sparse"
	else
		fail "convert/$name/sparse" "$f"
	fi
}
convert_qcow2 plain p5m.qcow
convert_qcow2 progress odd.qcow -p
convert_qcow2 backing o.qcow -B b.raw -F raw
if "$QEMU_IMG" info backing.qcow2 2>/dev/null | grep -q '^backing file: b.raw$'; then
	pass "convert/backing/kept"
else
	fail "convert/backing/kept" "the target names no backing file b.raw"
fi
convert_qcow2 compressed c.qcow

# convert -O qcow -B: only what differs from the backing file is written
run_ok "convert/to-qcow-backing" "$QCOW_IMG" convert -f qcow -O qcow -B b.raw \
	-F raw o.qcow ob.qcow && same "convert/to-qcow-backing" ob.qcow o.qcow qcow qcow
if "$QEMU_IMG" info ob.qcow 2>/dev/null | grep -q '^backing file: b.raw$' &&
   f=$(alloc_within o.qcow ob.qcow 2>&1); then
	pass "convert/to-qcow-backing/kept"
else
	fail "convert/to-qcow-backing/kept" "no backing file b.raw, or clusters allocated where o.qcow has none: $f"
fi

qimg convert -f raw -O qcow2 p5m.raw plain.qcow2 &&
	run_ok "convert/qcow2-to-qcow" "$QCOW_IMG" convert -f qcow2 -O qcow \
	plain.qcow2 back.qcow && same "convert/qcow2-to-qcow" back.qcow p5m.raw

# compressed writes: convert -c byte-identical to qemu-img's (which exits
# 1 there without a word, as ours does), qcow-io write -c read back by
# qemu-io, the last cluster of a disk that ends inside it, and never over
# an allocated cluster
f=$(case_file compress/convert-status)
run_to "$f" "$QCOW_IMG" convert -c -O qcow src.raw cz.qcow
rc=$?
if [ $rc -eq 1 ] && [ ! -s "$f.err" ]; then
	pass compress/convert-status
else
	fail compress/convert-status "exit $rc (qemu-img's 1), stderr: $(head -c 200 "$f.err")"
fi
"$QEMU_IMG" convert -c -O qcow src.raw cz.ref.qcow >>"$SETUP_LOG" 2>&1
if cmp -s cz.qcow cz.ref.qcow; then
	pass "compress/convert/bytes"
else
	fail "compress/convert/bytes" "differs from qemu-img convert -c's"
fi
same "compress/convert" cz.qcow src.raw
qimg create -f qcow wc.qcow $((1024 * 1024 + 1536)) &&
	qimg create -f raw wc.raw $((1024 * 1024 + 1536))
twin_write "compress/io" wc.qcow wc.raw "write -c -P 0x31 0 4k" \
	"write -c -s src.raw 8k 8k" "write -c -P 0x32 1048576 1536"
if "$QEMU_IMG" map wc.qcow >/dev/null 2>&1; then
	fail "compress/io/compressed" "qemu-img map sees no compressed cluster"
else
	pass "compress/io/compressed"
fi
f=$(case_file "compress/over-allocated")
cp wc.qcow wc2.qcow
run_to "$f" "$QCOW_IO" -f qcow -c "write -c -P 0x33 0 4k" wc2.qcow
if [ $? -ne 0 ] && cmp -s wc.qcow wc2.qcow; then
	pass "compress/over-allocated"
else
	fail "compress/over-allocated" "not refused, or the file changed"
fi

# the read-only verbs as qemu-img's
for img in p5m.qcow o.qcow c.qcow ours/backing-2m.qcow; do
	n=${img##*/}
	cmp_map "tools/$n/map" "$img"
	cmp_info "tools/$n/info" "$img"
done
cmp_check "tools/check-json" p5m.qcow
f=$(case_file "tools/check")
run_to "$f" "$QCOW_IMG" check p5m.qcow
rc=$?
if [ $rc -eq 63 ] && grep -q ": This image format does not support checks$" "$f.err"; then
	pass "tools/check"
else
	fail "tools/check" "exit $rc: $(cat "$f.err")"
fi

# encrypted images (aes): qcow1-aes.sh

# commit: the base gets the overlay's data and the overlay is emptied as
# qemu-img empties it (byte for byte); qemu-img on copies in ref/
commit_case() {
	mkdir -p cm/ours cm/ref
	qimg create -f raw cm/ours/cb.raw 3M &&
		qio -f raw cm/ours/cb.raw "write -P 0x61 0 3M" &&
		qimg create -f qcow -b cb.raw -F raw cm/ours/cov.qcow 4M &&
		qio -f qcow cm/ours/cov.qcow "write -P 0x62 1000 5000" \
			"write -P 0x63 3100000 100000" &&
		cp cm/ours/* cm/ref/ || { fail "commit" "setup failed"; return; }
	(cd cm/ref && "$QEMU_IMG" commit cov.qcow) >>"$SETUP_LOG" 2>&1
	(cd cm/ours && run_ok "commit/run" "$QCOW_IMG" commit cov.qcow) || return
	local x
	for x in cb.raw cov.qcow; do
		if cmp -s "cm/ours/$x" "cm/ref/$x"; then
			pass "commit/$x"
		else
			fail "commit/$x" "differs from what qemu-img commit left"
		fi
	done
}
commit_case

# damaged tables: a write through an L2 table over the header, or to a
# data cluster over the L1 table, is refused with one line naming the
# image; the file is left alone
damaged_write() {
	local name=$1 poke=$2 f before rc
	cp p5m.qcow "d-$name.qcow"
	python3 "$TESTS_DIR/interop/qpoke.py" "d-$name.qcow" "$poke" >/dev/null 2>&1 ||
		{ fail "damaged/$name" "qpoke failed"; return; }
	before=$(sha256sum <"d-$name.qcow")
	f=$(case_file "damaged/$name")
	run_to "$f" "$QCOW_IO" -f qcow -c "write -P 7 100 512" "d-$name.qcow"
	rc=$?
	if [ $rc -ne 0 ] && [ "$(sha256sum <"d-$name.qcow")" = "$before" ] &&
	   [ "$(grep -c "d-$name.qcow" "$f.err")" -eq 1 ]; then
		pass "damaged/$name"
	else
		fail "damaged/$name" "exit $rc, or the file changed: $(head -c 300 "$f.err")"
	fi
}
damaged_write l2-over-header 'q1l1[0]=8'
damaged_write data-over-l1 'q1l2[0][0]=0x30'

finish
