#!/bin/bash
# Encrypted qcow2 images (legacy AES and LUKS) against qemu-img/qemu-io 7.2:
# images qemu made (several ciphers, modes, hashes, cluster sizes) read
# by us exactly as `qemu-img convert -O raw` reads them; images we make
# and write (unaligned writes, partial clusters, over a backing file)
# read by qemu exactly as the same writes on a raw file, clean for
# qemu-img check; info as qemu-img shows it; convert to and from
# encrypted images; a missing secret and a wrong passphrase refused with
# one line and the image unchanged; compressed writes refused.  Each
# crypto backend asked for (--crypto-backend: OpenSSL here, the kernel's
# refused with one line where AF_ALG is missing); ublk-qcow add
# --key-keyring reading the user keyring.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

require_qemu
setup_work
SETUP_LOG=$WORK/setup.log
PW=correct-horse
SEC=(--object "secret,id=s0,data=$PW")
BAD=(--object "secret,id=s0,data=wrong-$PW")

# qemu-img create, again while its PBKDF2 timing fails
qcreate() {
	setup_cmd "$SETUP_LOG" "$TESTS_DIR/helpers/pbkdf-retry" "$QEMU_IMG" \
		create "$@"
}

opts() { printf 'driver=qcow2,file.filename=%s,encrypt.key-secret=s0' "$1"; }

# Writes of every shape: unaligned, across clusters, partial sectors.
WRITES=(
	"write -P 0x11 0 512"
	"write -P 0x22 700 5000"
	"write -P 0x33 65000 70000"
	"write -P 0x44 1048575 3"
	"write -P 0x55 2097152 2097152"
	"write -P 0x66 3000000 123"
	"write -z 2200000 100000"
	"write -P 0x77 4190000 4304"
)

io_args() {
	local w a=()
	for w in "${WRITES[@]}"; do a+=(-c "$w"); done
	printf '%s\0' "${a[@]}"
}

# raw_ref FILE SIZE: the writes on a raw file, by qemu-io.
raw_ref() {
	local a
	mapfile -d '' a < <(io_args)
	rm -f "$1"
	qimg create -q -f raw "$1" "$2" &&
		setup_cmd "$SETUP_LOG" "$QEMU_IO" -f raw "${a[@]}" "$1"
}

# same_as_raw NAME IMG RAW: qemu-img compare with the secret: identical.
same_as_raw() {
	local f
	f=$(case_file "$1")
	if run_to "$f" "$QEMU_IMG" compare "${SEC[@]}" --image-opts \
		"$(opts "$2")" "driver=raw,file.filename=$3"; then
		pass "$1"
	else
		fail "$1" "qemu-img compare: $(head -c 200 "$f" "$f.err")"
	fi
}

# ours_reads NAME IMG: qcow-img convert -O raw equals qemu-img's.
ours_reads() {
	local f
	f=$(case_file "$1")
	rm -f "$f.ref.raw" "$f.ours.raw"
	if ! run_to "$f.ref" "$QEMU_IMG" convert "${SEC[@]}" --image-opts \
		"$(opts "$2")" -O raw "$f.ref.raw"; then
		fail "$1" "qemu-img convert failed: test bug"
		diag 5 <"$f.ref.err"
		return
	fi
	if ! run_to "$f.ours" "$QCOW_IMG" convert "${SEC[@]}" --image-opts \
		"$(opts "$2")" -O raw "$f.ours.raw"; then
		fail "$1" "qcow-img convert failed"
		diag 5 <"$f.ours.err"
	elif ! cmp -s "$f.ref.raw" "$f.ours.raw"; then
		fail "$1" "raw contents differ from qemu-img's"
		raw_diff "$f.ref.raw" "$f.ours.raw" | diag 8
	else
		pass "$1"
	fi
	rm -f "$f.ref.raw" "$f.ours.raw"
}

# clean NAME IMG: qemu-img check (with the secret) finds nothing.
clean() {
	local f
	f=$(case_file "$1")
	if run_to "$f" "$QEMU_IMG" check "${SEC[@]}" --image-opts \
		"$(opts "$2")"; then
		pass "$1"
	else
		fail "$1" "qemu-img check: $(head -n 3 "$f" "$f.err" | tr '\n' ' ')"
	fi
}

# ours_write IMG: the writes, by qcow-io.
ours_write() {
	local a
	mapfile -d '' a < <(io_args)
	run_to "$(case_file "ours-write-$1")" "$QCOW_IO" "${SEC[@]}" \
		--image-opts "${a[@]}" "$(opts "$1")"
}

qemu_write() {
	local a
	mapfile -d '' a < <(io_args)
	setup_cmd "$SETUP_LOG" "$QEMU_IO" "${SEC[@]}" --image-opts "${a[@]}" \
		"$(opts "$1")"
}

LUKS_VARIANTS=(
	"luks-default-64k:cluster_size=64k"
	"luks-4k:cluster_size=4k"
	"luks-2m:cluster_size=2M"
	"luks-aes128-cbc-essiv-sha1:cluster_size=16k,encrypt.cipher-alg=aes-128,encrypt.cipher-mode=cbc,encrypt.ivgen-alg=essiv,encrypt.ivgen-hash-alg=sha256,encrypt.hash-alg=sha1"
	"luks-aes256-cbc-plain64-sha512:cluster_size=512,encrypt.cipher-alg=aes-256,encrypt.cipher-mode=cbc,encrypt.ivgen-alg=plain64,encrypt.hash-alg=sha512"
	"luks-aes128-xts-plain:cluster_size=128k,encrypt.cipher-alg=aes-128,encrypt.cipher-mode=xts,encrypt.ivgen-alg=plain"
	"luks-extl2:cluster_size=32k,extended_l2=on"
)

# ---------------------------------------------- images qemu made, read
test_read_qemu() {
	local v name o
	for v in "aes-4k:encrypt.format=aes,cluster_size=4k" \
		"aes-64k:encrypt.format=aes" "${LUKS_VARIANTS[@]}"; do
		name=${v%%:*}
		o=${v#*:}
		case $name in luks*) o="encrypt.format=luks,encrypt.iter-time=10,$o" ;; esac
		rm -f "q-$name.qcow2"
		if ! qcreate -q -f qcow2 "${SEC[@]}" \
			-o "$o,encrypt.key-secret=s0" "q-$name.qcow2" 4M ||
			! qemu_write "q-$name.qcow2"; then
			fail "read/$name" "qemu could not make the image: test bug"
			continue
		fi
		ours_reads "read/$name" "q-$name.qcow2"
		clean "read/$name/check-after" "q-$name.qcow2"
	done
}

# ------------------------------------------- images we make and write
test_write_ours() {
	local v name o
	raw_ref ref.raw 4M || { fail "write/setup" "raw reference"; return; }
	for v in "aes-4k:encrypt.format=aes,cluster_size=4k" \
		"aes-64k:encrypt.format=aes" "${LUKS_VARIANTS[@]}"; do
		name=${v%%:*}
		o=${v#*:}
		case $name in luks*) o="encrypt.format=luks,encrypt.iter-time=10,$o" ;; esac
		rm -f "o-$name.qcow2"
		if ! run_to "$(case_file "create-$name")" "$QCOW_IMG" create \
			-f qcow2 "${SEC[@]}" -o "$o,encrypt.key-secret=s0" \
			"o-$name.qcow2" 4M; then
			fail "write/$name/create" "$(head -n 2 "$(case_file "create-$name").err")"
			continue
		fi
		pass "write/$name/create"
		if ! ours_write "o-$name.qcow2"; then
			fail "write/$name" "qcow-io failed: $(head -n 2 "$(case_file "ours-write-o-$name.qcow2").err")"
			continue
		fi
		same_as_raw "write/$name/qemu-reads" "o-$name.qcow2" ref.raw
		if run_to "$(case_file "ourcmp-$name")" "$QCOW_IMG" compare \
			"${SEC[@]}" --image-opts "$(opts "o-$name.qcow2")" \
			driver=raw,file.filename=ref.raw; then
			pass "write/$name/our-compare"
		else
			fail "write/$name/our-compare" "qcow-img compare: $(head -c 200 "$(case_file "ourcmp-$name")")"
		fi
		clean "write/$name/check" "o-$name.qcow2"
		if run_to "$(case_file "ourcheck-$name")" "$QCOW_IMG" check \
			"${SEC[@]}" --image-opts "$(opts "o-$name.qcow2")"; then
			pass "write/$name/our-check"
		else
			fail "write/$name/our-check" "qcow-img check found problems"
		fi
	done
}

# ---------------------------------------- create's "Formatting" line
test_formatting() {
	local o f
	for o in "encrypt.format=luks,encrypt.key-secret=s0,encrypt.cipher-alg=aes-128,encrypt.cipher-mode=cbc,encrypt.ivgen-alg=essiv,encrypt.ivgen-hash-alg=sha256,encrypt.hash-alg=sha1,encrypt.iter-time=10,cluster_size=4k" \
		"encryption=on,encrypt.key-secret=s0"; do
		f=$(case_file "fmt-${o%%,*}")
		rm -f fmt.qcow2
		"$TESTS_DIR/helpers/pbkdf-retry" "$QEMU_IMG" create -f qcow2 \
			"${SEC[@]}" -o "$o" fmt.qcow2 1M >"$f.ref" 2>/dev/null ||
			: >"$f.ref"
		rm -f fmt.qcow2
		"$QCOW_IMG" create -f qcow2 "${SEC[@]}" -o "$o" fmt.qcow2 1M \
			>"$f.ours" 2>&1
		if [ ! -s "$f.ref" ]; then
			fail "create/formatting/${o%%,*}" "qemu-img create failed: test bug"
		elif diff "$f.ref" "$f.ours" >/dev/null; then
			pass "create/formatting/${o%%,*}"
		else
			fail "create/formatting/${o%%,*}" "not qemu-img's line: $(head -c 300 "$f.ours")"
		fi
		rm -f fmt.qcow2
	done
}

# ------------------------------------------- the same writes, O_DIRECT
test_direct() {
	local fmt a
	mapfile -d '' a < <(io_args)
	for fmt in aes luks; do
		rm -f "dio-$fmt.qcow2"
		if ! run_to "$(case_file "dio-$fmt")" "$QCOW_IMG" create -f qcow2 \
			"${SEC[@]}" -o "encrypt.format=$fmt,encrypt.key-secret=s0,cluster_size=4k$([ $fmt = luks ] && echo ,encrypt.iter-time=10)" \
			"dio-$fmt.qcow2" 4M; then
			fail "direct/$fmt" "create"
			continue
		fi
		if ! run_to "$(case_file "dio-w-$fmt")" "$QCOW_IO" -n "${SEC[@]}" \
			--image-opts "${a[@]}" "$(opts "dio-$fmt.qcow2")"; then
			if grep -qi "invalid argument\|not supported" \
				"$(case_file "dio-w-$fmt").err"; then
				skip "direct/$fmt" "no O_DIRECT in $WORK"
			else
				fail "direct/$fmt" "qcow-io -n failed"
			fi
			continue
		fi
		same_as_raw "direct/$fmt" "dio-$fmt.qcow2" ref.raw
	done
}

# ------------------------------------- an encrypted overlay of a base
test_backing() {
	local fmt
	if ! qimg create -q -f qcow2 base.qcow2 4M ||
		! setup_cmd "$SETUP_LOG" "$QEMU_IO" -c "write -P 0xb5 0 4M" \
			base.qcow2; then
		fail "backing/setup" "base"
		return
	fi
	qimg convert -O raw base.qcow2 bref.raw ||
		{ fail "backing/setup" "raw base"; return; }
	local a
	mapfile -d '' a < <(io_args)
	setup_cmd "$SETUP_LOG" "$QEMU_IO" -f raw "${a[@]}" bref.raw ||
		{ fail "backing/setup" "raw reference"; return; }
	for fmt in aes luks; do
		rm -f "ov-$fmt.qcow2"
		if ! run_to "$(case_file "ov-$fmt")" "$QCOW_IMG" create -f qcow2 \
			"${SEC[@]}" -b base.qcow2 -F qcow2 -o \
			"encrypt.format=$fmt,encrypt.key-secret=s0,cluster_size=16k$([ $fmt = luks ] && echo ,encrypt.iter-time=10)" \
			"ov-$fmt.qcow2"; then
			fail "backing/$fmt" "create: $(head -n 2 "$(case_file "ov-$fmt").err")"
			continue
		fi
		if ! ours_write "ov-$fmt.qcow2"; then
			fail "backing/$fmt" "qcow-io failed"
			continue
		fi
		same_as_raw "backing/$fmt/qemu-reads" "ov-$fmt.qcow2" bref.raw
		clean "backing/$fmt/check" "ov-$fmt.qcow2"
	done
}

# ------------------------------------------------------------- info
test_info() {
	local img=q-luks-aes128-cbc-essiv-sha1.qcow2 f rc
	[ -f "$img" ] || { fail "info/setup" "no LUKS image"; return; }
	for out in json human; do
		f=$(case_file "info-$out")
		"$QEMU_IMG" info --output=$out "$img" 2>&1 |
			grep -v -e '^disk size' -e '"actual-size"' >"$f.ref"
		"$QCOW_IMG" info --output=$out "$img" 2>&1 |
			grep -v -e '^disk size' -e '"actual-size"' >"$f.ours"
		if diff "$f.ref" "$f.ours" >"$f.diff"; then
			pass "info/luks-$out"
		else
			fail "info/luks-$out" "differs from qemu-img's"
			diag 20 <"$f.diff"
		fi
	done
	f=$(case_file info-aes)
	"$QEMU_IMG" info --output=json q-aes-4k.qcow2 | grep -v actual-size >"$f.ref"
	"$QCOW_IMG" info --output=json q-aes-4k.qcow2 | grep -v actual-size >"$f.ours"
	if diff "$f.ref" "$f.ours" >"$f.diff"; then
		pass "info/aes-json"
	else
		fail "info/aes-json" "differs from qemu-img's"
		diag 20 <"$f.diff"
	fi
}

# ---------------------------------------------------------- convert
test_convert() {
	local fmt
	for fmt in aes luks; do
		rm -f "cv-$fmt.qcow2" "cv-$fmt.raw"
		if run_to "$(case_file "cv-$fmt")" "$QCOW_IMG" convert "${SEC[@]}" \
			-f raw -O qcow2 -o "encrypt.format=$fmt,encrypt.key-secret=s0$([ $fmt = luks ] && echo ,encrypt.iter-time=10)" \
			ref.raw "cv-$fmt.qcow2"; then
			same_as_raw "convert/raw-to-$fmt" "cv-$fmt.qcow2" ref.raw
			clean "convert/raw-to-$fmt/check" "cv-$fmt.qcow2"
		else
			fail "convert/raw-to-$fmt" "$(head -n 2 "$(case_file "cv-$fmt").err")"
			continue
		fi
		if run_to "$(case_file "cvb-$fmt")" "$QCOW_IMG" convert "${SEC[@]}" \
			--image-opts "$(opts "cv-$fmt.qcow2")" -O raw "cv-$fmt.raw" &&
			cmp -s "cv-$fmt.raw" ref.raw; then
			pass "convert/$fmt-to-raw"
		else
			fail "convert/$fmt-to-raw" "not the raw image it came from"
		fi
	done
	# an internal snapshot of an encrypted image, exported with -l
	local sn=q-luks-4k.qcow2
	if setup_cmd "$SETUP_LOG" "$QEMU_IMG" snapshot -c s1 "${SEC[@]}" \
		--image-opts "$(opts "$sn")" &&
		setup_cmd "$SETUP_LOG" "$QEMU_IO" "${SEC[@]}" --image-opts \
			-c "write -P 0x99 0 64k" "$(opts "$sn")" &&
		run_to "$(case_file snref)" "$QEMU_IMG" convert "${SEC[@]}" \
			-l s1 --image-opts "$(opts "$sn")" -O raw sn-ref.raw; then
		if run_to "$(case_file snours)" "$QCOW_IMG" convert "${SEC[@]}" \
			-l s1 --image-opts "$(opts "$sn")" -O raw sn-ours.raw &&
			cmp -s sn-ref.raw sn-ours.raw; then
			pass "convert/snapshot"
		else
			fail "convert/snapshot" "not qemu-img's export of s1"
		fi
	else
		fail "convert/snapshot" "setup"
	fi
	# into an existing encrypted target named by --target-image-opts
	rm -f tio.qcow2
	qcreate -q -f qcow2 "${SEC[@]}" -o \
		encrypt.format=luks,encrypt.key-secret=s0,encrypt.iter-time=10 \
		tio.qcow2 4M || { fail "convert/target-image-opts" "setup"; return; }
	if run_to "$(case_file tio)" "$QCOW_IMG" convert "${SEC[@]}" -n -f raw \
		--target-image-opts ref.raw "$(opts tio.qcow2)"; then
		same_as_raw "convert/target-image-opts" tio.qcow2 ref.raw
	else
		fail "convert/target-image-opts" "$(head -n 2 "$(case_file tio).err")"
	fi
}

# ----------------------------------------------------------- refusals
# refused NAME IMG CMD...: exits non-zero, one line on stderr, the image
# file unchanged.
refused() {
	local name=$1 img=$2 f before
	shift 2
	f=$(case_file "$name")
	before=$(md5sum <"$img")
	run_to "$f" "$@"
	local rc=$?
	if [ $rc -eq 0 ]; then
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

# qemu-io's write -c on an encrypted image writes an ordinary (encrypted)
# cluster: so does ours, and qemu reads it back.
test_compressed_write() {
	local fmt img f
	for fmt in aes luks; do
		img=cw-$fmt.qcow2
		f=$(case_file "cw-$fmt")
		rm -f "$img"
		qcreate -q -f qcow2 "${SEC[@]}" -o "encrypt.format=$fmt,encrypt.key-secret=s0,cluster_size=4k$([ $fmt = luks ] && echo ,encrypt.iter-time=10)" "$img" 1M ||
			{ fail "compressed-write/$fmt" "setup"; continue; }
		if ! run_to "$f" "$QCOW_IO" "${SEC[@]}" --image-opts \
			-c "write -c -P 0x3c 65536 8k" "$(opts "$img")"; then
			fail "compressed-write/$fmt" "qcow-io: $(head -n 2 "$f" "$f.err" | tr '\n' ' ')"
		elif ! run_to "$f.q" "$QEMU_IO" "${SEC[@]}" --image-opts \
			-c "read -P 0x3c 65536 8k" -c "read -P 0 0 64k" \
			"$(opts "$img")" || grep -q "verification failed" "$f.q"; then
			fail "compressed-write/$fmt" "qemu-io reads other data"
		else
			pass "compressed-write/$fmt"
		fi
	done
}

test_refusals() {
	local l=q-luks-4k.qcow2 aes=q-aes-4k.qcow2
	refused "refuse/luks-no-secret" "$l" "$QCOW_IO" -c "read 0 4k" "$l"
	refused "refuse/aes-no-secret" "$aes" "$QCOW_IO" -c "write 0 4k" "$aes"
	refused "refuse/luks-wrong-passphrase-write" "$l" "$QCOW_IO" \
		"${BAD[@]}" --image-opts -c "write -P 1 0 64k" "$(opts "$l")"
	refused "refuse/luks-wrong-passphrase-convert" "$l" "$QCOW_IMG" \
		convert "${BAD[@]}" --image-opts "$(opts "$l")" -O raw x.raw
	refused "refuse/unknown-secret-id" "$l" "$QCOW_IO" --image-opts \
		-c "read 0 4k" "$(opts "$l")"
	refused "refuse/convert-compressed-encrypted" "$l" "$QCOW_IMG" \
		convert "${SEC[@]}" -c -f raw -O qcow2 -o \
		encrypt.format=aes,encrypt.key-secret=s0 ref.raw cc.qcow2
	refused "refuse/create-no-secret" "$l" "$QCOW_IMG" create -f qcow2 \
		-o encrypt.format=luks nosecret.qcow2 1M
	# as qemu-img 7.2: the old name and the new one, not both
	refused "refuse/create-encryption-and-format" "$l" "$QCOW_IMG" \
		create -f qcow2 "${SEC[@]}" -o \
		encryption=on,encrypt.format=aes,encrypt.key-secret=s0 both.qcow2 1M
	[ ! -e both.qcow2 ] || fail "refuse/create-encryption-and-format" \
		"both.qcow2 was created"
	# OpenSSL has no AES-192-XTS: asked for, such an image is refused,
	# one line naming the cipher and the backend (nettle has it)
	if qcreate -q -f qcow2 "${SEC[@]}" -o encrypt.format=luks,encrypt.key-secret=s0,encrypt.iter-time=10,encrypt.cipher-alg=aes-192,encrypt.cipher-mode=xts x192.qcow2 1M; then
		refused "refuse/luks-aes192-xts-unsupported" x192.qcow2 \
			"$QCOW_IO" --crypto-backend=openssl "${SEC[@]}" \
			--image-opts -c "read 0 4k" "$(opts x192.qcow2)"
		one_line "refuse/luks-aes192-xts-unsupported" \
			"aes-192-xts-plain64: not in crypto backend openssl" \
			>/dev/null
	else
		fail "refuse/luks-aes192-xts-unsupported" "setup"
	fi
	if "$QCOW_IMG" info "$l" 2>/dev/null | grep -qx "encrypted: yes"; then
		pass "refuse/info-without-secret-works"
	else
		fail "refuse/info-without-secret-works" "no 'encrypted: yes'"
	fi
}

# ------------------------------------------------------ crypto backends
# one_line NAME WORD: the case's stderr is one line naming WORD.
one_line() {
	local f
	f=$(case_file "$1")
	if [ "$(wc -l <"$f.err")" -ne 1 ] || ! grep -q -- "$2" "$f.err"; then
		fail "$1" "not one line naming $2"
		diag 5 <"$f.err"
		return 1
	fi
}

# backend_write NAME BACKEND FORMAT: created and written with
# --crypto-backend=BACKEND, read by qemu as the raw reference.
backend_write() {
	local img="b-$1.qcow2" a
	mapfile -d '' a < <(io_args)
	rm -f "$img"
	local o="encrypt.format=$3,encrypt.key-secret=s0"
	[ "$3" = luks ] && o+=,encrypt.iter-time=10
	if ! run_to "$(case_file "backend/$1/create")" "$QCOW_IMG" create -q \
		-f qcow2 --crypto-backend="$2" "${SEC[@]}" -o "$o" "$img" 4M ||
		! run_to "$(case_file "backend/$1/write")" "$QCOW_IO" \
		--crypto-backend="$2" "${SEC[@]}" --image-opts "${a[@]}" \
		"$(opts "$img")"; then
		fail "backend/$1" "create or write failed"
		cat "$(case_file "backend/$1/create").err" \
			"$(case_file "backend/$1/write").err" 2>/dev/null | diag 3
		return
	fi
	same_as_raw "backend/$1" "$img" ref.raw
}

# The backend by option: OpenSSL's always; the kernel's where AF_ALG
# works (its output read by qemu), else refused with one line, nothing
# made; an unknown name refused.
test_backends() {
	local n
	[ -f ref.raw ] || raw_ref ref.raw 4M
	backend_write luks-openssl openssl luks
	backend_write aes-openssl openssl aes
	if "$QCOW_IMG" info --crypto-backend=kernel ref.raw >/dev/null 2>&1; then
		note "this kernel has AF_ALG: the kernel backend runs here"
		backend_write luks-kernel kernel luks
		backend_write aes-kernel kernel aes
	else
		n=backend/kernel-refused-create
		rm -f nok.qcow2
		if run_to "$(case_file $n)" "$QCOW_IMG" create -f qcow2 \
			--crypto-backend=kernel "${SEC[@]}" -o \
			encrypt.format=luks,encrypt.key-secret=s0 nok.qcow2 1M; then
			fail $n "succeeded"
		elif [ -e nok.qcow2 ]; then
			fail $n "made the image"
		else
			one_line $n AF_ALG && pass $n
		fi
		refused backend/kernel-refused-io b-luks-openssl.qcow2 \
			"$QCOW_IO" --crypto-backend=kernel "${SEC[@]}" \
			--image-opts -c "read 0 4k" "$(opts b-luks-openssl.qcow2)"
		one_line backend/kernel-refused-io AF_ALG >/dev/null
	fi
	refused backend/unknown-name b-luks-openssl.qcow2 "$QCOW_IO" \
		--crypto-backend=gcrypt "${SEC[@]}" --image-opts \
		-c "read 0 4k" "$(opts b-luks-openssl.qcow2)"
}

# ----------------------------------------------------- user keyring
# ublk-qcow add --key-keyring on the host (no ublk here: the add fails
# later, at /dev/ublk-control): a key added with tests/helpers/user-key
# is read, a missing one is refused with one line.
test_keyring() {
	local ublk helper desc f st=0
	ublk=$(default_tool ublk-qcow)
	helper=$REPO_ROOT/build/tests/helpers/user-key
	if [ ! -x "$ublk" ] || [ ! -x "$helper" ]; then
		skip keyring/host "ublk-qcow or tests/helpers/user-key not built"
		return
	fi
	if [ -e /dev/ublk-control ]; then
		skip keyring/host "this kernel has ublk: the guest test covers it"
		return
	fi
	desc=qcow-ublk-test-$$
	printf '%s' "$PW" | "$helper" "$desc" >/dev/null 2>"$WORK/user-key.err" || st=$?
	if [ "$st" = 77 ]; then
		skip keyring/host "no keys here: $(cat "$WORK/user-key.err")"
		return
	elif [ "$st" != 0 ]; then
		fail keyring/host "user-key: $(cat "$WORK/user-key.err")"
		return
	fi
	f=$(case_file keyring/host-found)
	run_to "$f" "$ublk" add -f b-luks-openssl.qcow2 --key-keyring "$desc"
	if grep -q -- --key-keyring "$f.err"; then
		fail keyring/host-found "the key was not read: $(head -n 1 "$f.err")"
	else
		pass keyring/host-found
	fi
	refused keyring/host-missing b-luks-openssl.qcow2 "$ublk" add \
		-f b-luks-openssl.qcow2 --key-keyring "$desc-missing"
	one_line keyring/host-missing "key-keyring $desc-missing" >/dev/null
}

: >"$SETUP_LOG"
test_read_qemu
test_write_ours
test_formatting
test_direct
test_backing
test_info
test_convert
test_compressed_write
test_refusals
test_backends
test_keyring
finish
