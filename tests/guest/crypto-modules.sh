#!/bin/bash
# On the host: the guest kernel's modules that the kernel crypto backend
# needs and its initramfs lacks, xts.ko and crypto_user.ko (libkcapi asks
# NETLINK_CRYPTO about every cipher, and xts is not built in; ecb, cbc,
# ctr and aes are), and the LUKS ciphers other than AES (twofish,
# serpent, cast5 with their common parts), taken from the cached kernel packages (GUEST_KERNEL's)
# into tests/out/guest-crypto/VERSION/ once.  tests/guest/run.sh runs it
# before every guest; in the guest, load_crypto_modules (lib-crypto.sh)
# loads them.  Nothing to do, or nothing found: exit 0 (the guest says
# what it misses).
set -u
cd "$(dirname "$0")/../.." || exit 2
CACHE=.cache/guest
# shellcheck source=tests/guest/lib-kernel.sh
. tests/guest/lib-kernel.sh
ver=$(cat "$KDIR/version" 2>/dev/null)
[ -n "$ver" ] || exit 0
out=tests/out/guest-crypto/$ver
mkdir -p "$out"
for m in xts crypto_user twofish_common twofish_generic serpent_generic \
	cast_common cast5_generic; do
	[ -s "$out/$m.ko" ] && continue
	for deb in "$CACHE/apt$KERNEL_TAG"/cache/archives/*"$ver"*.deb; do
		[ -f "$deb" ] || continue
		x=$(mktemp -d "$out/x.XXXXXX")
		dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$x" \
			--wildcards "*/crypto/$m.ko*" 2>/dev/null
		f=$(find "$x" -name "$m.ko*" | head -n 1)
		case $f in
		*.xz) xz -dc "$f" >"$out/$m.ko.tmp" && mv "$out/$m.ko.tmp" "$out/$m.ko" ;;
		?*) cp "$f" "$out/$m.ko" ;;
		esac
		rm -rf "$x"
		[ -s "$out/$m.ko" ] && break
	done
done
exit 0
