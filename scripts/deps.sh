#!/bin/sh
# Installs every Debian package the build, the tests and the benchmarks need.
# Runs as root, non-interactively; safe to run again.
set -e
PKGS="build-essential pkg-config liburing-dev zlib1g-dev libdeflate-dev libzstd-dev \
libjson-c-dev libkcapi-dev libssl-dev nettle-dev cryptsetup-bin qemu-utils fio python3 clang \
qemu-system-x86 qemu-system-data busybox-static e2fsprogs util-linux xz-utils \
strace valgrind time scdoc groff-base man-db debhelper lintian"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "deps: need root to install:$missing" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends $missing
