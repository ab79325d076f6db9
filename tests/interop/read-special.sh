#!/bin/bash
# Read-path interop: a dirty lazy-refcounts image (qemu-io aborted after
# allocating writes), preallocation=metadata/falloc/full, empty images
# (one of size 0), images whose size is not a multiple of the cluster
# size and raw files whose size is not a multiple of 512.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source=tests/interop/read-workloads.bash
. "$(dirname "$0")/read-workloads.bash"

# b_dirty: lazy_refcounts=on, then allocating writes and `abort`: the
# header keeps the dirty bit and the refcounts miss the new clusters.
b_dirty() {
	local cs=65536 rc
	b_plain $cs 1.1 lazy_refcounts=on || return 1
	echo "\$ qemu-io ... -c abort $IMG" >>"$SETUP_LOG"
	# the subshell keeps bash's "Aborted" job message out of the output
	(
		timeout -k 5 "$CMD_TIMEOUT" "$QEMU_IO" -f qcow2 \
			-c "write -P 0x5d $((13 * cs + 1000)) $((2 * cs))" \
			-c "write -z $((16 * cs)) $cs" \
			-c "write -P 0x5e $((20 * cs)) 100" \
			-c abort "$IMG"
		exit $?
	) >>"$SETUP_LOG" 2>&1
	rc=$?
	if [ $rc -ne 134 ]; then
		note "qemu-io -c abort exited $rc, expected 134 (SIGABRT)"
		return 1
	fi
	"$QEMU_IMG" info --output=json "$IMG" >"$SETUP_LOG.info" 2>&1
	if [ "$(python3 "$QJSON" get "$SETUP_LOG.info" dirty-flag)" != true ]; then
		note "qemu-img info does not show dirty-flag true after abort"
		return 1
	fi
	DIRTY=1
	expect_pattern 0x5d $((13 * cs + 1000)) $((2 * cs))
	expect_pattern 0x00 $((16 * cs)) $cs
	expect_pattern 0x5e $((20 * cs)) 100
}

# b_prealloc MODE COMPAT: preallocated image, then the common workload
# without compressed writes (qemu cannot compress into allocated
# clusters).
b_prealloc() {
	local cs=65536 size
	size=$(basic_size $cs)
	IMG=$CFG.qcow2
	qimg create -f qcow2 -o "cluster_size=$cs,compat=$2,preallocation=$1" \
		"$IMG" "$size" || return 1
	ws_basic "$IMG" $cs "$size" nocomp
}

# b_empty CS COMPAT SIZE: nothing written.
b_empty() {
	IMG=$CFG.qcow2
	qimg create -f qcow2 -o "cluster_size=$1,compat=$2" "$IMG" "$3" || return 1
	[ "$3" -gt 0 ] && expect_pattern 0x00 0 "$3"
	return 0
}

# b_oddsize CS COMPAT SIZE VSIZE: SIZE as given to qemu-img create, VSIZE
# the virtual size qemu makes of it (rounded up to 512); the partial last
# cluster is written compressed.
b_oddsize() {
	b_plain "$1" "$2" "" "$3" "" || return 1
	rm -f "$IMG"
	: >"$SETUP_LOG"
	EXPECT=()
	qimg create -f qcow2 -o "cluster_size=$1,compat=$2" "$IMG" "$3" || return 1
	ws_basic "$IMG" "$1" "$4" ctail
}

# b_rawodd SIZE: a raw file whose size is not a multiple of 512; QEMU
# rounds the virtual size up and reads zeros after the end of the file.
b_rawodd() {
	IMG=$CFG.raw
	head -c "$1" /dev/urandom >"$IMG"
}

read_setup
config "dirty-lazy-c64k-v3" b_dirty
for mode in metadata falloc full; do
	config "prealloc-$mode-c64k-v3" b_prealloc $mode 1.1
done
config "prealloc-metadata-c64k-v2" b_prealloc metadata 0.10
config "empty-c64k-v3" b_empty 65536 1.1 $((4 << 20))
config "empty-c4k-v2" b_empty 4096 0.10 $((4 << 20))
config "empty-size0-v3" b_empty 65536 1.1 0
config "odd-c4k-v3-4M+1536" b_oddsize 4096 1.1 $(((4 << 20) + 1536)) $(((4 << 20) + 1536))
config "odd-c4k-v2-1000001" b_oddsize 4096 0.10 1000001 1000448
config "odd-c2M-v3-80M+512" b_oddsize 2097152 1.1 $(((80 << 20) + 512)) $(((80 << 20) + 512))
config "raw-odd-1" b_rawodd 1
config "raw-odd-1000001" b_rawodd 1000001
finish
