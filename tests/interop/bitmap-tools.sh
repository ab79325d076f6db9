#!/bin/bash
# qcow-img's persistent dirty bitmap tools against qemu-img 7.2:
#   bitmap/*   each action and refusal of `bitmap`, by qemu-img in ref/ and
#              by qcow-img in ours/ on copies: same exit status and stdout,
#              stderr alike in kind; then ours equal to qemu-img's result
#              in qemu-img info (or, where qemu-img 7.2 keeps half of a
#              refused command, equal to the input: ours is all or
#              nothing), clean for qemu-img check, and every bitmap with
#              the same dirty ranges;
#   info/*     info, human and JSON, byte for byte as qemu-img's on images
#              with 0, 1 and 3 bitmaps (auto, disabled, in use), and
#              qcow-io's info as qemu-io's;
#   convert/*  convert --bitmaps [--skip-broken-bitmaps] as qemu-img's
#              (bitmaps per qemu-img info, dirty ranges equal to the
#              source's and to qemu-img's copy), refusals alike;
#   dirty/*    the same write/zero/discard sequence by qemu-io and qcow-io:
#              ours from `qcow-img map --bitmap`, QEMU's from qemu-nbd -B
#              and qemu-img map (a dirty range reads "data": false), for
#              granularities 512, 64k and 1M;
#   map/*      map --bitmap refusals (no such bitmap, in use).
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source=tests/interop/write-workloads.bash
. "$(dirname "$0")/write-workloads.bash"

require_qemu
require_cmd qemu-nbd
setup_work

# python3 many times over: the interpreter itself, not a version shim
PY=$(python3 -c 'import sys; print(sys.executable)')
python3() { "$PY" "$@"; }

# ranges.py dirty|data-false < MAP.json: the merged ranges that are dirty
# (ours) or read "data": false (qemu-img map of a qemu-nbd dirty bitmap).
cat >"$WORK/ranges.py" <<'EOF'
import json, sys
key = sys.argv[1]
out = []
for e in json.load(sys.stdin):
    on = e["dirty"] if key == "dirty" else not e["data"]
    if not on:
        continue
    if out and out[-1][0] + out[-1][1] == e["start"]:
        out[-1][1] += e["length"]
    else:
        out.append([e["start"], e["length"]])
print(" ".join("%d+%d" % (s, l) for s, l in out))
EOF

NBD_PID=
cleanup_nbd() {
	[ -n "$NBD_PID" ] && kill "$NBD_PID" 2>/dev/null
	NBD_PID=
	rm -f "$WORK/nbd.sock"
}
trap cleanup_nbd EXIT

SIZE=$((64 << 20))

fresh() {
	rm -rf ours ref
	mkdir ours ref
	[ $# -gt 0 ] && cp "$@" ours/ && cp "$@" ref/
}

# qemu-io's "abort" leaves every bitmap of the image in use.
leave_in_use() {
	("$QEMU_IO" -f qcow2 -c 'write -P 0x5a 8M 64k' -c abort "$1" \
		>/dev/null 2>&1; :) 2>/dev/null
	true
}

# dirty_of IMG NAME: the dirty ranges "start+length ..." by our map;
# fails (with a line on stdout that matches nothing) when map fails.
dirty_of() {
	local out
	out=$("$QCOW_IMG" map --bitmap "$2" --output=json "$1") || {
		echo "map --bitmap $2 $1 failed"
		return 1
	}
	printf '%s' "$out" | python3 "$WORK/ranges.py" dirty
}

# bitmaps_of IMG: the names of its usable bitmaps, per qemu-img info.
bitmaps_of() {
	"$QEMU_IMG" info -U --output=json "$1" | python3 -c '
import json, sys
d = json.load(sys.stdin).get("format-specific", {}).get("data", {})
print(" ".join(b["name"] for b in d.get("bitmaps", []) if "in-use" not in b["flags"]))'
}

# same_dirty NAME OURS REF: every usable bitmap of REF has the same dirty
# ranges in OURS (both read by our map, whose reading is checked against
# qemu-nbd in dirty/*).
same_dirty() {
	local name=$1 ours=$2 ref=$3 b o r bad=
	for b in $(bitmaps_of "$ref"); do
		o=$(dirty_of "$ours" "$b" 2>&1) || bad="$bad $b ($o)"
		r=$(dirty_of "$ref" "$b" 2>&1) || bad="$bad $b ($r)"
		[ "$o" = "$r" ] || bad="$bad $b (ours: ${o:0:80}; qemu's: ${r:0:80})"
	done
	if [ -z "$bad" ]; then
		pass "$name"
	else
		fail "$name" "dirty ranges differ:$bad"
	fi
}

# ---------------------------------------------------------- the inputs

mk_inputs() {
	# plain: b0 auto 64k (dirty 0-64k), b1 disabled 512 (dirty 1M+3000),
	# b2 auto 1M (clean)
	qimg create -f qcow2 plain.qcow2 $SIZE
	qimg bitmap --add plain.qcow2 b0
	qimg bitmap --add -g 512 plain.qcow2 b1
	qio plain.qcow2 'write -P 1 0 64k'
	qimg bitmap --clear plain.qcow2 b1
	qio plain.qcow2 'write -P 2 1M 3000'
	qimg bitmap --disable plain.qcow2 b1
	qimg bitmap --add -g 1M plain.qcow2 b2
	qimg bitmap --clear plain.qcow2 b2
	# inuse: b0 consistent and disabled, bu left in use
	qimg create -f qcow2 inuse.qcow2 $SIZE
	qimg bitmap --add inuse.qcow2 bu
	qimg bitmap --add --disable inuse.qcow2 b0
	leave_in_use inuse.qcow2
	# the source file of -b: sb dirty at 2M+4k
	qimg create -f qcow2 src.qcow2 $SIZE
	qimg bitmap --add -g 4k src.qcow2 sb
	qio src.qcow2 'write -P 3 2M 4k'
	qimg create -f qcow2 -o compat=0.10 v2.qcow2 $SIZE
	qimg create -f raw plain.raw $SIZE
}

# ---------------------------------------------------------- bitmap verb

# bm_case NAME MODE INPUT ARGS...: `bitmap ARGS` (INPUT's copy named in
# ARGS as img) by both tools.  MODE same: ours ends as qemu-img's; input:
# ours must be left as it was (qemu-img 7.2 keeps half the work).
bm_case() {
	local name=bitmap/$1 mode=$2 input=$3 a args=()
	shift 3
	for a in "$@"; do
		args+=("${a//@IMG@/img.${input##*.}}")
	done
	fresh src.qcow2
	cp "$input" ours/img."${input##*.}"
	cp "$input" ref/img."${input##*.}"
	cp "$input" "orig.${input##*.}"
	tool_both "$name" bitmap "${args[@]}" || return
	[ "${input##*.}" = qcow2 ] || return 0
	if [ "$mode" = input ]; then
		info_equal "$name/info" ours/img.qcow2 "orig.qcow2"
		same_dirty "$name/dirty" ours/img.qcow2 "orig.qcow2"
	else
		info_equal "$name/info" ours/img.qcow2 ref/img.qcow2
		same_dirty "$name/dirty" ours/img.qcow2 ref/img.qcow2
	fi
	clean_check "$name/check" ours/img.qcow2
}

bitmap_cases() {
	local P=plain.qcow2 U=inuse.qcow2
	bm_case add same $P --add @IMG@ new
	bm_case add-g512 same $P --add -g 512 @IMG@ new
	bm_case add-g1M same $P --add -g 1M @IMG@ new
	bm_case add-g2G same $P --add -g 2G @IMG@ new
	bm_case add-g0 same $P --add -g 0 @IMG@ new
	bm_case add-long-g same $P --add --granularity 128k @IMG@ new
	bm_case add-disabled same $P --add --disable @IMG@ new
	bm_case add-exists same $P --add @IMG@ b0
	bm_case add-g1000 same $P --add -g 1000 @IMG@ new
	bm_case add-g256 same $P --add -g 256 @IMG@ new
	bm_case add-g4G same $P --add -g 4G @IMG@ new
	bm_case add-gabc same $P --add -g abc @IMG@ new
	bm_case add-gneg same $P --add -g -1 @IMG@ new
	bm_case add-empty same $P --add @IMG@ ''
	bm_case add-1023 same $P --add @IMG@ "$(printf 'n%.0s' {1..1023})"
	bm_case add-1024 same $P --add @IMG@ "$(printf 'n%.0s' {1..1024})"
	bm_case remove same $P --remove @IMG@ b0
	bm_case remove-nosuch same $P --remove @IMG@ nosuch
	bm_case clear same $P --clear @IMG@ b0
	bm_case clear-disabled same $P --clear @IMG@ b1
	bm_case clear-nosuch same $P --clear @IMG@ nosuch
	bm_case enable same $P --enable @IMG@ b1
	bm_case enable-nosuch same $P --enable @IMG@ nosuch
	bm_case disable same $P --disable @IMG@ b0
	bm_case disable-twice same $P --disable --disable @IMG@ b1
	bm_case disable-nosuch same $P --disable @IMG@ nosuch
	bm_case merge same $P --merge b1 @IMG@ b0
	bm_case merge-into-coarse same $P --merge b1 @IMG@ b2
	bm_case merge-self same $P --merge b0 @IMG@ b0
	bm_case merge-two same $P --merge b0 --merge b1 @IMG@ b2
	bm_case merge-nosuch-src same $P --merge nosuch @IMG@ b0
	bm_case merge-nosuch-dst same $P --merge b0 @IMG@ nosuch
	bm_case add-merge same $P --add --merge b1 @IMG@ new
	bm_case add-merge-disable same $P --add --disable --merge b0 @IMG@ new
	bm_case remove-add same $P --remove --add @IMG@ b0
	bm_case add-remove same $P --add --remove @IMG@ new
	bm_case clear-merge same $P --clear --merge b1 @IMG@ b0
	bm_case all-four same $P --add -g 8k --disable --clear --enable @IMG@ new
	bm_case merge-b same $P --merge sb -b src.qcow2 @IMG@ b1
	bm_case merge-b-F same $P --add --merge sb -b src.qcow2 -F qcow2 @IMG@ new
	bm_case merge-b-nosuch same $P --merge nosuch -b src.qcow2 @IMG@ b0
	bm_case merge-b-nofile same $P --merge sb -b nofile.qcow2 @IMG@ b0
	# qemu-img 7.2 keeps the bitmap added before the refused merge
	bm_case add-merge-nosuch input $P --add --merge nosuch @IMG@ new
	bm_case add-add input $P --add --add @IMG@ new
	bm_case add-merge-b-F-raw input $P --add --merge sb -b src.qcow2 -F raw @IMG@ new
	bm_case add-then-bad-clear input $P --add --merge b0 --clear --merge b9 @IMG@ new
	# command lines
	bm_case no-action same $P @IMG@ b0
	bm_case no-args same $P
	bm_case no-name same $P --add @IMG@
	bm_case extra-arg same $P --add @IMG@ b7 extra
	bm_case g-without-add same $P --remove -g 64k @IMG@ b0
	bm_case b-without-merge same $P --add -b src.qcow2 @IMG@ new
	bm_case F-without-b same $P --merge b0 -F qcow2 @IMG@ b1
	bm_case unknown-opt same $P --add --bogus @IMG@ new
	bm_case unknown-short same $P --add -x @IMG@ new
	bm_case nofile same $P --add nofile.qcow2 b0
	# in use: only --remove works
	bm_case inuse-remove same $U --remove @IMG@ bu
	bm_case inuse-clear same $U --clear @IMG@ bu
	bm_case inuse-enable same $U --enable @IMG@ bu
	bm_case inuse-disable same $U --disable @IMG@ bu
	bm_case inuse-merge-into same $U --merge b0 @IMG@ bu
	bm_case inuse-merge-from same $U --merge bu @IMG@ b0
	bm_case inuse-add same $U --add @IMG@ bu
	bm_case inuse-other same $U --enable @IMG@ b0
	bm_case inuse-add-merge input $U --add --merge bu @IMG@ new
	# formats that cannot hold bitmaps
	bm_case v2-add same v2.qcow2 --add @IMG@ b0
	bm_case v2-remove same v2.qcow2 --remove @IMG@ b0
	bm_case raw-add same plain.raw --add -f raw @IMG@ b0
}

# ---------------------------------------------------------------- info

info_same() {
	local name=info/$1 img=$2 out f
	f=$(case_file "$name")
	for out in human json; do
		run_to "$f.$out.ref" "$QEMU_IMG" info --output=$out "$img"
		run_to "$f.$out.ours" "$QCOW_IMG" info --output=$out "$img"
		if diff "$f.$out.ref" "$f.$out.ours" >"$f.$out.diff"; then
			pass "$name/$out"
		else
			fail "$name/$out" "differs from qemu-img's (< qemu-img, > ours)"
			diag 12 <"$f.$out.diff"
		fi
	done
	run_to "$f.io.ref" "$QEMU_IO" -r -c info "$img"
	run_to "$f.io.ours" "$QCOW_IO" -r -c info "$img"
	if diff "$f.io.ref" "$f.io.ours" >"$f.io.diff"; then
		pass "$name/qcow-io"
	else
		fail "$name/qcow-io" "qcow-io info differs from qemu-io's"
		diag 12 <"$f.io.diff"
	fi
}

info_cases() {
	qimg create -f qcow2 i0.qcow2 $SIZE
	qimg create -f qcow2 i1.qcow2 $SIZE
	qimg bitmap --add i1.qcow2 only
	cp plain.qcow2 i3.qcow2
	qimg create -f qcow2 i3u.qcow2 $SIZE
	qimg bitmap --add i3u.qcow2 auto1
	qimg bitmap --add --disable -g 512 i3u.qcow2 off2
	qimg bitmap --add -g 2M i3u.qcow2 'in use 3'
	leave_in_use i3u.qcow2
	qimg bitmap --remove i3u.qcow2 auto1
	qimg bitmap --add i3u.qcow2 auto1
	info_same none i0.qcow2
	info_same one i1.qcow2
	info_same three i3.qcow2
	info_same three-inuse i3u.qcow2
	info_same inuse inuse.qcow2
	info_same v2 v2.qcow2
}

# -------------------------------------------------------------- convert

# conv_case NAME INPUT ARGS...: convert ARGS (@IN@ the input, out.qcow2
# the output) by both tools; on success equal bitmaps per qemu-img info,
# dirty ranges as qemu-img's copy and as the input's, a clean check.
conv_case() {
	local name=convert/$1 input=$2 a args=() i f
	shift 2
	for a in "$@"; do
		args+=("${a//@IN@/$input}")
	done
	fresh "$input"
	tool_both "$name" convert "${args[@]}" || return
	f=$(case_file "$name").ref.err
	if [ -e ref/out.qcow2 ] && [ ! -e ours/out.qcow2 ]; then
		fail "$name/made" "qemu-img made out.qcow2, ours did not"
		return
	elif [ ! -e ref/out.qcow2 ] && [ -e ours/out.qcow2 ]; then
		fail "$name/made" "qemu-img refused before making out.qcow2, ours made it"
		return
	fi
	# refused, or not a qcow2 copy: nothing more to compare
	grep -qv warning "$f" && return
	[ -e ref/out.qcow2 ] || return
	info_equal "$name/info" ours/out.qcow2 ref/out.qcow2
	same_dirty "$name/dirty" ours/out.qcow2 ref/out.qcow2
	same_dirty "$name/dirty-source" ours/out.qcow2 "ours/$input"
	clean_check "$name/check" ours/out.qcow2
	i=$(bitmaps_of ref/out.qcow2)
	[ -n "$i" ] || [ "$input" != plain.qcow2 ] ||
		fail "$name/setup" "qemu-img's copy has no bitmaps"
}

conv_cases() {
	cp inuse.qcow2 inuse-only.qcow2
	conv_case bitmaps plain.qcow2 -O qcow2 --bitmaps @IN@ out.qcow2
	conv_case bitmaps-cluster-4k plain.qcow2 -O qcow2 -o cluster_size=4k --bitmaps @IN@ out.qcow2
	conv_case bitmaps-none i0.qcow2 -O qcow2 --bitmaps @IN@ out.qcow2
	conv_case inuse inuse.qcow2 -O qcow2 --bitmaps @IN@ out.qcow2
	conv_case inuse-skip inuse.qcow2 -O qcow2 --bitmaps --skip-broken-bitmaps @IN@ out.qcow2
	conv_case three-inuse-skip i3u.qcow2 -O qcow2 --bitmaps --skip-broken-bitmaps @IN@ out.qcow2
	conv_case skip-alone plain.qcow2 -O qcow2 --skip-broken-bitmaps @IN@ out.qcow2
	conv_case raw-target plain.qcow2 -O raw --bitmaps @IN@ out.raw
	conv_case v2-target plain.qcow2 -O qcow2 -o compat=0.10 --bitmaps @IN@ out.qcow2
	conv_case raw-source plain.raw -f raw -O qcow2 --bitmaps @IN@ out.qcow2
	# -n into an image that has one of the names already
	cp plain.qcow2 out.qcow2
	fresh plain.qcow2 out.qcow2
	tool_both convert/n-exists convert -n -O qcow2 --bitmaps plain.qcow2 out.qcow2
}

# --------------------------------------------------------- dirty ranges

# The sequence: unaligned and crossing writes, zero writes with and
# without unmap over data and holes, discards, the very end.
DIRTY_OPS=(
	"write -P 0x11 0 4k"
	"write -P 0x12 100000 3000"
	"write -P 0x13 1047552 4096"
	"write -z 2M 64k"
	"write -z -u 3M 200k"
	"write -P 0x14 5M 1M"
	"discard 5M 512k"
	"discard 7M 100k"
	"write -z -u 5500k 10k"
	"write -P 0x15 10000001 1"
	"write -P 0x16 33554431 2"
	"write -P 0x17 $((SIZE - 512)) 512"
)

io_args() {
	local op
	IO_ARGS=()
	for op in "${DIRTY_OPS[@]}"; do
		IO_ARGS+=(-c "$op")
	done
}

# nbd_dirty IMG NAME: QEMU's dirty ranges of bitmap NAME, via qemu-nbd.
nbd_dirty() {
	local img=$1 b=$2 sock=$WORK/nbd.sock i
	rm -f "$sock"
	qemu-nbd -r -f qcow2 -B "$b" -k "$sock" "$img" 2>"$WORK/nbd.err" &
	NBD_PID=$!
	for i in $(seq 100); do
		[ -S "$sock" ] && break
		sleep 0.1
	done
	timeout -k 5 "$CMD_TIMEOUT" "$QEMU_IMG" map --output=json --image-opts \
		"driver=nbd,server.type=unix,server.path=$sock,x-dirty-bitmap=qemu:dirty-bitmap:$b" |
		python3 "$WORK/ranges.py" data-false
	wait "$NBD_PID" 2>/dev/null
	NBD_PID=
	rm -f "$sock"
}

dirty_case() {
	local g=$1 name=dirty/g$1 o r q
	qimg create -f qcow2 d.qcow2 $SIZE
	qimg bitmap --add -g "$g" d.qcow2 bm
	fresh d.qcow2
	io_args
	if ! run_to "$(case_file "$name").io" "$QCOW_IO" "${IO_ARGS[@]}" ours/d.qcow2; then
		fail "$name/io" "qcow-io fails: $(head -c 200 "$(case_file "$name").io.err")"
		return
	fi
	qio ref/d.qcow2 "${DIRTY_OPS[@]}"
	o=$(dirty_of ours/d.qcow2 bm 2>&1)
	r=$(nbd_dirty ref/d.qcow2 bm)
	q=$(nbd_dirty ours/d.qcow2 bm)
	if [ -z "$r" ]; then
		fail "$name" "qemu-nbd reports nothing dirty: test setup broken"
		cat "$WORK/nbd.err" | diag 5
	elif [ "$o" = "$r" ]; then
		pass "$name"
	else
		fail "$name" "ours: ${o:0:300}; QEMU's: ${r:0:300}"
	fi
	# our bitmap, read by QEMU, and QEMU's, read by us
	if [ "$q" = "$r" ]; then
		pass "$name/qemu-reads-ours"
	else
		fail "$name/qemu-reads-ours" "qemu-nbd on ours: ${q:0:300}"
	fi
	o=$(dirty_of ref/d.qcow2 bm 2>&1)
	if [ "$o" = "$r" ]; then
		pass "$name/ours-reads-qemus"
	else
		fail "$name/ours-reads-qemus" "ours on QEMU's: ${o:0:300}"
	fi
	clean_check "$name/check" ours/d.qcow2
}

# ---------------------------------------------------------- map refusals

map_cases() {
	local f rc
	for c in "nosuch plain.qcow2" "bu inuse.qcow2"; do
		set -- $c
		f=$(case_file "map/$1")
		run_to "$f" "$QCOW_IMG" map --bitmap "$1" --output=json "$2"
		rc=$?
		if [ $rc -eq 1 ] && [ ! -s "$f" ] &&
		   [ "$(wc -l <"$f.err")" -eq 1 ] && grep -q "'$1'" "$f.err"; then
			pass "map/$1"
		else
			fail "map/$1" "exit $rc, stdout $(head -c 100 "$f"), stderr $(head -c 200 "$f.err")"
		fi
	done
	f=$(case_file map/inuse-text)
	"$QCOW_IMG" map --bitmap bu inuse.qcow2 2>"$f.err" >/dev/null
	if grep -q "Bitmap 'bu' is inconsistent and cannot be used" "$f.err"; then
		pass map/inuse-text
	else
		fail map/inuse-text "$(cat "$f.err")"
	fi
	f=$(case_file map/whole)
	"$QCOW_IMG" map --bitmap b0 --output=json plain.qcow2 >"$f"
	if python3 - "$f" "$SIZE" <<'EOF'
import json, sys
e = json.load(open(sys.argv[1]))
end = 0
for x in e:
    assert x["start"] == end and x["length"] > 0, x
    end += x["length"]
assert end == int(sys.argv[2]), end
assert all(a["dirty"] != b["dirty"] for a, b in zip(e, e[1:]))
assert [x["dirty"] for x in e] == [True, False, True, False], e
EOF
	then
		pass map/whole
	else
		fail map/whole "ranges do not cover the disk once, merged: $(head -c 300 "$f")"
	fi
}

SETUP_LOG=$WORK/setup.log
mk_inputs
bitmap_cases
info_cases
conv_cases
for g in 512 64k 1M; do
	dirty_case $g
done
map_cases
finish
