// SPDX-License-Identifier: MIT
/*
 * The caller's crypto settings: the backend (qcow_open_opts.crypto_backend)
 * by name, whether it runs here, the crypto library's backend it stands
 * for; and a process holding keys kept out of core dumps.
 */
#include <errno.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include "crypt_pool.h"

static const char *const names[] = {
	[QCOW_CRYPTO_AUTO] = "auto",
	[QCOW_CRYPTO_KERNEL] = "kernel",
	[QCOW_CRYPTO_OPENSSL] = "openssl",
	[QCOW_CRYPTO_NETTLE] = "nettle",
};

const char *qcow_crypto_backend_name(enum qcow_crypto_backend b)
{
	return (unsigned int)b < sizeof(names) / sizeof(names[0]) ?
	       names[b] : "unknown";
}

int qcow_crypto_backend_by_name(const char *name,
				enum qcow_crypto_backend *b)
{
	unsigned int i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (name && !strcmp(name, names[i])) {
			*b = (enum qcow_crypto_backend)i;
			return 0;
		}
	}
	return -EINVAL;
}

/* "[FILE: ]crypto backend kernel: no AF_ALG skcipher in this kernel..." */
static int set_error(int err, const char *file)
{
	static const char why[] = "no AF_ALG skcipher in this kernel "
				  "(modules af_alg, algif_skcipher)";

	if (!file)
		return qcow_set_error(err, "crypto backend kernel", "%s", why);
	return qcow_set_error(err, file, "crypto backend kernel: %s", why);
}

int qcrypt_backend(enum qcow_crypto_backend b, const char *file,
		   enum qcrypto_backend *out)
{
	switch (b) {
	case QCOW_CRYPTO_AUTO:
		*out = QCRYPTO_BACKEND_AUTO;
		return 0;
	case QCOW_CRYPTO_OPENSSL:
		*out = QCRYPTO_BACKEND_OPENSSL;
		return 0;
	case QCOW_CRYPTO_NETTLE:
		*out = QCRYPTO_BACKEND_NETTLE;
		return 0;
	case QCOW_CRYPTO_KERNEL:
		*out = QCRYPTO_BACKEND_KCAPI;
		if (qcrypto_backend_probe(QCRYPTO_BACKEND_KCAPI) < 0)
			return set_error(-ENOTSUP, file);
		return 0;
	}
	return qcow_set_error(-EINVAL, file, "unknown crypto backend %d",
			      (int)b);
}

enum qcow_crypto_backend qcrypt_backend_public(enum qcrypto_backend b)
{
	switch (b) {
	case QCRYPTO_BACKEND_KCAPI:
		return QCOW_CRYPTO_KERNEL;
	case QCRYPTO_BACKEND_NETTLE:
		return QCOW_CRYPTO_NETTLE;
	default:
		return QCOW_CRYPTO_OPENSSL;
	}
}

int qcrypt_cipher_missing(const char *file, const char *cipher,
			  enum qcow_crypto_backend b)
{
	if (b == QCOW_CRYPTO_AUTO)
		return qcow_set_error(-ENOTSUP, file, "cipher %s: no crypto "
				      "backend here has it (openssl: aes, "
				      "sm4 but xts; nettle: aes, twofish, "
				      "serpent, cast5; kernel: %s)", cipher,
				      qcrypto_backend_probe(
					QCRYPTO_BACKEND_KCAPI) < 0 ?
				      "no AF_ALG here" : "not this one");
	return qcow_set_error(-ENOTSUP, file, "cipher %s: not in crypto "
			      "backend %s", cipher,
			      qcow_crypto_backend_name(b));
}

int qcow_crypto_backend_probe(enum qcow_crypto_backend b)
{
	enum qcrypto_backend q;

	return qcrypt_backend(b, NULL, &q);
}

/*
 * libcrypto's key schedules sit on the ordinary heap, so the whole
 * process goes: not dumpable (no core dump, no ptrace by its user), and
 * no core file even where fs.suid_dumpable=2 dumps such processes.
 */
int qcow_no_core_dumps(void)
{
	struct rlimit none = { 0, 0 };

	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0 ||
	    setrlimit(RLIMIT_CORE, &none) < 0)
		return -errno;
	return 0;
}
