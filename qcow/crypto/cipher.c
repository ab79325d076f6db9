// SPDX-License-Identifier: MIT
/*
 * The sector cipher: QEMU's names resolved, a backend chosen and keyed,
 * IVs generated per sector (plain, plain64, essiv).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto_internal.h"

static const struct {
	const char *name;
	enum qcrypto_mode mode;
} modes[] = {
	{ "ecb", QCRYPTO_ECB },
	{ "cbc", QCRYPTO_CBC },
	{ "xts", QCRYPTO_XTS },
	{ "ctr", QCRYPTO_CTR },
};

static const struct {
	const char *name;
	enum qcrypto_ivgen ivgen;
} ivgens[] = {
	{ "plain", QCRYPTO_IV_PLAIN },
	{ "plain64", QCRYPTO_IV_PLAIN64 },
	{ "essiv", QCRYPTO_IV_ESSIV },
};

static const struct {
	const char *family;
	unsigned int block;
	unsigned int keys[3];		/* the key lengths it takes */
} algos[QCRYPTO_NR_ALGOS] = {
	[QCRYPTO_AES] = { "aes", 16, { 16, 24, 32 } },
	[QCRYPTO_TWOFISH] = { "twofish", 16, { 16, 24, 32 } },
	[QCRYPTO_SERPENT] = { "serpent", 16, { 16, 24, 32 } },
	[QCRYPTO_CAST5] = { "cast5", 8, { 16 } },
	[QCRYPTO_SM4] = { "sm4", 16, { 16 } },
};

const char *qcrypto_algo_family(enum qcrypto_algo algo)
{
	return (unsigned int)algo < QCRYPTO_NR_ALGOS ? algos[algo].family :
	       "unknown";
}

int qcrypto_algo_by_family(const char *family, enum qcrypto_algo *algo)
{
	unsigned int i;

	for (i = 0; i < QCRYPTO_NR_ALGOS; i++) {
		if (!strcmp(family, algos[i].family)) {
			*algo = (enum qcrypto_algo)i;
			return 0;
		}
	}
	return -ENOTSUP;
}

static bool algo_takes(enum qcrypto_algo algo, unsigned int key_bytes)
{
	unsigned int i;

	for (i = 0; i < 3; i++)
		if (algos[algo].keys[i] && algos[algo].keys[i] == key_bytes)
			return true;
	return false;
}

/* sm4 has one key length, and QEMU names it without */
int qcrypto_algo_name(enum qcrypto_algo algo, unsigned int key_bytes,
		      char *out, size_t len)
{
	int n;

	if ((unsigned int)algo >= QCRYPTO_NR_ALGOS ||
	    !algo_takes(algo, key_bytes))
		return -EINVAL;
	if (algo == QCRYPTO_SM4)
		n = snprintf(out, len, "sm4");
	else
		n = snprintf(out, len, "%s-%u", algos[algo].family,
			     key_bytes * 8);
	return n < 0 || (size_t)n >= len ? -EINVAL : 0;
}

int qcrypto_algo_by_name(const char *name, enum qcrypto_algo *algo,
			 unsigned int *key_bytes)
{
	char want[32];
	unsigned int i, k;

	for (i = 0; i < QCRYPTO_NR_ALGOS; i++) {
		for (k = 0; k < 3 && algos[i].keys[k]; k++) {
			if (qcrypto_algo_name((enum qcrypto_algo)i,
					      algos[i].keys[k], want,
					      sizeof(want)) < 0 ||
			    strcmp(name, want))
				continue;
			*algo = (enum qcrypto_algo)i;
			*key_bytes = algos[i].keys[k];
			return 0;
		}
	}
	return -ENOTSUP;
}

int qcrypto_alg_parse(const struct qcrypto_spec *spec, struct qcrypto_alg *a)
{
	size_t i;

	memset(a, 0, sizeof(*a));
	if (qcrypto_algo_by_name(spec->cipher_alg, &a->algo,
				 &a->key_bytes) < 0)
		return -ENOTSUP;
	a->block = algos[a->algo].block;
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (!strcmp(spec->cipher_mode, modes[i].name))
			break;
	if (i == sizeof(modes) / sizeof(modes[0]))
		return -ENOTSUP;
	a->mode = modes[i].mode;
	/* xts needs 16-byte blocks */
	if (a->mode == QCRYPTO_XTS && a->block != 16)
		return -ENOTSUP;
	a->key_len = a->key_bytes * (a->mode == QCRYPTO_XTS ? 2 : 1);
	if (a->mode == QCRYPTO_ECB && !spec->ivgen_alg[0]) {
		a->ivgen = QCRYPTO_IV_NONE;
		return 0;
	}
	for (i = 0; i < sizeof(ivgens) / sizeof(ivgens[0]); i++)
		if (!strcmp(spec->ivgen_alg, ivgens[i].name))
			break;
	if (i == sizeof(ivgens) / sizeof(ivgens[0]))
		return -ENOTSUP;
	a->ivgen = ivgens[i].ivgen;
	/* essiv keys the same cipher with the whole digest, as QEMU */
	if (a->ivgen == QCRYPTO_IV_ESSIV &&
	    !algo_takes(a->algo,
			(unsigned int)qcrypto_md_size(spec->ivgen_hash_alg)))
		return -ENOTSUP;
	if (a->ivgen != QCRYPTO_IV_ESSIV && spec->ivgen_hash_alg[0])
		return -EINVAL;
	return 0;
}

int qcrypto_spec_check(const struct qcrypto_spec *spec)
{
	struct qcrypto_alg a;

	return qcrypto_alg_parse(spec, &a);
}

const struct qcrypto_ops *qcrypto_backend_ops(enum qcrypto_backend b)
{
	switch (b) {
	case QCRYPTO_BACKEND_KCAPI:
		return &qcrypto_kcapi_ops;
	case QCRYPTO_BACKEND_OPENSSL:
		return &qcrypto_openssl_ops;
	case QCRYPTO_BACKEND_NETTLE:
		return &qcrypto_nettle_ops;
	default:
		return NULL;
	}
}

const char *qcrypto_backend_name(enum qcrypto_backend b)
{
	switch (b) {
	case QCRYPTO_BACKEND_AUTO:
		return "auto";
	case QCRYPTO_BACKEND_KCAPI:
		return "kcapi";
	case QCRYPTO_BACKEND_OPENSSL:
		return "openssl";
	case QCRYPTO_BACKEND_NETTLE:
		return "nettle";
	case QCRYPTO_BACKEND_USERSPACE:
		return "userspace";
	}
	return "unknown";
}

int qcrypto_backend_probe(enum qcrypto_backend b)
{
	const struct qcrypto_ops *ops;

	if (b == QCRYPTO_BACKEND_AUTO || b == QCRYPTO_BACKEND_USERSPACE)
		return 0;
	ops = qcrypto_backend_ops(b);
	if (!ops)
		return -EINVAL;
	return ops->probe();
}

enum qcrypto_backend qcrypto_cipher_backend(const struct qcrypto_cipher *c)
{
	return c->backend;
}

static int cipher_keyed(const struct qcrypto_alg *alg, const uint8_t *key,
			enum qcrypto_backend backend,
			struct qcrypto_cipher **out)
{
	struct qcrypto_cipher *c;
	int ret;

	if (!qcrypto_backend_ops(backend))
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->backend = backend;
	c->ops = qcrypto_backend_ops(backend);
	c->alg = *alg;
	ret = c->ops->init(c, key);
	if (ret < 0) {
		free(c);
		return ret;
	}
	*out = c;
	return 0;
}

int qcrypto_cipher_alloc(const struct qcrypto_alg *alg, const uint8_t *key,
			 enum qcrypto_backend backend,
			 struct qcrypto_cipher **out)
{
	int ret;

	if (backend == QCRYPTO_BACKEND_AUTO)
		backend = qcrypto_backend_auto(alg);
	if (backend != QCRYPTO_BACKEND_USERSPACE)
		return cipher_keyed(alg, key, backend, out);
	ret = cipher_keyed(alg, key, QCRYPTO_BACKEND_OPENSSL, out);
	if (ret == -ENOTSUP)
		ret = cipher_keyed(alg, key, QCRYPTO_BACKEND_NETTLE, out);
	return ret;
}

/*
 * essiv's IV cipher: the data cipher's family in ecb, keyed with
 * hash(key) (the key length the digest's)
 */
static int essiv_new(struct qcrypto_cipher *c, const char *hash,
		     const uint8_t *key)
{
	struct qcrypto_alg alg = c->alg;
	size_t dlen = qcrypto_md_size(hash);
	uint8_t *salt;
	int ret;

	alg.mode = QCRYPTO_ECB;
	alg.ivgen = QCRYPTO_IV_NONE;
	alg.key_bytes = (unsigned int)dlen;
	alg.key_len = dlen;
	salt = qcrypto_secure_alloc(64);
	if (!salt)
		return -ENOMEM;
	/*
	 * One block per sector: userspace whatever the backend, a kernel
	 * round trip would cost more than the sector's own
	 */
	ret = qcrypto_digest(hash, key, c->alg.key_len, salt);
	if (!ret)
		ret = qcrypto_cipher_alloc(&alg, salt,
					   QCRYPTO_BACKEND_USERSPACE,
					   &c->essiv);
	qcrypto_secure_free(salt, 64);
	return ret;
}

int qcrypto_cipher_new(const struct qcrypto_spec *spec, const uint8_t *key,
		       size_t key_len, enum qcrypto_backend backend,
		       struct qcrypto_cipher **out)
{
	struct qcrypto_cipher *c;
	struct qcrypto_alg alg;
	int ret;

	*out = NULL;
	ret = qcrypto_alg_parse(spec, &alg);
	if (ret < 0)
		return ret;
	if (key_len != alg.key_len)
		return -EINVAL;
	/*
	 * weak XTS keys: libcrypto refuses them, the kernel (not FIPS) and
	 * nettle not: refused whatever the backend
	 */
	if (alg.mode == QCRYPTO_XTS &&
	    !memcmp(key, key + alg.key_bytes, alg.key_bytes))
		return -EINVAL;
	ret = qcrypto_cipher_alloc(&alg, key, backend, &c);
	if (ret < 0)
		return ret;
	if (alg.ivgen == QCRYPTO_IV_ESSIV) {
		ret = essiv_new(c, spec->ivgen_hash_alg, key);
		if (ret < 0) {
			qcrypto_cipher_free(c);
			return ret;
		}
	}
	*out = c;
	return 0;
}

void qcrypto_cipher_free(struct qcrypto_cipher *c)
{
	if (!c)
		return;
	if (c->essiv)
		qcrypto_cipher_free(c->essiv);
	c->ops->fini(c);
	qcrypto_wipe(c, sizeof(*c));
	free(c);
}

int qcrypto_sector_iv(struct qcrypto_cipher *c, uint64_t sector,
		      uint8_t iv[QCRYPTO_BLOCK])
{
	unsigned int i, n = 8;

	memset(iv, 0, QCRYPTO_BLOCK);
	switch (c->alg.ivgen) {
	case QCRYPTO_IV_NONE:
		return 0;
	case QCRYPTO_IV_PLAIN:
		n = 4;
		break;
	case QCRYPTO_IV_PLAIN64:
	case QCRYPTO_IV_ESSIV:
		break;
	}
	for (i = 0; i < n; i++)
		iv[i] = (uint8_t)(sector >> (8 * i));
	if (c->alg.ivgen == QCRYPTO_IV_ESSIV)
		return c->essiv->ops->ecb(c->essiv, iv, c->alg.block);
	return 0;
}

static int sectors_crypt(struct qcrypto_cipher *c, bool enc, uint64_t sector,
			 void *buf, size_t len)
{
	if (!c || (!buf && len) || len % QCRYPTO_SECTOR_SIZE)
		return -EINVAL;
	if (!len)
		return 0;
	return c->ops->crypt(c, enc, sector, buf, len);
}

int qcrypto_encrypt(struct qcrypto_cipher *c, uint64_t sector, void *buf,
		    size_t len)
{
	return sectors_crypt(c, true, sector, buf, len);
}

int qcrypto_decrypt(struct qcrypto_cipher *c, uint64_t sector, void *buf,
		    size_t len)
{
	return sectors_crypt(c, false, sector, buf, len);
}

int qcrypto_legacy_aes_new(const char *pass, size_t pass_len,
			   enum qcrypto_backend backend,
			   struct qcrypto_cipher **out)
{
	static const struct qcrypto_spec spec = {
		.cipher_alg = "aes-128",
		.cipher_mode = "cbc",
		.ivgen_alg = "plain64",
	};
	uint8_t *key;
	int ret;

	*out = NULL;
	key = qcrypto_secure_alloc(16);
	if (!key)
		return -ENOMEM;
	if (pass_len)
		memcpy(key, pass, pass_len < 16 ? pass_len : 16);
	ret = qcrypto_cipher_new(&spec, key, 16, backend, out);
	qcrypto_secure_free(key, 16);
	return ret;
}
