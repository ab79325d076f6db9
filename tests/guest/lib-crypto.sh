# shellcheck shell=bash
# In the guest: load_crypto_modules loads the modules the kernel crypto
# backend needs beyond the initramfs's (xts.ko, crypto_user.ko, and the
# twofish, serpent and cast5 ciphers, which tests/guest/crypto-modules.sh
# took from the kernel packages on the host; each after what it needs),
# printing a NOTE for each it cannot load.

load_crypto_modules() {
	local m mod
	for m in xts crypto_user twofish_common twofish_generic \
		serpent_generic cast_common cast5_generic; do
		mod=/host/tests/out/guest-crypto/$(uname -r)/$m.ko
		if [ -s "$mod" ]; then
			insmod "$mod" 2>/dev/null ||
				echo "NOTE: insmod $m.ko failed (built in? loaded?)"
		else
			echo "NOTE: no $m.ko from the host: it must be built in"
		fi
	done
}
