#!/bin/bash
# Read-path interop: images qemu wrote with every cluster size we test
# (512, 4k, 64k, 2M) as qcow2 v2 (compat=0.10) and v3 (compat=1.1), read
# back by qcow-img/qcow-io and compared with qemu-img/qemu-io.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source=tests/interop/read-workloads.bash
. "$(dirname "$0")/read-workloads.bash"

read_setup
for cs in 512 4k 64k 2M; do
	for compat in 0.10 1.1; do
		v=v3
		[ $compat = 0.10 ] && v=v2
		config "c$cs-$v-r16" b_plain "$(to_bytes $cs)" $compat
	done
done
finish
