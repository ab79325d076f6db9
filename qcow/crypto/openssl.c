// SPDX-License-Identifier: MIT
/*
 * A userspace backend: OpenSSL's libcrypto (AES, sm4).  A keyed cipher
 * holds one template context per direction; each call takes a keyed copy
 * from a small pool under a mutex (a copy made from the template when
 * the pool is empty), so threads share a cipher without sharing a
 * context.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include <openssl/evp.h>

#include "crypto_internal.h"

#define OSSL_POOL	16

struct ossl {
	pthread_mutex_t lock;
	EVP_CIPHER_CTX *tmpl[2];		/* [enc] */
	EVP_CIPHER_CTX *pool[2][OSSL_POOL];
	unsigned int npool[2];
};

#ifndef OPENSSL_NO_SM4
/* OpenSSL 3.0 has no sm4-xts */
static const EVP_CIPHER *ossl_sm4(enum qcrypto_mode m)
{
	switch (m) {
	case QCRYPTO_ECB:
		return EVP_sm4_ecb();
	case QCRYPTO_CBC:
		return EVP_sm4_cbc();
	case QCRYPTO_CTR:
		return EVP_sm4_ctr();
	default:
		return NULL;
	}
}
#else
static const EVP_CIPHER *ossl_sm4(enum qcrypto_mode m)
{
	return NULL;
}
#endif

/*
 * AES (but aes-192-xts) and sm4; twofish, serpent are not in libcrypto,
 * cast5 only in its legacy provider: nettle's
 */
static const EVP_CIPHER *ossl_evp(const struct qcrypto_alg *a)
{
	static const EVP_CIPHER *(*const tab[4][3])(void) = {
		[QCRYPTO_ECB] = { EVP_aes_128_ecb, EVP_aes_192_ecb,
				  EVP_aes_256_ecb },
		[QCRYPTO_CBC] = { EVP_aes_128_cbc, EVP_aes_192_cbc,
				  EVP_aes_256_cbc },
		[QCRYPTO_XTS] = { EVP_aes_128_xts, NULL, EVP_aes_256_xts },
		[QCRYPTO_CTR] = { EVP_aes_128_ctr, EVP_aes_192_ctr,
				  EVP_aes_256_ctr },
	};
	const EVP_CIPHER *(*f)(void);

	if (a->algo == QCRYPTO_SM4)
		return ossl_sm4(a->mode);
	if (a->algo != QCRYPTO_AES)
		return NULL;
	f = tab[a->mode][(a->key_bytes - 16) / 8];
	return f ? f() : NULL;
}

static void ossl_fini(struct qcrypto_cipher *c)
{
	struct ossl *o = c->priv;
	unsigned int d, i;

	if (!o)
		return;
	for (d = 0; d < 2; d++) {
		for (i = 0; i < o->npool[d]; i++)
			EVP_CIPHER_CTX_free(o->pool[d][i]);
		/* EVP_CIPHER_CTX_free() cleanses the key schedule */
		EVP_CIPHER_CTX_free(o->tmpl[d]);
	}
	pthread_mutex_destroy(&o->lock);
	free(o);
	c->priv = NULL;
}

static int ossl_init(struct qcrypto_cipher *c, const uint8_t *key)
{
	const EVP_CIPHER *evp = ossl_evp(&c->alg);
	struct ossl *o;
	int d;

	if (!evp)
		return -ENOTSUP;
	o = calloc(1, sizeof(*o));
	if (!o)
		return -ENOMEM;
	pthread_mutex_init(&o->lock, NULL);
	c->priv = o;
	for (d = 0; d < 2; d++) {
		o->tmpl[d] = EVP_CIPHER_CTX_new();
		if (!o->tmpl[d])
			goto nomem;
		/* fails for xts keys whose two halves are equal */
		if (!EVP_CipherInit_ex(o->tmpl[d], evp, NULL, key, NULL, d))
			goto bad_key;
		EVP_CIPHER_CTX_set_padding(o->tmpl[d], 0);
	}
	return 0;
nomem:
	ossl_fini(c);
	return -ENOMEM;
bad_key:
	ossl_fini(c);
	return -EINVAL;
}

static EVP_CIPHER_CTX *ctx_get(struct ossl *o, int d)
{
	EVP_CIPHER_CTX *ctx = NULL;

	pthread_mutex_lock(&o->lock);
	if (o->npool[d])
		ctx = o->pool[d][--o->npool[d]];
	pthread_mutex_unlock(&o->lock);
	if (ctx)
		return ctx;
	ctx = EVP_CIPHER_CTX_new();
	if (ctx && !EVP_CIPHER_CTX_copy(ctx, o->tmpl[d])) {
		EVP_CIPHER_CTX_free(ctx);
		ctx = NULL;
	}
	return ctx;
}

static void ctx_put(struct ossl *o, int d, EVP_CIPHER_CTX *ctx)
{
	pthread_mutex_lock(&o->lock);
	if (o->npool[d] < OSSL_POOL) {
		o->pool[d][o->npool[d]++] = ctx;
		ctx = NULL;
	}
	pthread_mutex_unlock(&o->lock);
	EVP_CIPHER_CTX_free(ctx);
}

static int ossl_update(EVP_CIPHER_CTX *ctx, const uint8_t *iv, uint8_t *buf,
		       size_t len)
{
	int outl;

	if (iv && !EVP_CipherInit_ex(ctx, NULL, NULL, NULL, iv, -1))
		return -EIO;
	if (!EVP_CipherUpdate(ctx, buf, &outl, buf, (int)len) ||
	    (size_t)outl != len)
		return -EIO;
	return 0;
}

static int ossl_crypt(struct qcrypto_cipher *c, bool enc, uint64_t sector,
		      uint8_t *buf, size_t len)
{
	struct ossl *o = c->priv;
	/* ctr decrypts by encrypting */
	int d = enc || c->alg.mode == QCRYPTO_CTR;
	uint8_t iv[QCRYPTO_BLOCK];
	EVP_CIPHER_CTX *ctx;
	size_t off;
	int ret = 0;

	ctx = ctx_get(o, d);
	if (!ctx)
		return -ENOMEM;
	if (c->alg.mode == QCRYPTO_ECB) {
		for (off = 0; off < len && !ret; off += QCRYPTO_SECTOR_SIZE)
			ret = ossl_update(ctx, NULL, buf + off,
					  QCRYPTO_SECTOR_SIZE);
		goto out;
	}
	for (off = 0; off < len && !ret; off += QCRYPTO_SECTOR_SIZE) {
		ret = qcrypto_sector_iv(c, sector++, iv);
		if (!ret)
			ret = ossl_update(ctx, iv, buf + off,
					  QCRYPTO_SECTOR_SIZE);
	}
out:
	ctx_put(o, d, ctx);
	return ret;
}

static int ossl_ecb(struct qcrypto_cipher *c, uint8_t *buf, size_t len)
{
	struct ossl *o = c->priv;
	EVP_CIPHER_CTX *ctx = ctx_get(o, 1);
	int ret;

	if (!ctx)
		return -ENOMEM;
	ret = ossl_update(ctx, NULL, buf, len);
	ctx_put(o, 1, ctx);
	return ret;
}

static int ossl_probe(void)
{
	return 0;
}

const struct qcrypto_ops qcrypto_openssl_ops = {
	.init = ossl_init,
	.crypt = ossl_crypt,
	.ecb = ossl_ecb,
	.fini = ossl_fini,
	.probe = ossl_probe,
};
