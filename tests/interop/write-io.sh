#!/bin/bash
# Write-path interop: one qemu-io command script run by qcow-io on one copy
# of an image and by qemu-io on another; qemu-img must call the results
# identical and find ours clean.  Cluster sizes 512 to 2M, v2 and v3,
# refcount widths 1 and 64, extended L2, lazy refcounts, zstd,
# preallocation, external data files.  Overlays and snapshots are in
# write-chain.sh.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source=tests/interop/write-workloads.bash
. "$(dirname "$0")/write-workloads.bash"

# plain NAME CS OPTS [nocomp]: a fresh image made by qemu-img create with
# OPTS, copied; the workload on both copies.
plain() {
	local name=$1 cs=$2 opts=$3 nocomp=${4:-} size
	size=$(ws_size "$cs")
	if ! qimg create -f qcow2 -o "cluster_size=$cs${opts:+,$opts}" \
		"$name.ref.qcow2" "$size"; then
		fail "write/$name/setup" "qemu-img create failed (log: $SETUP_LOG)"
		return 1
	fi
	cp "$name.ref.qcow2" "$name.ours.qcow2"
	io_pair "write/$name" qcow2 "$name.ours.qcow2" "$name.ref.qcow2" \
		"$cs" "$size" "$nocomp"
}

# datafile NAME CS OPTS: each copy made by qemu-img create with its own
# external data file.
datafile() {
	local name=$1 cs=$2 opts=$3 size w
	size=$(ws_size "$cs")
	for w in ref ours; do
		if ! qimg create -f qcow2 \
			-o "cluster_size=$cs,data_file=$name.$w.data${opts:+,$opts}" \
			"$name.$w.qcow2" "$size"; then
			fail "write/$name/setup" "qemu-img create failed (log: $SETUP_LOG)"
			return 1
		fi
	done
	io_pair "write/$name" qcow2 "$name.ours.qcow2" "$name.ref.qcow2" \
		"$cs" "$size" nocomp
	if [ "${opts#*data_file_raw=on}" != "$opts" ]; then
		# the data file alone must hold the guest data
		same_content "write/$name/raw-data" "$name.ours.data" \
			"$name.ref.data" -f raw -F raw
	fi
}

# bad_commands: refused commands exit as qemu-io does, print what it
# prints on stdout (its explanations in our words, QEMU_IO_WORDING), a
# message on stderr when it does (err_kind), and leave the image alone.
bad_commands() {
	local c i=0 f rc rrc sum why
	qimg create -f qcow2 bad.ref.qcow2 4M &&
		qio bad.ref.qcow2 "write -P 0x12 0 128k" ||
		{ fail write/bad/setup "qemu-img create failed"; return 1; }
	cp bad.ref.qcow2 bad.ours.qcow2
	sum=$(md5sum <bad.ours.qcow2)
	for c in "write -u 0 64k" "write -n 0 64k" "write -c 100 1000" \
		"write -c 0 1000" "write 4M 512" "write 4095k 2k" \
		"write -z -P 1 0 1" "write -P 300 0 1" "write -P 0x 0 512" \
		"write 0 3G" "write 0" "discard 4M 64k" "discard 0" \
		"write -s missing.bin 0 512" "write 1x 512" \
		"write -c 0 64k" "write -c 256k 512" "read 99E 512" \
		"read 0 3G" "discard 0 3G" "read -P 1 -s 10 0 5" \
		"frobnicate 0" "write -s /dev/null 0 512"; do
		i=$((i + 1))
		f=$(case_file "write/bad/$i")
		io_run "$QEMU_IO" qcow2 bad.ref.qcow2 "$c" >"$f.ref" 2>"$f.ref.err"
		rrc=$?
		io_run "$QCOW_IO" qcow2 bad.ours.qcow2 "$c" >"$f.ours" 2>"$f.ours.err"
		rc=$?
		sed -i -E "$QEMU_IO_WORDING" "$f.ref"
		sed -i "s/^$(basename "$QCOW_IO"):/qemu-io:/" "$f.ours.err"
		# shellcheck disable=SC2086
		if [ $rc -ne $rrc ]; then
			fail "write/bad/$i" "'$c': exit status $rc, qemu-io's $rrc"
		elif ! diff "$f.ref" "$f.ours" >"$f.diff"; then
			fail "write/bad/$i" "'$c': stdout differs from qemu-io's"
			diag 6 <"$f.diff"
		elif ! why=$(err_kind "$f.ref.err" "$f.ours.err" qemu-io $c); then
			fail "write/bad/$i" "'$c': stderr: $why"
			cat "$f.ref.err" "$f.ours.err" | diag 4
		elif [ "$(md5sum <bad.ours.qcow2)" != "$sum" ]; then
			fail "write/bad/$i" "'$c' changed the image"
			sum=$(md5sum <bad.ours.qcow2)
		else
			pass "write/bad/$i"
		fi
	done
}

write_setup
bad_commands
for cs in 512 4096 65536 2097152; do
	plain "c$cs-v3" $cs compat=1.1
done
plain c512-v2 512 compat=0.10
plain c64k-v2 65536 compat=0.10
plain c4k-r1 4096 refcount_bits=1
plain c64k-r64 65536 refcount_bits=64
plain c64k-extl2 65536 extended_l2=on
plain c32k-extl2-r1 32768 extended_l2=on,refcount_bits=1
plain c64k-lazy 65536 lazy_refcounts=on
plain c64k-zstd 65536 compression_type=zstd
plain c64k-prealloc-metadata 65536 preallocation=metadata nocomp
plain c4k-prealloc-falloc 4096 preallocation=falloc nocomp
plain c64k-prealloc-full 65536 preallocation=full nocomp
datafile c64k-datafile 65536 ""
datafile c4k-datafile-raw 4096 data_file_raw=on
datafile c64k-datafile-extl2 65536 extended_l2=on
# O_DIRECT (-n): writes that cover 4 KiB blocks in part are
# read-modify-writes, also beside 2 KiB subclusters; clusters of 4 KiB at
# least (smaller ones are refused read-write under O_DIRECT, see
# tests/engine/direct_io.c)
if dd if=/dev/zero of=direct-probe bs=4096 count=1 oflag=direct 2>/dev/null; then
	IO_FLAGS=-n plain c64k-nocache 65536 compat=1.1 nocomp
	IO_FLAGS=-n plain c4k-nocache 4096 compat=1.1 nocomp
	IO_FLAGS=-n plain c64k-lazy-nocache 65536 lazy_refcounts=on nocomp
	IO_FLAGS=-n plain c64k-extl2-nocache 65536 extended_l2=on nocomp
else
	skip write/nocache "no O_DIRECT with 4 KiB blocks in $PWD"
fi
finish
