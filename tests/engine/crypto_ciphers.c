// SPDX-License-Identifier: MIT
/*
 * The LUKS ciphers other than AES (qcow/crypto/): known answers of
 * twofish (its authors' ECB table), serpent (NESSIE set 1), cast5 (RFC
 * 2144 B.1) and sm4 (GB/T 32907's example), in every backend that has
 * them here; cbc and xts of each rebuilt from its ECB; each backend that
 * lacks a cipher refuses it with -ENOTSUP, and USERSPACE finds the one
 * that has it.
 */
#include <nettle/version.h>

#include "cryptotest.h"

/* nettle has sm4 from 3.9 on */
#define QCT_NETTLE_SM4 (NETTLE_VERSION_MAJOR > 3 || \
			(NETTLE_VERSION_MAJOR == 3 && NETTLE_VERSION_MINOR >= 9))

#define SECT QCRYPTO_SECTOR_SIZE

static const struct kat {
	const char *alg;
	const char *key;
	const char *pt;
	const char *ct;
} kats[] = {
	{ "twofish-128", "00000000000000000000000000000000",
	  "00000000000000000000000000000000",
	  "9f589f5cf6122c32b6bfec2f2ae8c35a" },
	{ "twofish-192", "000000000000000000000000000000000000000000000000",
	  "00000000000000000000000000000000",
	  "efa71f788965bd4453f860178fc19101" },
	{ "twofish-256", "0000000000000000000000000000000000000000000000000000000000000000",
	  "00000000000000000000000000000000",
	  "57ff739d4dc92c1bd7fc01700cc8216f" },
	{ "serpent-128", "80000000000000000000000000000000",
	  "00000000000000000000000000000000",
	  "264e5481eff42a4606abda06c0bfda3d" },
	{ "cast5-128", "0123456712345678234567893456789a",
	  "0123456789abcdef", "238b4fe5847e44b2" },
	{ "sm4", "0123456789abcdeffedcba9876543210",
	  "0123456789abcdeffedcba9876543210",
	  "681edf34d206965e86b3e94f536e4246" },
};

static const enum qcrypto_backend backends[] = {
	QCRYPTO_BACKEND_OPENSSL, QCRYPTO_BACKEND_NETTLE, QCRYPTO_BACKEND_KCAPI,
};

/* which backend has which family here (the kernel's: asked at run time) */
static bool expected(enum qcrypto_backend b, const char *alg)
{
	bool sm4 = !strncmp(alg, "sm4", 3);

	if (b == QCRYPTO_BACKEND_OPENSSL)
		return sm4;
	if (b == QCRYPTO_BACKEND_NETTLE)
		return !sm4 || QCT_NETTLE_SM4;
	return true;
}

static struct qcrypto_cipher *make(const char *alg, const char *mode,
				   const char *ivgen, const uint8_t *key,
				   size_t klen, enum qcrypto_backend b,
				   int *err)
{
	struct qcrypto_cipher *c = NULL;
	struct qcrypto_spec s;

	ct_spec(&s, alg, mode, ivgen, "");
	*err = qcrypto_cipher_new(&s, key, klen, b, &c);
	return *err < 0 ? NULL : c;
}

/* a sector of copies of the block: every copy the known answer */
static void test_ecb(const struct kat *k, enum qcrypto_backend b)
{
	uint8_t key[32], pt[16], ct[16], buf[SECT];
	size_t klen = ct_unhex(k->key, key), bl = ct_unhex(k->pt, pt), i;
	struct qcrypto_cipher *c;
	int err;

	ct_unhex(k->ct, ct);
	tl_begin("%s/%s-%s", qcrypto_backend_name(b),
		 expected(b, k->alg) ? "ecb-kat" : "refuses", k->alg);
	c = make(k->alg, "ecb", "", key, klen, b, &err);
	if (!c && err == -ENOTSUP && b == QCRYPTO_BACKEND_KCAPI) {
		tl_skip(qcrypto_backend_probe(b) < 0 ?
			"no AF_ALG in this kernel" :
			"the kernel has no such cipher (module not loaded)");
		return;
	}
	if (!expected(b, k->alg)) {
		if (c || err != -ENOTSUP)
			tl_fail("a cipher it lacks not refused with ENOTSUP");
		else
			tl_pass();
		qcrypto_cipher_free(c);
		return;
	}
	if (!c) {
		tl_fail("cipher_new: %s", strerror(-err));
		return;
	}
	for (i = 0; i < SECT; i += bl)
		memcpy(buf + i, pt, bl);
	if (qcrypto_encrypt(c, 77, buf, SECT) < 0)
		i = 0;
	else
		for (i = 0; i < SECT && !memcmp(buf + i, ct, bl); i += bl)
			;
	if (i < SECT)
		tl_fail("block %zu is not the known answer", i / bl);
	else if (qcrypto_decrypt(c, 77, buf, SECT) < 0 ||
		 memcmp(buf, pt, bl))
		tl_fail("decrypt");
	else
		tl_pass();
	qcrypto_cipher_free(c);
}

static void xorb(uint8_t *d, const uint8_t *s, size_t n)
{
	while (n--)
		*d++ ^= *s++;
}

/* one block through the ECB cipher (a sector, the rest zeros) */
static void ecb_block(struct qcrypto_cipher *ecb, uint8_t *blk, size_t bl,
		      bool enc)
{
	uint8_t s[SECT] = { 0 };

	memcpy(s, blk, bl);
	if (enc)
		qcrypto_encrypt(ecb, 0, s, SECT);
	else
		qcrypto_decrypt(ecb, 0, s, SECT);
	memcpy(blk, s, bl);
}

/* multiply the xts tweak by x in GF(2^128), little endian */
static void gf_mul_x(uint8_t t[16])
{
	unsigned int carry = 0, i, c;

	for (i = 0; i < 16; i++) {
		c = t[i] >> 7;
		t[i] = (uint8_t)(t[i] << 1 | carry);
		carry = c;
	}
	if (carry)
		t[0] ^= 0x87;
}

/*
 * cbc-plain64 and xts-plain64 over two sectors, against the same rebuilt
 * block by block from the family's ECB (whose known answer passed)
 */
static void test_modes(const char *alg, enum qcrypto_backend b)
{
	uint8_t key[64], buf[2 * SECT], want[2 * SECT], iv[16], tw[16];
	struct qcrypto_cipher *cbc = NULL, *xts = NULL, *e1 = NULL, *e2 = NULL;
	const char *dash = strchr(alg, '-');
	unsigned int kb = dash ? (unsigned int)atoi(dash + 1) / 8 : 16;
	size_t bl = strncmp(alg, "cast5", 5) ? 16 : 8, j;
	uint64_t sector = 0x1122334455ull;
	/* OpenSSL 3.0 has sm4 but not in xts */
	bool with_xts = bl == 16 && !(b == QCRYPTO_BACKEND_OPENSSL &&
				      !strcmp(alg, "sm4"));
	unsigned int s;
	int err;

	tl_begin("%s/modes-%s", qcrypto_backend_name(b), alg);
	tl_fill_rand(key, sizeof(key), kb);
	cbc = make(alg, "cbc", "plain64", key, kb, b, &err);
	e1 = cbc ? make(alg, "ecb", "", key, kb, b, &err) : NULL;
	if (with_xts && e1) {
		xts = make(alg, "xts", "plain64", key, 2 * kb, b, &err);
		e2 = xts ? make(alg, "ecb", "", key + kb, kb, b, &err) : NULL;
	} else if (bl == 16 && e1) {
		xts = make(alg, "xts", "plain64", key, 2 * kb, b, &err);
		if (xts || err != -ENOTSUP) {
			tl_fail("xts of %s not refused", alg);
			goto out;
		}
	}
	if (!e1 || (with_xts && !e2)) {
		if (err == -ENOTSUP && !expected(b, alg))
			tl_pass();
		else if (b == QCRYPTO_BACKEND_KCAPI && err == -ENOTSUP)
			tl_skip(qcrypto_backend_probe(b) < 0 ?
				"no AF_ALG in this kernel" :
				"the kernel has no such cipher");
		else
			tl_fail("cipher_new: %s", strerror(-err));
		goto out;
	}
	tl_fill_rand(buf, sizeof(buf), 21);
	memcpy(want, buf, sizeof(buf));
	for (s = 0; s < 2; s++) {
		memset(iv, 0, sizeof(iv));
		for (j = 0; j < 8; j++)
			iv[j] = (uint8_t)((sector + s) >> (8 * j));
		for (j = 0; j < SECT; j += bl) {
			xorb(want + s * SECT + j, j ? want + s * SECT + j - bl :
			     iv, bl);
			ecb_block(e1, want + s * SECT + j, bl, true);
		}
	}
	if (qcrypto_encrypt(cbc, sector, buf, sizeof(buf)) < 0 ||
	    memcmp(buf, want, sizeof(buf))) {
		tl_fail("cbc differs from the one rebuilt from ecb");
		goto out;
	}
	if (with_xts) {
		tl_fill_rand(buf, sizeof(buf), 22);
		memcpy(want, buf, sizeof(buf));
		for (s = 0; s < 2; s++) {
			memset(tw, 0, sizeof(tw));
			for (j = 0; j < 8; j++)
				tw[j] = (uint8_t)((sector + s) >> (8 * j));
			ecb_block(e2, tw, 16, true);
			for (j = 0; j < SECT; j += 16) {
				xorb(want + s * SECT + j, tw, 16);
				ecb_block(e1, want + s * SECT + j, 16, true);
				xorb(want + s * SECT + j, tw, 16);
				gf_mul_x(tw);
			}
		}
		if (qcrypto_encrypt(xts, sector, buf, sizeof(buf)) < 0 ||
		    memcmp(buf, want, sizeof(buf))) {
			tl_fail("xts differs from the one rebuilt from ecb");
			goto out;
		}
		if (qcrypto_decrypt(xts, sector, buf, sizeof(buf)) < 0 ||
		    (tl_fill_rand(want, sizeof(want), 22),
		     memcmp(buf, want, sizeof(buf)))) {
			tl_fail("xts decrypt");
			goto out;
		}
	}
	tl_pass();
out:
	qcrypto_cipher_free(e2);
	qcrypto_cipher_free(xts);
	qcrypto_cipher_free(e1);
	qcrypto_cipher_free(cbc);
}

/* cast5 has 8-byte blocks: no xts; USERSPACE finds nettle's twofish */
static void test_refusals(void)
{
	struct qcrypto_cipher *c = NULL;
	uint8_t key[64];
	int err;

	tl_begin("refusals");
	tl_fill_rand(key, sizeof(key), 3);
	c = make("cast5-128", "xts", "plain64", key, 32,
		 QCRYPTO_BACKEND_NETTLE, &err);
	if (c || err != -ENOTSUP) {
		tl_fail("cast5 xts not refused");
		goto out;
	}
	c = make("cast5-256", "cbc", "plain64", key, 32,
		 QCRYPTO_BACKEND_NETTLE, &err);
	if (c || err != -ENOTSUP) {
		tl_fail("cast5-256 not refused");
		goto out;
	}
	c = make("twofish-256", "xts", "plain64", key, 64,
		 QCRYPTO_BACKEND_USERSPACE, &err);
	if (!c || qcrypto_cipher_backend(c) != QCRYPTO_BACKEND_NETTLE) {
		tl_fail("userspace twofish: %s", c ? "not nettle's" :
			strerror(-err));
		goto out;
	}
	qcrypto_cipher_free(c);
	c = make("aes-256", "xts", "plain64", key, 64,
		 QCRYPTO_BACKEND_USERSPACE, &err);
	if (!c || qcrypto_cipher_backend(c) != QCRYPTO_BACKEND_OPENSSL) {
		tl_fail("userspace aes: %s", c ? "not libcrypto's" :
			strerror(-err));
		goto out;
	}
	tl_pass();
out:
	qcrypto_cipher_free(c);
}

int main(int argc, char **argv)
{
	static const char *const mode_algs[] = {
		"twofish-128", "twofish-256", "serpent-192", "serpent-256",
		"cast5-128", "sm4",
	};
	size_t i, j;

	tl_init(argc, argv);
	for (j = 0; j < sizeof(backends) / sizeof(backends[0]); j++) {
		for (i = 0; i < sizeof(kats) / sizeof(kats[0]); i++)
			test_ecb(&kats[i], backends[j]);
		for (i = 0; i < sizeof(mode_algs) / sizeof(mode_algs[0]); i++)
			test_modes(mode_algs[i], backends[j]);
	}
	test_refusals();
	return tl_finish();
}
