#!/bin/bash
# Persistent dirty bitmaps survive our read-write operations (issue #19).
# The image: v3, 64k clusters, 16M; bitmaps b0 (auto, 64k) and b1 (16k,
# disabled after the first writes) made by `qemu-img bitmap`, dirtied by
# qemu-io (data, zero writes, a discard).  Each operation OP runs with our
# tool on ours/OP.qcow2 and, where qemu has the same operation, with
# qemu's on a twin ref/OP.qcow2.  Then (labels write/bitmap/OP/...):
#   run      our tool's exit status (as qemu's where it has one);
#   info     `qemu-img info --output=json` lists the bitmaps qemu's twin
#            has (name, flags, granularity: none in use), and qemu-img
#            prints no "program lacking bitmap support" warning;
#   check    `qemu-img check` clean (exit 0: no leaks, no corruption);
#   dirty    every bitmap's dirty ranges as the twin's, read through
#            `qemu-nbd -r -B NAME` and `qemu-img map` of
#            x-dirty-bitmap=qemu:dirty-bitmap:NAME ("data": false = dirty).
# Without a twin (check -r) the reference is the untouched image.
# `amend -o compat=0.10` must be refused while bitmaps exist, the image
# byte-identical (qemu-img 7.2 drops them and leaks their clusters), and
# on a v2 image our tools never add a bitmap.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

require_qemu
have_cmd qemu-nbd || skip_all "qemu-nbd not found; install qemu-utils"
setup_work
SETUP_LOG=$WORK/res/setup.log
# unix socket paths are short: not under $WORK
SOCKDIR=$(mktemp -d /tmp/wbm.XXXXXX) || exit 1
NBD_PIDFILE=$SOCKDIR/nbd.pid

nbd_stop() {
	local pid
	[ -s "$NBD_PIDFILE" ] || return 0
	pid=$(cat "$NBD_PIDFILE")
	kill "$pid" 2>/dev/null
	rm -f "$NBD_PIDFILE"
}
trap 'nbd_stop; rm -rf "$SOCKDIR"' EXIT

# build IMG: the image of every case.
build() {
	qimg create -f qcow2 -o cluster_size=64k "$1" 16M &&
		qimg bitmap --add "$1" b0 &&
		qimg bitmap --add -g 16k "$1" b1 &&
		qio "$1" "write -P 1 0 64k" "write -P 2 1M 128k" "write -z 3M 64k" \
			"discard 5M 64k" "write -P 2 7M 20k" &&
		qimg bitmap --disable "$1" b1 &&
		qio "$1" "write -P 3 6M 4k"
}

# bm_list INFOJSON: "name:flag+flag:granularity,..." ("-" when none, "!"
# when not JSON).
bm_list() {
	python3 - "$1" <<'EOF'
import json, sys
try:
    j = json.load(open(sys.argv[1]))
except Exception:
    print("!")
    sys.exit()
bms = j.get("format-specific", {}).get("data", {}).get("bitmaps", [])
print(",".join("%s:%s:%s" % (b["name"], "+".join(b["flags"]), b["granularity"])
               for b in bms) or "-")
EOF
}

# dirty IMG NAME: the dirty ranges of bitmap NAME, "start+length ..." (or
# "ERROR: ..." when qemu-nbd or qemu-img map fails).
dirty() {
	local img=$1 bm=$2 sock=$SOCKDIR/s f
	f=$WORK/res/dirty.out
	rm -f "$sock" "$NBD_PIDFILE"
	if ! timeout -k 2 30 qemu-nbd --fork --pid-file="$NBD_PIDFILE" -r -f qcow2 \
		-B "$bm" -k "$sock" "$img" >"$f.nbd" 2>&1 </dev/null; then
		echo "ERROR: qemu-nbd -B $bm: $(head -n 1 "$f.nbd")"
		return 1
	fi
	timeout -k 2 30 "$QEMU_IMG" map --output=json --image-opts \
		"driver=nbd,server.type=unix,server.path=$sock,x-dirty-bitmap=qemu:dirty-bitmap:$bm" \
		>"$f" 2>"$f.err"
	local rc=$?
	nbd_stop
	if [ $rc -ne 0 ]; then
		echo "ERROR: qemu-img map of bitmap $bm: $(head -n 1 "$f.err")"
		return 1
	fi
	python3 - "$f" <<'EOF'
import json, sys
out, cur = [], None
for e in json.load(open(sys.argv[1])):
    if e["data"]:
        continue
    if cur and cur[0] + cur[1] == e["start"]:
        cur[1] += e["length"]
    else:
        cur = [e["start"], e["length"]]
        out.append(cur)
print(" ".join("%d+%d" % (s, n) for s, n in out) or "clean")
EOF
}

# verify OP OURS REF: info, check, dirty of OURS against REF (qemu's twin,
# or the untouched image).
verify() {
	local op=$1 ours=$2 ref=$3 p=write/bitmap/$1 f want got bm d1 d2 ok=1
	f=$(case_file "$p")
	run_to "$f.rinfo" "$QEMU_IMG" info --output=json "$ref"
	run_to "$f.oinfo" "$QEMU_IMG" info --output=json "$ours"
	want=$(bm_list "$f.rinfo")
	got=$(bm_list "$f.oinfo")
	if [ "$got" != "$want" ]; then
		fail "$p/info" "qemu-img info lists bitmaps '$got', qemu's result '$want': $(head -n 1 "$f.oinfo.err")"
		ok=
	elif grep -q "lacking bitmap support" "$f.oinfo.err"; then
		fail "$p/info" "qemu-img warns: $(head -n 1 "$f.oinfo.err")"
		ok=
	else
		pass "$p/info"
	fi
	run_to "$f.ocheck" "$QEMU_IMG" check "$ours"
	if [ $? -ne 0 ]; then
		fail "$p/check" "qemu-img check: $(grep -hv '^$' "$f.ocheck" "$f.ocheck.err" | head -n 3 | tr '\n' ' ')"
	else
		pass "$p/check"
	fi
	[ -n "$ok" ] || return 0
	for bm in $(printf '%s' "$want" | tr ',' '\n' | cut -d: -f1); do
		[ "$bm" = - ] && continue
		d1=$(dirty "$ref" "$bm")
		d2=$(dirty "$ours" "$bm")
		if [ "${d1#ERROR}" != "$d1" ]; then
			fail "$p/dirty-$bm" "reference unreadable (test bug): $d1"
		elif [ "$d2" != "$d1" ]; then
			fail "$p/dirty-$bm" "dirty ranges '$d2', qemu's '$d1'"
		else
			pass "$p/dirty-$bm"
		fi
	done
}

# twin OP: ours/OP.qcow2 and ref/OP.qcow2, copies of the base image.
twin() {
	cp base/b.qcow2 "ours/$1.qcow2"
	cp base/b.qcow2 "ref/$1.qcow2"
}

# run_both OP OURS_CMD... -- QEMU_CMD...: both in their directory (the
# image is OP.qcow2 there); same exit status required.  Returns 1 when the
# run failed (then verify is pointless).
run_both() {
	local op=$1 p=write/bitmap/$1 f a ours=() ref=() rc rrc
	shift
	f=$(case_file "$p")
	while [ $# -gt 0 ] && [ "$1" != -- ]; do ours+=("$1"); shift; done
	shift
	ref=("$@")
	(cd ref && run_to "$f.ref" "${ref[@]}")
	rrc=$?
	(cd ours && run_to "$f.ours" "${ours[@]}")
	rc=$?
	if [ $rc -ne $rrc ]; then
		fail "$p/run" "exit status $rc, qemu's $rrc: $(head -n 2 "$f.ours.err" | tr '\n' ' ')"
		return 1
	fi
	if grep -qE 'AddressSanitizer|runtime error:|LeakSanitizer' "$f.ours.err"; then
		fail "$p/run" "sanitizer report"
		diag 20 <"$f.ours.err"
		return 1
	fi
	pass "$p/run"
	[ $rc -eq 0 ] || note "$p: both exit $rc"
}

mkdir -p base ours ref
if ! (cd base && build b.qcow2); then
	fail "write/bitmap/setup" "qemu could not build the image (log: $SETUP_LOG)"
	finish
fi
run_to res/base.info "$QEMU_IMG" info --output=json base/b.qcow2
BASE_BM=$(bm_list res/base.info)
BASE_D0=$(dirty base/b.qcow2 b0)
BASE_D1=$(dirty base/b.qcow2 b1)
if [ "$BASE_BM" != "b0:auto:65536,b1::16384" ] || [ "$BASE_D0" = clean ] ||
   [ "$BASE_D1" = clean ] || [ "$BASE_D0" = "$BASE_D1" ] ||
   [ "${BASE_D0#ERROR}" != "$BASE_D0" ] || [ "${BASE_D1#ERROR}" != "$BASE_D1" ]; then
	fail "write/bitmap/setup" "qemu made bitmaps '$BASE_BM', b0 '$BASE_D0', b1 '$BASE_D1'"
	finish
fi
pass "write/bitmap/setup"
note "b0 dirty: $BASE_D0; b1 dirty: $BASE_D1"

WRITES=(-c "write -P 5 8M 64k" -c "write -z 10M 4k" -c "write -z -u 1M 64k"
	-c "discard 12M 64k" -c "write -P 6 15M 4k" -c "write -P 7 300k 2k")

# read-write open, reads only
twin read-rw
run_both read-rw "$QCOW_IO" -c "read -P 1 0 64k" read-rw.qcow2 -- \
	"$QEMU_IO" -c "read -P 1 0 64k" read-rw.qcow2 &&
	verify read-rw ours/read-rw.qcow2 ref/read-rw.qcow2

twin write
run_both write "$QCOW_IO" "${WRITES[@]}" write.qcow2 -- \
	"$QEMU_IO" "${WRITES[@]}" write.qcow2 &&
	verify write ours/write.qcow2 ref/write.qcow2

twin resize-grow
run_both resize-grow "$QCOW_IMG" resize resize-grow.qcow2 32M -- \
	"$QEMU_IMG" resize resize-grow.qcow2 32M &&
	verify resize-grow ours/resize-grow.qcow2 ref/resize-grow.qcow2

twin resize-shrink
run_both resize-shrink "$QCOW_IMG" resize --shrink resize-shrink.qcow2 8M -- \
	"$QEMU_IMG" resize --shrink resize-shrink.qcow2 8M &&
	verify resize-shrink ours/resize-shrink.qcow2 ref/resize-shrink.qcow2

# commit: the base (with the bitmaps) gets the overlay's clusters
for d in ours ref; do
	cp base/b.qcow2 "$d/commit-base.qcow2"
	(cd $d && qimg create -f qcow2 -b commit-base.qcow2 -F qcow2 commit.qcow2 &&
		qio commit.qcow2 "write -P 7 8M 64k" "write -P 8 13M 4k" "write -z 2M 64k" \
			"write -P 9 9M 100k")
done
run_both commit "$QCOW_IMG" commit commit.qcow2 -- "$QEMU_IMG" commit commit.qcow2 &&
	verify commit ours/commit-base.qcow2 ref/commit-base.qcow2

# check -r on a clean image: nothing to repair, bitmaps kept
for mode in leaks all; do
	op=check-r-$mode
	p=write/bitmap/$op
	f=$(case_file "$p")
	cp base/b.qcow2 "ours/$op.qcow2"
	(cd ours && run_to "$f.ours" "$QCOW_IMG" check -r $mode --output=json "$op.qcow2")
	rc=$?
	lf=$(python3 "$QJSON" get "$f.ours" leaks-fixed 2>/dev/null)
	cf=$(python3 "$QJSON" get "$f.ours" corruptions-fixed 2>/dev/null)
	if [ $rc -ne 0 ]; then
		fail "$p/run" "check -r $mode exits $rc: $(head -n 2 "$f.ours.err" | tr '\n' ' ')"
	elif [ "${lf:-0}" != 0 ] || [ "${cf:-0}" != 0 ]; then
		fail "$p/run" "check -r $mode fixed ${lf:-0} leaks and ${cf:-0} corruptions on a clean image with bitmaps"
	else
		pass "$p/run"
	fi
	verify $op "ours/$op.qcow2" base/b.qcow2
done

twin amend-lazy
run_both amend-lazy "$QCOW_IMG" amend -o lazy_refcounts=on amend-lazy.qcow2 -- \
	"$QEMU_IMG" amend -o lazy_refcounts=on amend-lazy.qcow2 &&
	verify amend-lazy ours/amend-lazy.qcow2 ref/amend-lazy.qcow2

# amend -o compat=0.10: refused while bitmaps exist, image unchanged
p=write/bitmap/amend-compat
f=$(case_file "$p")
twin amend-compat
(cd ref && run_to "$f.ref" "$QEMU_IMG" amend -o compat=0.10 amend-compat.qcow2)
rrc=$?
(cd ours && run_to "$f.ours" "$QCOW_IMG" amend -o compat=0.10 amend-compat.qcow2)
rc=$?
if [ $rc -eq 0 ]; then
	fail "$p/refused" "amend -o compat=0.10 exits 0 on an image with bitmaps"
elif [ "$(grep -c "" "$f.ours.err")" -ne 1 ] || ! grep -qi 'bitmap' "$f.ours.err"; then
	fail "$p/refused" "exit $rc, but not one line naming the bitmaps: $(head -n 3 "$f.ours.err" | tr '\n' ' ')"
elif ! cmp -s base/b.qcow2 ours/amend-compat.qcow2; then
	fail "$p/refused" "refused, but the image changed: $(cmp base/b.qcow2 ours/amend-compat.qcow2 2>&1 | head -n 1)"
else
	pass "$p/refused"
	note "qemu-img amend -o compat=0.10 exits $rrc: $(head -n 1 "$f.ref.err")"
fi

# v2: never a bitmap
p=write/bitmap/v2
f=$(case_file "$p")
for d in ours ref; do
	(cd $d && qimg create -f qcow2 -o compat=0.10 v2.qcow2 16M &&
		qio v2.qcow2 "write -P 1 0 64k")
done
(cd ours && run_to "$f.write" "$QCOW_IO" -c "write -P 2 64k 64k" v2.qcow2)
rc=$?
v=$(python3 "$TESTS_DIR/interop/qpoke.py" ours/v2.qcow2 --get 'u32(4)' 2>&1)
run_to "$f.info" "$QEMU_IMG" info --output=json ours/v2.qcow2
if [ $rc -ne 0 ]; then
	fail "$p/write" "write on a v2 image exits $rc"
elif [ "$v" != 2 ] || [ "$(bm_list "$f.info")" != - ] || [ -s "$f.info.err" ]; then
	fail "$p/write" "after our write: version $v, bitmaps '$(bm_list "$f.info")', qemu-img: $(head -n 1 "$f.info.err")"
else
	pass "$p/write"
fi
if "$QCOW_IMG" bitmap 2>&1 </dev/null | grep -q "unknown command"; then
	skip "$p/bitmap-add" "qcow-img has no bitmap verb yet"
else
	cp ours/v2.qcow2 res/v2.before
	(cd ref && run_to "$f.qadd" "$QEMU_IMG" bitmap --add v2.qcow2 b0)
	rrc=$?
	(cd ours && run_to "$f.add" "$QCOW_IMG" bitmap --add v2.qcow2 b0)
	rc=$?
	if [ $rc -ne $rrc ]; then
		fail "$p/bitmap-add" "bitmap --add on a v2 image exits $rc, qemu-img's $rrc"
	elif ! cmp -s res/v2.before ours/v2.qcow2; then
		fail "$p/bitmap-add" "bitmap --add on a v2 image changed the file"
	elif [ "$(grep -c "" "$f.add.err")" -ne 1 ] || ! grep -q 'v2' "$f.add.err"; then
		fail "$p/bitmap-add" "not one line saying why (v2): $(head -n 2 "$f.add.err" | tr '\n' ' ')"
	else
		pass "$p/bitmap-add"
	fi
fi
# convert --bitmaps into a v2 image: refused as qemu-img refuses it
(cd ref && run_to "$f.qconv" "$QEMU_IMG" convert --bitmaps -O qcow2 -o compat=0.10 \
	"$WORK/base/b.qcow2" conv.qcow2)
rrc=$?
(cd ours && run_to "$f.conv" "$QCOW_IMG" convert --bitmaps -O qcow2 -o compat=0.10 \
	"$WORK/base/b.qcow2" conv.qcow2)
rc=$?
if [ $rc -ne $rrc ]; then
	fail "$p/convert" "convert --bitmaps -o compat=0.10 exits $rc, qemu-img's $rrc"
elif [ -f ours/conv.qcow2 ] &&
     [ "$(python3 "$TESTS_DIR/interop/qpoke.py" ours/conv.qcow2 --get bmext 2>&1)" != 0 ]; then
	fail "$p/convert" "a v2 output file with a bitmaps extension"
else
	pass "$p/convert"
fi
finish
