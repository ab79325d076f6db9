#!/bin/bash
# The crypto library's kernel backend (libkcapi over AF_ALG), which only
# the test guest can run: the host kernel has no AF_ALG.
#
#     tests/guest/crypto-kcapi.sh [asan]       (from the host)
#     tests/run.sh guest/crypto-kcapi          (its label)
#
# From the host the script runs itself in the guest (tests/guest/run.sh,
# which first takes xts.ko and crypto_user.ko from the kernel packages:
# tests/guest/crypto-modules.sh).  In the guest: the modules are loaded,
# then build/tests/crypto_kat (build-asan/ with "asan") runs with both
# backends: the kcapi known answers, kcapi against libcrypto (agree/*)
# and AUTO's choice; then crypto_ciphers, whose kcapi/* cases of
# twofish, serpent and cast5 (their modules loaded) check the kernel's
# ciphers against the known answers and the modes rebuilt from ECB; then
# build/bench/crypto-bench (NOTE lines).
# A kcapi case that SKIPs here is a FAIL (but sm4, which the kernel may
# lack): the guest has AF_ALG.
set -u

if [ "${GUEST:-}" != 1 ]; then
	cd "$(dirname "$0")/../.." || exit 2
	exec tests/guest/run.sh tests/guest/crypto-kcapi.sh "$@"
fi

tree=build
[ "${1:-}" = asan ] && tree=build-asan
# shellcheck source=tests/guest/lib-crypto.sh
. tests/guest/lib-crypto.sh
load_crypto_modules
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
# the other LUKS ciphers through the kernel: twofish, serpent and cast5
# must run (their modules are loaded), sm4 may be missing
if [ -x "/host/$tree/tests/crypto_ciphers" ]; then
	"/host/$tree/tests/crypto_ciphers" >/tmp/ciphers.log 2>&1 || rc=1
	sed -e 's/^SKIP: \(kcapi\/[^ ]*\(twofish\|serpent\|cast5\)[^ ]*\)/FAIL: \1 skipped in the guest/' \
		/tmp/ciphers.log
	grep -q '^SKIP: kcapi/[^ ]*\(twofish\|serpent\|cast5\)' \
		/tmp/ciphers.log && rc=1
else
	echo "FAIL: guest/crypto-kcapi $tree/tests/crypto_ciphers not built"
	rc=1
fi
if [ -x "/host/build/bench/crypto-bench" ]; then
	/host/build/bench/crypto-bench 0.3 | sed 's/^/NOTE: /'
fi
exit $rc
