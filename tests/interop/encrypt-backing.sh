#!/bin/bash
# Encrypted backing files, given their own secret as qemu-img 7.2 takes it
# (--image-opts ...,backing.encrypt.key-secret=ID): an AES and a LUKS
# base made by qemu-img under a plain, an AES and a LUKS overlay.  Read
# by qcow-img convert exactly as qemu-img convert -O raw reads the chain;
# qcow-io's writes (partial clusters copied up from the encrypted base)
# equal to qemu-io's same writes by qemu-img compare, clean for qemu-img
# check; map, compare, info --backing-chain, commit into the encrypted
# base and rebase -b "" through ours; a chain two levels deep
# (backing.backing.encrypt.key-secret).  Without the backing secret, or
# with a wrong one, one line naming the backing file and the option, and
# nothing written.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

require_qemu
setup_work
SETUP_LOG=$WORK/setup.log
SEC=(--object "secret,id=b0,data=base-pass" --object "secret,id=t0,data=top-pass")
BADSEC=(--object "secret,id=b0,data=wrong" --object "secret,id=t0,data=top-pass")

qcreate() {
	setup_cmd "$SETUP_LOG" "$TESTS_DIR/helpers/pbkdf-retry" "$QEMU_IMG" \
		create "$@"
}

# topopts TOP OVERLAY-FORMAT: the image options of the overlay alone
topopts() {
	printf 'driver=qcow2,file.filename=%s' "$1"
	[ "$2" != plain ] && printf ',encrypt.key-secret=t0'
	return 0
}

# opts TOP OVERLAY-FORMAT: the chain's image options, both secrets
opts() {
	printf '%s,backing.encrypt.key-secret=b0' "$(topopts "$1" "$2")"
}

# enc_opt FORMAT SECRET: -o options of an encrypted image
enc_opt() {
	case $1 in
	aes) printf 'encrypt.format=aes,encrypt.key-secret=%s' "$2" ;;
	luks) printf 'encrypt.format=luks,encrypt.key-secret=%s,encrypt.iter-time=10' "$2" ;;
	esac
}

WRITES=(
	-c "write -P 0x21 700 5000"
	-c "write -P 0x22 65000 70000"
	-c "write -z 300000 100000"
	-c "write -P 0x23 1048575 3"
)

# make_base FMT: base-FMT.qcow2, 2M of data by qemu-io
make_base() {
	local b="base-$1.qcow2"
	rm -f "$b"
	qcreate -q -f qcow2 "${SEC[@]}" -o "$(enc_opt "$1" b0),cluster_size=16k" \
		"$b" 2M &&
		setup_cmd "$SETUP_LOG" "$QEMU_IO" "${SEC[@]}" --image-opts \
			-c "write -P 0xb1 0 1M" -c "write -P 0xb2 1280k 512k" \
			"driver=qcow2,file.filename=$b,encrypt.key-secret=b0"
}

# make_top BASEFMT TOPFMT NAME: an overlay with some data of its own
make_top() {
	local o=cluster_size=64k
	[ "$2" != plain ] && o+=",$(enc_opt "$2" t0)"
	rm -f "$3"
	qcreate -q -f qcow2 "${SEC[@]}" -o "$o" -b "base-$1.qcow2" -F qcow2 \
		"$3" &&
		setup_cmd "$SETUP_LOG" "$QEMU_IO" "${SEC[@]}" --image-opts \
			-c "write -P 0x7c 512k 64k" "$(opts "$3" "$2")"
}

# refused NAME IMG CMD...: fails, one line on stderr naming the backing
# file and the option, IMG and the base unchanged
refused() {
	local name=$1 img=$2 base=$3 f before
	shift 3
	f=$(case_file "$name")
	before=$(cat "$img" "$base" | md5sum)
	if run_to "$f" "$@"; then
		fail "$name" "succeeded"
	elif [ "$(wc -l <"$f.err")" -ne 1 ] ||
		! grep -q "$base" "$f.err"; then
		fail "$name" "not one line naming $base"
		diag 5 <"$f.err"
	elif [ "$(cat "$img" "$base" | md5sum)" != "$before" ]; then
		fail "$name" "an image changed"
	else
		pass "$name"
	fi
}

# reads NAME OPTS: qcow-img convert -O raw equals qemu-img's
reads() {
	local f
	f=$(case_file "$1")
	rm -f "$f.ref.raw" "$f.ours.raw"
	if ! run_to "$f.ref" "$QEMU_IMG" convert "${SEC[@]}" --image-opts \
		"$2" -O raw "$f.ref.raw"; then
		fail "$1" "qemu-img convert failed: test bug"
		diag 5 <"$f.ref.err"
	elif ! run_to "$f.ours" "$QCOW_IMG" convert "${SEC[@]}" --image-opts \
		"$2" -O raw "$f.ours.raw"; then
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

# qemu_same NAME OPTS-A OPTS-B: qemu-img compare finds them identical
qemu_same() {
	local f
	f=$(case_file "$1")
	if run_to "$f" "$QEMU_IMG" compare "${SEC[@]}" --image-opts "$2" "$3"; then
		pass "$1"
	else
		fail "$1" "qemu-img compare: $(head -c 200 "$f" "$f.err")"
	fi
}

qemu_clean() {
	local f
	f=$(case_file "$1")
	if run_to "$f" "$QEMU_IMG" check "${SEC[@]}" --image-opts "$2"; then
		pass "$1"
	else
		fail "$1" "qemu-img check: $(head -n 3 "$f" "$f.err" | tr '\n' ' ')"
	fi
}

# one_chain BASEFMT TOPFMT
one_chain() {
	local b=$1 t=$2 n="$1-under-$2" top="top-$1-$2.qcow2" f
	local base="base-$b.qcow2"
	if ! make_top "$b" "$t" "$top"; then
		fail "$n/setup" "qemu could not make the overlay: test bug"
		return
	fi
	reads "$n/read" "$(opts "$top" "$t")"

	# without the backing's secret, or with a wrong one: refused
	local o
	o=$(topopts "$top" "$t")
	refused "$n/no-backing-secret" "$top" "$base" "$QCOW_IO" "${SEC[@]}" \
		--image-opts -c "write -P 1 0 4k" "$o"
	f=$(case_file "$n/no-backing-secret")
	grep -q "backing.encrypt.key-secret" "$f.err" ||
		fail "$n/no-backing-secret/names-option" "$(cat "$f.err")"
	# legacy AES has no key check: any passphrase unlocks it
	[ "$b" = luks ] && refused "$n/wrong-backing-secret" "$top" "$base" \
		"$QCOW_IO" "${BADSEC[@]}" --image-opts -c "write -P 1 0 4k" \
		"$(opts "$top" "$t")"
	f=$(case_file "$n/wrong-backing-secret")
	[ "$b" = luks ] && ! grep -q "backing.encrypt.key-secret" "$f.err" &&
		fail "$n/wrong-backing-secret/names-option" "$(cat "$f.err")"

	# info --backing-chain needs no secret
	f=$(case_file "$n/info-chain")
	if run_to "$f" "$QCOW_IMG" info --output=json --backing-chain "$top" &&
		[ "$(grep -c '"encrypted": true' "$f")" -ge 1 ] &&
		grep -q "$base" "$f"; then
		pass "$n/info-chain"
	else
		fail "$n/info-chain" "$(head -n 2 "$f.err")"
	fi

	# map (json) as qemu-img's
	f=$(case_file "$n/map")
	"$QEMU_IMG" map --output=json "${SEC[@]}" --image-opts \
		"$(opts "$top" "$t")" >"$f.ref" 2>&1
	if run_to "$f" "$QCOW_IMG" map --output=json "${SEC[@]}" --image-opts \
		"$(opts "$top" "$t")" &&
		python3 "$QJSON" map "$f.ref" "$f" >"$f.diff" 2>&1; then
		pass "$n/map"
	else
		fail "$n/map" "differs from qemu-img map"
		cat "$f.err" "$f.diff" | diag 6
	fi

	# writes: ours on one copy, qemu-io's on another
	cp "$top" "ours-$top"
	cp "$top" "ref-$top"
	if ! run_to "$(case_file "$n/write")" "$QCOW_IO" "${SEC[@]}" \
		--image-opts "${WRITES[@]}" "$(opts "ours-$top" "$t")"; then
		fail "$n/write" "qcow-io failed"
		diag 5 <"$(case_file "$n/write").err"
		return
	fi
	setup_cmd "$SETUP_LOG" "$QEMU_IO" "${SEC[@]}" --image-opts \
		"${WRITES[@]}" "$(opts "ref-$top" "$t")" ||
		{ fail "$n/write" "qemu-io failed: test bug"; return; }
	qemu_same "$n/write/qemu-reads" "$(opts "ours-$top" "$t")" \
		"$(opts "ref-$top" "$t")"
	qemu_clean "$n/write/check" "$(opts "ours-$top" "$t")"
	f=$(case_file "$n/compare")
	if run_to "$f" "$QCOW_IMG" compare "${SEC[@]}" --image-opts \
		"$(opts "ours-$top" "$t")" "$(opts "ref-$top" "$t")"; then
		pass "$n/compare"
	else
		fail "$n/compare" "$(head -c 200 "$f" "$f.err")"
	fi

	# rebase -b "": the overlay made whole, read as the chain was
	cp "ours-$top" "flat-$top"
	f=$(case_file "$n/rebase")
	if run_to "$f" "$QCOW_IMG" rebase "${SEC[@]}" -b "" --image-opts \
		"$(opts "flat-$top" "$t")"; then
		qemu_same "$n/rebase/qemu-reads" "$(topopts "flat-$top" "$t")" \
			"$(opts "ref-$top" "$t")"
	else
		fail "$n/rebase" "$(head -n 2 "$f.err")"
	fi

	# commit into the encrypted base, read by qemu with the base's secret
	cp "$base" "cbase-$top"
	cp "ours-$top" "commit-$top"
	setup_cmd "$SETUP_LOG" "$QEMU_IMG" rebase -u -b "cbase-$top" -F qcow2 \
		"${SEC[@]}" --image-opts "$(topopts "commit-$top" "$t")" ||
		{ fail "$n/commit" "test bug"; return; }
	f=$(case_file "$n/commit")
	if run_to "$f" "$QCOW_IMG" commit "${SEC[@]}" --image-opts \
		"$(opts "commit-$top" "$t")"; then
		qemu_same "$n/commit/qemu-reads" \
			"driver=qcow2,file.filename=cbase-$top,encrypt.key-secret=b0" \
			"$(opts "ref-$top" "$t")"
		qemu_clean "$n/commit/check" \
			"driver=qcow2,file.filename=cbase-$top,encrypt.key-secret=b0"
	else
		fail "$n/commit" "$(head -n 2 "$f.err")"
	fi
}

# plain -> plain -> encrypted: backing.backing.encrypt.key-secret
test_deep() {
	local f
	rm -f mid.qcow2 deep.qcow2
	if ! qimg create -q -f qcow2 -b base-luks.qcow2 -F qcow2 mid.qcow2 ||
		! qimg create -q -f qcow2 -b mid.qcow2 -F qcow2 deep.qcow2; then
		fail deep/setup "test bug"
		return
	fi
	reads deep/read "driver=qcow2,file.filename=deep.qcow2,backing.backing.encrypt.key-secret=b0"
	f=$(case_file deep/no-secret)
	refused deep/no-secret deep.qcow2 base-luks.qcow2 "$QCOW_IMG" convert \
		"${SEC[@]}" --image-opts \
		"driver=qcow2,file.filename=deep.qcow2,backing.encrypt.key-secret=b0" \
		-O raw deep.raw
	grep -q "backing.backing.encrypt.key-secret" "$f.err" ||
		fail deep/no-secret/names-option "$(cat "$f.err")"
}

: >"$SETUP_LOG"
for b in aes luks; do
	if ! make_base "$b"; then
		fail "base-$b/setup" "qemu could not make the base: test bug"
		continue
	fi
	for t in plain aes luks; do
		one_chain "$b" "$t"
	done
done
test_deep
finish
