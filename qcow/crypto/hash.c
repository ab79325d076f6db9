// SPDX-License-Identifier: MIT
/* Digests and PBKDF2 by QEMU's hash names, through libcrypto. */
#include <errno.h>
#include <string.h>

#include <openssl/evp.h>

#include "crypto_internal.h"

static const char *const hashes[] = {
	"md5", "sha1", "sha224", "sha256", "sha384", "sha512", "ripemd160",
};

const void *qcrypto_md(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(hashes) / sizeof(hashes[0]); i++)
		if (!strcmp(name, hashes[i]))
			return EVP_get_digestbyname(name);
	return NULL;
}

size_t qcrypto_md_size(const char *name)
{
	const EVP_MD *md = qcrypto_md(name);

	return md ? (size_t)EVP_MD_get_size(md) : 0;
}

int qcrypto_digest(const char *name, const void *in, size_t len,
		   uint8_t *out)
{
	const EVP_MD *md = qcrypto_md(name);

	if (!md)
		return -ENOTSUP;
	if (!EVP_Digest(in, len, out, NULL, md, NULL))
		return -EIO;
	return 0;
}

int qcrypto_pbkdf2(const char *name, const void *pass, size_t pass_len,
		   const uint8_t *salt, size_t salt_len, uint32_t iter,
		   uint8_t *out, size_t out_len)
{
	const EVP_MD *md = qcrypto_md(name);

	if (!md)
		return -ENOTSUP;
	if (!iter || iter > INT32_MAX || pass_len > INT32_MAX ||
	    salt_len > INT32_MAX || out_len > INT32_MAX)
		return -EINVAL;
	if (!PKCS5_PBKDF2_HMAC(pass_len ? pass : "", (int)pass_len, salt,
			       (int)salt_len, (int)iter, md, (int)out_len, out))
		return -EIO;
	return 0;
}
