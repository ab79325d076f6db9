#!/bin/bash
# LUKS key slots changed by qcow-img amend -o encrypt.* as qemu-img 7.2
# changes them: a slot we add (the first free one, or encrypt.keyslot=N,
# with encrypt.iter-time) opens with qemu-io and reads the data qemu-io
# wrote, shows as active in qemu-img info and, in the header area cut out
# of the image, in cryptsetup's luksDump and --test-passphrase; a slot
# qemu-img amend adds opens with ours; slots we erase (by keyslot, by
# old secret) no longer open with qemu-io, their material overwritten,
# the others still do; qemu-img check clean after each.  Every refusal
# qemu-img 7.2 makes (a wrong old secret, the last active slots, an
# active slot without --force, all slots in use, options that do not go
# together) is one line from us too, with the image unchanged;
# --force overwrites an active slot.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

require_qemu
setup_work
SETUP_LOG=$WORK/setup.log
SEC=()
for i in 0 1 2 3 4 5 6 7 8; do
	SEC+=(--object "secret,id=s$i,data=pass-$i")
done
SEC+=(--object "secret,id=bad,data=wrong")

qcreate() {
	setup_cmd "$SETUP_LOG" "$TESTS_DIR/helpers/pbkdf-retry" "$QEMU_IMG" \
		create "$@"
}

# opts IMG SECRET
opts() { printf 'driver=qcow2,file.filename=%s,encrypt.key-secret=%s' "$1" "$2"; }

# amend NAME IMG OPEN-SECRET -o ...: ours, must succeed
amend() {
	local name=$1 img=$2 sec=$3
	shift 3
	run_ok "$name" "$QCOW_IMG" amend "${SEC[@]}" --image-opts "$@" \
		"$(opts "$img" "$sec")"
}

# qemu_opens NAME IMG SECRET: qemu-io reads the pattern with that secret
qemu_opens() {
	local f
	f=$(case_file "$1")
	if run_to "$f" "$QEMU_IO" "${SEC[@]}" --image-opts \
		-c "read -P 0x6b 0 256k" "$(opts "$2" "$3")" &&
		! grep -q "Pattern verification failed" "$f"; then
		pass "$1"
	else
		fail "$1" "qemu-io: $(head -n 2 "$f" "$f.err" | tr '\n' ' ')"
	fi
}

# qemu_refuses NAME IMG SECRET: qemu-io cannot open with that secret
qemu_refuses() {
	local f
	f=$(case_file "$1")
	if run_to "$f" "$QEMU_IO" "${SEC[@]}" --image-opts -c "read 0 4k" \
		"$(opts "$2" "$3")"; then
		fail "$1" "qemu-io opened it"
	elif grep -q "Invalid password" "$f.err"; then
		pass "$1"
	else
		fail "$1" "$(head -n 1 "$f.err")"
	fi
}

ours_opens() {
	local f
	f=$(case_file "$1")
	if run_to "$f" "$QCOW_IO" "${SEC[@]}" --image-opts \
		-c "read -P 0x6b 0 256k" "$(opts "$2" "$3")" &&
		! grep -q "Pattern verification failed" "$f"; then
		pass "$1"
	else
		fail "$1" "qcow-io: $(head -n 2 "$f" "$f.err" | tr '\n' ' ')"
	fi
}

# slots IMG: the active state of the 8 slots, qemu-img info's: "10000000"
slots() {
	"$QEMU_IMG" info --output=json "$1" 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)["format-specific"]["data"]["encrypt"]["slots"]
print("".join("1" if s["active"] else "0" for s in d))'
}

expect_slots() {
	local got
	got=$(slots "$2")
	if [ "$got" = "$3" ]; then
		pass "$1"
	else
		fail "$1" "qemu-img info: slots $got, not $3"
	fi
}

clean() {
	local f
	f=$(case_file "$1")
	if run_to "$f" "$QEMU_IMG" check "${SEC[@]}" --image-opts "$(opts "$2" "$3")"; then
		pass "$1"
	else
		fail "$1" "qemu-img check: $(head -n 3 "$f" "$f.err" | tr '\n' ' ')"
	fi
}

# area IMG OUT: the LUKS header area cut out of the image
area() {
	python3 - "$1" "$2" <<'EOF'
import struct, sys
d = open(sys.argv[1], "rb").read()
hl = struct.unpack(">I", d[100:104])[0] if struct.unpack(">I", d[4:8])[0] >= 3 else 72
o = hl
while o + 8 <= len(d):
    t, n = struct.unpack(">II", d[o:o + 8])
    if t == 0:
        break
    if t == 0x0537be77:
        off, ln = struct.unpack(">QQ", d[o + 8:o + 24])
        open(sys.argv[2], "wb").write(d[off:off + ln])
        sys.exit(0)
    o += 8 + (n + 7) // 8 * 8
sys.exit(1)
EOF
}

# cryptsetup_opens NAME IMG SLOT PASS: luksDump says ENABLED, the pass opens that slot
cryptsetup_opens() {
	local f
	f=$(case_file "$1")
	if ! have_cmd cryptsetup; then
		skip "$1" "no cryptsetup"
		return
	fi
	area "$2" "$f.luks" || { fail "$1" "no LUKS header extension: test bug"; return; }
	printf '%s' "$4" >"$f.key"
	if ! cryptsetup luksDump "$f.luks" >"$f.dump" 2>&1 ||
		! grep -q "^Key Slot $3: ENABLED" "$f.dump"; then
		fail "$1" "luksDump: slot $3 not ENABLED"
		grep "Key Slot" "$f.dump" | diag 8
	elif ! cryptsetup luksOpen --test-passphrase --key-slot "$3" \
		--key-file "$f.key" "$f.luks" >"$f.out" 2>&1; then
		fail "$1" "cryptsetup does not open slot $3: $(head -n 1 "$f.out")"
	else
		pass "$1"
	fi
	rm -f "$f.luks"
}

# refused NAME IMG ARGS...: ours fails with one line, the image unchanged
refused() {
	local name=$1 img=$2 f before
	shift 2
	f=$(case_file "$name")
	before=$(md5sum <"$img")
	if run_to "$f" "$QCOW_IMG" amend "${SEC[@]}" --image-opts "$@"; then
		fail "$name" "succeeded"
	elif [ "$(wc -l <"$f.err")" -ne 1 ]; then
		fail "$name" "$(wc -l <"$f.err") lines on stderr, not one"
		diag 5 <"$f.err"
	elif [ "$(md5sum <"$img")" != "$before" ]; then
		fail "$name" "the image changed"
	else
		pass "$name"
	fi
}

# same refusal from qemu-img: it refuses too (and changes nothing)
qemu_refuses_amend() {
	local name=$1 img=$2 f before
	shift 2
	f=$(case_file "$name-qemu")
	before=$(md5sum <"$img")
	if run_to "$f" "$QEMU_IMG" amend "${SEC[@]}" --image-opts "$@"; then
		fail "$name" "qemu-img amend accepts it: test bug"
	elif [ "$(md5sum <"$img")" != "$before" ]; then
		fail "$name" "qemu-img changed the image: test bug"
	fi
}

both_refuse() {
	qemu_refuses_amend "$@"
	refused "$@"
}

: >"$SETUP_LOG"
IMG=l.qcow2
if ! qcreate -q -f qcow2 "${SEC[@]}" -o \
	encrypt.format=luks,encrypt.key-secret=s0,encrypt.iter-time=10,cluster_size=16k \
	"$IMG" 1M || ! setup_cmd "$SETUP_LOG" "$QEMU_IO" "${SEC[@]}" \
	--image-opts -c "write -P 0x6b 0 256k" "$(opts "$IMG" s0)"; then
	fail setup "qemu could not make the image: test bug"
	finish
fi

# ours adds: the first free slot, then slot 5 with its own iter-time
amend add/first-free "$IMG" s0 -o encrypt.state=active,encrypt.new-secret=s1,encrypt.iter-time=10 &&
	expect_slots add/first-free/info "$IMG" 11000000
qemu_opens add/first-free/qemu-opens "$IMG" s1
qemu_opens add/first-free/old-still-opens "$IMG" s0
cryptsetup_opens add/first-free/cryptsetup "$IMG" 1 pass-1
amend add/keyslot-5 "$IMG" s1 -o encrypt.state=active,encrypt.new-secret=s5,encrypt.keyslot=5,encrypt.iter-time=20 &&
	expect_slots add/keyslot-5/info "$IMG" 11000100
qemu_opens add/keyslot-5/qemu-opens "$IMG" s5
cryptsetup_opens add/keyslot-5/cryptsetup "$IMG" 5 pass-5
clean add/check "$IMG" s5

# qemu-img adds, ours opens
setup_cmd "$SETUP_LOG" "$QEMU_IMG" amend "${SEC[@]}" --image-opts -o \
	encrypt.state=active,encrypt.new-secret=s2,encrypt.iter-time=10 \
	"$(opts "$IMG" s0)" || fail qemu-adds/setup "qemu-img amend: test bug"
ours_opens qemu-adds/ours-opens "$IMG" s2
expect_slots qemu-adds/info "$IMG" 11100100

# refusals, as qemu-img's
both_refuse refuse/wrong-old-secret "$IMG" \
	-o encrypt.state=inactive,encrypt.old-secret=bad "$(opts "$IMG" s0)"
both_refuse refuse/overwrite-active "$IMG" \
	-o encrypt.state=active,encrypt.new-secret=s3,encrypt.keyslot=1 "$(opts "$IMG" s0)"
both_refuse refuse/no-new-secret "$IMG" -o encrypt.state=active "$(opts "$IMG" s0)"
both_refuse refuse/old-secret-on-add "$IMG" \
	-o encrypt.state=active,encrypt.new-secret=s3,encrypt.old-secret=s0 "$(opts "$IMG" s0)"
both_refuse refuse/new-secret-on-erase "$IMG" \
	-o encrypt.state=inactive,encrypt.new-secret=s3 "$(opts "$IMG" s0)"
both_refuse refuse/iter-time-on-erase "$IMG" \
	-o encrypt.state=inactive,encrypt.keyslot=1,encrypt.iter-time=10 "$(opts "$IMG" s0)"
both_refuse refuse/erase-nothing-named "$IMG" -o encrypt.state=inactive "$(opts "$IMG" s0)"
both_refuse refuse/erase-inactive "$IMG" \
	-o encrypt.state=inactive,encrypt.keyslot=3 "$(opts "$IMG" s0)"
both_refuse refuse/keyslot-8 "$IMG" \
	-o encrypt.state=inactive,encrypt.keyslot=8 "$(opts "$IMG" s0)"
both_refuse refuse/bad-state "$IMG" -o encrypt.state=foo "$(opts "$IMG" s0)"
both_refuse refuse/create-only "$IMG" \
	-o encrypt.cipher-alg=aes-128,encrypt.state=active,encrypt.new-secret=s3 "$(opts "$IMG" s0)"

# erase by keyslot, by old secret
amend erase/keyslot-1 "$IMG" s0 -o encrypt.state=inactive,encrypt.keyslot=1 &&
	expect_slots erase/keyslot-1/info "$IMG" 10100100
qemu_refuses erase/keyslot-1/qemu-refuses "$IMG" s1
qemu_opens erase/keyslot-1/others-open "$IMG" s5
amend erase/old-secret "$IMG" s0 -o encrypt.state=inactive,encrypt.old-secret=s5 &&
	expect_slots erase/old-secret/info "$IMG" 10100000
qemu_refuses erase/old-secret/qemu-refuses "$IMG" s5
clean erase/check "$IMG" s2

# one pass opening two slots; erasing both by old secret
amend erase/two/setup "$IMG" s0 -o encrypt.state=active,encrypt.new-secret=s6,encrypt.iter-time=10
amend erase/two/setup2 "$IMG" s0 -o encrypt.state=active,encrypt.new-secret=s6,encrypt.iter-time=10
expect_slots erase/two/before "$IMG" 11110000
amend erase/two "$IMG" s0 -o encrypt.state=inactive,encrypt.old-secret=s6 &&
	expect_slots erase/two/info "$IMG" 10100000

# the last active slots: refused without --force
amend erase/to-one "$IMG" s0 -o encrypt.state=inactive,encrypt.keyslot=2
both_refuse refuse/erase-last-slot "$IMG" \
	-o encrypt.state=inactive,encrypt.keyslot=0 "$(opts "$IMG" s0)"
both_refuse refuse/erase-all-by-old-secret "$IMG" \
	-o encrypt.state=inactive,encrypt.old-secret=s0 "$(opts "$IMG" s0)"

# all slots in use
for i in 1 2 3 4 5 6 7; do
	amend "full/add-$i" "$IMG" s0 -o "encrypt.state=active,encrypt.new-secret=s$i,encrypt.iter-time=10" >/dev/null
done
expect_slots full/info "$IMG" 11111111
both_refuse refuse/all-in-use "$IMG" \
	-o encrypt.state=active,encrypt.new-secret=s8 "$(opts "$IMG" s0)"

# --force overwrites an active slot
amend force/overwrite "$IMG" s0 --force \
	-o encrypt.state=active,encrypt.new-secret=s8,encrypt.keyslot=3,encrypt.iter-time=10
qemu_opens force/qemu-opens-new "$IMG" s8
qemu_refuses force/old-gone "$IMG" s3
clean force/check "$IMG" s8
finish
