// SPDX-License-Identifier: MIT
/*
 * The kernel backend: the kernel's skciphers ("xts(aes)", "cbc(aes)",
 * ...) through libkcapi's AF_ALG sockets.  The key sits on one TFM
 * socket; each call takes an OP handle on it from a small pool (a new
 * one accepted from the TFM when the pool is empty), so threads share a
 * cipher without sharing a handle.  One kernel operation per sector:
 * each has its own IV.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include <kcapi.h>

#include "crypto_internal.h"

#define KC_POOL		16

struct kc {
	pthread_mutex_t lock;
	struct kcapi_handle *tmpl;
	struct kcapi_handle *pool[KC_POOL];
	unsigned int npool;
};

/* "xts(serpent)": the kernel's names are LUKS's */
static void kc_name(const struct qcrypto_alg *a, char out[32])
{
	static const char *const modes[QCRYPTO_NR_MODES] = {
		[QCRYPTO_ECB] = "ecb", [QCRYPTO_CBC] = "cbc",
		[QCRYPTO_XTS] = "xts", [QCRYPTO_CTR] = "ctr",
	};

	snprintf(out, 32, "%s(%s)", modes[a->mode],
		 qcrypto_algo_family(a->algo));
}

static pthread_once_t probe_once = PTHREAD_ONCE_INIT;
static int probe_result;

static void probe_run(void)
{
	static const uint8_t key[16] = { 1 };
	uint8_t blk[QCRYPTO_BLOCK] = { 0 }, iv[QCRYPTO_BLOCK] = { 0 };
	struct kcapi_handle *h;
	int ret;

	/* errors reach our callers as return values, not on stderr */
	kcapi_set_verbosity(KCAPI_LOG_NONE);
	ret = kcapi_cipher_init(&h, "cbc(aes)", 0);
	if (ret < 0) {
		probe_result = -ENOTSUP;
		return;
	}
	if (kcapi_cipher_setkey(h, key, sizeof(key)) < 0 ||
	    kcapi_cipher_encrypt(h, blk, sizeof(blk), iv, blk, sizeof(blk),
				 KCAPI_ACCESS_SENDMSG) != sizeof(blk))
		probe_result = -ENOTSUP;
	kcapi_cipher_destroy(h);
}

static int kc_probe(void)
{
	pthread_once(&probe_once, probe_run);
	return probe_result;
}

static void kc_fini(struct qcrypto_cipher *c)
{
	struct kc *k = c->priv;
	unsigned int i;

	if (!k)
		return;
	for (i = 0; i < k->npool; i++)
		kcapi_cipher_destroy(k->pool[i]);
	/* the last handle on the TFM frees the kernel's copy of the key */
	if (k->tmpl)
		kcapi_cipher_destroy(k->tmpl);
	pthread_mutex_destroy(&k->lock);
	free(k);
	c->priv = NULL;
}

static int kc_init(struct qcrypto_cipher *c, const uint8_t *key)
{
	struct kc *k;
	char name[32];
	int ret = kc_probe();

	if (ret < 0)
		return ret;
	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	pthread_mutex_init(&k->lock, NULL);
	c->priv = k;
	kc_name(&c->alg, name);
	ret = kcapi_cipher_init(&k->tmpl, name, 0);
	if (ret < 0) {
		k->tmpl = NULL;
		ret = ret == -ENOENT ? -ENOTSUP : ret;
		goto fail;
	}
	ret = kcapi_cipher_setkey(k->tmpl, key, (uint32_t)c->alg.key_len);
	if (ret < 0) {
		ret = -EINVAL;
		goto fail;
	}
	return 0;
fail:
	kc_fini(c);
	return ret == -EOPNOTSUPP || ret == -EAFNOSUPPORT ? -ENOTSUP : ret;
}

static struct kcapi_handle *handle_get(struct kc *k)
{
	struct kcapi_handle *h = NULL;

	pthread_mutex_lock(&k->lock);
	if (k->npool)
		h = k->pool[--k->npool];
	pthread_mutex_unlock(&k->lock);
	if (!h && kcapi_handle_reinit(&h, k->tmpl, 0) < 0)
		h = NULL;
	return h;
}

static void handle_put(struct kc *k, struct kcapi_handle *h)
{
	pthread_mutex_lock(&k->lock);
	if (k->npool < KC_POOL) {
		k->pool[k->npool++] = h;
		h = NULL;
	}
	pthread_mutex_unlock(&k->lock);
	if (h)
		kcapi_cipher_destroy(h);
}

static int kc_op(struct kcapi_handle *h, bool enc, const uint8_t *iv,
		 uint8_t *buf, size_t len)
{
	ssize_t n;

	if (enc)
		n = kcapi_cipher_encrypt(h, buf, len, iv, buf, len,
					 KCAPI_ACCESS_SENDMSG);
	else
		n = kcapi_cipher_decrypt(h, buf, len, iv, buf, len,
					 KCAPI_ACCESS_SENDMSG);
	if (n < 0)
		return (int)n;
	return (size_t)n == len ? 0 : -EIO;
}

static int kc_crypt(struct qcrypto_cipher *c, bool enc, uint64_t sector,
		    uint8_t *buf, size_t len)
{
	static const uint8_t zero_iv[QCRYPTO_BLOCK];
	struct kc *k = c->priv;
	uint8_t iv[QCRYPTO_BLOCK];
	struct kcapi_handle *h;
	size_t off;
	int ret = 0;

	h = handle_get(k);
	if (!h)
		return -ENOMEM;
	if (c->alg.mode == QCRYPTO_ECB) {
		ret = kc_op(h, enc, zero_iv, buf, len);
		goto out;
	}
	for (off = 0; off < len && !ret; off += QCRYPTO_SECTOR_SIZE) {
		ret = qcrypto_sector_iv(c, sector++, iv);
		if (!ret)
			ret = kc_op(h, enc, iv, buf + off,
				    QCRYPTO_SECTOR_SIZE);
	}
out:
	handle_put(k, h);
	return ret;
}

const struct qcrypto_ops qcrypto_kcapi_ops = {
	.init = kc_init,
	.crypt = kc_crypt,
	.fini = kc_fini,
	.probe = kc_probe,
};
