// SPDX-License-Identifier: MIT
/* The kernel's crypto API through libkcapi (AF_ALG): not yet written. */
#include <errno.h>

#include "crypto_internal.h"

static int kc_init(struct qcrypto_cipher *c, const uint8_t *key)
{
	return -ENOTSUP;
}

static int kc_crypt(struct qcrypto_cipher *c, bool enc, uint64_t sector,
		    uint8_t *buf, size_t len)
{
	return -ENOTSUP;
}

static int kc_ecb(struct qcrypto_cipher *c, uint8_t *buf, size_t len)
{
	return -ENOTSUP;
}

static void kc_fini(struct qcrypto_cipher *c)
{
}

static int kc_probe(void)
{
	return -ENOTSUP;
}

const struct qcrypto_ops qcrypto_kcapi_ops = {
	.init = kc_init,
	.crypt = kc_crypt,
	.ecb = kc_ecb,
	.fini = kc_fini,
	.probe = kc_probe,
};

enum qcrypto_backend qcrypto_backend_auto(const struct qcrypto_alg *a)
{
	return QCRYPTO_BACKEND_OPENSSL;
}
