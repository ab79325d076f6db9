#!/bin/bash
# shellcheck disable=SC2317  # the mk_* makers are called through a variable
# qcow-img bench against qemu-img bench 7.2:
#   args/*     the same command line gives the same exit status and the
#              same stdout (the elapsed time aside), and a message on
#              stderr exactly when qemu-img prints one; refused values,
#              unknown options and the checks made before the open too
#   write/*    a write bench (cache modes, flushes drained or not, sizes
#              and steps not aligned, wrapping at the end, an overlay on
#              a raw backing file with and without extended L2) leaves an
#              image equal (qemu-img compare) to the one qemu-img bench
#              leaves from the same start, holding the pattern where it
#              wrote (qemu-io read -P) and zeros elsewhere; qemu-img
#              check finds it clean
#   read/*     read benches on compressed, overlay and encrypted images
#              complete, the image unchanged
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

require_qemu
setup_work

SETUP_LOG=$WORK/setup.log

untimed() { sed 's/^Run completed in [0-9.]* seconds\.$/Run completed./' "$1"; }

# same_run NAME IMG ARGS...: both benches on IMG, compared.
same_run() {
	local name=$1 img=$2 f rrc orc nerr
	shift 2
	f=$(case_file "$name")
	run_to "$f.ref" "$QEMU_IMG" bench "$@" "$img"
	rrc=$?
	run_to "$f.ours" "$QCOW_IMG" bench "$@" "$img"
	orc=$?
	nerr=$(wc -l <"$f.ours.err")
	if [ $rrc -ne $orc ]; then
		fail "$name" "exit $orc, qemu-img $rrc"
		diag 3 <"$f.ours.err"
	elif ! diff <(untimed "$f.ref") <(untimed "$f.ours") >"$f.diff"; then
		fail "$name" "stdout differs from qemu-img's"
		diag 6 <"$f.diff"
	elif { [ -s "$f.ref.err" ] && [ "$nerr" -ne 1 ]; } ||
		{ [ ! -s "$f.ref.err" ] && [ "$nerr" -ne 0 ]; }; then
		fail "$name" "stderr: qemu-img $(wc -l <"$f.ref.err") lines, ours $nerr"
		diag 3 <"$f.ours.err"
	else
		pass "$name"
	fi
}

qimg() { setup_cmd "$SETUP_LOG" "$QEMU_IMG" "$@"; }
qio() { setup_cmd "$SETUP_LOG" "$QEMU_IO" "$@"; }

qimg create -q -f qcow2 small.qcow2 64M || skip_all "qemu-img create failed"
qio -f qcow2 -c 'write -P 0x11 0 4M' small.qcow2 || skip_all "qemu-io failed"

while IFS='|' read -r name args; do
	# shellcheck disable=SC2086
	same_run "args/$name" small.qcow2 $args
done <<'EOF'
defaults|-c 100
depth-size-step|-c 300 -d 8 -s 8k -S 24k -o 4k
suffixes|-c 20 -s 1.5k -S 0x1000 -o 1M
step-zero|-c 10 -S 0
size-zero|-c 5 -s 0
count-zero|-c 0
deep|-c 10 -d 100000
unaligned|-c 50 -s 1000 -S 3000 -t none
wrap|-c 300 -s 1M -S 1M -d 4
cache-modes|-c 50 -t writeback -i threads -q -U
native|-c 50 -t none -n
native-needs-direct|-c 5 -n
aio-uring|-c 50 -t none -i io_uring -f qcow2
past-end|-c 10 -o 64M
pattern-read|-c 10 --pattern=0x5a
flush-read-only|-c 10 --flush-interval 64
flush-below-depth|-c 10 -w --flush-interval 8
flush-write|-c 100 -d 4 -w --flush-interval 10 --pattern=0x11
flush-no-drain|-c 100 -d 4 -w --flush-interval 10 --no-drain --pattern=0x11
bad-count|-c x
bad-count-big|-c 3000000000
bad-depth|-d -1
bad-size|-s 3G
bad-size-word|-s x
bad-step|-S -1
bad-offset|-o x
bad-pattern|-w --pattern=300
bad-interval|-w --flush-interval=x
bad-cache|-t bogus
bad-aio|-i bogus
bad-format|-c 5 -f bogus
unknown-option|-c 5 -x
EOF

# depth 0: qemu-img 7.2 never ends; we refuse it (one line, exit 1)
f=$(case_file args/depth-zero)
run_to "$f" "$QCOW_IMG" bench -d 0 small.qcow2
if [ $? -eq 1 ] && [ ! -s "$f" ] && [ "$(wc -l <"$f.err")" -eq 1 ]; then
	pass args/depth-zero
else
	fail args/depth-zero "expected one line and exit 1"
fi

# expect_written IMG COUNT SIZE STEP OFFSET PATTERN LEN BG: qemu-io reads
# of every byte of IMG (LEN bytes): PATTERN where the bench wrote, else BG.
expect_written() {
	local img=$1 count=$2 size=$3 step=$4 off=$5 pat=$6 len=$7 bg=$8
	python3 - "$count" "$size" "$step" "$off" "$len" <<'PY' >cmds
import sys
count, size, step, off, length = map(int, sys.argv[1:])
spans = []
for _ in range(count):
    if size:
        spans.append((off, min(off + size, length)))
    off = (off + step) % length
spans.sort()
merged = []
for s, e in spans:
    if merged and s <= merged[-1][1]:
        merged[-1][1] = max(merged[-1][1], e)
    else:
        merged.append([s, e])
pos = 0
for s, e in merged:
    if s > pos:
        print("Z", pos, s - pos)
    print("P", s, e - s)
    pos = e
if pos < length:
    print("Z", pos, length - pos)
PY
	local args=() kind s n
	while read -r kind s n; do
		if [ "$kind" = P ]; then
			args+=(-c "read -q -P $pat $s $n")
		else
			args+=(-c "read -q -P $bg $s $n")
		fi
	done <cmds
	"$QEMU_IO" -r -f qcow2 "${args[@]}" "$img" 2>&1
}

# write_case NAME MAKER BG COUNT SIZE STEP OFFSET ARGS...: MAKER FILE
# makes the image, whose unwritten bytes read as BG; OURS_EXTRA: options
# for ours only.
write_case() {
	local name=$1 mk=$2 bg=$3 count=$4 size=$5 step=$6 off=$7 f out len
	shift 7
	f=$(case_file "$name")
	rm -f ours.qcow2 ref.qcow2
	if ! "$mk" ours.qcow2 >>"$SETUP_LOG" 2>&1 ||
		! "$mk" ref.qcow2 >>"$SETUP_LOG" 2>&1; then
		fail "$name" "setup failed"
		return
	fi
	# shellcheck disable=SC2086
	run_to "$f.ours" "$QCOW_IMG" bench -w --pattern=0x5a -c "$count" \
		-s "$size" -S "$step" -o "$off" "$@" ${OURS_EXTRA:-} ours.qcow2 ||
		{ fail "$name" "qcow-img bench failed"; diag 3 <"$f.ours.err"; return; }
	run_to "$f.ref" "$QEMU_IMG" bench -w --pattern=0x5a -c "$count" \
		-s "$size" -S "$step" -o "$off" "$@" ref.qcow2 ||
		{ fail "$name" "qemu-img bench failed"; diag 3 <"$f.ref.err"; return; }
	if ! diff <(untimed "$f.ref") <(untimed "$f.ours" | grep -v '^Running [0-9]* threads') >/dev/null; then
		fail "$name" "stdout differs from qemu-img's"
		return
	fi
	len=$("$QEMU_IMG" info --output=json ours.qcow2 |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["virtual-size"])')
	out=$(expect_written ours.qcow2 "$count" "$(to_bytes "$size")" \
		"$(to_bytes "$step")" "$(to_bytes "$off")" 0x5a "$len" "$bg")
	if printf '%s\n' "$out" | grep -qi 'verification failed\|error'; then
		fail "$name" "qemu-io read -P finds other bytes"
		printf '%s\n' "$out" | diag 3
	elif ! "$QEMU_IMG" check -q ours.qcow2 >"$f.check" 2>&1; then
		fail "$name" "qemu-img check: $(head -n 1 "$f.check")"
	elif ! "$QEMU_IMG" compare -q ref.qcow2 ours.qcow2 >"$f.cmp" 2>&1; then
		fail "$name" "differs from what qemu-img bench wrote"
		diag 2 <"$f.cmp"
	else
		pass "$name"
	fi
}

qimg create -q -f raw base.raw 16M
qio -f raw -c 'write -P 0x33 0 16M' base.raw
mk_empty() { "$QEMU_IMG" create -q -f qcow2 "$1" 16M; }
mk_4m() { "$QEMU_IMG" create -q -f qcow2 "$1" 4M; }
mk_4k_clusters() { "$QEMU_IMG" create -q -f qcow2 -o cluster_size=4k "$1" 1M; }
mk_overlay() { "$QEMU_IMG" create -q -f qcow2 -b base.raw -F raw "$1"; }
mk_overlay_x() {
	"$QEMU_IMG" create -q -f qcow2 -o extended_l2=on -b base.raw -F raw "$1"
}

write_case write/alloc-4k mk_empty 0 200 4k 64k 0 -d 32 -t none
write_case write/alloc-64k mk_empty 0 200 64k 64k 0 -d 16 -t writeback
write_case write/writethrough mk_empty 0 100 4k 12k 512 -d 8 -t writethrough
write_case write/directsync mk_empty 0 100 4k 12k 0 -d 8 -t directsync
write_case write/unsafe-flush mk_empty 0 300 4k 8k 0 -d 16 -t unsafe --flush-interval 32
write_case write/flush-drain mk_empty 0 300 4k 20k 0 -d 16 -t none --flush-interval 32
write_case write/flush-no-drain mk_empty 0 300 4k 20k 0 -d 16 --flush-interval 32 --no-drain
write_case write/unaligned mk_4m 0 400 1000 3000 7 -d 8 -t none
write_case write/wrap mk_4k_clusters 0 300 4k 12k 0 -d 8
write_case write/overlay mk_overlay 0x33 200 4k 64k 0 -d 32 -t none
write_case write/overlay-extl2 mk_overlay_x 0x33 200 4k 64k 4k -d 32 -t none
# ours only: the same requests shared by 3 threads, each with its ring
OURS_EXTRA="--threads 3" write_case write/threads mk_empty 0 601 4k 20k 0 -d 8 -t none

# reads of the other kinds of image: they complete, the image unchanged
qimg convert -c -O qcow2 small.qcow2 compressed.qcow2
qimg create -q -f qcow2 -b base.raw -F raw ov.qcow2
qio -f qcow2 -c 'write -P 0x44 64k 64k' ov.qcow2
echo secret-pass >pass
qimg create -q -f qcow2 --object secret,id=s0,file=pass \
	-o encrypt.format=aes,encrypt.key-secret=s0 enc.qcow2 4M
for c in compressed:"-c 2000 -s 64k -d 16" ov:"-c 2000 -d 32 -t none" \
	enc:"-c 500 -d 8 --object secret,id=s0,file=pass --image-opts"; do
	n=${c%%:*}
	a=${c#*:}
	img=$n.qcow2
	[ "$n" = enc ] && img="driver=qcow2,file.filename=enc.qcow2,encrypt.key-secret=s0"
	cp "$n.qcow2" "$n.before"
	f=$(case_file "read/$n")
	# shellcheck disable=SC2086
	if ! run_to "$f" "$QCOW_IMG" bench $a "$img"; then
		fail "read/$n" "exit status not 0"
		diag 3 <"$f.err"
	elif ! grep -q '^Run completed in [0-9.]* seconds\.$' "$f"; then
		fail "read/$n" "no 'Run completed' line"
	elif ! cmp -s "$n.qcow2" "$n.before"; then
		fail "read/$n" "the image changed"
	else
		pass "read/$n"
	fi
done

finish
