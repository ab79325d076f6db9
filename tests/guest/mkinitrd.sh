#!/bin/bash
# Builds the test guest's initramfs, .cache/guest/initrd.img (an
# uncompressed newc cpio: faster to boot under TCG than a compressed one);
# with GUEST_KERNEL=SUITE, initrd-SUITE.img for that kernel (lib-kernel.sh).
#
# It holds busybox (static), the kernel modules unpacked by fetch-kernel.sh,
# an /init (see write_init), and host programs with every shared library
# that ldd lists for them plus the dynamic loader: bash, fio, mke2fs
# (mkfs.ext4), e2fsck, blkdiscard, qemu-img, qemu-io, qemu-nbd.  The
# project's programs run from the 9p share (/host/bin/...), so their
# libraries are included too: liburing, zlib, libdeflate, libzstd, libjson-c, libkcapi,
# the sanitizer runtimes, and whatever ldd lists for bin/* and
# build-asan/bin/*.
#
# The image is rebuilt only when an input changes: the manifest of files
# (with sizes and mtimes), the module list and this script are hashed into
# .cache/guest/initrd.stamp.
#
# Usage: [GUEST_KERNEL=SUITE] tests/guest/mkinitrd.sh [--force]
# Exit status: 0 built or up to date, 77 a required host tool is missing
# (busybox-static), 1 other errors.  Prints the image path on stdout.
set -eu

GUEST_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$GUEST_DIR/../.." && pwd)
CACHE=$REPO_ROOT/.cache/guest
# shellcheck source=tests/guest/lib-kernel.sh
. "$GUEST_DIR/lib-kernel.sh"
OUT=$CACHE/initrd$KERNEL_TAG.img
STAMP=$CACHE/initrd$KERNEL_TAG.stamp
STAGE=$CACHE/initrd$KERNEL_TAG.stage
BUSYBOX=${BUSYBOX:-/bin/busybox}

# Host programs copied in (a missing one is a warning: the guest scripts
# that need it report SKIP).  NAME or NAME=ALIAS,... (extra names for it).
PROGRAMS="bash fio mke2fs=mkfs.ext4,mkfs.ext2 e2fsck=fsck.ext4 blkdiscard \
qemu-img qemu-io qemu-nbd"
# Libraries the project's programs need at run time (same: warn if missing).
LIBS="liburing.so.2 libz.so.1 libdeflate.so.0 libzstd.so.1 libjson-c.so.5 libkcapi.so.1 \
libasan.so.8 libubsan.so.1"
# Files copied as they are.
DATA_FILES="/etc/mke2fs.conf"

say() { echo "mkinitrd: $*" >&2; }
die() {
	say "error: $*"
	exit 1
}

# ------------------------------------------------------------- manifest
# One line per file to put in the image: "DEST SRC" (SRC is dereferenced),
# or "DEST -> TARGET" for a symlink.

MANIFEST=()
declare -A IN_MANIFEST=()

# add_file DEST SRC, add_link DEST TARGET: the first entry for DEST wins.
add_entry() {
	[ -n "${IN_MANIFEST[$1]:-}" ] && return 0
	IN_MANIFEST[$1]=1
	MANIFEST+=("$1 $2")
}
add_file() { add_entry "$1" "$2"; }
add_link() { add_entry "$1" "-> $2"; }

# libs_of FILE...: the libraries ldd lists (and the loader), one a line.
libs_of() {
	ldd "$@" 2>/dev/null | awk '
		$2 == "=>" && $3 ~ /^\// { print $3 }
		$1 ~ /^\// { print $1 }' | sort -u
}

# find_lib SONAME: its path from the loader cache, or nothing.
find_lib() {
	/sbin/ldconfig -p 2>/dev/null |
		awk -v n="$1" '$1 == n && /x86-64/ { print $NF; exit }'
}

# is_dyn_elf FILE: an executable ldd can read.
is_dyn_elf() {
	[ -f "$1" ] && [ -x "$1" ] && head -c 4 "$1" 2>/dev/null | grep -q 'ELF' &&
		ldd "$1" >/dev/null 2>&1
}

# add_libs FILE...: FILE's libraries, at the paths ldd shows.
add_libs() {
	local l
	for l in $(libs_of "$@"); do
		add_file "$l" "$l"
	done
}

add_programs() {
	local spec name aliases path dir a
	for spec in $PROGRAMS; do
		name=${spec%%=*}
		aliases=
		[ "$spec" != "$name" ] && aliases=${spec#*=}
		path=$(PATH=/usr/sbin:/usr/bin:/sbin:/bin command -v "$name" || true)
		if [ -z "$path" ]; then
			say "warning: $name not installed on the host; the guest will lack it"
			continue
		fi
		case $(dirname "$(readlink -f "$path")") in
		*/sbin) dir=/usr/sbin ;;
		*) dir=/usr/bin ;;
		esac
		add_file "$dir/$name" "$path"
		add_libs "$path"
		for a in ${aliases//,/ }; do
			add_link "$dir/$a" "$name"
		done
		INSTALLED+=" $name ${aliases//,/ } "
	done
}

add_project_libs() {
	local soname path f
	for soname in $LIBS; do
		path=$(find_lib "$soname")
		if [ -z "$path" ]; then
			say "warning: $soname not installed on the host; the guest will lack it"
			continue
		fi
		add_file "$path" "$path"
		add_libs "$path"
	done
	# Whatever the built programs link against now.
	for f in "$REPO_ROOT"/bin/* "$REPO_ROOT"/build-asan/bin/*; do
		is_dyn_elf "$f" && add_libs "$f"
	done
	return 0
}

add_modules() {
	local m ver
	ver=$(cat "$KDIR/version")
	while IFS= read -r m; do
		add_file "/lib/modules/$ver/$m.ko" "$KDIR/modules/$m.ko"
	done <"$KDIR/modules.order"
	add_file /etc/guest/modules.order "$KDIR/modules.order"
}

add_busybox() {
	local a
	add_file /bin/busybox "$BUSYBOX"
	for a in $("$BUSYBOX" --list-full); do
		case " $INSTALLED " in
		*" ${a##*/} "*) continue ;; # a real program has this name
		esac
		add_link "/$a" /bin/busybox
	done
}

build_manifest() {
	local f
	INSTALLED=
	add_programs
	add_project_libs
	add_busybox
	add_modules
	for f in $DATA_FILES; do
		[ -f "$f" ] && add_file "$f" "$f"
	done
	return 0
}

# --------------------------------------------------------------- /init

write_init() {
	cat <<'EOF'
#!/bin/sh
# /init of the test guest, written by tests/guest/mkinitrd.sh.
# Loads the modules, mounts the host share at /host and runs
# /host/$guest_script with the arguments run.sh left in
# /host/$guest_run/args.sh (after a "GUEST-START" line), then prints
# "GUEST-EXIT: <status>" and powers off.  A setup failure prints
# "GUEST-ERROR: <reason>" first.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1

finish() {
	sync
	echo "GUEST-EXIT: $1"
	poweroff -f
	sleep 10
}

setup_error() {
	echo "GUEST-ERROR: $*"
	finish 1
}

mount_all() {
	mount -t proc proc /proc &&
	mount -t sysfs sysfs /sys &&
	mkdir -p /dev/pts /dev/shm &&
	mount -t devpts devpts /dev/pts &&
	mount -t tmpfs -o mode=1777 tmpfs /dev/shm &&
	mount -t tmpfs -o mode=1777 tmpfs /tmp &&
	mount -t tmpfs -o mode=0755 tmpfs /run &&
	mkdir -p /run/lock /var/tmp &&
	ln -sf /run/lock /var/lock &&
	ln -sf /proc/self/fd /dev/fd &&
	ln -sf /proc/self/fd/0 /dev/stdin &&
	ln -sf /proc/self/fd/1 /dev/stdout &&
	ln -sf /proc/self/fd/2 /dev/stderr
}

load_modules() {
	local m
	while read -r m; do
		insmod "/lib/modules/$(uname -r)/$m.ko" || setup_error "insmod $m failed"
	done </etc/guest/modules.order
}

cmdline_value() {
	local w
	for w in $(cat /proc/cmdline); do
		case $w in
		"$1"=*) echo "${w#*=}" ;;
		esac
	done
}

main() {
	local script run rc
	mount_all || setup_error "mounting proc/sys/dev/tmp failed"
	hostname guest
	ulimit -c 0
	load_modules
	mkdir -p /host
	mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 host /host ||
		setup_error "cannot mount the 9p share 'host'"
	script=$(cmdline_value guest_script)
	run=$(cmdline_value guest_run)
	[ -n "$script" ] || setup_error "no guest_script= on the kernel command line"
	[ -f "/host/$script" ] || setup_error "/host/$script not found"
	set --
	export GUEST=1 HOST_REPO=/host
	if [ -n "$run" ]; then
		export GUEST_RUN=/host/$run
		[ -f "/host/$run/args.sh" ] && . "/host/$run/args.sh"
	fi
	cd /host || setup_error "cd /host failed"
	echo "GUEST-START"
	if [ -x "/host/$script" ]; then
		"/host/$script" "$@" </dev/null
	else
		bash "/host/$script" "$@" </dev/null
	fi
	rc=$?
	[ -n "$run" ] && echo "$rc" >"/host/$run/exit"
	cd /
	finish "$rc"
}

main
EOF
}

# ---------------------------------------------------------------- build

# inputs_hash: changes when anything that goes into the image changes.
inputs_hash() {
	local line src
	{
		sha256sum "${BASH_SOURCE[0]}"
		cat "$KDIR/version" "$KDIR/stamp"
		for line in "${MANIFEST[@]}"; do
			echo "$line"
			case $line in
			*" -> "*) ;;
			*)
				src=${line#* }
				stat -L -c '%s %Y' "$src"
				;;
			esac
		done
	} | sha256sum | cut -d' ' -f1
}

stage_tree() {
	local line dest src
	rm -rf "$STAGE"
	mkdir -p "$STAGE"
	cd "$STAGE"
	# The host's merged-/usr layout: /bin/bash, /sbin/losetup all work.
	mkdir -p usr/bin usr/sbin usr/lib/x86_64-linux-gnu usr/lib64 \
		dev proc sys tmp run host root etc/guest var
	ln -s usr/bin bin
	ln -s usr/sbin sbin
	ln -s usr/lib lib
	ln -s usr/lib64 lib64
	for line in "${MANIFEST[@]}"; do
		dest=.${line%% *}
		case $line in
		*" -> "*)
			mkdir -p "$(dirname "$dest")"
			ln -sfn "${line#* -> }" "$dest"
			;;
		*)
			src=${line#* }
			mkdir -p "$(dirname "$dest")"
			cp -L "$src" "$dest"
			;;
		esac
	done
	write_init >init
	chmod 755 init
	printf 'root:x:0:0:root:/root:/bin/sh\n' >etc/passwd
	printf 'root:x:0:\n' >etc/group
	if [ "$(id -u)" = 0 ]; then
		mknod -m 600 dev/console c 5 1
		mknod -m 666 dev/null c 1 3
	fi
}

write_cpio() {
	(cd "$STAGE" && find . -mindepth 1 -printf '%P\n' | LC_ALL=C sort |
		"$BUSYBOX" cpio -o -H newc 2>/dev/null) >"$OUT.tmp" ||
		die "busybox cpio failed"
	mv "$OUT.tmp" "$OUT"
}

main() {
	local hash force=0
	[ "${1:-}" = --force ] && force=1
	if ! "$BUSYBOX" --list 2>/dev/null | grep -qx cpio; then
		say "error: $BUSYBOX (with cpio) not found; install busybox-static"
		exit 77
	fi
	[ -f "$KDIR/modules.order" ] || die "no kernel in $KDIR: run tests/guest/fetch-kernel.sh (same GUEST_KERNEL)"
	mkdir -p "$CACHE"
	exec 8>"$CACHE/initrd.lock"
	flock 8 # one build at a time
	build_manifest
	hash=$(inputs_hash)
	if [ "$force" = 0 ] && [ -f "$OUT" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$hash" ]; then
		echo "$OUT"
		return
	fi
	say "building $OUT"
	stage_tree
	write_cpio
	rm -rf "$STAGE"
	echo "$hash" >"$STAMP"
	say "$(du -m "$OUT" | cut -f1) MiB, ${#MANIFEST[@]} entries"
	echo "$OUT"
}

main "$@"
