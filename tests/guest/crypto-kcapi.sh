#!/bin/bash
# The crypto library's kernel backend (libkcapi over AF_ALG), which only
# the test guest can run: the host kernel has no AF_ALG.
#
#     tests/guest/crypto-kcapi.sh [asan]       (from the host)
#     tests/run.sh guest/crypto-kcapi          (its label)
#
# On the host: xts.ko and crypto_user.ko (modules of the guest's 6.12
# kernel that its initramfs lacks: libkcapi asks NETLINK_CRYPTO about
# every cipher, and xts is not built in; ecb, cbc, ctr and aes are) are
# taken from the cached kernel packages (GUEST_KERNEL's) into
# tests/out/guest-crypto/VERSION/, then the script runs itself in the
# guest (tests/guest/run.sh).  In the guest: the modules are loaded,
# then build/tests/crypto_kat (build-asan/ with "asan") runs with both
# backends: the kcapi known answers, kcapi against libcrypto (agree/*)
# and AUTO's choice; then build/bench/crypto-bench (NOTE lines).
# A kcapi case that SKIPs here is a FAIL: the guest has AF_ALG.
set -u

if [ "${GUEST:-}" != 1 ]; then
	cd "$(dirname "$0")/../.." || exit 2
	CACHE=.cache/guest
	# shellcheck source=tests/guest/lib-kernel.sh
	. tests/guest/lib-kernel.sh
	ver=$(cat "$KDIR/version" 2>/dev/null)
	out=tests/out/guest-crypto/$ver
	mkdir -p "$out"
	for m in xts crypto_user; do
		[ -n "$ver" ] && [ ! -s "$out/$m.ko" ] || continue
		for deb in "$CACHE/apt$KERNEL_TAG"/cache/archives/*"$ver"*.deb; do
			[ -f "$deb" ] || continue
			rm -rf "$out/x"
			mkdir -p "$out/x"
			dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$out/x" \
				--wildcards "*/crypto/$m.ko*" 2>/dev/null
			f=$(find "$out/x" -name "$m.ko*" | head -n 1)
			case $f in
			*.xz) xz -dc "$f" >"$out/$m.ko" ;;
			?*) cp "$f" "$out/$m.ko" ;;
			esac
			rm -rf "$out/x"
			[ -s "$out/$m.ko" ] && break
		done
	done
	exec tests/guest/run.sh tests/guest/crypto-kcapi.sh "$@"
fi

tree=build
[ "${1:-}" = asan ] && tree=build-asan
for m in xts crypto_user; do
	mod=/host/tests/out/guest-crypto/$(uname -r)/$m.ko
	if [ -s "$mod" ]; then
		insmod "$mod" 2>/dev/null ||
			echo "NOTE: insmod $m.ko failed (built in?)"
	else
		echo "NOTE: no $m.ko from the host: it must be built in"
	fi
done
if [ ! -x "/host/$tree/tests/crypto_kat" ]; then
	echo "FAIL: guest/crypto-kcapi $tree/tests/crypto_kat not built"
	exit 1
fi
cd /tmp || exit 1
"/host/$tree/tests/crypto_kat" >/tmp/kat.log 2>&1
rc=$?
# in the guest every kcapi case must run
sed -e 's/^SKIP: \(kcapi\/.*\|agree\/.*\)/FAIL: \1 skipped in the guest/' \
	/tmp/kat.log
if grep -q '^SKIP: \(kcapi\|agree\)/' /tmp/kat.log; then
	rc=1
fi
if [ -x "/host/build/bench/crypto-bench" ]; then
	/host/build/bench/crypto-bench 0.3 | sed 's/^/NOTE: /'
fi
exit $rc
