#!/bin/bash
# qcow-img snapshot against qemu-img 7.2, both ways: snapshots we create
# are listed, applied and exported by qemu-img with the content a raw copy
# took at snapshot time; snapshots qemu-img created are listed, applied and
# deleted by us; qemu-img check and qcow-img check are clean after every
# operation.  Listing (TZ=UTC), exit codes and errors against qemu-img's
# on copies of one image; 200+ snapshots; snapshots across resizes.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source=tests/interop/write-workloads.bash
. "$(dirname "$0")/write-workloads.bash"

export TZ=UTC

# both_clean NAME IMG: qemu-img check and qcow-img check find nothing.
both_clean() {
	local name=$1 img=$2 f rc
	f=$(case_file "$name")
	run_to "$f.q" "$QEMU_IMG" check "$img"
	rc=$?
	if [ $rc -ne 0 ]; then
		fail "$name" "qemu-img check exits $rc"
		cat "$f.q" "$f.q.err" | diag 8
		return 1
	fi
	run_to "$f.o" "$QCOW_IMG" check "$img"
	rc=$?
	if [ $rc -ne 0 ]; then
		fail "$name" "qcow-img check exits $rc"
		cat "$f.o" "$f.o.err" | diag 8
		return 1
	fi
	pass "$name"
}

# ours NAME ARGS...: qcow-img ARGS succeeds.
ours() {
	local name=$1 f
	shift
	f=$(case_file "$name")
	if run_to "$f" "$QCOW_IMG" "$@"; then
		return 0
	fi
	fail "$name" "qcow-img $* exits $?"
	cat "$f" "$f.err" | diag 5
	return 1
}

# ours_io NAME IMG CMD...: qcow-io runs the commands on IMG.
ours_io() {
	local name=$1 img=$2 f a args=()
	shift 2
	for a in "$@"; do
		args+=(-c "$a")
	done
	f=$(case_file "$name")
	if run_to "$f" "$QCOW_IO" -f qcow2 "${args[@]}" "$img" &&
	   ! grep -q 'failed' "$f" "$f.err"; then
		return 0
	fi
	fail "$name" "qcow-io fails on $img"
	cat "$f" "$f.err" | diag 5
	return 1
}

# export_is NAME IMG SNAPSHOT RAW: qemu-img exports the snapshot as RAW.
export_is() {
	local name=$1 img=$2 sn=$3 raw=$4
	rm -f exp.raw
	if ! run_to "$(case_file "$name").conv" "$QEMU_IMG" convert \
		-l "snapshot.name=$sn" -O raw "$img" exp.raw; then
		fail "$name" "qemu-img convert -l snapshot.name=$sn fails"
		diag 3 <"$(case_file "$name").conv.err"
		return 1
	fi
	same_content "$name" exp.raw "$raw" -f raw -F raw
}

# listed NAME IMG TAG...: qemu-img snapshot -l lists exactly these tags.
listed() {
	local name=$1 img=$2 got want
	shift 2
	got=$("$QEMU_IMG" snapshot -l "$img" | awk 'NR > 2 { print $2 }' |
		tr '\n' ' ')
	want="$* "
	[ $# -eq 0 ] && want=
	if [ "$got" = "$want" ]; then
		pass "$name"
		return 0
	fi
	fail "$name" "qemu-img lists '$got', expected '$want'"
	return 1
}

# raw_write RAW CMD...: the same qemu-io commands on the raw reference.
raw_write() {
	local raw=$1
	shift
	qio -f raw "$raw" "$@"
}

# ------------------------------------------------ snapshots we create

ours_create() {
	local t=ours-create/$1 cs=$2 opts=${3:-}
	rm -f img.qcow2 cur.raw s1.raw s2.raw
	qimg create -f qcow2 -o "cluster_size=$cs${opts:+,$opts}" img.qcow2 4M &&
		qio img.qcow2 "write -P 0x11 0 1M" "write -c -P 0x12 2M $cs" \
			"write -z 3M $cs" &&
		qimg convert -O raw img.qcow2 cur.raw || {
		fail "$t/setup" "qemu could not build the image"
		return
	}
	ours "$t/create-s1" snapshot -c s1 img.qcow2 || return
	cp cur.raw s1.raw
	both_clean "$t/check-after-create" img.qcow2
	# our write path on shared clusters: data, compressed, zeroes
	local w=("write -P 0x21 100 $((cs + 10))" "write -P 0x22 $((2 * 1048576 + 7)) 5"
		 "write -z 512k $cs" "discard $((3 * 1048576)) $cs")
	ours_io "$t/writes" img.qcow2 "${w[@]}" || return
	raw_write cur.raw "${w[@]}"
	both_clean "$t/check-after-writes" img.qcow2
	same_content "$t/active" img.qcow2 cur.raw -f raw -F qcow2
	export_is "$t/export-s1" img.qcow2 s1 s1.raw
	ours "$t/create-s2" snapshot -c s2 img.qcow2 || return
	cp cur.raw s2.raw
	ours_io "$t/writes3" img.qcow2 "write -P 0x31 0 64k" || return
	raw_write cur.raw "write -P 0x31 0 64k"
	listed "$t/listed" img.qcow2 s1 s2
	export_is "$t/export-s2" img.qcow2 s2 s2.raw
	export_is "$t/export-s1-again" img.qcow2 s1 s1.raw
	cp img.qcow2 q.qcow2
	qimg snapshot -a s1 q.qcow2
	same_content "$t/qemu-applies-s1" q.qcow2 s1.raw -f raw -F qcow2
	ours "$t/delete-s1" snapshot -d s1 img.qcow2 || return
	both_clean "$t/check-after-delete" img.qcow2
	listed "$t/listed-after-delete" img.qcow2 s2
	export_is "$t/export-s2-after-delete" img.qcow2 s2 s2.raw
	same_content "$t/active-after-delete" img.qcow2 cur.raw -f raw -F qcow2
	ours "$t/apply-s2" snapshot -a s2 img.qcow2 || return
	both_clean "$t/check-after-apply" img.qcow2
	same_content "$t/active-after-apply" img.qcow2 s2.raw -f raw -F qcow2
	ours "$t/delete-s2" snapshot -d s2 img.qcow2 || return
	both_clean "$t/check-after-last-delete" img.qcow2
	same_content "$t/active-at-end" img.qcow2 s2.raw -f raw -F qcow2
}

# --------------------------------------- snapshots qemu-img created

qemu_created() {
	local t=qemu-created/$1 cs=$2 opts=${3:-}
	rm -f img.qcow2 a.raw b.raw
	qimg create -f qcow2 -o "cluster_size=$cs${opts:+,$opts}" img.qcow2 2M &&
		qio img.qcow2 "write -P 0x41 0 300k" "write -c -P 0x42 1M $cs" &&
		qimg snapshot -c a img.qcow2 &&
		qimg convert -O raw img.qcow2 a.raw &&
		qio img.qcow2 "write -P 0x43 4k 8k" "write -P 0x44 1M 100" &&
		qimg snapshot -c b img.qcow2 &&
		qimg convert -O raw img.qcow2 b.raw &&
		qio img.qcow2 "write -P 0x45 0 1M" || {
		fail "$t/setup" "qemu could not build the image"
		return
	}
	rm -rf ours ref
	mkdir ours ref
	cp img.qcow2 ours/ && cp img.qcow2 ref/
	tool_both "$t/list" snapshot -l img.qcow2
	tool_both "$t/apply-by-id" snapshot -a 1 img.qcow2
	same_content "$t/applied" ours/img.qcow2 a.raw -f raw -F qcow2
	both_clean "$t/check-after-apply" ours/img.qcow2
	tool_both "$t/delete" snapshot -d b img.qcow2
	both_clean "$t/check-after-delete" ours/img.qcow2
	same_content "$t/same-as-qemu" ours/img.qcow2 ref/img.qcow2
	tool_both "$t/list-after" snapshot -l img.qcow2
	tool_both "$t/apply-by-name" snapshot -a a img.qcow2
	tool_both "$t/delete-last" snapshot -d a img.qcow2
	both_clean "$t/check-at-end" ours/img.qcow2
	same_content "$t/at-end" ours/img.qcow2 a.raw -f raw -F qcow2
}

# ------------------------------------------------ the verb's interface

interface() {
	local t=iface
	rm -rf ours ref
	mkdir ours ref
	qimg create -f qcow2 ours/img.qcow2 1M &&
		qio ours/img.qcow2 "write -P 1 0 64k" &&
		qimg snapshot -c one ours/img.qcow2 &&
		qimg snapshot -c two ours/img.qcow2 &&
		qimg snapshot -c one ours/img.qcow2 &&
		qimg create -f qcow2 ours/empty.qcow2 1M &&
		qimg create -f raw ours/r.raw 1M &&
		cp ours/* ref/ || {
		fail "$t/setup" "qemu could not build the images"
		return
	}
	tool_both "$t/list" snapshot -l img.qcow2
	tool_both "$t/list-U" snapshot -U -l img.qcow2
	tool_both "$t/list-q" snapshot -q -l img.qcow2
	tool_both "$t/list-empty" snapshot -l empty.qcow2
	tool_both "$t/no-action" snapshot img.qcow2
	tool_both "$t/apply-missing" snapshot -a nope img.qcow2
	tool_both "$t/apply-missing-q" snapshot -q -a nope img.qcow2
	tool_both "$t/delete-missing" snapshot -d nope img.qcow2
	# qemu-img deletes by name only
	tool_both "$t/delete-by-id" snapshot -d 2 img.qcow2
	tool_both "$t/delete-dup-name" snapshot -d one img.qcow2
	tool_both "$t/list-after-delete" snapshot -l img.qcow2
	tool_both "$t/mixed" snapshot -l -c x img.qcow2
	tool_both "$t/no-file" snapshot -c x
	tool_both "$t/missing-file" snapshot -l nosuch.qcow2
	tool_both "$t/force-share-write" snapshot -U -c x img.qcow2
	# probed raw: qemu-img's warning is three lines, ours one
	raw_same "$t/raw-create" -c x
	raw_same "$t/raw-list" -l
	raw_same "$t/raw-apply" -a x
	raw_same "$t/raw-delete" -d x
}

# raw_same NAME ARGS...: snapshot ARGS r.raw: same exit status, stdout
# and last line of stderr (the error) as qemu-img's.
raw_same() {
	local name=$1 f rc rrc
	shift
	f=$(case_file "$name")
	(cd ref && run_to "$f.ref" "$QEMU_IMG" snapshot "$@" r.raw)
	rrc=$?
	(cd ours && run_to "$f.ours" "$QCOW_IMG" snapshot "$@" r.raw)
	rc=$?
	sed -i "s|^$(basename "$QCOW_IMG"):|qemu-img:|" "$f.ours.err"
	if [ $rc -ne $rrc ] || ! cmp -s "$f.ref" "$f.ours" ||
	   [ "$(tail -n1 "$f.ref.err" | grep -v WARN)" != \
	     "$(tail -n1 "$f.ours.err" | grep -v warning)" ]; then
		fail "$name" "exit $rc (qemu-img $rrc), or output differs"
		cat "$f.ref.err" "$f.ours.err" | diag 8
		return 1
	fi
	pass "$name"
}

# raw create through -f is ours only (qemu-img 7.2 has no -f there):
# the probed form is compared above, this one must fail the same way.
raw_with_format() {
	local t=iface/raw-create-f f rc
	f=$(case_file "$t")
	run_to "$f" "$QCOW_IMG" snapshot -f raw -c x ours/r.raw
	rc=$?
	if [ $rc -eq 1 ] && grep -q "Could not create snapshot 'x'" "$f.err"; then
		pass "$t"
	else
		fail "$t" "exit $rc: $(head -c 200 "$f.err")"
	fi
}

# --------------------------------- check and check -r with snapshots

# refcounts of shared data clusters 10 raised and 12 lowered by
# hand, 16-bit refcounts: both checks report and repair it as qemu-img.
check_repair() {
	local t=check
	rm -rf ours ref
	mkdir ours ref
	qimg create -f qcow2 -o cluster_size=4096 ours/k.qcow2 1M &&
		qio ours/k.qcow2 "write -P 1 0 300k" "write -c -P 2 512k 4k" &&
		qimg snapshot -c q1 ours/k.qcow2 || {
		fail "$t/setup" "qemu could not build the image"
		return
	}
	ours "$t/create" snapshot -c o1 ours/k.qcow2 &&
		ours_io "$t/write" ours/k.qcow2 "write -P 3 0 8k" || return
	python3 - ours/k.qcow2 <<'PYEOF'
import struct, sys
with open(sys.argv[1], 'r+b') as f:
    h = f.read(104)
    f.seek(struct.unpack('>Q', h[48:56])[0])
    rb = struct.unpack('>Q', f.read(8))[0]
    for c, d in ((10, 1), (12, -1)):
        f.seek(rb + 2 * c)
        v = struct.unpack('>H', f.read(2))[0]
        f.seek(rb + 2 * c)
        f.write(struct.pack('>H', v + d))
PYEOF
	cp ours/k.qcow2 ref/
	tool_both "$t/damaged" check k.qcow2
	tool_both "$t/repair" check -r all k.qcow2
	both_clean "$t/repaired" ours/k.qcow2
	same_content "$t/same-as-qemu" ours/k.qcow2 ref/k.qcow2
	qimg convert -l snapshot.name=o1 -O raw ref/k.qcow2 ref-o1.raw &&
		export_is "$t/o1-as-qemu" ours/k.qcow2 o1 ref-o1.raw
}

# ------------------------------------------------ many snapshots

many() {
	local t=many n i ids_q ids_o
	n=205
	rm -rf ours ref
	mkdir ours ref
	qimg create -f qcow2 -o cluster_size=65536 ours/img.qcow2 256k &&
		qio ours/img.qcow2 "write -P 7 0 256k" || {
		fail "$t/setup" "qemu could not build the image"
		return
	}
	for ((i = 1; i <= n; i++)); do
		if ! run_to "$(case_file "$t/create")" "$QCOW_IMG" snapshot \
			-c "s$i" ours/img.qcow2; then
			fail "$t/create" "snapshot $i: exit $?"
			diag 3 <"$(case_file "$t/create").err"
			return
		fi
		if [ $((i % 50)) -eq 0 ]; then
			ours_io "$t/write-$i" ours/img.qcow2 \
				"write -P $((i / 50)) $((i * 1000)) 1000" || return
		fi
	done
	pass "$t/create-$n"
	both_clean "$t/check" ours/img.qcow2
	ids_o=$("$QEMU_IMG" snapshot -l ours/img.qcow2 | awk 'NR > 2 { print $1 "," $2 }' | tr '\n' ' ')
	ids_q=$(for ((i = 1; i <= n; i++)); do printf '%s,s%s ' $i $i; done)
	if [ "$ids_q" = "$ids_o" ]; then
		pass "$t/ids"
	else
		fail "$t/ids" "qemu-img lists other IDs and tags: ${ids_o:0:100}"
	fi
	cp ours/img.qcow2 ref/
	tool_both "$t/list" snapshot -l img.qcow2
	# IDs as qemu-img allocates them after deletes at the end and in the
	# middle
	tool_both "$t/delete-last" snapshot -d "s$n" img.qcow2
	tool_both "$t/delete-middle" snapshot -d s100 img.qcow2
	tool_both "$t/create-after" snapshot -c again img.qcow2
	ids_q=$("$QEMU_IMG" snapshot -l ref/img.qcow2 | awk 'NR > 2 { print $1, $2 }' | md5sum)
	ids_o=$("$QEMU_IMG" snapshot -l ours/img.qcow2 | awk 'NR > 2 { print $1, $2 }' | md5sum)
	if [ "$ids_q" = "$ids_o" ]; then
		pass "$t/ids-after"
	else
		fail "$t/ids-after" "IDs and tags differ from qemu-img's"
	fi
	both_clean "$t/check-after" ours/img.qcow2
	tool_both "$t/apply-s49" snapshot -a s49 img.qcow2
	same_content "$t/applied-s49" ours/img.qcow2 ref/img.qcow2
	both_clean "$t/check-end" ours/img.qcow2
}

# ------------------------------------------- snapshots across resizes

across_resize() {
	local t=resize sn
	rm -rf ours ref
	mkdir ours ref
	qimg create -f qcow2 -o cluster_size=4096 ours/img.qcow2 1M &&
		qio ours/img.qcow2 "write -P 0x61 0 1M" &&
		cp ours/img.qcow2 ref/ || {
		fail "$t/setup" "qemu could not build the image"
		return
	}
	tool_both "$t/c-small" snapshot -c small img.qcow2
	tool_both "$t/grow" resize img.qcow2 3M
	for s in ours ref; do
		"$QEMU_IO" -c "write -P 0x62 1536k 1M" "$s/img.qcow2" >/dev/null
	done
	tool_both "$t/c-large" snapshot -c large img.qcow2
	tool_both "$t/shrink" resize --shrink img.qcow2 512k
	both_clean "$t/check-shrunk" ours/img.qcow2
	same_content "$t/shrunk" ours/img.qcow2 ref/img.qcow2
	tool_both "$t/c-tiny" snapshot -c tiny img.qcow2
	for sn in small large tiny large small; do
		tool_both "$t/apply-$sn" snapshot -a "$sn" img.qcow2
		same_content "$t/applied-$sn" ours/img.qcow2 ref/img.qcow2
		sizes_equal "$t/size-$sn" ours/img.qcow2 ref/img.qcow2
		both_clean "$t/check-$sn" ours/img.qcow2
	done
}

# sizes_equal NAME A B: the same virtual size.
sizes_equal() {
	local a b
	a=$("$QEMU_IMG" info "$2" | grep '^virtual size')
	b=$("$QEMU_IMG" info "$3" | grep '^virtual size')
	if [ "$a" = "$b" ]; then
		pass "$1"
	else
		fail "$1" "ours: $a; qemu-img: $b"
	fi
}

# ------------------------------------- a snapshot with QEMU's VM state

# qemu_monitor OUT IMG CMD...: the monitor commands in a machine-less QEMU
# with IMG as its only drive.
qemu_monitor() {
	local out=$1 img=$2
	shift 2
	printf '%s\n' "$@" quit |
		timeout 60 qemu-system-x86_64 -M none -nodefaults -display none \
			-monitor stdio -drive "file=$img,if=none,id=d0" >"$out" 2>&1
}

# vmstate: QEMU's savevm snapshot keeps its VM state through our create,
# apply and delete of other snapshots (QEMU loads it after them), and our
# delete of it frees the VM state clusters too (no leak).
vmstate() {
	local t=vmstate f
	if ! command -v qemu-system-x86_64 >/dev/null; then
		skip "$t" "no qemu-system-x86_64 to make a VM state"
		return
	fi
	f=$(case_file "$t")
	rm -f img.qcow2 vm.raw
	qimg create -f qcow2 img.qcow2 4M &&
		qio img.qcow2 "write -P 0x51 0 256k" &&
		qemu_monitor "$f.save" img.qcow2 "savevm vm1" &&
		qimg convert -O raw img.qcow2 vm.raw &&
		"$QEMU_IMG" snapshot -l img.qcow2 | grep -q ' vm1 .* [1-9][0-9]* B ' || {
		fail "$t/setup" "QEMU made no snapshot with a VM state"
		diag 5 <"$f.save"
		return
	}
	ours "$t/create" snapshot -c s2 img.qcow2 || return
	ours_io "$t/write" img.qcow2 "write -P 0x52 0 64k" || return
	ours "$t/delete-other" snapshot -d s2 img.qcow2 || return
	ours "$t/apply" snapshot -a vm1 img.qcow2 || return
	same_content "$t/applied" img.qcow2 vm.raw -f raw -F qcow2
	both_clean "$t/check-kept" img.qcow2
	qemu_monitor "$f.load" img.qcow2 "loadvm vm1"
	if grep -qi 'error\|fail' "$f.load"; then
		fail "$t/qemu-loads" "QEMU's loadvm vm1 fails after our calls"
		diag 5 <"$f.load"
	else
		pass "$t/qemu-loads"
	fi
	ours "$t/delete" snapshot -d vm1 img.qcow2 || return
	both_clean "$t/check-freed" img.qcow2
}

write_setup
ours_create c16k-extl2 16384 extended_l2=on
ours_create c512-r4 512 refcount_bits=4
qemu_created c64k 65536
interface
raw_with_format
check_repair
many
across_resize
vmstate
finish
