#!/bin/bash
# qcow-img check -r leaks|all against qemu-img check -r: images with
# leaked clusters (refcounts raised by hand, clusters added past the end)
# and with a refcount dropped to zero (a corruption), for several refcount
# widths and layouts.  After our repair qemu-img check must find the image
# clean and its content unchanged; stdout (the explanations in our words),
# the per-cluster lines on stderr, JSON and exit codes as qemu-img's
# (tool_both), except the wording of a corruption repair (qemu-img
# rebuilds the refcount structures, we fix the entries).
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source=tests/interop/write-workloads.bash
. "$(dirname "$0")/write-workloads.bash"

# poke CMD IMG [N]: grow N (N leaked clusters past the end), bump C
# (refcount of host cluster C + 1), zero C (refcount of C set to 0).
poke() {
	python3 - "$@" <<'PY'
import struct, sys
def hdr(f):
    f.seek(0); h = f.read(104)
    v = struct.unpack('>I', h[4:8])[0]
    cb = struct.unpack('>I', h[20:24])[0]
    rt = struct.unpack('>Q', h[48:56])[0]
    order = struct.unpack('>I', h[96:100])[0] if v >= 3 else 4
    return 1 << cb, rt, 1 << order
def loc(f, c):
    cs, rt, bits = hdr(f)
    per = cs * 8 // bits
    f.seek(rt + (c // per) * 8)
    rb = struct.unpack('>Q', f.read(8))[0] & ~511
    assert rb, "no refcount block"
    return rb, (c % per) * bits, bits
def get(f, c):
    rb, bit, bits = loc(f, c)
    f.seek(rb + bit // 8)
    v = int.from_bytes(f.read(max(bits // 8, 1)), 'big')
    return (v >> (bit % 8)) & ((1 << bits) - 1) if bits < 8 else v
def put(f, c, val):
    rb, bit, bits = loc(f, c)
    f.seek(rb + bit // 8)
    if bits >= 8:
        f.write(val.to_bytes(bits // 8, 'big'))
        return
    b = f.read(1)[0]
    m = ((1 << bits) - 1) << (bit % 8)
    f.seek(rb + bit // 8)
    f.write(bytes([(b & ~m) | (val << (bit % 8))]))
cmd, path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(path, 'r+b') as f:
    cs = hdr(f)[0]
    if cmd == 'grow':
        f.seek(0, 2)
        first = (f.tell() + cs - 1) // cs
        f.truncate((first + n) * cs)
        for c in range(first, first + n):
            put(f, c, 1)
    elif cmd == 'bump':
        put(f, n, get(f, n) + 1)
    elif cmd == 'zero':
        put(f, n, 0)
PY
}

# data_cluster IMG: index of the host cluster of the first data extent.
data_cluster() {
	"$QEMU_IMG" map --output=json "$1" | python3 -c '
import json, sys
cs = int(sys.argv[1])
for e in json.load(sys.stdin):
    if e.get("data") and "offset" in e:
        print(e["offset"] // cs)
        break' "$2"
}

# broken NAME IMG KIND: ours/ and ref/ copies of IMG with a KIND fault.
broken() {
	local name=$1 img=$2 kind=$3 cs=$4 c
	rm -rf ours ref
	mkdir ours ref
	cp "$img" ours/img.qcow2
	case $kind in
	grow) poke grow ours/img.qcow2 3 ;;
	bump | zero)
		c=$(data_cluster "$img" "$cs")
		[ -n "$c" ] && poke "$kind" ours/img.qcow2 "$c" ;;
	esac || { fail "check/$name/setup" "cannot poke the image"; return 1; }
	cp ours/img.qcow2 ref/img.qcow2
}

# leak_cases NAME IMG CS: leaks repaired with -r leaks and -r all.
leak_cases() {
	local name=$1 img=$2 cs=$3 kind r
	for kind in grow bump; do
		[ "$kind" = bump ] && [ "${name#*r1}" != "$name" ] && continue
		broken "$name" "$img" $kind "$cs" || return
		tool_both "check/$name/$kind/found" check img.qcow2
		for r in leaks all; do
			broken "$name" "$img" $kind "$cs" || return
			tool_both "check/$name/$kind/r-$r" check -r $r img.qcow2 &&
				clean_check "check/$name/$kind/r-$r/clean" ours/img.qcow2 &&
				same_content "check/$name/$kind/r-$r/compare" ours/img.qcow2 "$img"
		done
	done
	broken "$name" "$img" grow "$cs" &&
		tool_both "check/$name/json" check -r all --output=json img.qcow2
}

# corruption_case NAME IMG CS: a used cluster with refcount 0, -r all.
corruption_case() {
	local name=check/$1/corruption img=$2 f rc rrc
	broken "$1" "$img" zero "$3" || return
	f=$(case_file "$name")
	(cd ref && run_to "$f.ref" "$QEMU_IMG" check -r all img.qcow2)
	rrc=$?
	(cd ours && run_to "$f.ours" "$QCOW_IMG" check -r all img.qcow2)
	rc=$?
	if [ $rc -ne $rrc ]; then
		fail "$name" "check -r all exits $rc, qemu-img's $rrc"
		cat "$f.ours" "$f.ours.err" | diag 10
		return
	fi
	if ! grep -q '^The following inconsistencies were found and repaired:' "$f.ours"; then
		fail "$name" "no repair reported"
		diag 10 <"$f.ours"
		return
	fi
	if [ "$(grep -E '^ +[0-9]+ (leaked clusters|corruptions)$' "$f.ours")" != \
		"$(grep -E '^ +[0-9]+ (leaked clusters|corruptions)$' "$f.ref")" ]; then
		fail "$name" "the counts of what was repaired differ from qemu-img's"
		grep -E '^ +[0-9]+ (leaked|corr)' "$f.ref" "$f.ours" | diag 4
		return
	fi
	pass "$name"
	clean_check "$name/clean" ours/img.qcow2
	same_content "$name/compare" ours/img.qcow2 "$img"
}

# config NAME CS OPTS: an image written by qemu-io, then every case.
config() {
	local name=$1 cs=$2 opts=$3 img=$1.qcow2
	ws_write "$cs" $((4 << 20))
	if ! qimg create -f qcow2 -o "cluster_size=$cs${opts:+,$opts}" "$img" 4M ||
	   ! qio "$img" "${W1[@]}"; then
		fail "check/$name/setup" "qemu could not build the image (log: $SETUP_LOG)"
		return
	fi
	case $opts in *snapshot*) ;; esac
	leak_cases "$name" "$img" "$cs"
	corruption_case "$name" "$img" "$cs"
}

write_setup
config c64k-r16 65536 ""
config c4k-r1 4096 refcount_bits=1
config c4k-r64 4096 refcount_bits=64
config c512-v2 512 compat=0.10
config c64k-extl2-r2 65536 extended_l2=on,refcount_bits=2
config c64k-lazy 65536 lazy_refcounts=on
finish
