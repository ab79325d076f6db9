#!/bin/bash
# Read-path interop: compressed clusters, zlib and zstd, written by
# qemu-io `write -c` and by `qemu-img convert -c`, cluster sizes 512 to
# 2M (the compressed descriptor's field widths depend on cluster_bits).
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source=tests/interop/read-workloads.bash
. "$(dirname "$0")/read-workloads.bash"

read_setup
for type in zlib zstd; do
	if [ $type = zstd ] && ! qemu_has_zstd; then
		skip "read/zstd" "qemu-img has no zstd support"
		continue
	fi
	for cs in 512 64k 2M; do
		config "c$cs-v3-$type-io" b_compress_io "$(to_bytes $cs)" 1.1 $type
	done
	for cs in 4k 64k 2M; do
		config "c$cs-v3-$type-convert" b_compress_convert "$(to_bytes $cs)" 1.1 $type
	done
done
config "c64k-v2-zlib-convert" b_compress_convert 65536 0.10 zlib
finish
