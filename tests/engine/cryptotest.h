/* SPDX-License-Identifier: MIT */
/*
 * Helpers of the crypto tests (crypto_kat.c, crypto_luks.c), header-only:
 * hex strings, shell commands, and a look into the qcow2 images qemu-img
 * made (a data cluster's host offset, the encryption header's place).
 */
#ifndef TESTS_ENGINE_CRYPTOTEST_H
#define TESTS_ENGINE_CRYPTOTEST_H

#include "crypto/crypto.h"
#include "testlib.h"

static inline size_t ct_unhex(const char *s, uint8_t *out)
{
	size_t n = 0;

	for (; s[0] && s[1]; s += 2) {
		unsigned int v;

		if (sscanf(s, "%2x", &v) != 1)
			break;
		out[n++] = (uint8_t)v;
	}
	return n;
}

/* a shell command's exit status (-1: not run) */
static inline __attribute__((format(printf, 1, 2)))
int ct_sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	return st == -1 || !WIFEXITED(st) ? -1 : WEXITSTATUS(st);
}

static inline void ct_spec(struct qcrypto_spec *s, const char *alg,
			   const char *mode, const char *ivgen,
			   const char *hash)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->cipher_alg, sizeof(s->cipher_alg), "%s", alg);
	snprintf(s->cipher_mode, sizeof(s->cipher_mode), "%s", mode);
	snprintf(s->ivgen_alg, sizeof(s->ivgen_alg), "%s", ivgen);
	snprintf(s->ivgen_hash_alg, sizeof(s->ivgen_hash_alg), "%s", hash);
}

/* host offset of guest offset off in a qcow2 image; 0 when unallocated */
static inline uint64_t ct_qcow2_host(const uint8_t *img, size_t len,
				     uint64_t off)
{
	const uint64_t mask = 0x00fffffffffffe00ull;
	uint32_t cbits;
	uint64_t l1, l2, e, csize, per_l2, idx;

	if (len < 72)
		return 0;
	cbits = tl_get_be32(img + 20);
	if (cbits < 9 || cbits > 21)
		return 0;
	csize = 1ull << cbits;
	per_l2 = csize / 8;
	idx = off >> cbits;
	l1 = tl_get_be64(img + 40);
	if (l1 > len || 8 * (idx / per_l2 + 1) > len - l1)
		return 0;
	l2 = tl_get_be64(img + l1 + 8 * (idx / per_l2)) & mask;
	if (!l2 || l2 > len || csize > len - l2)
		return 0;
	e = tl_get_be64(img + l2 + 8 * (idx % per_l2)) & mask;
	if (!e || e > len || csize > len - e)
		return 0;
	return e + (off & (csize - 1));
}

/* the same in a legacy qcow (version 1) image */
static inline uint64_t ct_qcow1_host(const uint8_t *img, size_t len,
				     uint64_t off)
{
	const uint64_t mask = 0x7fffffffffffffffull;	/* bit 63: compressed */
	unsigned int cbits, l2bits;
	uint64_t l1, l2, e, csize;

	if (len < 48)
		return 0;
	cbits = img[32];
	l2bits = img[33];
	if (cbits < 9 || cbits > 16 || l2bits < 6 || l2bits > 16)
		return 0;
	csize = 1ull << cbits;
	l1 = tl_get_be64(img + 40) + 8 * (off >> (cbits + l2bits));
	if (l1 > len || len - l1 < 8)
		return 0;
	l2 = tl_get_be64(img + l1) & mask;
	l2 += 8 * ((off >> cbits) & ((1ull << l2bits) - 1));
	if (!l2 || l2 > len || len - l2 < 8)
		return 0;
	e = tl_get_be64(img + l2);
	if (!e || (e >> 63) || e > len || csize > len - e)
		return 0;
	return e + (off & (csize - 1));
}

/*
 * The full disk encryption header extension (0x0537be77) of a qcow2 v3
 * image: offset and length of the LUKS header; -1 when there is none.
 */
static inline int ct_qcow2_fde(const uint8_t *img, size_t len, uint64_t *off,
			       uint64_t *hlen)
{
	uint64_t p;

	if (len < 104 || tl_get_be32(img + 4) < 3)
		return -1;
	p = tl_get_be32(img + 100);
	while (p + 8 <= len) {
		uint32_t type = tl_get_be32(img + p);
		uint32_t n = tl_get_be32(img + p + 4);

		if (!type || p + 8 + n > len)
			return -1;
		if (type == 0x0537be77u && n >= 16) {
			*off = tl_get_be64(img + p + 8);
			*hlen = tl_get_be64(img + p + 16);
			return *off <= len && *hlen <= len - *off ? 0 : -1;
		}
		p += 8 + ((uint64_t)n + 7) / 8 * 8;
	}
	return -1;
}

#endif
