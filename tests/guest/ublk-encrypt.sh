#!/bin/bash
# Encrypted images on the device, through both crypto backends: qemu-img
# makes a legacy AES and a LUKS qcow2 image; each is attached with one
# backend (--crypto-backend=openssl for AES, kernel for LUKS: AF_ALG,
# the modules of lib-crypto.sh loaded), list --json naming it, ext4
# made, files written and read back cold, then attached read-only with
# the other backend and the files verified again; after del qemu-img
# reads the image with the secret: check clean, and its raw conversion
# loop-mounts with the same files.  The passphrase comes from a file,
# from standard input and from the user keyring (--key-keyring, the key
# added by tests/helpers/user-key: the guest has no keyctl).  A wrong
# LUKS passphrase and a missing keyring key fail the add with one line
# and no device.  Keys stay out of core dumps: the daemon's core limit is
# 0, and qcow-io given a secret leaves no core when killed by SIGABRT
# (the same without a secret does).  The LUKS device, killed, recovers
# with the kernel backend that add was asked for.  A plain overlay of a
# LUKS base attaches with --backing-key-file (its device reads what
# qemu-img reads through the chain; what is written through it qemu-img
# reads back), and without it fails with one line naming
# backing.encrypt.key-secret.
#     tests/guest/run.sh tests/guest/ublk-encrypt.sh [asan]
. "$(dirname "$0")/lib-ublk.sh"
# shellcheck source=tests/guest/lib-crypto.sh
. "$(dirname "$0")/lib-crypto.sh"

PW=guest-passphrase
SEC="secret,id=s0,data=$PW"

make_files() {
	mkdir -p "$1/sub"
	random_file "$1/small" 3
	random_file "$1/sub/five-megs" 5120
	random_file "$1/odd" 777
	(cd "$1" && find . -type f | sort | xargs sha256sum) >"$WORK/sums"
}

same_files() {
	(cd "$1" && sha256sum -c -s "$WORK/sums") >"$WORK/sum.log" 2>&1
}

# backend_is NAME ID BACKEND: list --json says device ID's cipher runs
# in BACKEND.
backend_is() {
	if list_flat "$2" | grep -q "\"crypto-backend\":\"$3\""; then
		return 0
	fi
	fail "$1" "list --json does not name the $3 backend"
	"$UBLK_QCOW" list -n "$2" --json | grep crypto | diag 4
	return 1
}

# reread NAME IMAGE BACKEND KEYOPT...: attached read-only with BACKEND,
# the files read back.
reread() {
	local c=$1 img=$2 be=$3
	shift 3
	if ! ublk_add "$c-add.log" -r -f "$img" --crypto-backend="$be" "$@"; then
		fail "$c" "add"
		return 1
	fi
	backend_is "$c" "$ID" "$be" || { ublk_del "$ID"; return 1; }
	mount -t ext4 -o ro "$DEV" "$MNT"
	if ! same_files "$MNT"; then
		fail "$c" "files read through the $be backend differ"
		umount "$MNT"
		ublk_del "$ID"
		return 1
	fi
	umount "$MNT"
	ublk_del "$ID" || { fail "$c" "del"; return 1; }
}

# enc_case NAME IMAGE WRITE_BACKEND READ_BACKEND READ_KEYOPT WRITE_KEYOPT...:
# the cycle, written through one backend and read through the other.
enc_case() {
	local c=$1 img=$2 wbe=$3 rbe=$4 rkey=$5 loop
	shift 5
	if ! ublk_add "$c-add.log" -f "$img" --crypto-backend="$wbe" "$@"; then
		fail "$c" "add"
		return
	fi
	backend_is "$c" "$ID" "$wbe" || return
	if [ "$c" = "${KILL_CASE:-}" ]; then
		no_cores
		recover_enc "$c" "$wbe" || return
	fi
	run "$c-mkfs.log" mkfs.ext4 -q -F "$DEV" || { fail "$c" "mkfs.ext4"; return; }
	run "$c-mount.log" mount -t ext4 "$DEV" "$MNT" || { fail "$c" "mount"; return; }
	make_files "$MNT"
	umount "$MNT"
	echo 3 >/proc/sys/vm/drop_caches
	mount -t ext4 -o ro "$DEV" "$MNT"
	if ! same_files "$MNT"; then
		fail "$c" "files read back differ"
		umount "$MNT"
		return
	fi
	umount "$MNT"
	ublk_del "$ID" || { fail "$c" "del"; return; }
	# shellcheck disable=SC2086 # the key option and its argument
	reread "$c" "$img" "$rbe" $rkey <key || return
	run "$c-check.log" qemu-img check --object "$SEC" --image-opts \
		"driver=qcow2,file.filename=$img,encrypt.key-secret=s0" ||
		{ fail "$c" "qemu-img check"; return; }
	run "$c-convert.log" qemu-img convert --object "$SEC" --image-opts \
		"driver=qcow2,file.filename=$img,encrypt.key-secret=s0" \
		-O raw "$c.raw" || { fail "$c" "qemu-img convert"; return; }
	loop=$(losetup -f)
	losetup "$loop" "$c.raw" && mount -t ext4 -o ro "$loop" "$MNT"
	if ! is_mounted "$MNT"; then
		fail "$c" "cannot loop-mount qemu-img's raw conversion"
	elif ! same_files "$MNT"; then
		fail "$c" "files in qemu-img's raw conversion differ"
	else
		pass "$c"
	fi
	is_mounted "$MNT" && umount "$MNT"
	losetup -d "$loop"
	rm -f "$c.raw"
}

# core_of DIR CMD...: CMD (a qcow-io reading commands from a pipe)
# killed by SIGABRT in DIR (SIGQUIT is ignored by background jobs): 0
# when it left a core there, 1 when not, 2
# when it had ended before the signal.
core_of() {
	local d=$1
	shift
	mkdir -p "$d"
	(
		cd "$d" || exit 2
		sleep 5 | "$@" >"$d.log" 2>&1 &
		pid=$!
		sleep 1
		kill -ABRT "$pid" || exit 2
		wait "$pid"
		exit 0
	) 2>/dev/null || return 2
	compgen -G "$d/core*" >/dev/null
}

# no_cores: the daemon of device ID (given a passphrase) has no core
# size; qcow-io leaves a core without a secret, none with one.
no_cores() {
	local pid
	pid=$(daemon_pid "$ID")
	if ! grep -q '^Max core file size  *0  *0 ' "/proc/$pid/limits"; then
		fail core/daemon "the daemon's core limit is not 0"
		grep core "/proc/$pid/limits" | diag
	else
		pass core/daemon
	fi
	local st=0
	core_of "$WORK/core-plain" /host/bin/qcow-io -r -f raw "$WORK/key" || st=$?
	if [ "$st" != 0 ]; then
		skip core/qcow-io "no core without a secret either ($st)"
		return
	fi
	# aes.qcow2: not attached now
	core_of "$WORK/core-secret" /host/bin/qcow-io -r --object "$SEC" \
		--image-opts "driver=qcow2,file.filename=$WORK/aes.qcow2,encrypt.key-secret=s0" || st=$?
	case $st in
	0) fail core/qcow-io "a core was dumped with the secret" ;;
	1) pass core/qcow-io ;;
	*) fail core/qcow-io "qcow-io ended before the signal"
	   diag 3 <"$WORK/core-secret.log" ;;
	esac
	rm -rf "$WORK/core-plain" "$WORK/core-secret"
}

# recover_enc NAME BACKEND: kill -9, recover with the passphrase from
# the keyring; the backend add asked for is the recorded one.
recover_enc() {
	kill_daemon "$ID" || { fail "$1/recover" "kill -9"; return 1; }
	run "$1-recover.log" "$UBLK_QCOW" recover -n "$ID" \
		--key-keyring ublk-encrypt-pw || { fail "$1/recover" recover; return 1; }
	backend_is "$1/recover" "$ID" "$2" || return 1
	pass "$1/recover"
}

# refused NAME ADD_ARGS...: add fails, one line matching $WANT, no device.
ndev() { find /dev -maxdepth 1 -name 'ublkb*' | wc -l; }
refused() {
	local c=$1 before
	shift
	before=$(ndev)
	if "$UBLK_QCOW" add "$@" >"$c.log" 2>&1; then
		fail "$c" "add succeeded"
		"$UBLK_QCOW" del -a >/dev/null 2>&1
	elif [ "$(wc -l <"$c.log")" != 1 ] || ! grep -q -- "$WANT" "$c.log"; then
		fail "$c" "not one line naming $WANT"
		diag <"$c.log"
	elif [ "$(ndev)" != "$before" ]; then
		fail "$c" "a device appeared"
	else
		pass "$c"
	fi
}

ublk_init
load_crypto_modules
ulimit -c unlimited	# what the daemon's own limit must beat
echo core >/proc/sys/kernel/core_pattern
# the case whose daemon is checked for cores, killed and recovered (the
# kernel backend: auto would take OpenSSL in this guest)
KILL_CASE=luks-kernel-2q-then-openssl
if [ "${1:-}" = asan ]; then
	USER_KEY=/host/build-asan/tests/helpers/user-key
else
	USER_KEY=/host/build/tests/helpers/user-key
fi
printf '%s' "$PW" >key
chmod 600 key
if ! "$USER_KEY" ublk-encrypt-pw <key >keyid.log 2>&1; then
	fail keyring "cannot add the user key"
	diag <keyid.log
fi
qemu-img create -q -f qcow2 --object "$SEC" \
	-o encrypt.format=aes,encrypt.key-secret=s0 aes.qcow2 64M
/host/tests/helpers/pbkdf-retry qemu-img create -q -f qcow2 --object "$SEC" \
	-o encrypt.format=luks,encrypt.key-secret=s0,encrypt.iter-time=10 \
	luks.qcow2 64M
enc_case aes-openssl-then-kernel aes.qcow2 openssl kernel \
	"--key-keyring ublk-encrypt-pw" --key-file key
enc_case luks-kernel-2q-then-openssl luks.qcow2 kernel openssl \
	"--key-file -" -q 2 --key-keyring ublk-encrypt-pw

# an encrypted backing file: its own passphrase, --backing-key-file
backing_case() {
	local c=backing-luks bsec="secret,id=b0,data=base-$PW" chain
	chain="driver=qcow2,file.filename=top.qcow2,backing.encrypt.key-secret=b0"
	printf 'base-%s' "$PW" >bkey
	if ! /host/tests/helpers/pbkdf-retry qemu-img create -q -f qcow2 \
		--object "$bsec" -o encrypt.format=luks,encrypt.key-secret=b0,encrypt.iter-time=10 \
		base.qcow2 16M ||
		! run "$c-base.log" qemu-io --object "$bsec" --image-opts \
			-c "write -P 0x5b 0 8M" \
			"driver=qcow2,file.filename=base.qcow2,encrypt.key-secret=b0" ||
		! run "$c-top.log" qemu-img create -q -f qcow2 -b base.qcow2 \
			-F qcow2 top.qcow2; then
		fail "$c" "qemu-img could not make the chain"
		return
	fi
	WANT=backing.encrypt.key-secret refused "$c-no-key" -f top.qcow2
	run "$c-ref.log" qemu-img convert --object "$bsec" --image-opts \
		"$chain" -O raw ref.raw || { fail "$c" "qemu-img convert"; return; }
	if ! ublk_add "$c-add.log" -f top.qcow2 --backing-key-file bkey; then
		fail "$c" "add with --backing-key-file"
		return
	fi
	random_file odd.bin 100
	if ! cmp -s "$DEV" ref.raw; then
		fail "$c" "the device does not read what qemu-img reads"
	elif ! dd if=odd.bin of="$DEV" bs=4096 seek=999 conv=fsync \
		status=none || ! dd if=odd.bin of=ref.raw bs=4096 seek=999 \
		conv=notrunc status=none; then
		fail "$c" "dd"
	elif ! ublk_del "$ID"; then
		fail "$c" "del"
		return
	elif ! run "$c-cmp.log" qemu-img compare --object "$bsec" \
		--image-opts "$chain" "driver=raw,file.filename=ref.raw"; then
		fail "$c" "qemu-img does not read the writes back"
	elif ! run "$c-check.log" qemu-img check --object "$bsec" \
		--image-opts "$chain"; then
		fail "$c" "qemu-img check"
	else
		pass "$c"
	fi
	[ -b "$DEV" ] && ublk_del "$ID"
	rm -f ref.raw odd.bin
}
backing_case

# a wrong passphrase, a missing keyring key: one line, no new device
printf 'not-%s' "$PW" >badkey
WANT=passphrase refused wrong-passphrase -f luks.qcow2 --key-file badkey
WANT=--key-keyring refused keyring-missing -f luks.qcow2 \
	--key-keyring ublk-encrypt-no-such-key
ublk_main_end
