#!/bin/bash
# Reading internal snapshots made by qemu-img, against qemu-img 7.2:
#   convert/*  qcow-img convert -l (ID_OR_NAME, snapshot.id=, snapshot.name=)
#              byte-equal to qemu-img convert -l of the same snapshot, raw
#              and qcow2 (qemu-img compare, qemu-img check); the source
#              untouched; refusals (no such snapshot, bad key, raw source,
#              -s which 7.2 no longer has) with qemu-img's exit status;
#   io/*       qcow-io -l reads what qemu-io reads from that export, and
#              refuses writes;
#   info/*     info (human, JSON, --backing-chain) byte for byte as
#              qemu-img's with 1, 3 and 11 snapshots (a long name, IDs
#              after a delete), a v2 image, an overlay
#              and a base that both have snapshots, a snapshot with a VM
#              state size and VM clock (TZ=UTC).
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

require_qemu
setup_work
SETUP_LOG=$WORK/res/setup.log
export TZ=UTC
MB=$((1 << 20))
QPOKE=$TESTS_DIR/interop/qpoke.py

# a.qcow2 (64k clusters, 8M): s1, overwrite, s2, grow to 12M and write,
# s3, shrink to 6M, overwrite again: each snapshot has other data and a
# disk size other than the active one.
# b.qcow2 (v2, 4k clusters): over a raw base; snap "one", overwrite.
# d.qcow2 (4k clusters, 1M) over a 16M raw base: snapshot s (a one-entry
# L1 table), grown to 16M: s reads the backing file past its L1 table.
build() {
	qimg create -f qcow2 a.qcow2 8M &&
	qio a.qcow2 "write -P 0x11 0 1M" "write -P 0x12 5M 64k" &&
	qimg snapshot -c s1 a.qcow2 &&
	qio a.qcow2 "write -P 0x21 64k 128k" "write -z 5M 64k" \
		"write -P 0x22 7M 4k" &&
	qimg snapshot -c s2 a.qcow2 &&
	qimg resize a.qcow2 12M &&
	qio a.qcow2 "write -P 0x31 11M 64k" "discard 0 64k" &&
	qimg snapshot -c "third one" a.qcow2 &&
	qimg resize --shrink a.qcow2 6M &&
	qio a.qcow2 "write -P 0x41 0 2M" &&
	qimg create -f raw base.raw 4M &&
	qio -f raw base.raw "write -P 0x51 0 4M" &&
	qimg create -f qcow2 -o compat=0.10,cluster_size=4096 \
		-b base.raw -F raw b.qcow2 &&
	qio b.qcow2 "write -P 0x61 8k 8k" &&
	qimg snapshot -c one b.qcow2 &&
	qio b.qcow2 "write -P 0x62 0 64k" &&
	qimg create -f qcow2 -o cluster_size=4096 c.qcow2 1M &&
	qimg snapshot -c only c.qcow2 &&
	qimg create -f qcow2 -b a.qcow2 -F qcow2 over.qcow2 &&
	qimg snapshot -c top over.qcow2 &&
	qimg create -f raw base16.raw 16M &&
	qio -f raw base16.raw "write -P 0x52 0 16M" &&
	qimg create -f qcow2 -o cluster_size=4096 -b base16.raw -F raw \
		d.qcow2 1M &&
	qio d.qcow2 "write -P 0x71 0 512k" &&
	qimg snapshot -c s d.qcow2 &&
	qimg resize d.qcow2 16M &&
	qio d.qcow2 "write -P 0x72 8M 1M" &&
	qimg create -f qcow2 l.qcow2 1M &&
	qimg snapshot -c "a-snapshot-name-longer-than-its-column" l.qcow2 &&
	for i in $(seq 2 11); do qimg snapshot -c "n$i" l.qcow2 || return 1; done &&
	qimg snapshot -d n5 l.qcow2 && qimg snapshot -c late l.qcow2 &&
	cp c.qcow2 vm.qcow2 &&
	python3 "$QPOKE" vm.qcow2 'u64@(snap_off+24)=3723004000000' \
		'u64@(snap_off+40)=123456789' 'snap[0].vm_state_size=4096'
}
if ! build; then
	fail "setup" "qemu could not build the images (log: $SETUP_LOG)"
	finish
fi

sum_of() { sha256sum "$@" | cut -d' ' -f1; }

# cvt NAME IMG PARAM: raw export by both, equal; qcow2 export equal too.
cvt() {
	local name=$1 img=$2 param=$3 before
	before=$(sum_of "$img")
	run_to res/ref "$QEMU_IMG" convert -O raw -l "$param" "$img" ref.raw ||
		{ fail "$name" "qemu-img convert -l '$param' failed: test bug"; return; }
	if ! run_to res/ours "$QCOW_IMG" convert -O raw -l "$param" "$img" ours.raw; then
		fail "$name" "convert -l '$param' failed: $(cat res/ours.err)"
	elif ! cmp -s ref.raw ours.raw; then
		fail "$name" "raw export differs from qemu-img's"
	elif ! run_to res/ours2 "$QCOW_IMG" convert -O qcow2 -l "$param" "$img" ours.qcow2; then
		fail "$name" "convert -O qcow2 -l '$param' failed: $(cat res/ours2.err)"
	elif ! run_to res/cmp "$QEMU_IMG" compare -f raw -F qcow2 ref.raw ours.qcow2; then
		fail "$name" "qemu-img compare: $(cat res/cmp)"
	elif ! run_to res/chk "$QEMU_IMG" check ours.qcow2; then
		fail "$name" "qemu-img check of the qcow2 export: $(cat res/chk)"
	elif [ "$(sum_of "$img")" != "$before" ]; then
		fail "$name" "the source changed"
	else
		pass "$name"
	fi
	rm -f ref.raw ours.raw ours.qcow2
}

cvt convert/a-name-s1 a.qcow2 s1
cvt convert/a-id-2 a.qcow2 2
cvt convert/a-name-spaces a.qcow2 "third one"
cvt convert/a-opt-name a.qcow2 "snapshot.name=s2"
cvt convert/a-opt-id a.qcow2 "snapshot.id=3"
cvt convert/a-opt-both a.qcow2 "snapshot.id=1,snapshot.name=s1,"
cvt convert/a-opt-last-wins a.qcow2 "snapshot.name=s1,snapshot.name=s2"
cvt convert/b-v2-backing b.qcow2 one
cvt convert/c-empty c.qcow2 only
cvt convert/d-short-l1 d.qcow2 s
cvt convert/over-top over.qcow2 top

# refuse NAME ARGS...: both exit 1, qemu-img's words where ours has them.
refuse() {
	local name=$1 want=$2 rrc rc
	shift 2
	run_to res/ref "$QEMU_IMG" convert -O raw "$@" x.raw
	rrc=$?
	run_to res/ours "$QCOW_IMG" convert -O raw "$@" y.raw
	rc=$?
	if [ $rc -ne $rrc ] || [ $rc -eq 0 ]; then
		fail "$name" "exit $rc, qemu-img's $rrc"
	elif [ -e y.raw ]; then
		fail "$name" "an output file was left"
	elif [ "$want" != "-s" ] &&	# qemu-img adds a usage hint there
	     [ "$(grep -c '' res/ours.err)" -ne "$(grep -c '' res/ref.err)" ]; then
		fail "$name" "$(grep -c '' res/ours.err) error lines, qemu-img $(grep -c '' res/ref.err)"
	elif ! grep -qF -- "$want" res/ours.err; then
		fail "$name" "error without '$want': $(cat res/ours.err)"
	else
		pass "$name"
	fi
	rm -f x.raw y.raw
}
refuse convert/missing-name "Can't find snapshot" -l nope a.qcow2
refuse convert/missing-empty "Can't find snapshot" -l "" a.qcow2
refuse convert/id-name-mismatch "Can't find snapshot" -l snapshot.id=1,snapshot.name=s2 a.qcow2
refuse convert/empty-id "Can't find snapshot" -l snapshot.id= a.qcow2
refuse convert/bad-key "Invalid parameter 'snapshot.foo'" -l snapshot.foo=1 a.qcow2
refuse convert/raw-source "internal snapshots" -l s1 base.raw
refuse convert/two-sources "No support for concatenating multiple snapshot" -l s1 a.qcow2 a.qcow2
refuse convert/dash-s "-s" -s s1 a.qcow2

# io NAME IMG PARAM CMD: qcow-io -l's output as qemu-io's on the export.
io() {
	local name=$1 img=$2 param=$3 cmd=$4
	run_to res/ref "$QEMU_IMG" convert -O raw -l "$param" "$img" ref.raw ||
		{ fail "$name" "qemu-img convert failed: test bug"; return; }
	run_to res/ref "$QEMU_IO" -f raw -r -c "$cmd" ref.raw
	run_to res/ours "$QCOW_IO" -l "$param" -c "$cmd" "$img"
	if ! diff <(grep -v ' ops; ' res/ref) <(grep -v ' ops; ' res/ours) >res/diff; then
		fail "$name" "qcow-io output differs from qemu-io's"
		diag 8 <res/diff
	elif ! grep -q '^read ' res/ours; then
		fail "$name" "no read line: $(cat res/ours.err)"
	else
		pass "$name"
	fi
	rm -f ref.raw
}
io io/s1-pattern a.qcow2 s1 "read -P 0x11 0 1M"
io io/s1-hexdump a.qcow2 s1 "read -v 5M 512"
io io/s2-hexdump a.qcow2 snapshot.id=2 "read -v 60k 8k"
io io/b-backing b.qcow2 one "read -v 4k 8k"
if run_to res/w "$QCOW_IO" -l s1 -c "write 0 4k" a.qcow2; then
	fail "io/write-refused" "qcow-io -l wrote"
else
	pass "io/write-refused"
fi
if run_to res/m "$QCOW_IO" -l nope -c "read 0 4k" a.qcow2 ||
   ! grep -q "Can't find snapshot" res/m.err; then
	fail "io/missing" "$(cat res/m.err)"
else
	pass "io/missing"
fi

# info NAME IMG ARGS...: stdout and exit status equal to qemu-img's.
info() {
	local name=$1 img=$2 rrc rc
	shift 2
	run_to res/ref "$QEMU_IMG" info "$@" "$img"
	rrc=$?
	run_to res/ours "$QCOW_IMG" info "$@" "$img"
	rc=$?
	if [ $rc -ne $rrc ]; then
		fail "$name" "exit $rc, qemu-img's $rrc"
	elif ! diff res/ref res/ours >res/diff; then
		fail "$name" "differs from qemu-img info"
		diag 10 <res/diff
	else
		pass "$name"
	fi
}
for img in a b c d l vm over; do
	info "info/$img-human" $img.qcow2
	info "info/$img-json" $img.qcow2 --output=json
done
info info/over-chain over.qcow2 --backing-chain
info info/over-chain-json over.qcow2 --backing-chain --output=json
info info/b-chain b.qcow2 --backing-chain

finish
