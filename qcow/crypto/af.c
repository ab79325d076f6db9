// SPDX-License-Identifier: MIT
/*
 * LUKS1 anti-forensic split: a key spread over many stripes, every one
 * needed to get it back.  Between stripes the running block is diffused:
 * hashed digest-sized piece by piece, each piece prefixed with its
 * index (big endian u32), the last piece's digest cut to its length.
 */
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/evp.h>

#include "crypto_internal.h"

static int diffuse(const EVP_MD *md, uint8_t *block, size_t len)
{
	size_t dlen = (size_t)EVP_MD_get_size(md), off, n;
	uint8_t out[EVP_MAX_MD_SIZE], idx[4];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint32_t i;
	int ret = 0;

	if (!ctx)
		return -ENOMEM;
	for (i = 0, off = 0; off < len; i++, off += n) {
		n = len - off < dlen ? len - off : dlen;
		idx[0] = (uint8_t)(i >> 24);
		idx[1] = (uint8_t)(i >> 16);
		idx[2] = (uint8_t)(i >> 8);
		idx[3] = (uint8_t)i;
		if (!EVP_DigestInit_ex(ctx, md, NULL) ||
		    !EVP_DigestUpdate(ctx, idx, 4) ||
		    !EVP_DigestUpdate(ctx, block + off, n) ||
		    !EVP_DigestFinal_ex(ctx, out, NULL)) {
			ret = -EIO;
			break;
		}
		memcpy(block + off, out, n);
	}
	qcrypto_wipe(out, sizeof(out));
	EVP_MD_CTX_free(ctx);
	return ret;
}

static void xor_into(uint8_t *d, const uint8_t *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		d[i] ^= s[i];
}

/* random bytes from the kernel; EINTR retried */
int qcrypto_random(void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = getrandom(p, len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* the running block of stripes 0..n-1, in d (len bytes, zeroed first) */
static int af_run(const EVP_MD *md, const uint8_t *stripes, size_t len,
		  uint32_t n, uint8_t *d)
{
	uint32_t i;
	int ret;

	memset(d, 0, len);
	for (i = 0; i < n; i++) {
		xor_into(d, stripes + (size_t)i * len, len);
		ret = diffuse(md, d, len);
		if (ret < 0)
			return ret;
	}
	return 0;
}

int qcrypto_af_split(const char *hash, const uint8_t *key, size_t len,
		     uint32_t stripes, uint8_t *out)
{
	const EVP_MD *md = qcrypto_md(hash);
	uint8_t *d;
	int ret;

	if (!md)
		return -ENOTSUP;
	if (!stripes)
		return -EINVAL;
	ret = qcrypto_random(out, (size_t)(stripes - 1) * len);
	if (ret < 0)
		return ret;
	d = qcrypto_secure_alloc(len);
	if (!d)
		return -ENOMEM;
	ret = af_run(md, out, len, stripes - 1, d);
	if (!ret) {
		memcpy(out + (size_t)(stripes - 1) * len, key, len);
		xor_into(out + (size_t)(stripes - 1) * len, d, len);
	}
	qcrypto_secure_free(d, len);
	return ret;
}

int qcrypto_af_merge(const char *hash, const uint8_t *in, size_t len,
		     uint32_t stripes, uint8_t *key)
{
	const EVP_MD *md = qcrypto_md(hash);
	int ret;

	if (!md)
		return -ENOTSUP;
	if (!stripes)
		return -EINVAL;
	ret = af_run(md, in, len, stripes - 1, key);
	if (!ret)
		xor_into(key, in + (size_t)(stripes - 1) * len, len);
	return ret;
}
