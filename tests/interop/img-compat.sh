#!/bin/bash
# qcow-img as a drop-in qemu-img (issue #15): the behaviour differences
# found by running qemu-img scripts against it, each run by qemu-img in
# ref/ and by qcow-img in ours/ on copies of the same inputs (tool_both:
# same exit status and stdout, stderr alike in kind), the results
# compared with qemu-img compare/check, or byte for byte where qemu-img's
# output is deterministic.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source=tests/interop/write-workloads.bash
. "$(dirname "$0")/write-workloads.bash"

fresh() {
	rm -rf ours ref
	mkdir ours ref
	[ $# -gt 0 ] && cp "$@" ours/ && cp "$@" ref/
}

# same_bytes NAME FILE: ours/FILE and ref/FILE are byte-identical.
same_bytes() {
	if cmp -s "ours/$2" "ref/$2"; then
		pass "$1"
		return 0
	fi
	fail "$1" "ours/$2 differs from qemu-img's: $(cmp "ours/$2" "ref/$2" 2>&1 | head -n 1)"
	return 1
}

# ------------------------------------------------- empty images, no leak

test_empty() {
	local o
	for o in "" compat=0.10 refcount_bits=1 cluster_size=512 \
		extended_l2=on preallocation=metadata; do
		fresh
		tool_both "empty/create${o:+-$o}" create -f qcow2 ${o:+-o "$o"} img.qcow2 0 &&
			clean_check "empty/create${o:+-$o}/check" ours/img.qcow2 &&
			same_bytes "empty/create${o:+-$o}/bytes" img.qcow2
	done
	for o in 0 512 3000 1M; do
		fresh
		tool_both "empty/create-raw-$o" create -f raw img.raw "$o" &&
			map_shape "empty/create-raw-$o/map" ours/img.raw ref/img.raw
	done
	: >empty.raw
	fresh empty.raw
	tool_both empty/convert convert -f raw -O qcow2 empty.raw img.qcow2 &&
		clean_check empty/convert/check ours/img.qcow2 &&
		same_bytes empty/convert/bytes img.qcow2
	# grown later, the image gets its first L1 table
	run_ok empty/resize "$QCOW_IMG" resize ours/img.qcow2 1G &&
		run_ok empty/resize/write "$QCOW_IO" -c 'write -P 7 512M 64k' ours/img.qcow2 &&
		clean_check empty/resize/check ours/img.qcow2 &&
		run_ok empty/resize/read "$QEMU_IO" -c 'read -P 7 512M 64k' ours/img.qcow2
}

# --------------------------------------- rebase -u, unknown header extension

# add_unknown_ext IMG: an extension of an unknown type before the others.
add_unknown_ext() {
	python3 - "$1" <<'EOF'
import struct, sys
path = sys.argv[1]
with open(path, "r+b") as f:
    h = bytearray(f.read(4096))
    start = struct.unpack(">I", h[100:104])[0]
    off = start
    while True:
        t, n = struct.unpack(">II", h[off:off + 8])
        if t == 0:
            break
        off += 8 + ((n + 7) & ~7)
    ext = struct.pack(">II", 0x12345678, 5) + b"hello\0\0\0"
    h[start:off + 8 + len(ext)] = ext + h[start:off] + bytes(8)
    f.seek(0)
    f.write(h)
EOF
}

test_rebase_ext() {
	"$QEMU_IMG" create -q -f qcow2 base.qcow2 1M &&
		"$QEMU_IMG" create -q -f qcow2 ext.qcow2 1M &&
		add_unknown_ext ext.qcow2 || { fail rebase-ext/setup; return; }
	fresh base.qcow2 ext.qcow2
	tool_both rebase-ext/set rebase -u -b base.qcow2 -F qcow2 ext.qcow2 &&
		same_bytes rebase-ext/set/bytes ext.qcow2
	tool_both rebase-ext/change rebase -u -b ext.qcow2 -F qcow2 ext.qcow2 &&
		same_bytes rebase-ext/change/bytes ext.qcow2
	tool_both rebase-ext/remove rebase -u -b '' ext.qcow2 &&
		same_bytes rebase-ext/remove/bytes ext.qcow2
}

# ------------------------------------------------------ map, JSON keys

test_map() {
	"$QEMU_IMG" create -q -f qcow2 m.qcow2 1M &&
		"$QEMU_IO" -c 'write -c -P 1 0 64k' -c 'write -P 2 64k 64k' \
			-c 'write -z 256k 64k' m.qcow2 >/dev/null &&
		"$QEMU_IMG" create -q -f qcow m.qcow 1M &&
		"$QEMU_IO" -c 'write -c -P 1 0 4k' -c 'write -c -P 3 4k 4k' -c 'write -P 2 128k 4k' \
			m.qcow >/dev/null &&
		"$QEMU_IMG" convert -O raw m.qcow2 m.raw || { fail map/setup; return; }
	fresh m.qcow2 m.qcow m.raw
	tool_both map/json-qcow2 map --output=json m.qcow2
	tool_both map/json-qcow map --output=json m.qcow
	tool_both map/json-raw map --output=json -f raw m.raw
	tool_both map/human-compressed map m.qcow2 &&
		if grep -q 'File contains external, encrypted or compressed clusters\.$' \
			"$(case_file map/human-compressed).ours.err"; then
			pass map/human-compressed/words
		else
			fail map/human-compressed/words "not qemu-img's words"
		fi
}

# ------------------------------- write -z of part of a (sub)cluster

# zero_case NAME CREATE-OPTS CMD...: an image made with CREATE-OPTS (1M),
# the commands by qemu-io on ref.qcow2 and by $QCOW_IO on ours.qcow2: the
# same output, identical content, the same allocation (map_shape: where
# QEMU records a zero or unallocated cluster, ours too), clean.
zero_case() {
	local name=zero/$1 opts=$2
	shift 2
	rm -f ours.qcow2 ref.qcow2
	# shellcheck disable=SC2086 # CREATE-OPTS: several arguments
	"$QEMU_IMG" create -q -f qcow2 $opts ref.qcow2 1M &&
		cp ref.qcow2 ours.qcow2 || { fail "$name" "setup"; return; }
	io_both "$name/io" qcow2 ours.qcow2 ref.qcow2 "$@" || return
	same_content "$name/compare" ours.qcow2 ref.qcow2
	map_shape "$name/map" ours.qcow2 ref.qcow2
	clean_check "$name/check" ours.qcow2
}

test_zero_partial() {
	local w=(
		'write -z 4k 8k'                # unallocated, backing empty there
		'write -z 130k 4k'              # backing data
		'write -z 322k 4k'              # backing zero cluster
		'write -z 60k 8k'               # across a cluster boundary
		'write -P 5 512k 4k' 'write -z 516k 4k'   # our own data
		'write -z 600k 4k' 'write -z -u 604k 4k'  # then a zero cluster
		'write -z 1020k 4k'             # the disk's end
	)
	"$QEMU_IMG" create -q -f qcow2 zb.qcow2 1M &&
		"$QEMU_IO" -c 'write -P 1 128k 64k' -c 'write -z 320k 64k' \
			-c 'write -P 2 704k 64k' zb.qcow2 >/dev/null &&
		"$QEMU_IMG" create -q -f qcow2 zb-short.qcow2 256k &&
		truncate -s 1M zb.raw &&
		"$QEMU_IO" -f raw -c 'write -P 1 128k 64k' zb.raw >/dev/null ||
		{ fail zero/setup; return; }
	zero_case overlay "-b zb.qcow2 -F qcow2" "${w[@]}"
	zero_case overlay-short "-b zb-short.qcow2 -F qcow2" "${w[@]}"
	zero_case overlay-raw "-b zb.raw -F raw" "${w[@]}"
	zero_case overlay-extl2 "-o extended_l2=on -b zb.qcow2 -F qcow2" \
		'write -z 17k 1k' 'write -z 140k 1k' 'write -z 330k 1k' \
		'write -P 5 540k 2k' 'write -z 544k 1k' 'write -z 541k 1k' \
		"${w[@]}"
	zero_case plain "" "${w[@]}"
	zero_case v2 "-o compat=0.10" 'write -z 0 64k' 'write -P 3 64k 64k' \
		'write -z 64k 64k' 'write -P 3 192k 64k' 'write -z -u 192k 64k' \
		"${w[@]}"
	zero_case v2-overlay "-o compat=0.10 -b zb.qcow2 -F qcow2" "${w[@]}"
}

# ---------------------------------- json:, file: and names with a colon

# Every verb that opens an image, given each way of naming it.
test_names() {
	local names=(
		'file:n.qcow2' 'file:c:d.qcow2' './c:d.qcow2' 'c:d.qcow2'
		'nbd:c' 'file:sub/e:f.qcow2'
		'json:{"driver":"qcow2","file":{"driver":"file","filename":"n.qcow2"}}'
		'json:{"file":{"filename":"c:d.qcow2"}}'
		'json:{"driver":"qcow2","file.filename":"sub/e:f.qcow2"}'
		'json:{"driver":"raw","file":{"driver":"file","filename":"n.raw"}}'
		'json:{"driver":"qcow2","file":{"filename":"n.qcow2"},"x":1}'
		'json:{broken'
		'json:{"driver":"file","filename":"n.raw"}'
		'json:{"driver":"file","filename":"n.qcow2"}'
		'json:{"file":"n.qcow2"}'
		'json:{"driver":"qcow2","file":"n.qcow2"}'
		'json:{"filename":"n.qcow2"}'
		'json:{"driver":"raw","filename":"n.raw"}'
		'json:{"driver":"file","file":{"filename":"n.raw"}}'
	) n i=0 img
	mkdir -p sub
	"$QEMU_IMG" create -q -f qcow2 n.qcow2 1M &&
		"$QEMU_IO" -c 'write -P 9 0 64k' n.qcow2 >/dev/null &&
		cp n.qcow2 c:d.qcow2 && cp n.qcow2 sub/e:f.qcow2 &&
		"$QEMU_IMG" convert -O raw n.qcow2 n.raw ||
		{ fail names/setup; return; }
	for n in "${names[@]}"; do
		i=$((i + 1))
		case $n in
		*c:d*) img=c:d.qcow2 ;;
		*e:f*) img=sub/e:f.qcow2 ;;
		*n.raw*) img=n.raw ;;
		*) img=n.qcow2 ;;
		esac
		fresh n.qcow2 c:d.qcow2 n.raw
		mkdir ours/sub ref/sub
		cp sub/e:f.qcow2 ours/sub/ && cp sub/e:f.qcow2 ref/sub/
		tool_both "names/$i/info" info "$n"
		tool_both "names/$i/info-json" info --output=json "$n"
		tool_both "names/$i/map" map --output=json "$n"
		tool_both "names/$i/check" check "$n"
		tool_both "names/$i/compare" compare -U "$n" n.raw
		tool_both "names/$i/convert" convert -U -O raw "$n" out.raw &&
			[ -e ref/out.raw ] &&
			same_bytes "names/$i/convert/bytes" out.raw
		tool_both "names/$i/snapshot" snapshot -l "$n"
		tool_both "names/$i/resize" resize "$n" 2M
		tool_both "names/$i/amend" amend -o size=3M "$n"
		tool_both "names/$i/rebase" rebase -u -b '' "$n"
		tool_both "names/$i/bitmap" bitmap --add "$n" b0
		[ -f "ours/$img" ] && same_content "names/$i/result" \
			"ours/$img" "ref/$img"
	done
	fresh n.qcow2
	tool_both names/create-file create -f qcow2 file:x:y.qcow2 1M &&
		same_bytes names/create-file/bytes x:y.qcow2
	tool_both names/create-protocol create -f qcow2 p:q.qcow2 1M
	tool_both names/create-json create -f qcow2 \
		'json:{"driver":"file","filename":"j.qcow2"}' 1M
	tool_both names/convert-file convert -O qcow2 n.qcow2 file:w:w.qcow2 &&
		same_content names/convert-file/result ours/w:w.qcow2 ref/w:w.qcow2
	tool_both names/convert-protocol convert -O qcow2 n.qcow2 w:v.qcow2
	[ ! -e ours/p:q.qcow2 ] && [ ! -e ours/w:v.qcow2 ] &&
		[ ! -e ours/j.qcow2 ] && pass names/refused-not-made ||
		fail names/refused-not-made "a refused name was created"
}

# ------------------------------------------------ resize --preallocation

test_resize_prealloc() {
	local p f
	"$QEMU_IMG" create -q -f qcow2 rp.qcow2 1000k &&
		"$QEMU_IO" -c 'write -P 1 960k 40k' rp.qcow2 >/dev/null &&
		"$QEMU_IMG" create -q -f qcow2 -o cluster_size=16k,extended_l2=on \
			rp4k.qcow2 999k &&
		truncate -s 1000k rp.raw ||
		{ fail resize/setup; return; }
	for p in off metadata falloc full; do
		for f in rp.qcow2 rp4k.qcow2 rp.raw; do
			fresh rp.qcow2 rp4k.qcow2 rp.raw
			tool_both "resize/$p/$f" resize "--preallocation=$p" \
				-f "${f##*.}" "$f" 3M || continue
			[ "$p/$f" = metadata/rp.raw ] && continue
			same_content "resize/$p/$f/compare" "ours/$f" "ref/$f"
			map_shape "resize/$p/$f/map" "ours/$f" "ref/$f"
			case $f in
			*.qcow2) clean_check "resize/$p/$f/check" "ours/$f" ;;
			esac
		done
	done
	fresh rp.qcow2
	tool_both resize/bad-mode resize --preallocation=bogus rp.qcow2 3M
	tool_both resize/shrink resize --shrink --preallocation=full rp.qcow2 512k
	same_bytes resize/refused-unchanged rp.qcow2
}

# ------------------------------------------- convert, several sources

test_convert_multi() {
	"$QEMU_IMG" create -q -f qcow2 s1.qcow2 1M &&
		"$QEMU_IO" -c 'write -P 1 0 64k' -c 'write -z 128k 64k' \
			s1.qcow2 >/dev/null &&
		truncate -s 100k s2.raw &&
		"$QEMU_IO" -f raw -c 'write -P 2 4k 4k' -c 'write -P 3 96k 4k' \
			s2.raw >/dev/null &&
		"$QEMU_IMG" create -q -f qcow s3.qcow 300k &&
		"$QEMU_IO" -c 'write -P 4 8k 8k' s3.qcow >/dev/null &&
		"$QEMU_IMG" create -q -f qcow2 small.qcow2 1M ||
		{ fail convert-multi/setup; return; }
	local args i=0
	for args in "-O qcow2 s1.qcow2 s2.raw" "-O qcow2 s2.raw s1.qcow2 s3.qcow" \
		"-c -O qcow2 s2.raw s1.qcow2" "-O qcow s2.raw s2.raw s3.qcow" \
		"-O qcow2 -o cluster_size=4k s3.qcow s2.raw s2.raw s1.qcow2" \
		"-O raw s2.raw s1.qcow2 s2.raw" "-f raw -O qcow2 s2.raw s2.raw"; do
		i=$((i + 1))
		fresh s1.qcow2 s2.raw s3.qcow
		# shellcheck disable=SC2086 # ARGS: several arguments
		tool_both "convert-multi/$i" convert $args out && [ -e ref/out ] ||
			continue
		same_content "convert-multi/$i/compare" ours/out ref/out
		case $args in
		*"-O raw"* | *"-O qcow "*)
		   map_shape "convert-multi/$i/map" ours/out ref/out ;;
		*) map_shape "convert-multi/$i/map" ours/out ref/out
		   clean_check "convert-multi/$i/check" ours/out ;;
		esac
	done
	fresh s1.qcow2 s2.raw small.qcow2
	tool_both convert-multi/too-small convert -n -O qcow2 s1.qcow2 s2.raw small.qcow2
	tool_both convert-multi/bitmaps convert --bitmaps -O qcow2 s1.qcow2 s2.raw out
	tool_both convert-multi/snapshot convert -l sn -O qcow2 s1.qcow2 s2.raw out
	tool_both convert-multi/missing convert -O qcow2 s1.qcow2 nosuch out
	tool_both convert-multi/wrong-format convert -f qcow2 -O qcow2 s1.qcow2 s2.raw out
}

# ------------------------------------------------- qemu-img's error words

# said NAME: qemu-img's message (its first line, the program name and the
# file name left out) is part of ours, for scripts that match on it.
said() {
	local f ref
	f=$(case_file "$1")
	ref=$(grep -v '^qemu-img: WARNING\|^qemu-img:  ' "$f.ref.err" | head -n 1)
	ref=${ref#qemu-img: }
	ref=${ref#*.qcow2: }
	ref=${ref#*.raw: }
	ref=${ref#"Could not open 'ours/img.qcow2': "}
	if [ -n "$ref" ] && grep -qF -- "$ref" "$f.ours.err"; then
		pass "$1/words"
	else
		fail "$1/words" "qemu-img says '$ref'; ours: $(head -c 200 "$f.ours.err")"
	fi
}

test_words() {
	local o i=0
	for o in cluster_size=1000 cluster_size=256 cluster_size=4M \
		refcount_bits=3 refcount_bits=128 extended_l2=on,cluster_size=4k \
		compat=0.10,refcount_bits=1 compat=0.10,extended_l2=on \
		compat=0.10,lazy_refcounts=on compat=0.10,data_file=d.raw \
		compat=0.10,compression_type=zstd foo=bar lazy_refcounts=maybe \
		compat=2 preallocation=foo compression_type=lz4 data_file_raw=on \
		backing_fmt=qcow2; do
		i=$((i + 1))
		fresh
		tool_both "words/create-$i-$o" create -f qcow2 -o "$o" img.qcow2 1M &&
			said "words/create-$i-$o"
	done
	fresh
	tool_both words/too-large create -f qcow2 -o cluster_size=512 img.qcow2 1P &&
		said words/too-large
	tool_both words/size-range create -f qcow2 img.qcow2 9E &&
		said words/size-range
	tool_both words/raw-option create -f raw -o foo=1 img.raw 1M &&
		said words/raw-option
	"$QEMU_IMG" create -q -f qcow2 r.qcow2 10M || { fail words/setup; return; }
	fresh r.qcow2
	tool_both words/resize-shrink resize r.qcow2 5M && said words/resize-shrink
	tool_both words/resize-negative resize r.qcow2 -- -20M &&
		said words/resize-negative
	tool_both words/resize-huge resize r.qcow2 9E && said words/resize-huge
	# qcow (version 1) cannot be resized, whatever the size or mode
	"$QEMU_IMG" create -q -f qcow v1.qcow 1M || { fail words/setup-v1; return; }
	local a
	for a in 2M 1M +0 "--shrink 512k" "--preallocation=full 3M" \
		"--preallocation=metadata 3M"; do
		fresh v1.qcow
		# shellcheck disable=SC2086 # A: several arguments
		tool_both "words/resize-v1/${a// /_}" resize v1.qcow $a &&
			said "words/resize-v1/${a// /_}"
	done
	same_bytes words/resize-v1/unchanged v1.qcow
}

# ------------------------------------------------------------- compare -s

# Every ordered pair, with and without -s: the same first mismatch.
# qemu-img's strict statuses include whether a run reaches the image's
# end: a run of unallocated clusters to the end differs from a shorter one.
test_compare() {
	local x y s
	"$QEMU_IMG" create -q -f qcow2 c0.qcow2 4M &&
		"$QEMU_IO" -c 'write -P 1 0 1M' c0.qcow2 >/dev/null &&
		"$QEMU_IMG" create -q -f qcow2 c1.qcow2 4M &&
		"$QEMU_IO" -c 'write -P 1 0 1M' -c 'write -z 2M 64k' c1.qcow2 >/dev/null &&
		"$QEMU_IMG" create -q -f qcow2 c2.qcow2 4M &&
		"$QEMU_IO" -c 'write -P 1 0 1M' -c 'write -P 0 3M 64k' c2.qcow2 >/dev/null &&
		"$QEMU_IMG" create -q -f qcow2 -b c0.qcow2 -F qcow2 c3.qcow2 &&
		"$QEMU_IO" -c 'write -z 3M 64k' c3.qcow2 >/dev/null &&
		"$QEMU_IMG" create -q -f qcow2 c4.qcow2 6M &&
		"$QEMU_IO" -c 'write -P 1 0 1M' -c 'write -P 0 5M 4k' c4.qcow2 >/dev/null &&
		truncate -s 4M c5.raw &&
		"$QEMU_IO" -f raw -c 'write -P 1 0 1M' c5.raw >/dev/null ||
		{ fail compare/setup; return; }
	fresh c0.qcow2 c1.qcow2 c2.qcow2 c3.qcow2 c4.qcow2 c5.raw
	for x in c0.qcow2 c1.qcow2 c2.qcow2 c3.qcow2 c4.qcow2 c5.raw; do
		for y in c0.qcow2 c1.qcow2 c2.qcow2 c3.qcow2 c4.qcow2 c5.raw; do
			[ "$x" = "$y" ] && continue
			for s in -s ""; do
				# shellcheck disable=SC2086 # S: none or one
				tool_both "compare/${x%.*}-${y%.*}${s}" compare $s "$x" "$y"
			done
		done
	done
}

# ---------------------------------------------------------------- measure

test_measure() {
	"$QEMU_IMG" create -q -f qcow2 u.qcow2 1000k &&
		"$QEMU_IO" -c 'write -P 1 990k 4k' -c 'write -c -P 2 0 64k' \
			-c 'write -z 128k 64k' u.qcow2 >/dev/null &&
		"$QEMU_IMG" bitmap --add -g 16k u.qcow2 a-longer-bitmap-name &&
		"$QEMU_IMG" bitmap --add u.qcow2 b0 &&
		"$QEMU_IMG" snapshot -c snap u.qcow2 &&
		"$QEMU_IO" -c 'write -P 3 512k 8k' u.qcow2 >/dev/null &&
		"$QEMU_IMG" create -q -f qcow2 -b u.qcow2 -F qcow2 top.qcow2 3M &&
		"$QEMU_IO" -c 'write -P 4 2M 4k' top.qcow2 >/dev/null &&
		"$QEMU_IMG" create -q -f qcow2 -o cluster_size=16k,extended_l2=on \
			e.qcow2 1M &&
		"$QEMU_IO" -c 'write -P 1 20k 2k' -c 'write -P 1 100k 2k' e.qcow2 >/dev/null &&
		truncate -s 3M h.raw &&
		"$QEMU_IO" -f raw -c 'write -P 1 100k 4k' -c 'write -P 1 120k 4k' \
			-c 'write -P 1 140k 4k' h.raw >/dev/null &&
		"$QEMU_IMG" create -q -f qcow2 -o compat=0.10 v2.qcow2 5M &&
		"$QEMU_IO" -c 'write -P 1 1M 1M' v2.qcow2 >/dev/null ||
		{ fail measure/setup; return; }
	fresh u.qcow2 top.qcow2 e.qcow2 h.raw v2.qcow2
	local args i=0
	while IFS= read -r args; do
		i=$((i + 1))
		# shellcheck disable=SC2086 # ARGS: several arguments
		tool_both "measure/$i" measure $args
	done <<'EOF2'
--size 1000
--size 1000 -O qcow2
--size 1000k -O qcow2 -o cluster_size=512
--size 0 -O qcow2
--size 100G -O qcow2 -o cluster_size=2M
--size 10G -O qcow2 -o cluster_size=512,refcount_bits=1
--size 10G -O qcow2 -o cluster_size=16k,extended_l2=on,refcount_bits=64
--size 1000k -O qcow2 -o preallocation=full
--size 1000k -O qcow2 -o preallocation=metadata
--size 3M -O qcow2 -o size=5M
--output=json --size 7M
--output=json --size 7M -O qcow2
u.qcow2
-O qcow2 u.qcow2
-O qcow2 -o compat=0.10 u.qcow2
-O qcow2 -o cluster_size=4k u.qcow2
-O qcow2 -o preallocation=falloc u.qcow2
--output=json -O qcow2 u.qcow2
--output=json -O raw u.qcow2
-O qcow2 -l snap u.qcow2
-O qcow2 -l snapshot.name=snap u.qcow2
-U -O qcow2 top.qcow2
-O qcow2 -o cluster_size=512 e.qcow2
-O qcow2 e.qcow2
-f raw -O qcow2 h.raw
-f raw -O qcow2 -o cluster_size=16k h.raw
-O qcow2 v2.qcow2
-O qcow2 --image-opts driver=qcow2,file.filename=u.qcow2
-O qcow2 json:{"file":{"filename":"u.qcow2"}}
-O qcow --size 1M
-O qcow2 -l nosuch u.qcow2
-O qcow2
--size 1M u.qcow2
-O qcow2 -o cluster_size=1000 --size 1M
-O qcow2 -o foo=1 --size 1M
-O qcow2 --size 1P -o cluster_size=512
-O qcow2 --size 1P
-O qcow2 --size 100000T
-O qcow2 --size 9E
EOF2
	test_measure_encrypt
}

# measure -o encrypt.*: qemu-img counts the LUKS header's clusters (its
# size set by the cipher's key length) and ignores every other encryption
# option but their type (aes, a bad format name, a secret alone).  It
# times PBKDF2 for LUKS (hence pbkdf-retry), at least a second of CPU
# each: three such cases.
test_measure_encrypt() {
	local args i=0 retry=$WORK/qemu-img-retry
	local sec=(--object 'secret,id=sec0,data=abc')
	local luks=encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=1
	printf '#!/bin/sh\nexec "%s" "%s" "$@"\n' \
		"$TESTS_DIR/helpers/pbkdf-retry" "$QEMU_IMG" >"$retry" &&
		chmod +x "$retry" &&
		"$retry" create -q -f qcow2 "${sec[@]}" -o "$luks" \
			-o encrypt.iter-time=10 lk.qcow2 1M &&
		"$QEMU_IO" --object secret,id=sec0,data=abc --image-opts \
			-c 'write -P 1 64k 128k' \
			driver=qcow2,file.filename=lk.qcow2,encrypt.key-secret=sec0 \
			>/dev/null || { fail measure-encrypt/setup; return; }
	fresh u.qcow2 lk.qcow2
	while IFS= read -r args; do
		i=$((i + 1))
		# shellcheck disable=SC2086 # ARGS: several arguments
		QEMU_IMG=$retry tool_both "measure-encrypt/$i" measure \
			"${sec[@]}" $args
	done <<EOF2
-O qcow2 -o $luks --size 1G
-O qcow2 -o $luks --output=json u.qcow2
-O qcow2 -o $luks,encrypt.cipher-alg=aes-128,encrypt.hash-alg=sha1,cluster_size=512 --size 1G
-O qcow2 -o encrypt.format=aes,encrypt.key-secret=sec0 --size 1G
-O qcow2 -o encryption=on --size 1G
-O qcow2 -o encrypt.format=aes,encrypt.cipher-alg=aes-128 --size 1G
-O qcow2 -o encrypt.format=foo --size 1G
-O qcow2 -o encrypt.format=LUKS,encrypt.key-secret=sec0 --size 1G
-O qcow2 -o encrypt.key-secret=nosuch --size 1G
-O qcow2 -o encrypt.format=luks --size 1G
-O qcow2 -o encrypt.format=luks,encrypt.key-secret=nosuch --size 1G
-O qcow2 -o $luks,encrypt.cipher-alg=foo --size 1G
-O qcow2 -o $luks,encrypt.hash-alg=foo --size 1G
-O qcow2 -o encryption=foo --size 1G
-O qcow2 -o encrypt.iter-time=abc --size 1G
-O raw -o $luks --size 1G
-O qcow2 --image-opts driver=qcow2,file.filename=lk.qcow2,encrypt.key-secret=sec0
-O qcow2 lk.qcow2
EOF2
}

# --------------------------------------------------------------------- dd

test_dd() {
	"$QEMU_IMG" create -q -f qcow2 d.qcow2 1M &&
		"$QEMU_IO" -c 'write -P 1 0 4k' -c 'write -P 2 512k 64k' \
			-c 'write -P 3 1020k 4k' d.qcow2 >/dev/null ||
		{ fail dd/setup; return; }
	local args i=0 out
	while IFS= read -r args; do
		i=$((i + 1))
		fresh d.qcow2
		# shellcheck disable=SC2086 # ARGS: several arguments
		tool_both "dd/$i" dd $args || continue
		out=${args##*of=}
		out=${out%% *}
		out=${out#file:}
		[ -e "ref/$out" ] || continue
		same_bytes "dd/$i/bytes" "$out" ||
			same_content "dd/$i/compare" "ours/$out" "ref/$out"
		case $out in
		*.qcow2) map_shape "dd/$i/map" "ours/$out" "ref/$out"
			 clean_check "dd/$i/check" "ours/$out" ;;
		esac
	done <<'EOF2'
if=d.qcow2 of=o.raw
-O qcow2 bs=64k count=10 skip=2 if=d.qcow2 of=o.qcow2
-O qcow2 bs=1k skip=3 if=d.qcow2 of=o.qcow2
bs=4k skip=300 if=d.qcow2 of=o.raw
bs=4k count=1 skip=2 if=d.qcow2 of=o.raw
bs=4k skip=256 if=d.qcow2 of=o.raw
bs=1000 skip=3 if=d.qcow2 of=o.raw
bs=64k count=3 skip=1 -O qcow if=d.qcow2 of=o.qcow
-f raw if=d.qcow2 of=o.raw
bs=1k count=0 if=d.qcow2 of=o.raw
bs=3 count=1000 skip=7 if=d.qcow2 of=o.raw
bs=1M count=1 -U if=d.qcow2 of=o.raw
if=d.qcow2 of=file:f:g.raw
if=json:{"file":{"filename":"d.qcow2"}} of=o.raw
--image-opts if=driver=qcow2,file.filename=d.qcow2 of=o.raw
if=d.qcow2
of=o.raw
bs=0 if=d.qcow2 of=o.raw
bs=1k count=abc if=d.qcow2 of=o.raw
bs=1k skip=-1 if=d.qcow2 of=o.raw
foo=1 if=d.qcow2 of=o.raw
if=nosuch of=o.raw
if=d.qcow2 of=p:q.raw
EOF2
}

# ------------------------------------------------------- -p progress

# amend -p: the steps of each operation (upgrade, new refcount width,
# downgrade), shared out as qemu-img does; refused, 0% and 100% or (when
# refused before qemu-img starts drawing) only the line's end.
test_progress_amend() {
	local a i=0
	"$QEMU_IMG" create -q -f qcow2 ap.qcow2 8M &&
		"$QEMU_IO" -c 'write -P 1 0 1M' -c 'write -z 2M 1M' ap.qcow2 >/dev/null &&
		"$QEMU_IMG" create -q -f qcow2 ab.qcow2 3G &&
		"$QEMU_IO" -c 'write -P 1 1G 1M' -c 'write -z 2G 1M' ab.qcow2 >/dev/null &&
		"$QEMU_IMG" create -q -f qcow2 -o compat=0.10 a2.qcow2 3G &&
		"$QEMU_IMG" create -q -f qcow a1.qcow 1M ||
		{ fail progress/amend-setup; return; }
	while IFS= read -r a; do
		i=$((i + 1))
		fresh ap.qcow2 ab.qcow2 a2.qcow2 a1.qcow
		# shellcheck disable=SC2086 # A: several arguments
		tool_both "progress/amend-$i" amend -p $a
	done <<'EOF2'
-o refcount_bits=8 ap.qcow2
-o refcount_bits=2,lazy_refcounts=on ab.qcow2
-o compat=0.10 ap.qcow2
-o compat=0.10 ab.qcow2
-o compat=1.1 a2.qcow2
-o compat=1.1,refcount_bits=4 a2.qcow2
-o size=16M ap.qcow2
-o refcount_bits=64,compat=0.10 ap.qcow2
-o refcount_bits=3 ap.qcow2
-o compat=9 ap.qcow2
-o backing_file=x ap.qcow2
-o lazy_refcounts=maybe ap.qcow2
-o foo=1 ap.qcow2
-o cluster_size=4k ap.qcow2
-o size=2M a1.qcow
-o compat=1.1 nosuch.qcow2
EOF2
}

# commit -p: qemu-img's job draws its progress when it polls, so how
# many 0% and 100% lines and which steps it shows vary from run to run;
# on tops whose runs to copy are copied in steps of one size (1 MiB, or
# one cluster each), every step it drew is one of ours, and ours run from
# 0% to 100%, counting only the clusters to copy.
test_progress_commit() {
	local w i=0 f b=""
	while IFS= read -r w; do
		i=$((i + 1))
		b=
		case $w in
		small-base*) b="-o cluster_size=4k"; w=${w#small-base } ;;
		esac
		rm -f cmb.qcow2 cmt.qcow2
		# shellcheck disable=SC2086 # B: several arguments
		"$QEMU_IMG" create -q -f qcow2 $b cmb.qcow2 8M &&
			"$QEMU_IO" -c 'write 0 3M' cmb.qcow2 >/dev/null &&
			"$QEMU_IMG" create -q -f qcow2 -b cmb.qcow2 -F qcow2 cmt.qcow2 ||
			{ fail "progress/commit-$i/setup"; continue; }
		if [ -n "$w" ]; then
			eval "\"\$QEMU_IO\" $w cmt.qcow2" >/dev/null ||
				{ fail "progress/commit-$i/setup"; continue; }
		fi
		fresh cmb.qcow2 cmt.qcow2
		f=$(case_file "progress/commit-$i")
		(cd ref && "$QEMU_IMG" commit -p cmt.qcow2) | tr '\r' '\n' | uniq >"$f.ref"
		(cd ours && "$QCOW_IMG" commit -p cmt.qcow2) | tr '\r' '\n' | uniq >"$f.ours"
		if [ "$(head -n 1 "$f.ours")" != "    (0.00/100%)" ] ||
		   ! grep -qx '    (100.00/100%)' "$f.ours" ||
		   [ "$(tail -n 1 "$f.ours")" != "Image committed." ]; then
			fail "progress/commit-$i" "not from 0% to 100%"
			diag 6 <"$f.ours"
		elif grep -vxFf "$f.ours" "$f.ref" >"$f.diff"; then
			fail "progress/commit-$i" "qemu-img drew steps ours does not"
			diag 6 <"$f.diff"
		else
			pass "progress/commit-$i"
		fi
		same_content "progress/commit-$i/compare" ours/cmb.qcow2 ref/cmb.qcow2
	done <<'EOF2'
-c 'write -P 3 1M 3M'
small-base -c 'write -P 3 1M 3M'
-c 'write -P 1 100k 4k' -c 'write -P 1 200k 2k'
-c 'write -P 1 1M 4M' -c 'write -z 6M 1M'

EOF2
}

# rebase -p: the progress lines byte for byte (qemu-img counts 2 MiB
# steps that copy, ending at either backing file's end).
test_progress() {
	local b t i=0
	for b in 3M 8M; do
		for t in "5M" "1M" "3M 512k" "8M 1M" "7M 512k"; do
			i=$((i + 1))
			set -- $t
			rm -f pb.qcow2 pt.qcow2 pn.qcow2
			"$QEMU_IMG" create -q -f qcow2 pb.qcow2 "$b" &&
				"$QEMU_IMG" create -q -f qcow2 -b pb.qcow2 -F qcow2 pt.qcow2 "$1" &&
				"$QEMU_IMG" create -q -f qcow2 pn.qcow2 5M ||
				{ fail "progress/$i/setup"; continue; }
			[ $# -gt 1 ] && "$QEMU_IO" -c "write $2 64k" pt.qcow2 >/dev/null
			fresh pb.qcow2 pt.qcow2 pn.qcow2
			tool_both "progress/rebase-$i" rebase -p -b pn.qcow2 -F qcow2 pt.qcow2 &&
				same_content "progress/rebase-$i/compare" ours/pt.qcow2 ref/pt.qcow2
		done
	done
	test_progress_amend
	test_progress_commit
	# compare -p: 2 MiB steps where data is read, redrawn every 2%
	"$QEMU_IMG" create -q -f qcow2 cb.qcow2 8M &&
		"$QEMU_IO" -c 'write 0 4M' cb.qcow2 >/dev/null ||
		{ fail progress/compare-setup; return; }
	for t in "write -P 3 1M 3M" "write -P 0xcd 1M 3M" "write -z 2M 1M" \
		"write -P 0xcd 5M 1M"; do
		i=$((i + 1))
		rm -f ct.qcow2
		"$QEMU_IMG" create -q -f qcow2 -b cb.qcow2 -F qcow2 ct.qcow2 &&
			"$QEMU_IO" -c "$t" ct.qcow2 >/dev/null ||
			{ fail "progress/$i/setup"; continue; }
		fresh cb.qcow2 ct.qcow2
		tool_both "progress/compare-$i" compare -p ct.qcow2 cb.qcow2
		tool_both "progress/compare-$i-f" compare -p -f qcow2 -F qcow2 cb.qcow2 ct.qcow2
		# convert -p: the data chunks (-c: clusters) counted, not -B's
		tool_both "progress/convert-$i" convert -p -O qcow2 ct.qcow2 x.qcow2
		tool_both "progress/convert-$i-raw" convert -p -O raw ct.qcow2 x.raw
		tool_both "progress/convert-$i-c" convert -p -c -O qcow2 ct.qcow2 x.qcow2
		tool_both "progress/convert-$i-B" convert -p -O qcow2 \
			-B cb.qcow2 -F qcow2 ct.qcow2 x.qcow2
		tool_both "progress/convert-$i-multi" convert -p -O raw ct.qcow2 cb.qcow2 x.raw
		tool_both "progress/convert-$i-S0" convert -p -S 0 -O qcow2 ct.qcow2 x.qcow2
		tool_both "progress/convert-$i-S0-raw" convert -p -S 0 -O raw ct.qcow2 x.raw
		progress_qcow_c "progress/convert-$i-c-qcow" ct.qcow2
	done
	"$QEMU_IMG" create -q -f qcow2 e.qcow2 1M || { fail progress/empty-setup; return; }
	fresh e.qcow2
	progress_qcow_c progress/convert-empty-c-qcow e.qcow2
}

# progress_qcow_c NAME SRC: convert -p -c -O qcow's lines as qemu-img's
# (no final 100%: qemu-img 7.2 fails its end-of-file mark there and exits
# 1, silently, with the image complete; ours too), the image SRC's.
progress_qcow_c() {
	local f rc
	f=$(case_file "$1")
	(cd ref && "$QEMU_IMG" convert -p -c -O qcow "$2" x.qcow >"$f.ref" 2>"$f.ref.err")
	(cd ours && "$QCOW_IMG" convert -p -c -O qcow "$2" x.qcow >"$f.ours" 2>"$f.ours.err")
	rc=$?
	[ $rc -eq 1 ] && [ ! -s "$f.ours.err" ] ||
		{ fail "$1" "exit status $rc, stderr: $(head -c 200 "$f.ours.err")"; return; }
	if cmp -s "$f.ref" "$f.ours"; then
		pass "$1"
	else
		fail "$1" "stdout differs from qemu-img's"
		diff <(tr '\r' '\n' <"$f.ref") <(tr '\r' '\n' <"$f.ours") | diag 6
	fi
	same_content "$1/compare" ours/x.qcow "ours/$2"
}

# ---------------------------------------------- convert -c, each target

test_convert_c() {
	local t i=0
	"$QEMU_IMG" create -q -f qcow2 cs.qcow2 1M &&
		"$QEMU_IO" -c 'write -P 1 0 64k' -c 'write -P 2 200k 5k' cs.qcow2 \
			>/dev/null || { fail convert-c/setup; return; }
	for t in qcow qcow2 raw "qcow2 -o compression_type=zstd" \
		"qcow2 -o compat=0.10" "qcow -o encryption=on" \
		"qcow2 -o data_file=cd.raw" "qcow -B cs.qcow2 -F qcow2"; do
		i=$((i + 1))
		fresh cs.qcow2
		# shellcheck disable=SC2086 # T: several arguments
		tool_both "convert-c/$i" convert -c -O $t cs.qcow2 x.img &&
			[ -s ref/x.img ] && [ ! -e ref/cd.raw ] &&
			same_content "convert-c/$i/result" ours/x.img ref/x.img
	done
}

# ------------------------------------------------- external data files

# data_both NAME OPTS CMDS...: an image with an external data file made by
# qemu-img create -o OPTS in ours/ and ref/, filled, then the qemu-io
# commands CMDS by qemu-io in ref/ and by $QCOW_IO in ours/: the image
# and the data file byte-identical to qemu's (zero flags and unmapped
# entries where QEMU puts them; a raw data file zeroed, another one's
# freed clusters punched), and clean.
data_both() {
	local name=$1 opts=$2 c ok=1
	shift 2
	fresh
	for c in ours ref; do
		(cd "$c" && "$QEMU_IMG" create -q -f qcow2 -o "$opts" i.qcow2 1M &&
			"$QEMU_IO" -c 'write -P 1 0 1M' i.qcow2 >/dev/null) ||
			{ fail "$name" setup; return; }
	done
	for c in "$@"; do
		(cd ref && "$QEMU_IO" -c "$c" i.qcow2 >/dev/null) &&
			(cd ours && "$QCOW_IO" -c "$c" i.qcow2 >/dev/null) ||
			{ fail "$name" "$c fails"; ok=0; }
	done
	[ $ok = 1 ] || return
	same_bytes "$name/image" i.qcow2
	same_bytes "$name/data" d.raw
	if (cd ours && "$QEMU_IMG" check -q i.qcow2); then
		pass "$name/check"
	else
		fail "$name/check" "qemu-img check fails"
	fi
}

test_data_file() {
	local raw=data_file=d.raw,data_file_raw=on o i=0
	local ext=cluster_size=16k,extended_l2=on
	local w=('write -z 4k 4k' 'write -z 64k 64k' 'write -z 130k 70k'
		'write -z -u 384k 64k' 'discard 512k 64k' 'discard 600k 4k'
		'write -z 1000k 24k' 'write -P 3 380k 8k' 'write -P 4 64k 64k'
		'discard 0 64k' 'write -z -u 0 8k')
	for o in "$raw" "$raw,$ext" data_file=d.raw "data_file=d.raw,$ext"; do
		i=$((i + 1))
		data_both "data-file/io-$i" "$o" "${w[@]}"
		data_both "data-file/io-$i-all" "$o" 'write -z -u 0 1M'
	done
	"$QEMU_IMG" create -q -f qcow2 dsrc.qcow2 1M &&
		"$QEMU_IO" -c 'write -P 5 0 4k' -c 'write -P 6 128k 64k' \
			-c 'write -z 256k 64k' -c 'write -P 7 1020k 4k' \
			dsrc.qcow2 >/dev/null || { fail data-file/setup; return; }
	for o in "$raw" "$raw,$ext" "data_file=d.raw,$ext"; do
		i=$((i + 1))
		fresh dsrc.qcow2
		tool_both "data-file/create-$i" create -f qcow2 -o "$o" i.qcow2 1M &&
			same_bytes "data-file/create-$i/image" i.qcow2
		(cd ref && "$QEMU_IO" -c 'write -P 1 0 1M' i.qcow2 >/dev/null) &&
			cp ref/d.raw ref/i.qcow2 ours/ &&
			tool_both "data-file/convert-n-$i" convert -n -O qcow2 \
				dsrc.qcow2 i.qcow2 &&
			same_bytes "data-file/convert-n-$i/image" i.qcow2 &&
			same_bytes "data-file/convert-n-$i/data" d.raw
		rm -f ours/* ref/*
		cp dsrc.qcow2 ours/ && cp dsrc.qcow2 ref/
		tool_both "data-file/convert-$i" convert -O qcow2 -o "$o" \
			dsrc.qcow2 i.qcow2 &&
			same_bytes "data-file/convert-$i/image" i.qcow2 &&
			same_bytes "data-file/convert-$i/data" d.raw
	done
	# convert -n frees the clusters it zeroes, without a data file too
	fresh dsrc.qcow2
	(cd ref && "$QEMU_IMG" create -q -f qcow2 i.qcow2 1M &&
		"$QEMU_IO" -c 'write -P 1 0 1M' i.qcow2 >/dev/null) &&
		cp ref/i.qcow2 ours/ &&
		tool_both data-file/convert-n-plain convert -n -O qcow2 \
			dsrc.qcow2 i.qcow2 &&
		same_bytes data-file/convert-n-plain/image i.qcow2
}

# ----------------------------------- backing file names: json:, file:

# set_backing IMG NAME: NAME written into IMG's header as its backing
# file name, with no backing format (as old images and other tools have).
set_backing() {
	python3 - "$1" "$2" <<'EOF'
import struct, sys
name = sys.argv[2].encode()
with open(sys.argv[1], "r+b") as f:
    f.seek(0x800)
    f.write(name)
    f.seek(8)
    f.write(struct.pack(">QI", 0x800, len(name)))
EOF
}

# Names given with -b, -B and stored in headers, opened as qemu-img opens
# them (json: and file: names relative to the working folder); other
# protocols are refused (qemu-img would connect: ours never reaches
# beyond a local file, see docs/design.md).
test_backing_names() {
	local names=(
		'json:{"driver":"qcow2","file":{"driver":"file","filename":"bb.qcow2"}}'
		'json:{"driver":"file","filename":"bb.raw"}'
		'json:{"file":{"filename":"bb.qcow2"}}'
		'json:{"driver":"raw","file.filename":"bb.raw"}'
		'file:bb.qcow2' 'nbd:localhost:10809'
	) n i=0 f
	"$QEMU_IMG" create -q -f qcow2 bb.qcow2 1M &&
		"$QEMU_IO" -c 'write -P 9 0 64k' bb.qcow2 >/dev/null &&
		"$QEMU_IMG" convert -O raw bb.qcow2 bb.raw ||
		{ fail backing-names/setup; return; }
	for n in "${names[@]}"; do
		i=$((i + 1))
		fresh bb.qcow2 bb.raw
		for f in qcow2 raw; do
			tool_both "backing-names/$i/create-$f" create -f qcow2 \
				-b "$n" -F $f o.qcow2
			tool_both "backing-names/$i/create-u-$f" create -f qcow2 \
				-u -b "$n" -F $f u.qcow2 1M
			tool_both "backing-names/$i/rebase-$f" rebase -b "$n" \
				-F $f u.qcow2
			tool_both "backing-names/$i/convert-$f" convert -O qcow2 \
				-B "$n" -F $f bb.qcow2 c.qcow2
		done
		tool_both "backing-names/$i/info" info --output=json o.qcow2
		tool_both "backing-names/$i/chain" info --backing-chain \
			--output=json u.qcow2
		rm -f ours/h.qcow2 ref/h.qcow2
		"$QEMU_IMG" create -q -f qcow2 ours/h.qcow2 1M &&
			set_backing ours/h.qcow2 "$n" && cp ours/h.qcow2 ref/ ||
			{ fail "backing-names/$i/header" setup; continue; }
		tool_both "backing-names/$i/header-info" info h.qcow2
		tool_both "backing-names/$i/header-chain" info --backing-chain \
			--output=json h.qcow2
		tool_both "backing-names/$i/header-convert" convert -O raw \
			h.qcow2 h.raw && [ -e ref/h.raw ] &&
			same_bytes "backing-names/$i/header-convert/bytes" h.raw
	done
	# the untrusted rules apply to the file a json: name opens
	fresh bb.qcow2 bb.raw
	f=$(case_file backing-names/untrusted)
	"$QEMU_IMG" create -q -f qcow2 ours/h.qcow2 1M &&
		set_backing ours/h.qcow2 "${names[1]}" || { fail backing-names/untrusted setup; return; }
	if (cd ours && "$QCOW_IMG" convert --untrusted -O raw h.qcow2 x.raw \
		>"$f" 2>"$f.err"); then
		fail backing-names/untrusted "opened"
	elif grep -q 'untrusted' "$f.err" && [ ! -e ours/x.raw ]; then
		pass backing-names/untrusted
	else
		fail backing-names/untrusted "$(head -c 200 "$f.err")"
	fi
}

# ------------------------------------- check: a used cluster counted free

# A data cluster whose refcount is 0: qemu-img rebuilds the refcount
# structure for -r all, and fails -r leaks ("need to rebuild").
test_check_rebuild() {
	local o i=0
	"$QEMU_IMG" create -q -f qcow2 cr.qcow2 1M &&
		"$QEMU_IO" -c 'write -P 1 0 128k' cr.qcow2 >/dev/null &&
		python3 - cr.qcow2 <<'EOF' || { fail check-rebuild/setup; return; }
import struct, sys
with open(sys.argv[1], "r+b") as f:
    f.seek(48)
    rt = struct.unpack(">Q", f.read(8))[0]
    f.seek(rt)
    rb = struct.unpack(">Q", f.read(8))[0]
    f.seek(rb + 2 * 5)          # cluster 5: the second data cluster
    f.write(struct.pack(">H", 0))
EOF
	for o in "" "--output=json" "-r leaks" "-r leaks --output=json" \
		"-r all" "-r all --output=json"; do
		i=$((i + 1))
		fresh cr.qcow2
		# shellcheck disable=SC2086 # O: several arguments
		tool_both "check-rebuild/$i" check $o cr.qcow2 &&
			same_content "check-rebuild/$i/content" ours/cr.qcow2 \
				ref/cr.qcow2
	done
	clean_check check-rebuild/repaired ours/cr.qcow2
}

write_setup
test_empty
test_rebase_ext
test_map
test_zero_partial
test_names
test_resize_prealloc
test_convert_multi
test_words
test_compare
test_measure
test_dd
test_progress
test_convert_c
test_data_file
test_backing_names
test_check_rebuild
finish
