#!/bin/bash
# LUKS ciphers other than AES, and aes-192-xts, against qemu-img/qemu-io
# 7.2 (each cipher qemu-img 7.2 takes here: twofish, serpent, cast5; sm4
# it does not know): images qemu made and wrote read by us exactly as
# `qemu-img convert -O raw` reads them, with the automatic backend and
# with --crypto-backend=nettle; images we create with the same options
# and write with qcow-io read by qemu-img compare as the same writes on a
# raw file, clean for qemu-img check; our info as qemu-img's (the LUKS
# header's cipher named as QEMU names it); a backend without the cipher
# (openssl) refuses to open and to create with one line naming the
# cipher and the backend, nothing written, no file made.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

require_qemu
setup_work
SETUP_LOG=$WORK/setup.log
SEC=(--object "secret,id=s0,data=cipher-pass")

qcreate() {
	setup_cmd "$SETUP_LOG" "$TESTS_DIR/helpers/pbkdf-retry" "$QEMU_IMG" \
		create "$@"
}

opts() { printf 'driver=qcow2,file.filename=%s,encrypt.key-secret=s0' "$1"; }

# NAME:ALG:MODE:IVGEN[:IVGEN-HASH] (qemu-img 7.2 aborts on aes-192 and
# serpent-192 in cbc: their key material is not whole sectors)
VARIANTS=(
	"twofish-128-xts:twofish-128:xts:plain64"
	"twofish-256-cbc-essiv:twofish-256:cbc:essiv:sha256"
	"serpent-128-xts:serpent-128:xts:plain64"
	"serpent-192-xts:serpent-192:xts:plain"
	"serpent-256-ctr:serpent-256:ctr:plain64"
	"cast5-128-cbc:cast5-128:cbc:plain64"
	"cast5-128-cbc-essiv-md5:cast5-128:cbc:essiv:md5"
	"aes-192-xts:aes-192:xts:plain64"
)

WRITES=(
	-c "write -P 0x11 0 512"
	-c "write -P 0x22 700 5000"
	-c "write -P 0x33 65000 70000"
	-c "write -z 200000 50000"
	-c "write -P 0x44 1048000 576"
)

# luks_opt VARIANT: the -o list
luks_opt() {
	local alg mode iv hash o
	IFS=: read -r _ alg mode iv hash <<<"$1"
	o="encrypt.format=luks,encrypt.key-secret=s0,encrypt.iter-time=10"
	o+=",encrypt.cipher-alg=$alg,encrypt.cipher-mode=$mode,encrypt.ivgen-alg=$iv"
	[ -n "$hash" ] && o+=",encrypt.ivgen-hash-alg=$hash"
	printf '%s,cluster_size=16k' "$o"
}

# ours_reads NAME IMG [BACKEND]: our raw conversion is qemu-img's
ours_reads() {
	local f b=()
	f=$(case_file "$1")
	[ -n "${3:-}" ] && b=(--crypto-backend="$3")
	rm -f "$f.ours.raw"
	if ! run_to "$f.ours" "$QCOW_IMG" convert "${b[@]}" "${SEC[@]}" \
		--image-opts "$(opts "$2")" -O raw "$f.ours.raw"; then
		fail "$1" "qcow-img convert failed"
		diag 5 <"$f.ours.err"
	elif ! cmp -s "ref-$2.raw" "$f.ours.raw"; then
		fail "$1" "raw contents differ from qemu-img's"
		raw_diff "ref-$2.raw" "$f.ours.raw" | diag 8
	else
		pass "$1"
	fi
	rm -f "$f.ours.raw"
}

# refused NAME IMG CMD...: fails with one line naming the cipher and
# openssl, IMG unchanged
refused() {
	local name=$1 img=$2 alg=$3 f before
	shift 3
	f=$(case_file "$name")
	before=$(md5sum <"$img")
	if run_to "$f" "$@"; then
		fail "$name" "succeeded"
	elif [ "$(wc -l <"$f.err")" -ne 1 ] || ! grep -q "$alg" "$f.err" ||
		! grep -q openssl "$f.err"; then
		fail "$name" "not one line naming $alg and openssl"
		diag 5 <"$f.err"
	elif [ "$(md5sum <"$img")" != "$before" ]; then
		fail "$name" "the image changed"
	else
		pass "$name"
	fi
}

one_variant() {
	local v=$1 n=${1%%:*} alg o f
	alg=$(cut -d: -f2 <<<"$v")
	o=$(luks_opt "$v")

	# made by qemu, read by us
	local q="q-$n.qcow2"
	rm -f "$q"
	if ! qcreate -q -f qcow2 "${SEC[@]}" -o "$o" "$q" 1M ||
		! setup_cmd "$SETUP_LOG" "$QEMU_IO" "${SEC[@]}" --image-opts \
			"${WRITES[@]}" "$(opts "$q")" ||
		! setup_cmd "$SETUP_LOG" "$QEMU_IMG" convert "${SEC[@]}" \
			--image-opts "$(opts "$q")" -O raw "ref-$q.raw"; then
		fail "$n/setup" "qemu could not make the image: test bug"
		return
	fi
	ours_reads "$n/read" "$q"
	ours_reads "$n/read-nettle" "$q" nettle
	f=$(case_file "$n/our-info")
	"$QEMU_IMG" info --output=json "$q" 2>&1 | grep -v '"actual-size"' >"$f.ref"
	"$QCOW_IMG" info --output=json "$q" 2>&1 | grep -v '"actual-size"' >"$f"
	if cmp -s "$f.ref" "$f"; then
		pass "$n/our-info"
	else
		fail "$n/our-info" "info --output=json differs from qemu-img's"
		diff "$f.ref" "$f" | diag 6
	fi
	case $alg in
	aes-*) ;;
	*)
		refused "$n/openssl-refused" "$q" "$alg" "$QCOW_IO" \
			--crypto-backend=openssl "${SEC[@]}" --image-opts \
			-c "write -P 1 0 4k" "$(opts "$q")" ;;
	esac

	# made and written by us, read by qemu
	local w="o-$n.qcow2"
	rm -f "$w"
	f=$(case_file "$n/create")
	if ! run_to "$f" "$QCOW_IMG" create -q -f qcow2 "${SEC[@]}" -o "$o" \
		"$w" 1M; then
		fail "$n/create" "$(head -n 2 "$f.err")"
		return
	fi
	if ! run_to "$(case_file "$n/write")" "$QCOW_IO" "${SEC[@]}" \
		--image-opts "${WRITES[@]}" "$(opts "$w")"; then
		fail "$n/write" "qcow-io failed"
		diag 5 <"$(case_file "$n/write").err"
		return
	fi
	f=$(case_file "$n/qemu-reads")
	if run_to "$f" "$QEMU_IMG" compare "${SEC[@]}" --image-opts \
		"$(opts "$w")" driver=raw,file.filename=raw-ref.raw; then
		pass "$n/qemu-reads"
	else
		fail "$n/qemu-reads" "qemu-img compare: $(head -c 200 "$f" "$f.err")"
	fi
	f=$(case_file "$n/check")
	if run_to "$f" "$QEMU_IMG" check "${SEC[@]}" --image-opts "$(opts "$w")"; then
		pass "$n/check"
	else
		fail "$n/check" "$(head -n 3 "$f" "$f.err" | tr '\n' ' ')"
	fi
	f=$(case_file "$n/info")
	if "$QEMU_IMG" info --output=json "$w" >"$f" 2>&1 &&
		grep -q "\"cipher-alg\": \"$alg\"" "$f"; then
		pass "$n/info"
	else
		fail "$n/info" "qemu-img info does not show cipher-alg $alg"
		diag 5 <"$f"
	fi

	# a backend without the cipher: no file made
	case $alg in
	aes-*) ;;
	*)
		rm -f none.qcow2
		f=$(case_file "$n/openssl-create-refused")
		if run_to "$f" "$QCOW_IMG" create -q -f qcow2 \
			--crypto-backend=openssl "${SEC[@]}" -o "$o" none.qcow2 1M; then
			fail "$n/openssl-create-refused" "succeeded"
		elif [ -e none.qcow2 ]; then
			fail "$n/openssl-create-refused" "made the file"
		elif [ "$(wc -l <"$f.err")" -ne 1 ] ||
			! grep -q "$alg.*openssl" "$f.err"; then
			fail "$n/openssl-create-refused" "not one line naming $alg and openssl"
			diag 5 <"$f.err"
		else
			pass "$n/openssl-create-refused"
		fi ;;
	esac
}

: >"$SETUP_LOG"
rm -f raw-ref.raw
if ! qimg create -q -f raw raw-ref.raw 1M ||
	! setup_cmd "$SETUP_LOG" "$QEMU_IO" -f raw "${WRITES[@]}" raw-ref.raw; then
	fail setup "raw reference"
	finish
fi
for v in "${VARIANTS[@]}"; do
	one_variant "$v"
done
finish
