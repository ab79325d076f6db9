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

write_setup
test_empty
test_rebase_ext
test_map
finish
