#!/bin/bash
# `qcow-img bitmap --add` against the bitmap directory limit of qemu-img
# 7.2 (65535 KiB): an image whose directory holds 64034 entries with
# 1023-byte names (67107632 bytes; written here, sharing one zero table),
# where one more such entry (1048 bytes) does not fit: both refuse with
# "Not enough space in the bitmap directory" and exit 1; ours leaves the
# file as it was (all or nothing).  Opening 64034 bitmaps takes minutes
# (about 9 for both tools on 2 cores), so it runs only with
# QCOW_SLOW_TESTS=1.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

require_qemu
[ "${QCOW_SLOW_TESTS:-}" = 1 ] ||
	skip_all "64034 bitmaps take minutes to open: set QCOW_SLOW_TESTS=1"
setup_work

img=$WORK/full.qcow2
qemu-img create -q -f qcow2 -o cluster_size=65536 "$img" 1M
python3 - "$img" <<'PY'
import struct, sys
path = sys.argv[1]
n = 64034
with open(path, 'r+b') as f:
    hdr = bytearray(f.read(65536))
    f.seek(0, 2)
    end = (f.tell() + 65535) & ~65535
    table = end                      # one cluster of zeros: table_size 1
    dir_off = end + 65536
    ent = bytearray()
    for i in range(n):
        name = (b'%08d' % i).ljust(1023, b'x')
        e = struct.pack('>QIIBBHI', table, 1, 2, 1, 16, len(name), 0) + name
        ent += e + b'\0' * (-len(e) % 8)
    f.seek(table)
    f.write(b'\0' * 65536)
    f.seek(dir_off)
    f.write(ent)
    f.truncate((dir_off + len(ent) + 65535) & ~65535)
    hlen = struct.unpack('>I', hdr[100:104])[0]
    ext = struct.pack('>II', 0x23852875, 24) + \
        struct.pack('>IIQQ', n, 0, len(ent), dir_off)
    hdr[hlen:hlen + len(ext) + 8] = ext + b'\0' * 8   # then the end mark
    autoclear = struct.unpack('>Q', hdr[88:96])[0] | 1
    hdr[88:96] = struct.pack('>Q', autoclear)
    f.seek(0)
    f.write(hdr)
PY
long=$(printf 'z%.0s' $(seq 1023))

for tool in qemu-img "$QCOW_IMG"; do
	t=$(basename "$tool")
	cp "$img" "$WORK/$t.qcow2"
	out=$("$tool" bitmap --add "$WORK/$t.qcow2" "$long" 2>&1)
	st=$?
	same=yes
	[ "$t" = qemu-img ] || cmp -s "$img" "$WORK/$t.qcow2" || same=no
	if [ "$st" = 1 ] && [ $same = yes ] &&
	   [[ $out == *"Not enough space in the bitmap directory"* ]]; then
		pass "bitmap-dir-limit/$t/long-name-refused"
	else
		fail "bitmap-dir-limit/$t/long-name-refused" \
		     "exit $st, file unchanged: $same: ${out:0:300}"
	fi
	rm -f "$WORK/$t.qcow2"
done
finish
