#!/bin/bash
# QEMU's blkdebug filter and qemu-io's breakpoint commands: the same
# command lines run by qemu-io 7.2 in ref/ and by qcow-io in ours/ on
# copies of one image (io-compat.bash): errors injected on data and
# metadata events (once, immediately, sector, iotype, state machines
# with set-state), break/wait_break/resume with aio requests, bad config
# files, the --image-opts and json: forms; then the images compared.
# qcow-img info and check of a blkdebug: name as qemu-img's.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source=tests/interop/write-workloads.bash
. "$(dirname "$0")/write-workloads.bash"
# shellcheck source=tests/interop/io-compat.bash
. "$(dirname "$0")/io-compat.bash"

SRC=base.qcow2
FMT=qcow2

# cfg NAME LINES...: the config file $WORK/NAME.cfg, one line per arg.
cfg() {
	local name=$1
	shift
	printf '%s\n' "$@" >"$WORK/$name.cfg"
}

# base.qcow2: data at 0 (64k), a compressed cluster at 256k, the rest
# unallocated; configs in $WORK (../NAME.cfg from ref/ and ours/).
make_images() {
	SETUP_LOG=$WORK/res/setup.log
	: >"$SETUP_LOG"
	qimg create -f qcow2 base.qcow2 4M &&
		qio base.qcow2 "write -P 0x11 0 64k" \
			"write -c -P 0x22 256k 64k" || return 1
	: >src.bin
	# the host sector of guest offset 0, as qemu-img maps it
	DATA_SECTOR=$("$QEMU_IMG" map --output=json base.qcow2 |
		python3 -c 'import json,sys; m=json.load(sys.stdin); print(m[0]["offset"] // 512)') ||
		return 1
	cfg eio '[inject-error]' 'event = "read_aio"'
	cfg once '# a comment' '' '[inject-error]' 'event = "read_aio"' \
		'errno = "28"' 'once = "on"'
	cfg immediately '[inject-error]' 'event = "read_aio"' \
		'errno = "5"' 'immediately = "on"' 'once = "on"'
	cfg sector-hit '[inject-error]' 'event = "read_aio"' \
		"sector = \"$((DATA_SECTOR + 3))\""
	cfg sector-miss '[inject-error]' 'event = "read_aio"' 'sector = "0"'
	cfg iotype-write '[inject-error]' 'event = "read_aio"' \
		'iotype = "write"' 'errno = "13"'
	cfg write '[inject-error]' 'event = "write_aio"' 'once = "on"'
	cfg l2-load '[inject-error]' 'event = "l2_load"' 'once = "on"'
	cfg compressed '[inject-error]' 'event = "read_compressed"' \
		'errno = "61"' 'once = "on"'
	cfg states '[set-state]' 'event = "l2_load"' 'state = "1"' \
		'new_state = "2"' '[inject-error]' 'event = "read_aio"' \
		'state = "2"' 'once = "on"' '[set-state]' 'event = "read_aio"' \
		'state = "2"' 'new_state = "3"'
	cfg alloc '[inject-error]' 'event = "cluster_alloc"' 'once = "on"'
	cfg l2-load-write '[inject-error]' 'event = "l2_load"' 'once = "on"'
	cfg reftable '[inject-error]' 'event = "reftable_load"'
	cfg flush '[inject-error]' 'event = "flush_to_disk"' 'once = "on"'
	cfg bad-group '[frob]'
	cfg bad-event '[inject-error]' 'event = "nope"'
	cfg no-event '[inject-error]' 'errno = "5"'
	cfg bad-key '[inject-error]' 'event = "read_aio"' 'bogus = "1"'
	cfg no-group 'event = "read_aio"'
	cfg unquoted '[inject-error]' 'event = read_aio'
	cfg bad-bool '[inject-error]' 'event = "read_aio"' 'once = "maybe"'
	cfg bad-errno '[inject-error]' 'event = "read_aio"' 'errno = "x"'
	cfg bad-iotype '[inject-error]' 'event = "read_aio"' 'iotype = "bad"'
	cfg bad-state '[set-state]' 'event = "l2_load"' 'new_state = "two"'
}

inject() {
	compat read-eio -c 'read 64k 4k' -c 'read 0 4k' -c 'read 0 4k' \
		blkdebug:../eio.cfg:img.qcow2
	compat read-once -r -c 'read 0 4k' -c 'read -P 0x11 0 4k' \
		blkdebug:../once.cfg:img.qcow2
	compat read-immediately -r -c 'read 0 4k' -c 'read 0 4k' \
		blkdebug:../immediately.cfg:img.qcow2
	compat sector-hit -r -c 'read 0 512' -c 'read 8k 512' \
		blkdebug:../sector-hit.cfg:img.qcow2
	compat sector-miss -r -c 'read -P 0x11 0 4k' \
		blkdebug:../sector-miss.cfg:img.qcow2
	compat iotype-write -c 'read -P 0x11 0 4k' -c 'write 0 4k' \
		blkdebug:../iotype-write.cfg:img.qcow2
	compat write-once -c 'write -P 0x33 0 4k' -c 'write -P 0x44 4k 4k' \
		-c 'read -P 0x11 0 4k' -c 'read -P 0x44 4k 4k' \
		blkdebug:../write.cfg:img.qcow2
	compat l2-load -r -c 'read 0 4k' -c 'read -P 0x11 0 4k' \
		blkdebug:../l2-load.cfg:img.qcow2
	compat compressed -r -c 'read 256k 4k' -c 'read -P 0x22 256k 4k' \
		blkdebug:../compressed.cfg:img.qcow2
	compat states -r -c 'read 0 4k' -c 'read -P 0x11 0 4k' \
		-c 'read -P 0x11 4k 4k' blkdebug:../states.cfg:img.qcow2
	compat aio-write-once -c 'aio_write -P 1 0 4k' -c 'aio_write -P 2 8k 4k' \
		-c 'aio_flush' -c 'aio_read -P 2 8k 4k' -c 'aio_flush' \
		blkdebug:../write.cfg:img.qcow2
	compat open-cmd -c 'open -o driver=qcow2 blkdebug:../write.cfg:img.qcow2' \
		-c 'write 0 4k' -c 'close' -c 'open blkdebug:../write.cfg:img.qcow2' \
		-c 'write 0 4k'
	compat cluster-alloc -c 'write -P 3 2M 4k' -c 'read -P 3 2M 4k' \
		-c 'write -P 4 2M 4k' -c 'read -P 4 2M 4k' \
		blkdebug:../alloc.cfg:img.qcow2
	compat l2-load-write -c 'write -P 3 2M 4k' -c 'flush' \
		-c 'write -P 5 0 4k' -c 'read -P 5 0 4k' \
		blkdebug:../l2-load-write.cfg:img.qcow2
	compat reftable-load -c 'read 0 4k' blkdebug:../reftable.cfg:img.qcow2
	compat flush -c 'write -P 0x55 0 4k' -c 'flush' -c 'read 0 4k' \
		-c 'read -P 0x55 0 4k' blkdebug:../flush.cfg:img.qcow2
	compat no-config -c 'write -P 0x66 8k 4k' -c 'read -P 0x66 8k 4k' \
		blkdebug::img.qcow2
	compat image-opts --image-opts -c 'read 0 4k' -c 'read 0 4k' \
		driver=qcow2,file.driver=blkdebug,file.image.filename=img.qcow2,file.inject-error.0.event=read_aio,file.inject-error.0.once=on,file.inject-error.0.errno=28
	compat image-opts-config --image-opts -c 'read 0 4k' \
		driver=qcow2,file.driver=blkdebug,file.config=../eio.cfg,file.image.filename=img.qcow2
	compat json -c 'read 0 4k' -c 'read 64k 4k' \
		'json:{"driver":"qcow2","file":{"driver":"blkdebug","inject-error":[{"event":"read_aio","once":"on"}],"set-state":[{"event":"read_aio","new_state":2}],"image":{"driver":"file","filename":"img.qcow2"}}}'
}

breakpoints() {
	compat break-write -c 'break write_aio A' -c 'aio_write -P 7 0 64k' \
		-c 'wait_break A' -c 'resume A' -c 'aio_flush' \
		-c 'read -P 7 0 64k' blkdebug::img.qcow2
	compat break-read -c 'break read_aio B' -c 'aio_read -P 0x11 0 4k' \
		-c 'wait_break B' -c 'read -P 0x11 4k 4k' -c 'resume B' \
		-c 'aio_flush' blkdebug::img.qcow2
	compat break-alloc -c 'break write_aio A' -c 'aio_write -P 8 1M 4k' \
		-c 'wait_break A' -c 'resume A' -c 'aio_flush' \
		-c 'read -P 8 1M 4k' blkdebug::img.qcow2
	compat break-remove -c 'break write_aio A' -c 'aio_write -P 9 0 4k' \
		-c 'wait_break A' -c 'remove_break A' -c 'aio_flush' \
		-c 'read -P 9 0 4k' blkdebug::img.qcow2
	compat break-errors -c 'resume A' -c 'remove_break A' \
		-c 'break foo A' -c 'break' -c 'wait_break' \
		blkdebug::img.qcow2
	compat break-no-blkdebug -c 'break write_aio A' -c 'resume A' \
		-c 'remove_break A' img.qcow2
}

bad_configs() {
	local c
	for c in bad-group bad-event no-event bad-key no-group unquoted \
		bad-bool bad-errno bad-iotype bad-state; do
		compat "config-$c" -c 'read 0 512' \
			"blkdebug:../$c.cfg:img.qcow2"
	done
	compat config-missing -c 'read 0 512' blkdebug:../none.cfg:img.qcow2
	compat config-no-image -c 'read 0 512' blkdebug:img.qcow2
	compat opts-no-event --image-opts -c 'read 0 512' \
		driver=qcow2,file.driver=blkdebug,file.image.filename=img.qcow2,file.inject-error.0.errno=28
	compat opts-align --image-opts -c 'read 0 512' \
		driver=qcow2,file.driver=blkdebug,file.image.filename=img.qcow2,file.align=3
}

# A backing file name is the image's, not the command line's: QEMU 7.2
# opens blkdebug:CONFIG:NAME from it (and reads CONFIG); ours refuses it
# with one line and opens nothing.
backing_name() {
	local name=blkdebug-backing f
	f=$(case_file "$name")
	qimg create -f qcow2 -u -b 'blkdebug:eio.cfg:base.qcow2' -F qcow2 \
		bd-ov.qcow2 4M || { fail "$name" "cannot make the overlay"; return; }
	if run_to "$f" "$QCOW_IO" -c 'read 0 4k' bd-ov.qcow2; then
		fail "$name" "qcow-io opened a blkdebug backing name"
	elif [ "$(wc -l <"$f.err")" -ne 1 ] ||
		! grep -q "blkdebug is taken from the command line only" "$f.err"; then
		fail "$name" "not one line naming the refusal: $(head -c 200 "$f.err")"
	else
		pass "$name"
	fi
}

# qcow-img opens blkdebug: names as qemu-img does: info (the filter's
# name shown) and check, with rules that nothing raises there.
img_cases() {
	local v f
	for v in info check; do
		f=$(case_file "img-$v")
		run_to "$f.ref" "$QEMU_IMG" "$v" blkdebug:sector-miss.cfg:base.qcow2
		run_to "$f.ours" "$QCOW_IMG" "$v" blkdebug:sector-miss.cfg:base.qcow2
		if ! diff "$f.ref" "$f.ours" >"$f.diff"; then
			fail "img-$v" "qcow-img $v differs from qemu-img's"
			diag 6 <"$f.diff"
		else
			pass "img-$v"
		fi
	done
}

setup_work
require_qemu
make_images || skip_all "cannot make the images (log: $SETUP_LOG)"
inject
breakpoints
bad_configs
backing_name
img_cases
finish
