#!/bin/bash
# Write-path interop with backing files and internal snapshots: the
# write-io.sh workload on overlays (over raw, over compressed clusters, over
# other cluster sizes, shorter backing files, a three-level chain) and on
# images with snapshots, which must still revert (qemu-img snapshot -a) to
# what qemu's copy reverts to.  Backing files must stay untouched.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source=tests/interop/write-workloads.bash
. "$(dirname "$0")/write-workloads.bash"

# setup_fail NAME: one FAIL for a configuration qemu could not build.
setup_fail() {
	fail "write/$1/setup" "qemu could not build the image (log: $SETUP_LOG)"
	return 1
}

# fill IMG FMT CS: data in clusters 0..16 and 25..29, compressed in 31..32
# (clusters 17..24 stay free for the workload's compressed writes).
fill() {
	local img=$1 fmt=$2 cs=$3 c=()
	c=("write -P 0xa1 0 $((17 * cs))" "write -P 0xa2 $((25 * cs)) $((5 * cs))")
	[ "$fmt" = qcow2 ] && c+=("write -c -P 0xa4 $((31 * cs)) $((2 * cs))")
	qio -f "$fmt" "$img" "${c[@]}"
}

# overlay NAME BASE BFMT OPTS [SIZE]: ours and ref overlays over BASE,
# the workload, and BASE must not change.
overlay() {
	local name=$1 base=$2 bfmt=$3 opts=$4 size=${5:-} cs sum w
	cs=$(to_bytes "$(printf '%s\n' "$opts" | sed -n 's/.*cluster_size=\([^,]*\).*/\1/p')")
	for w in ref ours; do
		qimg create -f qcow2 -b "$base" -F "$bfmt" -o "$opts" \
			"$name.$w.qcow2" $size || { setup_fail "$name"; return 1; }
	done
	size=$("$QEMU_IMG" info --output=json "$name.ref.qcow2" |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["virtual-size"])')
	sum=$(md5sum <"$base")
	io_pair "write/$name" qcow2 "$name.ours.qcow2" "$name.ref.qcow2" \
		"$cs" "$size"
	if [ "$(md5sum <"$base")" = "$sum" ]; then
		pass "write/$name/base-untouched"
	else
		fail "write/$name/base-untouched" "the backing file changed"
	fi
}

chains() {
	qimg create -f raw base.raw 4M && fill base.raw raw 65536 ||
		{ setup_fail raw-base; return 1; }
	overlay over-raw base.raw raw cluster_size=65536

	qimg create -f qcow2 -o cluster_size=65536 comp.qcow2 4M &&
		qio comp.qcow2 "write -c -P 0xb1 0 2M" "write -c -s rnd.bin 2M 1M" ||
		{ setup_fail compressed-base; return 1; }
	overlay over-compressed comp.qcow2 qcow2 cluster_size=65536

	qimg create -f qcow2 -o cluster_size=4096,compat=0.10 c4k.qcow2 4M &&
		fill c4k.qcow2 qcow2 4096 || { setup_fail c4k-base; return 1; }
	overlay c64k-over-c4k c4k.qcow2 qcow2 cluster_size=65536
	overlay c32k-extl2-over-c4k c4k.qcow2 qcow2 cluster_size=32768,extended_l2=on
	overlay c512-over-c4k c4k.qcow2 qcow2 cluster_size=512

	qimg create -f qcow2 -o cluster_size=65536 short.qcow2 1M &&
		qio short.qcow2 "write -P 0xc1 0 1M" || { setup_fail short-base; return 1; }
	overlay longer-than-base short.qcow2 qcow2 cluster_size=4096 4M

	qimg create -f qcow2 -b base.raw -F raw -o cluster_size=16384 mid.qcow2 &&
		qio mid.qcow2 "write -P 0xd1 1M 1M" "write -z 3M 64k" ||
		{ setup_fail three-levels; return 1; }
	overlay three-levels mid.qcow2 qcow2 cluster_size=65536
}

# snapshots NAME CS OPTS: two snapshots in a qemu-made image, the
# workload on two copies, then each snapshot applied to both copies.
snapshots() {
	local name=$1 cs=$2 opts=$3 size s
	size=$(ws_size "$cs")
	qimg create -f qcow2 -o "cluster_size=$cs,$opts" "$name.ref.qcow2" "$size" &&
		fill "$name.ref.qcow2" qcow2 "$cs" &&
		qimg snapshot -c one "$name.ref.qcow2" &&
		qio "$name.ref.qcow2" "write -P 0xa3 $((2 * cs)) $((4 * cs))" \
			"discard $((10 * cs)) $cs" &&
		qimg snapshot -c two "$name.ref.qcow2" || { setup_fail "$name"; return 1; }
	cp "$name.ref.qcow2" "$name.ours.qcow2"
	io_pair "write/$name" qcow2 "$name.ours.qcow2" "$name.ref.qcow2" \
		"$cs" "$size" || return
	for s in two one; do
		if ! qimg snapshot -a $s "$name.ref.qcow2"; then
			setup_fail "$name-apply-$s"
			continue
		fi
		if ! run_to "$(case_file "write/$name/apply-$s")" "$QEMU_IMG" \
			snapshot -a $s "$name.ours.qcow2"; then
			fail "write/$name/apply-$s" "qemu-img snapshot -a $s fails on ours"
			continue
		fi
		pass "write/$name/apply-$s"
		same_content "write/$name/apply-$s/compare" "$name.ours.qcow2" \
			"$name.ref.qcow2"
		clean_check "write/$name/apply-$s/check" "$name.ours.qcow2"
	done
}

write_setup
chains
snapshots snap-c64k-v3 65536 compat=1.1
snapshots snap-c4k-v2 4096 compat=0.10
snapshots snap-c64k-extl2-r64 65536 extended_l2=on,refcount_bits=64
finish
