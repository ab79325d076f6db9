#!/bin/bash
# Encrypted images created with preallocation or an external data file,
# against qemu-img/qemu-io 7.2.  Preallocated (metadata, falloc, full):
# the file as long as qemu-img's, map (with the secret) equal to its,
# qemu-img check clean, and the preallocated clusters read by us as
# qemu-img reads them (QEMU leaves them plain zeros on disk, so both read
# their decryption); then qcow-io's writes read back by qemu-io.  Data
# file (LUKS and AES): our image written by qcow-io read by qemu-io, no
# plain text in the data file, check clean; qemu-img's read by qcow-io.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

require_qemu
setup_work
SETUP_LOG=$WORK/setup.log
SEC=(--object "secret,id=s0,data=create-pass")

qcreate() {
	setup_cmd "$SETUP_LOG" "$TESTS_DIR/helpers/pbkdf-retry" "$QEMU_IMG" \
		create "$@"
}

opts() { printf 'driver=qcow2,file.filename=%s,encrypt.key-secret=s0' "$1"; }

enc() {
	case $1 in
	aes) printf 'encrypt.format=aes,encrypt.key-secret=s0' ;;
	luks) printf 'encrypt.format=luks,encrypt.key-secret=s0,encrypt.iter-time=10' ;;
	esac
}

# check NAME IMG: qemu-img check with the secret is clean
check() {
	local f
	f=$(case_file "$1")
	if run_to "$f" "$QEMU_IMG" check "${SEC[@]}" --image-opts "$(opts "$2")"; then
		pass "$1"
	else
		fail "$1" "qemu-img check: $(head -n 3 "$f" "$f.err" | tr '\n' ' ')"
	fi
}

# qemu_reads NAME IMG CMD...: qemu-io runs the read commands, no mismatch
io_reads() {
	local name=$1 io=$2 img=$3 f
	shift 3
	f=$(case_file "$name")
	if run_to "$f" "$io" "${SEC[@]}" --image-opts "$@" "$(opts "$img")" &&
		! grep -q "Pattern verification failed" "$f"; then
		pass "$name"
	else
		fail "$name" "$(head -n 2 "$f" "$f.err" | tr '\n' ' ')"
	fi
}

test_prealloc() {
	local fmt pa n o f
	for fmt in luks aes; do
		for pa in metadata falloc full; do
			n="prealloc/$fmt-$pa"
			o="$(enc $fmt),preallocation=$pa,cluster_size=16k"
			rm -f "o-$fmt-$pa.qcow2" "q-$fmt-$pa.qcow2"
			f=$(case_file "$n/create")
			if ! run_to "$f" "$QCOW_IMG" create -q -f qcow2 "${SEC[@]}" \
				-o "$o" "o-$fmt-$pa.qcow2" 1M; then
				fail "$n/create" "$(head -n 2 "$f.err")"
				continue
			fi
			pass "$n/create"
			qcreate -q -f qcow2 "${SEC[@]}" -o "$o" "q-$fmt-$pa.qcow2" 1M ||
				{ fail "$n" "qemu-img create: test bug"; continue; }
			if [ "$(stat -c %s "o-$fmt-$pa.qcow2")" = \
				"$(stat -c %s "q-$fmt-$pa.qcow2")" ]; then
				pass "$n/file-length"
			else
				fail "$n/file-length" "$(stat -c %s "o-$fmt-$pa.qcow2") bytes, qemu-img's $(stat -c %s "q-$fmt-$pa.qcow2")"
			fi
			f=$(case_file "$n/map")
			"$QEMU_IMG" map --output=json "${SEC[@]}" --image-opts \
				"$(opts "q-$fmt-$pa.qcow2")" >"$f.ref" 2>&1
			"$QEMU_IMG" map --output=json "${SEC[@]}" --image-opts \
				"$(opts "o-$fmt-$pa.qcow2")" >"$f" 2>&1
			if python3 "$QJSON" map "$f.ref" "$f" >"$f.diff" 2>&1; then
				pass "$n/map"
			else
				fail "$n/map" "qemu-img map differs from its own image's"
				diag 5 <"$f.diff"
			fi
			check "$n/check" "o-$fmt-$pa.qcow2"
			f=$(case_file "$n/read")
			if run_to "$f.ref" "$QEMU_IMG" convert "${SEC[@]}" --image-opts \
				"$(opts "o-$fmt-$pa.qcow2")" -O raw "$f.ref.raw" &&
				run_to "$f" "$QCOW_IMG" convert "${SEC[@]}" --image-opts \
				"$(opts "o-$fmt-$pa.qcow2")" -O raw "$f.raw" &&
				cmp -s "$f.ref.raw" "$f.raw"; then
				pass "$n/read"
			else
				fail "$n/read" "our reading differs from qemu-img's"
			fi
			rm -f "$f.ref.raw" "$f.raw"
			run_ok "$n/write" "$QCOW_IO" "${SEC[@]}" --image-opts \
				-c "write -P 0x3d 1000 70000" "$(opts "o-$fmt-$pa.qcow2")" &&
				io_reads "$n/qemu-reads" "$QEMU_IO" "o-$fmt-$pa.qcow2" \
					-c "read -P 0x3d 1000 70000"
		done
	done
}

test_data_file() {
	local fmt n f
	for fmt in luks aes; do
		n="data-file/$fmt"
		rm -f "o-$fmt.qcow2" "o-$fmt.raw" "q-$fmt.qcow2" "q-$fmt.raw"
		f=$(case_file "$n/create")
		if ! run_to "$f" "$QCOW_IMG" create -q -f qcow2 "${SEC[@]}" -o \
			"$(enc $fmt),data_file=o-$fmt.raw" "o-$fmt.qcow2" 1M; then
			fail "$n/create" "$(head -n 2 "$f.err")"
			continue
		fi
		pass "$n/create"
		run_ok "$n/write" "$QCOW_IO" "${SEC[@]}" --image-opts \
			-c "write -P 0x44 3000 100000" "$(opts "o-$fmt.qcow2")" || continue
		io_reads "$n/qemu-reads" "$QEMU_IO" "o-$fmt.qcow2" \
			-c "read -P 0x44 3000 100000" -c "read -P 0 0 3000" \
			-c "read -P 0 103000 200000"
		if python3 -c 'import sys; sys.exit(b"\x44" * 512 in open(sys.argv[1], "rb").read())' "o-$fmt.raw"; then
			pass "$n/no-plain-text"
		else
			fail "$n/no-plain-text" "the data file holds the written bytes in clear"
		fi
		check "$n/check" "o-$fmt.qcow2"
		if ! qcreate -q -f qcow2 "${SEC[@]}" -o \
			"$(enc $fmt),data_file=q-$fmt.raw" "q-$fmt.qcow2" 1M ||
			! setup_cmd "$SETUP_LOG" "$QEMU_IO" "${SEC[@]}" --image-opts \
				-c "write -P 0x45 5000 200000" "$(opts "q-$fmt.qcow2")"; then
			fail "$n/qemu-made" "qemu could not make it: test bug"
			continue
		fi
		io_reads "$n/ours-reads-qemu" "$QCOW_IO" "q-$fmt.qcow2" \
			-c "read -P 0x45 5000 200000" -c "read -P 0 0 5000"
	done
}

: >"$SETUP_LOG"
test_prealloc
test_data_file
finish
