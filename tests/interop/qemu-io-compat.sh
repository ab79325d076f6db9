#!/bin/bash
# qcow-io as a drop-in for qemu-io 7.2: the same command line, global
# options and commands, run by qemu-io in ref/ and by qcow-io in ours/ on
# copies of one image (same file names, so nothing to mask but timings).
# Same exit status, same stdout (timings masked; qemu-io's explanations of
# refused commands in our words, QEMU_IO_WORDING), stderr alike line for
# line, and images that qemu-img compare calls identical.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source=tests/interop/write-workloads.bash
. "$(dirname "$0")/write-workloads.bash"

SRC=base.qcow2	# what each case starts from, in both directories
FMT=qcow2

# shellcheck source=tests/interop/io-compat.bash
. "$(dirname "$0")/io-compat.bash"

# The images: base.qcow2 with data, a zero cluster and a compressed
# cluster; ov.qcow2 over it; base.raw.
make_images() {
	SETUP_LOG=$WORK/res/setup.log
	: >"$SETUP_LOG"
	mkdir -p res
	qimg create -f qcow2 base.qcow2 4M &&
		qio base.qcow2 "write -P 0x11 0 128k" "write -z 192k 64k" \
			"write -c -P 0x22 256k 64k" "write -P 0x33 1M 4k" &&
		qimg create -f qcow2 -b base.qcow2 -F qcow2 ov.qcow2 &&
		qio ov.qcow2 "write -P 0x44 64k 64k" "write -z 1M 512" &&
		qimg create -f qcow2 -o extended_l2=on -b base.qcow2 -F qcow2 \
			ovx.qcow2 &&
		qimg create -f raw base.raw 1M &&
		qio -f raw base.raw "write -P 0x55 0 4k" &&
		qimg create -f qcow base.qcow 1M &&
		qio -f qcow base.qcow "write -P 0x66 0 4k" &&
		qimg create -f qcow2 snap.qcow2 1M &&
		qio snap.qcow2 "write -P 0x77 0 64k" &&
		qimg snapshot -c s1 snap.qcow2 &&
		qimg create -f qcow2 vmsnap.qcow2 1M &&
		qio vmsnap.qcow2 "write -b -P 0x71 0 192k" \
			"write -P 0x72 0 64k" &&
		qimg snapshot -c s1 vmsnap.qcow2 &&
		qimg create -f qcow2 -o compat=0.10 v2.qcow2 1M &&
		python3 -c 'import sys; sys.stdout.buffer.write(bytes(range(256)) * 5)' \
			>src.bin && : >empty-events
}

global_options() {
	local m
	compat permute -c 'write -P 1 0 4k' img.qcow2 -f qcow2 \
		-c 'read -P 1 0 4k' -r
	compat permute-rw img.qcow2 -c 'write -P 1 0 4k' -f qcow2 \
		-c 'read -v 0 16'
	compat read-only -r -c 'write 0 1' -c 'discard 0 1' -c 'truncate 8M' \
		-c 'aio_write 0 1' -c 'writev 0 1' -c 'read -P 0x11 0 1' img.qcow2
	compat read-only-long --read-only --format=qcow2 -c 'length' img.qcow2
	compat nocache -n -c 'write -P 2 4k 4k' -c 'read -P 2 4k 4k' img.qcow2
	compat nocache-long --nocache -c 'write -P 2 5k 3k' img.qcow2
	for m in none writeback writethrough directsync unsafe; do
		compat "cache-$m" -t "$m" -c 'write -P 3 1k 1k' \
			-c 'read -P 3 1k 1k' img.qcow2
	done
	compat format-bad -f foo -c 'length' img.qcow2
	compat cache-long --cache=none -c 'read -P 0x11 0 4k' img.qcow2
	compat cache-bad -t foo -c 'length' img.qcow2
	compat aio-threads -i threads -c 'write -P 4 0 4k' img.qcow2
	compat aio-io_uring --aio=io_uring -c 'write -P 4 0 4k' img.qcow2
	compat aio-native -i native -n -c 'write -P 4 0 4k' img.qcow2
	compat aio-native-k -k -t none -c 'read -P 0x11 0 4k' img.qcow2
	compat aio-native-cached -i native -c 'length' img.qcow2
	compat aio-bad -i foo -c 'length' img.qcow2
	for m in ignore off unmap on; do
		compat "discard-$m" -d "$m" -c 'discard 0 64k' \
			-c 'write -z -u 1M 64k' -c 'aio_write -z -u 128k 64k' \
			-c 'aio_flush' -c 'map' -c 'read -P 0x11 0 4k' img.qcow2
	done
	compat discard-bad --discard=foo -c 'length' img.qcow2
	compat force-share -U -r -c 'read -P 0x11 0 4k' img.qcow2
	compat force-share-long --force-share --read-only -c 'length' img.qcow2
	compat image-opts --image-opts -c 'write -P 5 0 4k' \
		-c 'read -P 5 0 4k' driver=qcow2,file.filename=img.qcow2
	compat image-opts-f --image-opts -f qcow2 -c 'length' \
		driver=qcow2,file.filename=img.qcow2
	compat force-share-rw -U -c 'length' img.qcow2
	snapshot_mode
	compat trace -T events="$WORK/empty-events" -c 'length' img.qcow2
	compat trace-long --trace "events=$WORK/empty-events" -c 'length' \
		img.qcow2
	compat two-files -c 'length' img.qcow2 img.qcow2
	compat no-file -c 'length' -c 'read 0 1' -c 'open img.qcow2' \
		-c 'length'
	compat missing-file -c 'length' missing.qcow2
	printf 'length\n\nread -P 0x11 0 1\nfrobnicate\nclose\nlength\nopen -r img.qcow2\nmap\n' \
		>stdin-script
	compat stdin -i stdin-script img.qcow2
	printf 'write -P 6 0 1\nquit\nwrite -P 7 0 1\n' >stdin-quit
	compat stdin-quit -i stdin-quit img.qcow2
	compat stdin-no-file -i stdin-script
	compat stdin-ignored-with-c -i stdin-quit -c 'length' img.qcow2
}

# -s: writes go to a temporary overlay (in $TMPDIR), the image is only
# read and the overlay is gone at the end.
snapshot_mode() {
	mkdir -p tmpdir
	export TMPDIR=$WORK/tmpdir
	compat snapshot-mode -s -c 'write -P 2 0 4k' -c 'read -P 2 0 4k' \
		-c 'map' -c 'alloc 0 64k' -c 'info' -c 'aio_write -P 3 1M 4k' \
		-c 'aio_flush' -c 'read -P 3 1M 4k' -c 'discard 0 64k' \
		-c 'read -P 0 0 4k' -c 'reopen -r' img.qcow2
	compat snapshot-mode-ro -s -r -c 'write 0 1' -c 'read -P 0x11 0 4k' \
		img.qcow2
	compat snapshot-open -c 'close' -c 'open -s img.qcow2' \
		-c 'write -P 4 0 1' -c 'close' -c 'open img.qcow2' \
		-c 'read -P 0x11 0 4k' img.qcow2
	compat snapshot-abort -s -c 'write -q -P 5 0 1' -c 'abort' img.qcow2
	if ! run_to "$(case_file io-compat/snapshot-unchanged)" "$QEMU_IMG" \
		compare "$SRC" ours/img.qcow2 ||
		! cmp -s "$SRC" ours/img.qcow2; then
		fail io-compat/snapshot-unchanged "-s wrote to the image"
	elif [ -n "$(ls -A tmpdir)" ]; then
		fail io-compat/snapshot-unchanged "left in \$TMPDIR: $(ls tmpdir)"
	else
		pass io-compat/snapshot-unchanged
	fi
	unset TMPDIR
}

# object_compare NAME SECRET OPTS: qemu-img compare of the two LUKS images.
object_compare() {
	if ! run_to "$(case_file "io-compat/$1")" "$QEMU_IMG" \
		compare --object "$2" --image-opts \
		"${3/img.qcow2/ref/img.qcow2}" "${3/img.qcow2/ours/img.qcow2}"; then
		fail "io-compat/$1" "the written images differ"
	else
		pass "io-compat/$1"
	fi
}

# --object: a LUKS image opened with its secret through --image-opts, and
# through open -o encrypt.key-secret.
object_option() {
	local o=driver=qcow2,encrypt.key-secret=s0,file.filename=img.qcow2 s f
	s=secret,id=s0,data=pass
	if ! "$REPO_ROOT/tests/helpers/pbkdf-retry" "$QEMU_IMG" create \
		-f qcow2 --object "$s" \
		-o encrypt.format=luks,encrypt.iter-time=10,encrypt.key-secret=s0 \
		luks.qcow2 1M >>"$SETUP_LOG" 2>&1; then
		fail io-compat/object "qemu-img create of a LUKS image failed"
		return 1
	fi
	SRC=luks.qcow2
	NO_CHECK=1 compat object --object "$s" --image-opts -c 'write -P 8 0 4k' \
		-c 'read -P 8 0 4k' -c 'read -P 0 4k 4k' -c 'aio_write -P 9 8k 5k' \
		-c 'aio_flush' -c 'aio_read -P 9 8k 5k' -c 'aio_flush' "$o"
	object_compare object-compare "$s" "$o"
	NO_CHECK=1 compat object-open-o --object "$s" \
		-c 'open -o encrypt.key-secret=nope img.qcow2' \
		-c 'open img.qcow2' -c 'open -r -o driver=raw,encrypt.key-secret=s0 img.qcow2' \
		-c 'open -o encrypt.key-secret=s0 img.qcow2' \
		-c 'write -P 10 4k 4k' -c 'read -P 10 4k 4k' \
		-c 'write -b -P 11 0 4k' -c 'read -b -P 11 0 4k' &&
		object_compare object-open-o-compare "$s" "$o"
	# the encrypted VM state we wrote, read by qemu-io
	f=$(case_file io-compat/object-vmstate-cross)
	if run_to "$f" "$QEMU_IO" --object "$s" --image-opts -r \
		-c 'read -b -P 11 0 4k' "${o/img.qcow2/ours/img.qcow2}" &&
		grep -q '^read 4096/4096' "$f" && ! grep -q failed "$f"; then
		pass io-compat/object-vmstate-cross
	else
		fail io-compat/object-vmstate-cross "qemu-io reads our VM state wrong"
	fi
	SRC=base.qcow2
}

vectored() {
	compat readv -c 'readv -P 0x11 0 512 1k 4k' \
		-c 'readv -v 127k 1k 8 8' -c 'readv -C 0 512 512' \
		-c 'readv -q 0 512' -c 'readv -P 0x11 0 128k 1' img.qcow2
	compat writev -c 'writev -P 9 1000 512 3 4k' \
		-c 'writev 8k 512 512' -c 'writev -f -q 20k 1k' \
		-c 'writev -C 30k 1k 1k' -c 'readv -P 9 1000 4611' img.qcow2
	compat vec-errors -c 'readv 4M 512' -c 'writev 4095k 1k 1k' \
		-c 'readv 0' -c 'writev 0 x' -c 'readv 0 3G' -c 'readv 0 2G 1G' \
		-c 'writev -P 300 0 1' -c 'readv -z 0 1' -c 'readv 0 512 -1' \
		-c 'readv 0 0' -c 'writev 0 0' img.qcow2
	compat aio -c 'aio_write -P 10 0 1k 1k' -c 'aio_flush' \
		-c 'aio_read -P 10 0 1k 1k' -c 'aio_flush' \
		-c 'aio_read -v 0 16' -c 'aio_flush' \
		-c 'aio_read -C 0 512' -c 'aio_flush' \
		-c 'aio_write -q -f 4k 1' -c 'aio_flush' \
		-c 'aio_write -z 8k 4k' -c 'aio_flush' \
		-c 'aio_write -z -u 64k 64k' -c 'aio_flush' \
		-c 'aio_write -C -P 11 16k 512' -c 'aio_flush' \
		-c 'aio_read -q -P 11 16k 512' -c 'aio_flush' img.qcow2
	# failed aio requests do not fail the run, as qemu-io's
	compat aio-fail -c 'aio_read -P 12 0 512' -c 'aio_flush' \
		-c 'aio_read 4M 1' -c 'aio_flush' -c 'aio_write 4M 1' \
		-c 'aio_flush' -c 'aio_read -i 0 16' -c 'aio_write -i 0 16' \
		img.qcow2
	# several in flight at once, reported when the next command (read)
	# waits for them; length, info and help do not.  (Where qemu-io
	# prints a report that completes during another command's I/O
	# depends on its scheduling: the cases do not depend on it.)
	compat aio-concurrent --sorted -c 'aio_write -P 23 0 64k' \
		-c 'aio_write -P 24 64k 3k 1k' -c 'aio_write -z -u 256k 64k' \
		-c 'aio_read -P 0x11 128k 4k' -c 'aio_read -P 0 2M 4k' \
		-c 'aio_write -f -P 25 3M 512' -c 'read -P 0x33 1M 4k' \
		-c 'aio_read -P 23 0 64k' -c 'aio_read -P 24 64k 4k' \
		-c 'aio_flush' img.qcow2
	compat aio-order -c 'aio_read -v 0 16' -c 'length' -c 'info' \
		-c 'aio_flush' -c 'aio_read -P 0 2M 4k' -c 'length' \
		-c 'aio_flush' -c 'aio_read 8M 1' -c 'length' -c 'aio_flush' \
		-c 'aio_write -P 26 0 1' -c 'help length' \
		-c 'aio_flush' -c 'read -P 26 0 1' -c 'aio_write -P 27 1 1' \
		img.qcow2
	compat aio-bad -c 'aio_write -u 0 64k' -c 'aio_write -z 0 512 512' \
		-c 'aio_write -c 0 1' -c 'aio_read 0' img.qcow2
}

commands() {
	compat write-s -c 'write -s src.bin 100 700' -c 'read -v 90 300' \
		-c 'write -s src.bin 1M 5000' -c 'read -v 1M 48' img.qcow2
	compat write-s-missing -c 'write -s nothere.bin 0 512' img.qcow2
	SRC=base.raw FMT=raw
	compat vmstate-raw -f raw -c 'write -b 0 512' -c 'read -b 0 512' \
		-c 'read -P 0x55 0 4k' img.raw
	SRC=base.qcow2 FMT=qcow2
	compat open-close -c 'close' -c 'length' -c 'close' \
		-c 'open -r img.qcow2' -c 'write 0 1' -c 'open img.qcow2' \
		-c 'close' -c 'open img.qcow2' -c 'write -P 13 0 1' \
		-c 'read -P 13 0 1' img.qcow2
	compat open-options -c 'close' \
		-c 'open -n -k -U -r -t writeback -d ignore img.qcow2' \
		-c 'read -P 0x11 0 1' -c 'close' -c 'open -o driver=qcow2 img.qcow2' \
		-c 'write -P 14 0 1' -c 'close' -c 'open missing.qcow2' \
		-c 'open' -c 'open -t foo img.qcow2' -c 'length' img.qcow2
	compat open-discard -c 'close' -c 'open -d ignore img.qcow2' \
		-c 'discard 0 64k' -c 'read -P 0x11 0 4k' -c 'close' \
		-c 'open img.qcow2' -c 'discard 0 64k' -c 'read -P 0 0 4k' \
		img.qcow2
	compat reopen -c 'reopen -r' -c 'write 0 1' -c 'reopen -w' \
		-c 'write -P 15 0 1' -c 'reopen -c none' -c 'read -P 15 0 1' \
		-c 'reopen -r -w' -c 'reopen x' -c 'reopen -c foo' \
		-c 'read -P 15 0 1' img.qcow2
	driver_options
	compat truncate -c 'truncate 8M' -c 'length' -c 'read -P 0 4M 4M' \
		-c 'truncate -m off 6M' -c 'truncate -m metadata 7M' \
		-c 'truncate -m falloc 9M' -c 'truncate -m full 10M' -c 'length' \
		-c 'truncate 2M' -c 'length' -c 'map' img.qcow2
	compat truncate-bad -c 'truncate' -c 'truncate -m foo 8M' \
		-c 'truncate x' -c 'length' img.qcow2
	compat length-alloc-map -c 'length' -c 'alloc 0' -c 'alloc 0 1' \
		-c 'alloc 100k 100k' -c 'alloc 1M 100' -c 'alloc 3M 2M' \
		-c 'alloc 0 4M' -c 'map' img.qcow2
	compat discard -c 'discard 0 64k' -c 'discard -C 256k 64k' \
		-c 'discard -q 1M 4k' -c 'discard 4M 1' -c 'discard 0' \
		-c 'map' -c 'read -P 0 0 64k' img.qcow2
	compat errors -c 'read 4M 1' -c 'write 4095k 2k' -c 'frobnicate' \
		-c 'read 0' -c 'length x' -c 'read -P 0x12 0 512' -c 'alloc' \
		-c 'map x' -c 'abort x' img.qcow2
	compat sleep -c 'sleep 20' -c 'sleep x' -c 'sleep' -c 'sleep -1' \
		-c 'length'
	compat sigraise-0 -c 'sigraise 0' -c 'length' img.qcow2
	compat sigraise-term -c 'write -P 16 0 1' -c 'sigraise 15' \
		-c 'write -P 17 0 1' img.qcow2
	compat sigraise-bad -c 'sigraise 99' -c 'sigraise x' -c 'sigraise' \
		img.qcow2
	compat abort -c 'abort' -c 'write -P 18 0 1' img.qcow2
	compat quit -c 'write -P 19 0 1' -c 'quit' -c 'write -P 20 0 1' \
		img.qcow2
	compat flush-info -c 'write -P 21 0 1' -c 'flush' -c 'info' img.qcow2
}

overlay() {
	SRC=ov.qcow2
	compat overlay -c 'map' -c 'alloc 0 4M' -c 'alloc 64k 1' \
		-c 'alloc 1M 1k' -c 'readv -P 0x44 64k 32k 32k' \
		-c 'aio_read -P 0x11 0 64k' -c 'aio_flush' \
		-c 'writev -P 22 100k 1k 2k' -c 'discard 64k 64k' -c 'map' \
		img.qcow2
	compat overlay-ro -r -c 'map' -c 'info' -c 'length' img.qcow2
	# -C: what reads touch is copied here, cluster by cluster, zeros as
	# zero clusters: the allocation must be qemu's (map_shape)
	compat copy-on-read -C -c 'read -P 0x11 1000 10' \
		-c 'readv 100k 1k 1k' -c 'aio_read -P 0 2M 10' -c 'aio_flush' \
		-c 'read 1M 512' -c 'read -P 0x44 64k 4k' -c 'read 4M 1' \
		-c 'map' img.qcow2 &&
		map_shape io-compat/copy-on-read-map ours/img.qcow2 \
			ref/img.qcow2
	compat copy-on-read-open -c 'close' -c 'open -C img.qcow2' \
		-c 'read 3M 10' -c 'map' img.qcow2 &&
		map_shape io-compat/copy-on-read-open-map ours/img.qcow2 \
			ref/img.qcow2
	compat copy-on-read-ro -C -r -c 'read 0 1' img.qcow2
	SRC=ovx.qcow2
	compat copy-on-read-extl2 -C -c 'read 1000 10' -c 'read 70000 5000' \
		-c 'read 192k 10' img.qcow2 &&
		map_shape io-compat/copy-on-read-extl2-map ours/img.qcow2 \
			ref/img.qcow2
	SRC=base.qcow2
}

# The other formats, and truncate of an image with a snapshot.
formats() {
	SRC=base.raw FMT=raw
	compat raw -f raw -c 'writev -P 1 1k 1k 2k' -c 'readv -P 1 1k 3k' \
		-c 'aio_write -z 4k 4k' -c 'aio_flush' -c 'map' -c 'alloc 0 1M' \
		-c 'truncate 3M' -c 'length' -c 'truncate 1000' -c 'length' \
		-c 'discard 0 512' img.raw
	SRC=base.qcow FMT=qcow
	compat qcow -f qcow -c 'writev -P 2 1k 1k 2k' -c 'readv -P 2 1k 3k' \
		-c 'aio_write -P 3 8k 4k' -c 'aio_flush' -c 'map' \
		-c 'alloc 0 1M' -c 'truncate 2M' -c 'length' -c 'info' img.qcow
	# the file itself (the file driver): named "file", as qemu-io does
	SRC=base.raw FMT=raw
	compat file-json -c 'info' -c 'write -P 1 0 4k' -c 'read -b 0 512' \
		-c 'write -c 0 64k' -c 'map' 'json:{"driver":"file","filename":"img.raw"}'
	compat file-image-opts --image-opts -c 'info' -c 'read -P 0x55 0 4k' \
		driver=file,filename=img.raw
	compat file-format -f file -c 'info' -c 'write -b 0 512' img.raw
	compat file-open -f raw -c 'close' -c 'open -o driver=file img.raw' \
		-c 'info' -c 'close' -c 'open -r -o driver=raw img.raw' -c 'info' \
		img.raw
	SRC=snap.qcow2 FMT=qcow2
	compat snapshot-truncate -c 'truncate 512k' -c 'truncate 2M' \
		-c 'length' -c 'map' -c 'read -P 0x77 0 64k' img.qcow2
	SRC=base.qcow2
}

# open -o and reopen -o: qemu-io's driver options, their refusals (with
# the image kept open as it was, for reopen), qcow2's on other formats.
driver_options() {
	local all=driver=qcow2,l2-cache-size=1M,refcount-cache-size=64k
	all=$all,lazy-refcounts=on,discard=unmap,overlap-check=none
	all=$all,overlap-check.active-l2=off,pass-discard-request=off
	all=$all,cache.direct=on,cache.no-flush=on,detect-zeroes=off
	all=$all,file.driver=file,file.locking=off,cache-clean-interval=5
	all=$all,l2-cache-entry-size=4k,auto-read-only=on,node-name=n1
	compat open-o -c 'close' -c 'open -o foo=bar img.qcow2' \
		-c 'open -o lazy-refcounts=x img.qcow2' \
		-c 'open -o discard=x img.qcow2' \
		-c 'open -o overlap-check=x img.qcow2' \
		-c 'open -o overlap-check.l2=off img.qcow2' \
		-c 'open -o read-only=on img.qcow2' \
		-c 'open -o force-share=on img.qcow2' \
		-c 'open -o backing=null img.qcow2' \
		-c 'open -o cache-size=1M,l2-cache-size=2M img.qcow2' \
		-c 'open -o driver=raw,l2-cache-size=1M img.qcow2' \
		-c "open -o $all img.qcow2" -c 'write -P 0x81 0 64k' \
		-c 'discard 64k 64k' -c 'read -P 0x81 0 64k' -c 'info' \
		-c 'close' -c 'open -r -o read-only=on,force-share=on img.qcow2' \
		-c 'read -P 0x81 0 4k' img.qcow2
	compat reopen-o -c 'reopen -o foo=bar' -c 'reopen -o read-only=on' \
		-c 'reopen -o driver=raw' -c 'reopen -o force-share=on' \
		-c 'reopen -r -o read-only=off' -c 'reopen -w -o read-only=on' \
		-c 'reopen -c none -o cache.direct=off' \
		-c 'reopen -o backing=null' -c 'reopen -o file.locking=off' \
		-c 'reopen -o cache-size=1M,l2-cache-size=2M' \
		-c 'reopen -o node-name=x' -c 'write -P 0x82 0 4k' \
		-c 'reopen -o driver=qcow2,l2-cache-size=1M,lazy-refcounts=on,overlap-check=cached,cache.direct=on' \
		-c 'reopen -o discard=ignore' -c 'discard 0 64k' \
		-c 'read -P 0x82 0 4k' -c 'reopen -o discard=unmap' \
		-c 'discard 64k 64k' -c 'reopen -r' -c 'write 0 1' \
		-c 'reopen -o read-only=off' -c 'write -P 0x83 8k 4k' \
		-c 'read -P 0x83 8k 4k' -c 'map' img.qcow2
	SRC=ov.qcow2
	compat backing-empty -c 'close' -c 'open -o backing= img.qcow2' \
		-c 'read -P 0 0 64k' -c 'write -P 1 4k 4k' -c 'map' \
		-c 'reopen -o backing=' -c 'close' \
		-c 'open -o backing=base.qcow2 img.qcow2' -c 'open img.qcow2' \
		-c 'read -P 0x11 0 4k' img.qcow2
	SRC=v2.qcow2
	compat lazy-refcounts-v2 -c 'reopen -o lazy-refcounts=on' \
		-c 'close' -c 'open -o lazy-refcounts=on img.qcow2' \
		-c 'open -o lazy-refcounts=off img.qcow2' -c 'length' img.qcow2
	SRC=base.raw FMT=raw
	compat reopen-o-raw -f raw -c 'reopen -o l2-cache-size=1M' \
		-c 'reopen -o lazy-refcounts=on' \
		-c 'reopen -o discard=unmap,cache.direct=off' \
		-c 'read -P 0x55 0 4k' -c 'close' \
		-c 'open -o driver=raw,overlap-check=none img.raw' \
		-c 'open -o driver=raw,discard=unmap,cache.direct=on img.raw' \
		-c 'info' img.raw
	SRC=base.qcow2 FMT=qcow2
}

# vm_cross NAME CMD...: the read -b commands CMD by qemu-io on our image
# and by qcow-io on qemu-io's: every read succeeds and matches its -P.
vm_cross() {
	local name=io-compat/$1-cross f c args=() bad=
	shift
	for c; do args+=(-c "$c"); done
	f=$(case_file "$name")
	run_to "$f.ref" "$QEMU_IO" -r "${args[@]}" ours/img.qcow2 || bad=qemu-io
	run_to "$f.ours" "$QCOW_IO" -r "${args[@]}" ref/img.qcow2 ||
		bad="$bad qcow-io"
	for c in ref ours; do
		if grep -q 'failed' "$f.$c" ||
			[ "$(grep -c '^read ' "$f.$c")" -ne $# ]; then
			bad="$bad $c"
		fi
	done
	if [ -n "$bad" ]; then
		fail "$name" "the other tool's VM state reads back wrong ($bad)"
		cat "$f.ref" "$f.ours" | grep -v 'ops;' | diag 6
		return 1
	fi
	pass "$name"
}

# vm_snap NAME ARGS...: qemu-img snapshot ARGS on qemu-io's image,
# qcow-img snapshot ARGS on ours.
vm_snap() {
	local f
	f=$(case_file "io-compat/$1")
	shift
	if ! run_to "$f.ref" "$QEMU_IMG" snapshot "$@" ref/img.qcow2 ||
		! run_to "$f.ours" "$QCOW_IMG" snapshot "$@" ours/img.qcow2 ||
		! run_to "$f.chk" "$QEMU_IMG" check ours/img.qcow2; then
		fail "io-compat/$1" "snapshot $* fails, or check after it"
		cat "$f.ref.err" "$f.ours.err" "$f.chk" | diag 5
		return 1
	fi
}

# The VM state area (read -b, write -b): qcow2 only; across clusters, L2
# tables and the end of the L1 table (which grows; the size stays), over
# a backing file, with subclusters, shared with internal snapshots (copy
# on write); each tool reads back what the other wrote.
vmstate() {
	compat vmstate -c 'write -b -P 0x61 60k 8k' \
		-c 'write -b -P 0x62 1M 4k' -c 'write -b -s src.bin 100k 3k' \
		-c 'write -b -c -q -P 0x63 1023M 2k' -c 'read -b -P 0x61 60k 8k' \
		-c 'read -b -P 0 0 60k' -c 'read -b -v 100k 64' \
		-c 'read -b -P 0x62 1M 4k' -c 'read -b -P 0 1025M 4k' \
		-c 'read -b 1 512' -c 'read -b 0 100' -c 'write -b -z 0 512' \
		-c 'write -b -f 0 512' -c 'write -b 3 512' \
		-c 'write -b -P 1 4P 512' -c 'read -b 4P 512' \
		-c 'read -b 9223372036854775296 512' -c 'read -b 0 0' \
		-c 'write -b 0 0' -c 'length' -c 'info' -c 'map' \
		-c 'read -P 0x11 0 128k' img.qcow2 &&
		vm_cross vmstate 'read -b -P 0x61 60k 8k' \
			'read -b -P 0x62 1M 4k' 'read -b -P 0x63 1023M 2k' \
			'read -b -P 0 68k 32k' 'read -b -v 100k 3k'
	compat vmstate-ro -r -c 'write -b 0 512' -c 'read -b -P 0 0 512' \
		img.qcow2
	SRC=ov.qcow2
	compat vmstate-backing -c 'read -b -P 0 0 64k' \
		-c 'write -b -P 0x64 32k 64k' -c 'read -b -P 0 0 32k' \
		-c 'read -b -P 0 96k 32k' -c 'read -P 0x44 64k 64k' img.qcow2 &&
		vm_cross vmstate-backing 'read -b -P 0x64 32k 64k' \
			'read -b -P 0 96k 32k'
	SRC=ovx.qcow2
	compat vmstate-subclusters -c 'write -b -P 0x65 3k 2k' \
		-c 'write -b -P 0x66 62k 4k' -c 'read -b -P 0 0 3k' \
		-c 'read -b -P 0x65 3k 2k' -c 'read -b -P 0 5k 57k' \
		-c 'read -b -P 0x66 62k 4k' img.qcow2 &&
		vm_cross vmstate-subclusters 'read -b -P 0x65 3k 2k' \
			'read -b -P 0 5k 57k' 'read -b -P 0x66 62k 4k'
	SRC=vmsnap.qcow2
	compat vmstate-snapshot -c 'write -b -P 0x73 60k 8k' \
		-c 'read -b -P 0x71 0 60k' -c 'read -b -P 0x73 60k 8k' \
		-c 'read -b -P 0x71 68k 124k' img.qcow2 &&
		vm_cross vmstate-snapshot 'read -b -P 0x73 60k 8k' \
			'read -b -P 0x71 68k 124k' &&
		vm_snap vmstate-snapshot-create -c s2 &&
		vm_snap vmstate-snapshot-apply -a s1 &&
		vm_cross vmstate-snapshot-apply 'read -b -P 0x71 0 192k' &&
		vm_snap vmstate-snapshot-apply2 -a s2 &&
		vm_cross vmstate-snapshot-apply2 'read -b -P 0x73 60k 8k' \
			'read -b -P 0x71 68k 124k' &&
		vm_snap vmstate-snapshot-delete -d s1 &&
		vm_snap vmstate-snapshot-delete2 -d s2 &&
		vm_cross vmstate-snapshot-delete 'read -b -P 0x73 60k 8k' &&
		pass io-compat/vmstate-snapshot-ops
	SRC=base.qcow FMT=qcow
	compat vmstate-qcow -f qcow -c 'write -b 0 512' -c 'read -b 0 512' \
		-c 'read -P 0x66 0 4k' img.qcow
	SRC=base.qcow2 FMT=qcow2
}

# help: the synopsis ("name args") of every command we have is
# qemu-io's; what they do is said in our own words.
help_synopsis() {
	local c f bad=
	f=$(case_file io-compat/help)
	for c in abort aio_flush aio_read aio_write alloc break close \
		discard flush help info length map open quit read readv \
		remove_break reopen resume sigraise sleep truncate \
		wait_break write writev; do
		"$QEMU_IO" -c "help $c" | head -n 1 | sed 's/ -- .*//' >"$f.ref"
		"$QCOW_IO" -c "help $c" | head -n 1 | sed 's/ -- .*//' >"$f.ours"
		cmp -s "$f.ref" "$f.ours" || bad="$bad $c"
	done
	if [ -n "$bad" ]; then
		fail io-compat/help "synopsis differs from qemu-io's for:$bad"
	else
		pass io-compat/help
	fi
	compat help-missing -c 'help frobnicate' -c 'length'
}

setup_work
require_qemu
make_images || skip_all "cannot make the images (log: $SETUP_LOG)"
global_options
object_option
vectored
commands
overlay
formats
vmstate
help_synopsis
finish
