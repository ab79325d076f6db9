// SPDX-License-Identifier: MIT
/*
 * Known answers of the AES sector ciphers (qcow/crypto/), per backend
 * that runs here (libcrypto, nettle, the kernel's): AES-CBC and AES-ECB of NIST SP 800-38A, AES-XTS of IEEE
 * 1619, ctr and essiv built from the ECB known answers, legacy AES
 * against an image qemu-img encrypted; concurrent use of one cipher;
 * refusals.
 */
#include <pthread.h>

#include "cryptotest.h"

#define SECT QCRYPTO_SECTOR_SIZE

static enum qcrypto_backend be;

static struct qcrypto_cipher *cipher(const char *alg, const char *mode,
				     const char *ivgen, const char *hash,
				     const char *key_hex)
{
	struct qcrypto_spec s;
	struct qcrypto_cipher *c;
	uint8_t key[64];
	size_t n = ct_unhex(key_hex, key);
	int ret;

	ct_spec(&s, alg, mode, ivgen, hash);
	ret = qcrypto_cipher_new(&s, key, n, be, &c);
	if (ret < 0) {
		tl_fail("qcrypto_cipher_new %s-%s-%s: %s", alg, mode, ivgen,
			strerror(-ret));
		return NULL;
	}
	if (qcrypto_cipher_backend(c) != be) {
		tl_fail("backend %s, asked for %s",
			qcrypto_backend_name(qcrypto_cipher_backend(c)),
			qcrypto_backend_name(be));
		qcrypto_cipher_free(c);
		return NULL;
	}
	return c;
}

/*
 * Encrypts pt (n bytes at the start of a sector of fill) at sector, checks
 * the first n bytes against ct, decrypts and checks the sector whole.
 */
static bool kat(struct qcrypto_cipher *c, uint64_t sector, const uint8_t *pt,
		const uint8_t *ct, size_t n)
{
	uint8_t buf[SECT], orig[SECT];
	int ret;

	tl_fill_rand(orig, SECT, sector ^ n);
	memcpy(orig, pt, n);
	memcpy(buf, orig, SECT);
	ret = qcrypto_encrypt(c, sector, buf, SECT);
	if (ret < 0 || memcmp(buf, ct, n)) {
		tl_fail("encrypt: %s", ret < 0 ? strerror(-ret) :
			"wrong ciphertext");
		return false;
	}
	ret = qcrypto_decrypt(c, sector, buf, SECT);
	if (ret < 0 || memcmp(buf, orig, SECT)) {
		tl_fail("decrypt: %s", ret < 0 ? strerror(-ret) :
			"not the plaintext");
		return false;
	}
	return true;
}

static const char nist_pt[] =
	"6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
	"30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710";
static const char nist_k128[] = "2b7e151628aed2a6abf7158809cf4f3c";
static const char nist_k192[] =
	"8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b";
static const char nist_k256[] =
	"603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4";

/*
 * SP 800-38A F.2: CBC with IV 000102..0f.  plain64 of sector
 * 0x0706050403020100 is 00..07 then zeros: the first plaintext block
 * takes the IV's other half (08..0f) so the chain is the same.
 */
static void test_cbc_nist(const char *alg, const char *key, const char *ct_hex)
{
	struct qcrypto_cipher *c;
	uint8_t pt[64], ct[64];
	unsigned int i;

	tl_begin("%s/cbc-%s-nist", qcrypto_backend_name(be), alg);
	c = cipher(alg, "cbc", "plain64", "", key);
	if (!c)
		return;
	ct_unhex(nist_pt, pt);
	ct_unhex(ct_hex, ct);
	for (i = 8; i < 16; i++)
		pt[i] ^= (uint8_t)i;
	if (kat(c, 0x0706050403020100ull, pt, ct, 64))
		tl_pass();
	qcrypto_cipher_free(c);
}

/* SP 800-38A F.1: ECB, every block alone, the whole sector too */
static void test_ecb_nist(const char *alg, const char *key, const char *ct_hex)
{
	struct qcrypto_cipher *c;
	uint8_t pt[64], ct[64];

	tl_begin("%s/ecb-%s-nist", qcrypto_backend_name(be), alg);
	c = cipher(alg, "ecb", "", "", key);
	if (!c)
		return;
	ct_unhex(nist_pt, pt);
	ct_unhex(ct_hex, ct);
	if (kat(c, 12345, pt, ct, 64))
		tl_pass();
	qcrypto_cipher_free(c);
}

/* IEEE 1619-2007 vectors 2 and 3 (32-byte units: a sector's first two
 * blocks), data unit 0x3333333333 */
static void test_xts_short(const char *name, const char *key)
{
	static const char ct2[] = "c454185e6a16936e39334038acef838b"
				  "fb186fff7480adc4289382ecd6d394f0";
	static const char ct3[] = "af85336b597afc1a900b2eb21ec949d2"
				  "92df4c047e0b21532186a5971a227a89";
	struct qcrypto_cipher *c;
	uint8_t pt[32], ct[32];

	tl_begin("%s/xts-aes-128-ieee1619-%s", qcrypto_backend_name(be), name);
	c = cipher("aes-128", "xts", "plain64", "", key);
	if (!c)
		return;
	memset(pt, 0x44, sizeof(pt));
	ct_unhex(!strcmp(name, "v2") ? ct2 : ct3, ct);
	if (kat(c, 0x3333333333ull, pt, ct, 32))
		tl_pass();
	qcrypto_cipher_free(c);
}

/* IEEE 1619-2007 vector 4: one 512-byte unit, number 0 */
static void test_xts_v4(void)
{
	static const char ct_hex[] =
		"27a7479befa1d476489f308cd4cfa6e2a96e4bbe3208ff25287dd3819616e89c"
		"c78cf7f5e543445f8333d8fa7f56000005279fa5d8b5e4ad40e736ddb4d35412"
		"328063fd2aab53e5ea1e0a9f332500a5df9487d07a5c92cc512c8866c7e860ce"
		"93fdf166a24912b422976146ae20ce846bb7dc9ba94a767aaef20c0d61ad0265"
		"5ea92dc4c4e41a8952c651d33174be51a10c421110e6d81588ede82103a252d8"
		"a750e8768defffed9122810aaeb99f9172af82b604dc4b8e51bcb08235a6f434"
		"1332e4ca60482a4ba1a03b3e65008fc5da76b70bf1690db4eae29c5f1badd03c"
		"5ccf2a55d705ddcd86d449511ceb7ec30bf12b1fa35b913f9f747a8afd1b130e"
		"94bff94effd01a91735ca1726acd0b197c4e5b03393697e126826fb6bbde8ecc"
		"1e08298516e2c9ed03ff3c1b7860f6de76d4cecd94c8119855ef5297ca67e9f3"
		"e7ff72b1e99785ca0a7e7720c5b36dc6d72cac9574c8cbbc2f801e23e56fd344"
		"b07f22154beba0f08ce8891e643ed995c94d9a69c9f1b5f499027a78572aeebd"
		"74d20cc39881c213ee770b1010e4bea718846977ae119f7a023ab58cca0ad752"
		"afe656bb3c17256a9f6e9bf19fdd5a38fc82bbe872c5539edb609ef4f79c203e"
		"bb140f2e583cb2ad15b4aa5b655016a8449277dbd477ef2c8d6c017db738b18d"
		"eb4a427d1923ce3ff262735779a418f20a282df920147beabe421ee5319d0568";
	struct qcrypto_cipher *c;
	uint8_t pt[SECT], ct[SECT];
	unsigned int i;

	tl_begin("%s/xts-aes-128-ieee1619-v4", qcrypto_backend_name(be));
	c = cipher("aes-128", "xts", "plain64", "",
		   "27182818284590452353602874713526"
		   "31415926535897932384626433832795");
	if (!c)
		return;
	for (i = 0; i < SECT; i++)
		pt[i] = (uint8_t)i;
	if (ct_unhex(ct_hex, ct) != SECT)
		tl_fail("vector is %zu bytes", ct_unhex(ct_hex, ct));
	else if (kat(c, 0, pt, ct, SECT))
		tl_pass();
	qcrypto_cipher_free(c);
}

static void xor16(uint8_t *d, const uint8_t *s)
{
	unsigned int i;

	for (i = 0; i < 16; i++)
		d[i] ^= s[i];
}

/* ECB of one block through a sector (the ECB cipher is checked above) */
static int ecb_block(struct qcrypto_cipher *ecb, uint8_t blk[16])
{
	uint8_t s[SECT] = { 0 };
	int ret;

	memcpy(s, blk, 16);
	ret = qcrypto_encrypt(ecb, 0, s, SECT);
	memcpy(blk, s, 16);
	return ret;
}

/* the le64 IV of a sector */
static void le64_iv(uint64_t sector, uint8_t iv[16])
{
	unsigned int i;

	memset(iv, 0, 16);
	for (i = 0; i < 8; i++)
		iv[i] = (uint8_t)(sector >> (8 * i));
}

/*
 * ctr-plain64: keystream block j = E(le64(sector) + j, big-endian
 * 128-bit counter); the sector number crosses a byte carry.
 */
static void test_ctr(void)
{
	struct qcrypto_cipher *c, *ecb;
	uint8_t buf[SECT], want[SECT], ctr[16], ks[16];
	uint64_t sector = 0x00000000000000f5ull;
	unsigned int j, k;

	tl_begin("%s/ctr-aes-256-plain64", qcrypto_backend_name(be));
	c = cipher("aes-256", "ctr", "plain64", "", nist_k256);
	ecb = c ? cipher("aes-256", "ecb", "", "", nist_k256) : NULL;
	if (!ecb)
		goto out;
	tl_fill_rand(buf, SECT, 7);
	memcpy(want, buf, SECT);
	le64_iv(sector, ctr);
	for (j = 0; j < SECT / 16; j++) {
		memcpy(ks, ctr, 16);
		ecb_block(ecb, ks);
		xor16(want + 16 * j, ks);
		for (k = 16; k-- > 0;)
			if (++ctr[k])
				break;
	}
	if (qcrypto_encrypt(c, sector, buf, SECT) < 0 ||
	    memcmp(buf, want, SECT))
		tl_fail("ctr keystream is not E(counter)");
	else if (qcrypto_decrypt(c, sector, buf, SECT) < 0 ||
		 (tl_fill_rand(want, SECT, 7), memcmp(buf, want, SECT)))
		tl_fail("ctr decrypt");
	else
		tl_pass();
out:
	qcrypto_cipher_free(ecb);
	qcrypto_cipher_free(c);
}

/* sha256 of the 32-byte NIST key, as computed by sha256sum */
static const char essiv_salt[] =
	"b93c72b74bc8487d29827005f80d635918f91bc22b14d7ed05714d58f96702dd";

/*
 * cbc-essiv:sha256: IV = AES-256-ECB keyed sha256(key) of le64(sector),
 * then CBC over the sector; built from the ECB cipher.
 */
static void test_essiv(const char *salt_hex)
{
	struct qcrypto_cipher *c, *ecb_salt = NULL, *ecb = NULL;
	uint8_t buf[SECT], want[SECT], iv[16];
	uint64_t sector = 0x123456789ull;
	unsigned int j;

	tl_begin("%s/cbc-essiv-sha256", qcrypto_backend_name(be));
	c = cipher("aes-256", "cbc", "essiv", "sha256", nist_k256);
	if (c)
		ecb_salt = cipher("aes-256", "ecb", "", "", salt_hex);
	if (ecb_salt)
		ecb = cipher("aes-256", "ecb", "", "", nist_k256);
	if (!ecb)
		goto out;
	tl_fill_rand(buf, SECT, 9);
	memcpy(want, buf, SECT);
	le64_iv(sector, iv);
	ecb_block(ecb_salt, iv);
	for (j = 0; j < SECT / 16; j++) {
		xor16(want + 16 * j, j ? want + 16 * (j - 1) : iv);
		ecb_block(ecb, want + 16 * j);
	}
	if (qcrypto_encrypt(c, sector, buf, SECT) < 0 ||
	    memcmp(buf, want, SECT))
		tl_fail("essiv ciphertext differs");
	else if (qcrypto_decrypt(c, sector, buf, SECT) < 0 ||
		 (tl_fill_rand(want, SECT, 9), memcmp(buf, want, SECT)))
		tl_fail("essiv decrypt");
	else
		tl_pass();
out:
	qcrypto_cipher_free(ecb);
	qcrypto_cipher_free(ecb_salt);
	qcrypto_cipher_free(c);
}

/* plain is the sector number cut to 32 bits; several sectors per call */
static void test_plain(void)
{
	struct qcrypto_cipher *p32, *p64;
	uint8_t a[4 * SECT], b[4 * SECT];

	tl_begin("%s/cbc-plain-32bit", qcrypto_backend_name(be));
	p32 = cipher("aes-128", "cbc", "plain", "", nist_k128);
	p64 = p32 ? cipher("aes-128", "cbc", "plain64", "", nist_k128) : NULL;
	if (!p64)
		goto out;
	tl_fill_rand(a, sizeof(a), 3);
	memcpy(b, a, sizeof(a));
	if (qcrypto_encrypt(p32, (1ull << 32) + 5, a, sizeof(a)) < 0 ||
	    qcrypto_encrypt(p64, 5, b, sizeof(b)) < 0 ||
	    memcmp(a, b, sizeof(a)))
		tl_fail("plain of 2^32+5 differs from plain64 of 5");
	else if ((tl_fill_rand(b, sizeof(b), 3),
		  qcrypto_encrypt(p64, 6, b + SECT, SECT) < 0) ||
		 memcmp(b + SECT, a + SECT, SECT))
		tl_fail("the second sector of a call is not sector+1");
	else
		tl_pass();
out:
	qcrypto_cipher_free(p64);
	qcrypto_cipher_free(p32);
}

struct thr {
	struct qcrypto_cipher *c;
	uint8_t *buf;
	uint64_t sector;
	size_t len;
	int ret;
};

static void *thr_run(void *arg)
{
	struct thr *t = arg;
	int i;

	for (i = 0; i < 200 && !t->ret; i++) {
		t->ret = qcrypto_encrypt(t->c, t->sector, t->buf, t->len);
		if (!t->ret)
			t->ret = qcrypto_decrypt(t->c, t->sector, t->buf,
						 t->len);
	}
	if (!t->ret)
		t->ret = qcrypto_encrypt(t->c, t->sector, t->buf, t->len);
	return NULL;
}

/* one cipher, 8 threads at once: each result as one thread alone gets */
static void test_threads(void)
{
	enum { NT = 8, LEN = 8 * SECT };
	struct qcrypto_cipher *c;
	static uint8_t bufs[NT][LEN], want[NT][LEN];
	pthread_t th[NT];
	struct thr t[NT];
	int i, bad = 0;

	tl_begin("%s/threads-xts-aes-256", qcrypto_backend_name(be));
	c = cipher("aes-256", "xts", "essiv", "sha256",
		   "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4"
		   "2b7e151628aed2a6abf7158809cf4f3c2b7e151628aed2a6abf7158809cf4f3d");
	if (!c)
		return;
	for (i = 0; i < NT; i++) {
		tl_fill_rand(bufs[i], LEN, (uint64_t)i + 100);
		memcpy(want[i], bufs[i], LEN);
		if (qcrypto_encrypt(c, (uint64_t)i * 1000, want[i], LEN) < 0)
			bad = 1;
		t[i] = (struct thr){ c, bufs[i], (uint64_t)i * 1000, LEN, 0 };
		pthread_create(&th[i], NULL, thr_run, &t[i]);
	}
	for (i = 0; i < NT; i++) {
		pthread_join(th[i], NULL);
		if (t[i].ret || memcmp(bufs[i], want[i], LEN))
			bad = 1;
	}
	if (bad)
		tl_fail("a thread's result differs from the lone one");
	else
		tl_pass();
	qcrypto_cipher_free(c);
}

static void test_refusals(void)
{
	struct qcrypto_spec s;
	struct qcrypto_cipher *c = NULL;
	uint8_t key[64] = { 1 }, buf[SECT];
	const char *why = NULL;

	tl_begin("%s/refusals", qcrypto_backend_name(be));
	ct_spec(&s, "aes-256", "xts", "plain64", "");
	if (qcrypto_cipher_new(&s, key, 32, be, &c) != -EINVAL)
		why = "xts with a 32-byte key";
	memset(key, 7, sizeof(key));
	if (!why && qcrypto_cipher_new(&s, key, 64, be, &c) != -EINVAL)
		why = "xts whose two key halves are equal";
	ct_spec(&s, "aes-512", "cbc", "plain64", "");
	if (!why && qcrypto_cipher_new(&s, key, 64, be, &c) != -ENOTSUP)
		why = "aes-512";
	ct_spec(&s, "aes-128", "gcm", "plain64", "");
	if (!why && qcrypto_cipher_new(&s, key, 16, be, &c) != -ENOTSUP)
		why = "mode gcm";
	ct_spec(&s, "aes-128", "cbc", "essiv", "sha1");
	if (!why && qcrypto_cipher_new(&s, key, 16, be, &c) != -ENOTSUP)
		why = "essiv:sha1 (no 20-byte AES key)";
	ct_spec(&s, "aes-128", "cbc", "plain64", "");
	if (!why && qcrypto_cipher_new(&s, key, 16, be, &c) < 0)
		why = "a good key";
	if (!why && qcrypto_encrypt(c, 0, buf, 100) != -EINVAL)
		why = "a length not a multiple of 512";
	if (why)
		tl_fail("not refused as it should: %s", why);
	else
		tl_pass();
	qcrypto_cipher_free(c);
}

/* ---- legacy AES against qemu-img ---- */

/*
 * qemu-img makes an aes image (qcow2 or legacy qcow) with pass; qemu-io
 * writes a pattern at a guest offset; the cluster's bytes decrypted by
 * our legacy cipher at the GUEST sector number must be the pattern.
 */
static void test_legacy(const char *fmt, const char *name, const char *pass)
{
	char img[512], sec[600];
	struct qcrypto_cipher *c = NULL;
	uint8_t *file = NULL, want[4096];
	uint64_t guest = 3 * 65536 + 1024, host;
	size_t len;
	int ret;

	tl_begin("%s/legacy-aes-qemu-%s-%s", qcrypto_backend_name(be), fmt,
		 name);
	if (tl_run("qemu-img --version >/dev/null 2>&1")) {
		tl_skip("no qemu-img");
		return;
	}
	tl_path(img, sizeof(img), "legacy.img");
	snprintf(sec, sizeof(sec), "--object secret,id=s0,data=%s", pass);
	if (tl_run("qemu-img create -q -f %s %s -o encrypt.format=aes,"
		  "encrypt.key-secret=s0 '%s' 1M >&2", fmt, sec, img) ||
	    tl_run("qemu-io %s --image-opts driver=%s,file.filename='%s',"
		  "encrypt.key-secret=s0 -c 'write -P 0xa7 %llu 4096' "
		  ">/dev/null", sec, fmt, img, (unsigned long long)guest)) {
		tl_fail("qemu-img/qemu-io could not make the image");
		return;
	}
	file = tl_read_file(img, &len);
	if (file && !strcmp(fmt, "qcow"))
		host = ct_qcow1_host(file, len, guest);
	else
		host = file ? ct_qcow2_host(file, len, guest) : 0;
	if (!host || host + 4096 > len) {
		tl_fail("no data cluster for guest offset %llu",
			(unsigned long long)guest);
		goto out;
	}
	ret = qcrypto_legacy_aes_new(pass, strlen(pass), be, &c);
	if (ret < 0) {
		tl_fail("qcrypto_legacy_aes_new: %s", strerror(-ret));
		goto out;
	}
	memset(want, 0xa7, sizeof(want));
	if (!memcmp(file + host, want, 4096))
		tl_fail("qemu-img wrote the data in clear");
	else if (qcrypto_decrypt(c, guest / SECT, file + host, 4096) < 0 ||
		 memcmp(file + host, want, 4096))
		tl_fail("our decryption differs from qemu-io's pattern");
	else if (qcrypto_encrypt(c, guest / SECT, want, 4096) < 0 ||
		 qcrypto_decrypt(c, guest / SECT, want, 4096) < 0 ||
		 want[0] != 0xa7)
		tl_fail("round trip");
	else
		tl_pass();
out:
	qcrypto_cipher_free(c);
	free(file);
	unlink(img);
}

static void run_backend(enum qcrypto_backend b)
{
	int ret = qcrypto_backend_probe(b);

	be = b;
	if (ret < 0) {
		tl_begin("%s/kat", qcrypto_backend_name(b));
		tl_skip("backend cannot run here: %s", strerror(-ret));
		return;
	}
	test_cbc_nist("aes-128", nist_k128,
		      "7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b2"
		      "73bed6b8e3c1743b7116e69e222295163ff1caa1681fac09120eca307586e1a7");
	test_cbc_nist("aes-192", nist_k192,
		      "4f021db243bc633d7178183a9fa071e8b4d9ada9ad7dedf4e5e738763f69145a"
		      "571b242012fb7ae07fa9baac3df102e008b0e27988598881d920a9e64f5615cd");
	test_cbc_nist("aes-256", nist_k256,
		      "f58c4c04d6e5f1ba779eabfb5f7bfbd69cfc4e967edb808d679f777bc6702c7d"
		      "39f23369a9d9bacfa530e26304231461b2eb05e2c39be9fcda6c19078c6a9d1b");
	test_ecb_nist("aes-128", nist_k128,
		      "3ad77bb40d7a3660a89ecaf32466ef97f5d3d58503b9699de785895a96fdbaaf"
		      "43b1cd7f598ece23881b00e3ed0306887b0c785e27e8ad3f8223207104725dd4");
	test_ecb_nist("aes-256", nist_k256,
		      "f3eed1bdb5d2a03c064b5a7e3db181f8591ccb10d410ed26dc5ba74a31362870"
		      "b6ed21b99ca6f4f9f153e7b1beafed1d23304b7a39f9f3ff067d8d8f9e24ecc7");
	test_xts_short("v2", "11111111111111111111111111111111"
			     "22222222222222222222222222222222");
	test_xts_short("v3", "fffefdfcfbfaf9f8f7f6f5f4f3f2f1f0"
			     "22222222222222222222222222222222");
	test_xts_v4();
	test_ctr();
	test_essiv(essiv_salt);
	test_plain();
	test_threads();
	test_refusals();
	test_legacy("qcow2", "short", "abc");
	test_legacy("qcow2", "long", "0123456789abcdefTAIL");
	test_legacy("qcow", "short", "abc");
	test_legacy("qcow", "16", "0123456789abcdef");
}

/* ---- the two backends against each other ---- */

static const char *const agree_specs[][4] = {
	{ "aes-128", "cbc", "plain64", "" },
	{ "aes-192", "cbc", "plain", "" },
	{ "aes-256", "cbc", "essiv", "sha256" },
	{ "aes-128", "xts", "plain64", "" },
	{ "aes-256", "xts", "plain64", "" },
	{ "aes-256", "xts", "essiv", "sha256" },
	{ "aes-128", "ctr", "plain64", "" },
	{ "aes-256", "ecb", "", "" },
};

/*
 * 16 random sectors at a sector number past 2^32: the other backend's
 * ciphertext (kcapi's, nettle's) is libcrypto's, and each decrypts the
 * other's.
 */
static void test_agree(const char *const *sp, enum qcrypto_backend other)
{
	enum { LEN = 16 * SECT };
	static uint8_t a[LEN], b[LEN], orig[LEN];
	struct qcrypto_cipher *o = NULL, *k = NULL;
	struct qcrypto_spec s;
	uint8_t key[64];
	uint64_t sector = 0x1234567890ull;
	size_t klen;
	int ret;

	/* "agree": the kernel's (the guest counts a SKIP of those a FAIL) */
	tl_begin("%s/%s-%s-%s%s%s", other == QCRYPTO_BACKEND_KCAPI ? "agree" :
		 "agree-nettle", sp[0], sp[1], sp[2], sp[3][0] ? ":" : "",
		 sp[3]);
	if (qcrypto_backend_probe(other) < 0) {
		tl_skip("no AF_ALG in this kernel");
		return;
	}
	ct_spec(&s, sp[0], sp[1], sp[2], sp[3]);
	klen = (size_t)atoi(sp[0] + 4) / 8 * (strcmp(sp[1], "xts") ? 1 : 2);
	tl_fill_rand(key, sizeof(key), klen);
	tl_fill_rand(orig, LEN, 5);
	memcpy(a, orig, LEN);
	memcpy(b, orig, LEN);
	ret = qcrypto_cipher_new(&s, key, klen, QCRYPTO_BACKEND_OPENSSL, &o);
	if (!ret)
		ret = qcrypto_cipher_new(&s, key, klen, other, &k);
	if (ret < 0)
		tl_fail("cipher_new: %s", strerror(-ret));
	else if (qcrypto_encrypt(o, sector, a, LEN) < 0 ||
		 qcrypto_encrypt(k, sector, b, LEN) < 0 || memcmp(a, b, LEN))
		tl_fail("the two backends' ciphertexts differ");
	else if (qcrypto_decrypt(k, sector, a, LEN) < 0 ||
		 qcrypto_decrypt(o, sector, b, LEN) < 0 ||
		 memcmp(a, orig, LEN) || memcmp(b, orig, LEN))
		tl_fail("one backend does not decrypt the other's");
	else
		tl_pass();
	qcrypto_cipher_free(o);
	qcrypto_cipher_free(k);
}

/* AUTO takes a backend that runs here; libcrypto without AF_ALG */
static void test_auto(void)
{
	struct qcrypto_cipher *c = NULL;
	struct qcrypto_spec s;
	uint8_t key[64];
	enum qcrypto_backend b;
	int ret;

	tl_begin("auto/xts-aes-256");
	ct_spec(&s, "aes-256", "xts", "plain64", "");
	tl_fill_rand(key, sizeof(key), 11);
	ret = qcrypto_cipher_new(&s, key, 64, QCRYPTO_BACKEND_AUTO, &c);
	if (ret < 0) {
		tl_fail("cipher_new: %s", strerror(-ret));
		return;
	}
	b = qcrypto_cipher_backend(c);
	if (b == QCRYPTO_BACKEND_AUTO || qcrypto_backend_probe(b) < 0)
		tl_fail("AUTO gave %s, which cannot run here",
			qcrypto_backend_name(b));
	else if (qcrypto_backend_probe(QCRYPTO_BACKEND_KCAPI) < 0 &&
		 b != QCRYPTO_BACKEND_OPENSSL)
		tl_fail("AUTO gave %s without AF_ALG", qcrypto_backend_name(b));
	else {
		printf("NOTE: AUTO chose %s for xts\n",
		       qcrypto_backend_name(b));
		tl_pass();
	}
	qcrypto_cipher_free(c);
}

int main(int argc, char **argv)
{
	size_t i;

	tl_init(argc, argv);
	run_backend(QCRYPTO_BACKEND_OPENSSL);
	run_backend(QCRYPTO_BACKEND_KCAPI);
	run_backend(QCRYPTO_BACKEND_NETTLE);
	for (i = 0; i < sizeof(agree_specs) / sizeof(agree_specs[0]); i++) {
		test_agree(agree_specs[i], QCRYPTO_BACKEND_KCAPI);
		test_agree(agree_specs[i], QCRYPTO_BACKEND_NETTLE);
	}
	test_auto();
	return tl_finish();
}
