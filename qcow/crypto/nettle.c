// SPDX-License-Identifier: MIT
/*
 * A userspace backend: nettle, for the ciphers libcrypto lacks (twofish,
 * serpent, cast5, aes-192-xts; sm4 where nettle has it, 3.9 on).  Its key
 * schedules are read-only once set, so threads share one cipher with no
 * lock; they live in key memory (secmem.c), wiped when freed.
 */
#include <errno.h>
#include <string.h>

#include <nettle/cbc.h>
#include <nettle/ctr.h>
#include <nettle/nettle-meta.h>
#include <nettle/version.h>
#include <nettle/xts.h>

#include "crypto_internal.h"

#if NETTLE_VERSION_MAJOR > 3 || \
	(NETTLE_VERSION_MAJOR == 3 && NETTLE_VERSION_MINOR >= 9)
#define NT_HAVE_SM4 1
#endif

struct nt {
	const struct nettle_cipher *meta;
	size_t size;			/* of this struct and its contexts */
	void *enc;			/* the data key's, encrypting */
	void *dec;			/* decrypting */
	void *tweak;			/* xts: the tweak key's, encrypting */
};

static const struct nettle_cipher *nt_meta(const struct qcrypto_alg *a)
{
	static const struct nettle_cipher *const tab[][3] = {
		[QCRYPTO_AES] = { &nettle_aes128, &nettle_aes192,
				  &nettle_aes256 },
		[QCRYPTO_TWOFISH] = { &nettle_twofish128, &nettle_twofish192,
				      &nettle_twofish256 },
		[QCRYPTO_SERPENT] = { &nettle_serpent128, &nettle_serpent192,
				      &nettle_serpent256 },
		[QCRYPTO_CAST5] = { &nettle_cast128, NULL, NULL },
#ifdef NT_HAVE_SM4
		[QCRYPTO_SM4] = { &nettle_sm4, NULL, NULL },
#endif
	};

	if ((unsigned int)a->algo >= sizeof(tab) / sizeof(tab[0]) ||
	    a->key_bytes < 16 || a->key_bytes > 32 || a->key_bytes % 8)
		return NULL;
	return tab[a->algo][(a->key_bytes - 16) / 8];
}

static void nt_fini(struct qcrypto_cipher *c)
{
	struct nt *n = c->priv;

	if (n)
		qcrypto_secure_free(n, n->size);
	c->priv = NULL;
}

static int nt_init(struct qcrypto_cipher *c, const uint8_t *key)
{
	const struct nettle_cipher *m = nt_meta(&c->alg);
	size_t ctx, size;
	struct nt *n;

	if (!m || m->key_size != c->alg.key_bytes ||
	    m->block_size != c->alg.block)
		return -ENOTSUP;
	ctx = (m->context_size + 15) / 16 * 16;
	size = (sizeof(*n) + 15) / 16 * 16 + 3 * ctx;
	n = qcrypto_secure_alloc(size);
	if (!n)
		return -ENOMEM;
	n->meta = m;
	n->size = size;
	n->enc = (uint8_t *)n + (sizeof(*n) + 15) / 16 * 16;
	n->dec = (uint8_t *)n->enc + ctx;
	n->tweak = (uint8_t *)n->dec + ctx;
	m->set_encrypt_key(n->enc, key);
	m->set_decrypt_key(n->dec, key);
	if (c->alg.mode == QCRYPTO_XTS)
		m->set_encrypt_key(n->tweak, key + c->alg.key_bytes);
	c->priv = n;
	return 0;
}

/* one sector; iv the sector's IV (or tweak), changed */
static void nt_sector(const struct qcrypto_cipher *c, bool enc, uint8_t *iv,
		      uint8_t *buf)
{
	const struct nt *n = c->priv;
	const struct nettle_cipher *m = n->meta;
	size_t len = QCRYPTO_SECTOR_SIZE;

	switch (c->alg.mode) {
	case QCRYPTO_ECB:
		(enc ? m->encrypt : m->decrypt)(enc ? n->enc : n->dec, len,
						buf, buf);
		break;
	case QCRYPTO_CBC:
		if (enc)
			cbc_encrypt(n->enc, m->encrypt, m->block_size, iv, len,
				    buf, buf);
		else
			cbc_decrypt(n->dec, m->decrypt, m->block_size, iv, len,
				    buf, buf);
		break;
	case QCRYPTO_CTR:
		ctr_crypt(n->enc, m->encrypt, m->block_size, iv, len, buf,
			  buf);
		break;
	case QCRYPTO_XTS:
		if (enc)
			xts_encrypt_message(n->enc, n->tweak, m->encrypt, iv,
					    len, buf, buf);
		else
			xts_decrypt_message(n->dec, n->tweak, m->decrypt,
					    m->encrypt, iv, len, buf, buf);
		break;
	}
}

static int nt_crypt(struct qcrypto_cipher *c, bool enc, uint64_t sector,
		    uint8_t *buf, size_t len)
{
	uint8_t iv[QCRYPTO_BLOCK];
	size_t off;
	int ret;

	for (off = 0; off < len; off += QCRYPTO_SECTOR_SIZE) {
		ret = qcrypto_sector_iv(c, sector++, iv);
		if (ret < 0)
			return ret;
		nt_sector(c, enc, iv, buf + off);
	}
	return 0;
}

static int nt_ecb(struct qcrypto_cipher *c, uint8_t *buf, size_t len)
{
	const struct nt *n = c->priv;

	if (len % n->meta->block_size)
		return -EINVAL;
	n->meta->encrypt(n->enc, len, buf, buf);
	return 0;
}

static int nt_probe(void)
{
	return 0;
}

const struct qcrypto_ops qcrypto_nettle_ops = {
	.init = nt_init,
	.crypt = nt_crypt,
	.ecb = nt_ecb,
	.fini = nt_fini,
	.probe = nt_probe,
};
