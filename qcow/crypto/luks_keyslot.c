// SPDX-License-Identifier: MIT
/*
 * LUKS1 key slots: unlocking the master key with a passphrase, and a new
 * header with slot 0 laid out as QEMU lays it out in a qcow2 image.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "crypto_internal.h"

/* the slot's key material, encrypted or decrypted in place */
int qcrypto_luks_material_crypt(const struct qcrypto_spec *spec,
				const uint8_t *key, uint32_t key_bytes,
				bool enc, uint8_t *m, size_t len)
{
	struct qcrypto_cipher *c;
	int ret;

	/* key material is small: userspace is always there and fast enough */
	ret = qcrypto_cipher_new(spec, key, key_bytes,
				 QCRYPTO_BACKEND_USERSPACE, &c);
	if (ret < 0)
		return ret;
	ret = enc ? qcrypto_encrypt(c, 0, m, len) :
		    qcrypto_decrypt(c, 0, m, len);
	qcrypto_cipher_free(c);
	return ret;
}

int qcrypto_luks_bufs_alloc(struct qcrypto_luks_bufs *b, uint32_t key_bytes)
{
	b->m_len = luks_material_sectors(key_bytes, LUKS_STRIPES) *
		   QCRYPTO_SECTOR_SIZE;
	b->key = qcrypto_secure_alloc(key_bytes);
	b->mk = qcrypto_secure_alloc(key_bytes);
	b->m = qcrypto_secure_alloc(b->m_len);
	return b->key && b->mk && b->m ? 0 : -ENOMEM;
}

void qcrypto_luks_bufs_free(struct qcrypto_luks_bufs *b, uint32_t key_bytes)
{
	qcrypto_secure_free(b->key, key_bytes);
	qcrypto_secure_free(b->mk, key_bytes);
	qcrypto_secure_free(b->m, b->m_len);
}

int qcrypto_luks_try_slot(const struct qcrypto_luks *l, unsigned int i,
			  const uint8_t *hdr, const char *pass,
			  size_t pass_len, struct qcrypto_luks_bufs *b)
{
	const struct qcrypto_luks_keyslot *s = &l->slot[i];
	uint8_t digest[LUKS_DIGEST];
	int ret;

	ret = qcrypto_pbkdf2(l->hash, pass, pass_len, s->salt, LUKS_SALT,
			     s->iter, b->key, l->key_bytes);
	if (ret < 0)
		return ret;
	memcpy(b->m, hdr + (size_t)s->offset * QCRYPTO_SECTOR_SIZE, b->m_len);
	ret = qcrypto_luks_material_crypt(&l->spec, b->key, l->key_bytes,
					  false, b->m, b->m_len);
	/* a slot key whose xts halves are equal cannot be the right one */
	if (ret == -EINVAL)
		return 0;
	if (!ret)
		ret = qcrypto_af_merge(l->hash, b->m, l->key_bytes, s->stripes,
				       b->mk);
	if (!ret)
		ret = qcrypto_pbkdf2(l->hash, b->mk, l->key_bytes, l->mk_salt,
				     LUKS_SALT, l->mk_iter, digest,
				     sizeof(digest));
	if (ret < 0)
		return ret;
	return !CRYPTO_memcmp(digest, l->mk_digest, LUKS_DIGEST);
}

int qcrypto_luks_unlock(const struct qcrypto_luks *l, const uint8_t *hdr,
			const char *pass, size_t pass_len,
			enum qcrypto_backend backend,
			struct qcrypto_cipher **out)
{
	struct qcrypto_luks_bufs b = { 0 };
	unsigned int i;
	int ret;

	*out = NULL;
	ret = qcrypto_luks_bufs_alloc(&b, l->key_bytes);
	for (i = 0; !ret && i < LUKS_SLOTS; i++) {
		if (l->slot[i].active != LUKS_SLOT_ACTIVE)
			continue;
		ret = qcrypto_luks_try_slot(l, i, hdr, pass, pass_len, &b);
		if (ret == 1) {
			ret = qcrypto_cipher_new(&l->spec, b.mk, l->key_bytes,
						 backend, out);
			goto out;
		}
	}
	if (!ret)
		ret = -EACCES;
out:
	qcrypto_luks_bufs_free(&b, l->key_bytes);
	return ret;
}

/* ---- creation ---- */

void qcrypto_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint64_t thread_cpu_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000;
}

/*
 * PBKDF2 iterations of this hash that take ms milliseconds of CPU here
 * for an input of in_len bytes and an output of out_len, as QEMU
 * benchmarks it; at least LUKS_MIN_ITER, at most LUKS_MAX_ITER.
 */
int qcrypto_luks_bench_iters(const char *hash, size_t in_len,
			     size_t out_len, uint64_t ms, uint32_t div,
			     uint32_t *iters)
{
	uint8_t in[64] = { 0 }, salt[LUKS_SALT] = { 0 }, out[64];
	uint64_t n = 1u << 12, t0, us, per_sec, want;
	int ret;

	if (in_len > sizeof(in))
		in_len = sizeof(in);
	for (;;) {
		t0 = thread_cpu_us();
		ret = qcrypto_pbkdf2(hash, in, in_len, salt, sizeof(salt),
				     (uint32_t)n, out, out_len);
		if (ret < 0)
			return ret;
		us = thread_cpu_us() - t0;
		if (us >= 50000 || n >= LUKS_MAX_ITER)
			break;
		n *= 2;
	}
	per_sec = us ? n * 1000000u / us : LUKS_MAX_ITER;
	want = ms > UINT64_MAX / (per_sec ? per_sec : 1) ? UINT64_MAX :
	       per_sec * ms / 1000 / div;
	*iters = (uint32_t)(want < LUKS_MIN_ITER ? LUKS_MIN_ITER :
			    want > LUKS_MAX_ITER ? LUKS_MAX_ITER : want);
	return 0;
}

/* the phdr's cipher_mode, "xts-plain64" or "cbc-essiv:sha256" */
static int mode_string(const struct qcrypto_spec *s, char out[32])
{
	char m[64];
	int n;

	if (s->ivgen_hash_alg[0])
		n = snprintf(m, sizeof(m), "%s-%s:%s", s->cipher_mode,
			     s->ivgen_alg, s->ivgen_hash_alg);
	else
		n = snprintf(m, sizeof(m), "%s-%s", s->cipher_mode,
			     s->ivgen_alg);
	if (n < 0 || n >= 32)
		return -EINVAL;
	memcpy(out, m, (size_t)n + 1);
	return 0;
}

void qcrypto_luks_spec_defaults(struct qcrypto_spec *s)
{
	if (!s->cipher_alg[0])
		strcpy(s->cipher_alg, "aes-256");
	if (!s->cipher_mode[0])
		strcpy(s->cipher_mode, "xts");
	if (!s->ivgen_alg[0])
		strcpy(s->ivgen_alg, "plain64");
	if (!strcmp(s->ivgen_alg, "essiv") && !s->ivgen_hash_alg[0])
		strcpy(s->ivgen_hash_alg, "sha256");
}

static int create_spec(const struct qcrypto_luks_create_opts *o,
		       struct qcrypto_luks *l, struct qcrypto_alg *alg)
{
	struct qcrypto_spec *s = &l->spec;
	char mode[32];
	int ret;

	memset(l, 0, sizeof(*l));
	if (o)
		*s = o->spec;
	qcrypto_luks_spec_defaults(s);
	snprintf(l->hash, sizeof(l->hash), "%s",
		 o && o->hash_alg[0] ? o->hash_alg : "sha256");
	if (!qcrypto_md(l->hash) || qcrypto_md_size(l->hash) > 64)
		return -ENOTSUP;
	ret = qcrypto_alg_parse(s, alg);
	if (ret < 0)
		return ret;
	ret = mode_string(s, mode);
	if (ret < 0)
		return ret;
	l->key_bytes = (uint32_t)alg->key_len;
	return 0;
}

static void uuid_v4(char out[41])
{
	uint8_t u[16];

	if (qcrypto_random(u, sizeof(u)) < 0)
		memset(u, 0, sizeof(u));
	u[6] = (u[6] & 0x0f) | 0x40;
	u[8] = (u[8] & 0x3f) | 0x80;
	snprintf(out, 41, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
		 "%02x%02x%02x%02x%02x%02x", u[0], u[1], u[2], u[3], u[4],
		 u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13],
		 u[14], u[15]);
}

/* alg: l's cipher, parsed */
static void write_phdr(const struct qcrypto_luks *l,
		       const struct qcrypto_alg *alg, uint8_t *a)
{
	const char *family = qcrypto_algo_family(alg->algo);
	static const uint8_t magic[6] = { 'L', 'U', 'K', 'S', 0xba, 0xbe };
	const struct qcrypto_spec *s = &l->spec;
	unsigned int i;
	uint8_t *p;

	memcpy(a, magic, sizeof(magic));
	a[7] = 1;
	memcpy(a + 8, family, strlen(family));
	mode_string(s, (char *)a + 40);
	memcpy(a + 72, l->hash, strlen(l->hash));
	qcrypto_put_be32(a + 104, l->payload_offset);
	qcrypto_put_be32(a + 108, l->key_bytes);
	memcpy(a + 112, l->mk_digest, LUKS_DIGEST);
	memcpy(a + 132, l->mk_salt, LUKS_SALT);
	qcrypto_put_be32(a + 164, l->mk_iter);
	memcpy(a + 168, l->uuid, strlen(l->uuid));
	for (i = 0; i < LUKS_SLOTS; i++) {
		p = a + 208 + 48 * i;
		qcrypto_put_be32(p, l->slot[i].active);
		qcrypto_put_be32(p + 4, l->slot[i].iter);
		memcpy(p + 8, l->slot[i].salt, LUKS_SALT);
		qcrypto_put_be32(p + 40, l->slot[i].offset);
		qcrypto_put_be32(p + 44, l->slot[i].stripes);
	}
}

/* master key (b->mk) digest and slot 0's material, into l and the area */
static int fill_slot0(struct qcrypto_luks *l, uint64_t ms, const char *pass,
		      size_t pass_len, struct qcrypto_luks_bufs *b, uint8_t *area)
{
	struct qcrypto_luks_keyslot *s = &l->slot[0];
	int ret;

	ret = qcrypto_random(l->mk_salt, LUKS_SALT);
	if (!ret)
		ret = qcrypto_random(s->salt, LUKS_SALT);
	if (!ret)
		ret = qcrypto_luks_bench_iters(l->hash, l->key_bytes,
					       LUKS_DIGEST, ms, 8,
					       &l->mk_iter);
	if (!ret)
		ret = qcrypto_pbkdf2(l->hash, b->mk, l->key_bytes, l->mk_salt,
				     LUKS_SALT, l->mk_iter, l->mk_digest,
				     LUKS_DIGEST);
	if (!ret)
		ret = qcrypto_luks_bench_iters(l->hash, pass_len,
					       l->key_bytes, ms, 1, &s->iter);
	if (!ret)
		ret = qcrypto_pbkdf2(l->hash, pass, pass_len, s->salt,
				     LUKS_SALT, s->iter, b->key, l->key_bytes);
	if (ret < 0)
		return ret;
	memset(b->m, 0, b->m_len);
	ret = qcrypto_af_split(l->hash, b->mk, l->key_bytes, LUKS_STRIPES,
			       b->m);
	if (!ret)
		ret = qcrypto_luks_material_crypt(&l->spec, b->key,
						  l->key_bytes, true, b->m,
						  b->m_len);
	if (!ret)
		memcpy(area + (size_t)s->offset * QCRYPTO_SECTOR_SIZE, b->m,
		       b->m_len);
	return ret;
}

/* each slot's material rounded up to the phdr's 4 KiB, as QEMU */
static uint64_t slot_stride(const struct qcrypto_luks *l)
{
	return (luks_material_sectors(l->key_bytes, LUKS_STRIPES) +
		LUKS_HDR_SECTORS - 1) / LUKS_HDR_SECTORS * LUKS_HDR_SECTORS;
}

int qcrypto_luks_area_size(const struct qcrypto_luks_create_opts *o,
			   uint64_t *len)
{
	struct qcrypto_luks l;
	struct qcrypto_alg alg;
	int ret;

	ret = create_spec(o, &l, &alg);
	if (ret < 0)
		return ret;
	*len = (LUKS_HDR_SECTORS + LUKS_SLOTS * slot_stride(&l)) *
	       QCRYPTO_SECTOR_SIZE;
	return 0;
}

int qcrypto_luks_create(const struct qcrypto_luks_create_opts *o,
			const char *pass, size_t pass_len,
			enum qcrypto_backend backend, uint8_t **area,
			size_t *len, struct qcrypto_cipher **out)
{
	struct qcrypto_luks_bufs b = { 0 };
	struct qcrypto_luks l;
	struct qcrypto_alg alg;
	uint64_t stride;
	uint8_t *a = NULL;
	unsigned int i;
	int ret;

	*area = NULL;
	*out = NULL;
	ret = create_spec(o, &l, &alg);
	if (ret < 0)
		return ret;
	stride = slot_stride(&l);
	l.payload_offset = (uint32_t)(LUKS_HDR_SECTORS + LUKS_SLOTS * stride);
	for (i = 0; i < LUKS_SLOTS; i++) {
		l.slot[i].active = i ? LUKS_SLOT_INACTIVE : LUKS_SLOT_ACTIVE;
		l.slot[i].offset = (uint32_t)(LUKS_HDR_SECTORS + i * stride);
		l.slot[i].stripes = LUKS_STRIPES;
	}
	uuid_v4(l.uuid);
	ret = qcrypto_luks_bufs_alloc(&b, l.key_bytes);
	if (!ret) {
		a = calloc(1, (size_t)l.payload_offset * QCRYPTO_SECTOR_SIZE);
		ret = a ? 0 : -ENOMEM;
	}
	if (!ret)
		ret = qcrypto_random(b.mk, l.key_bytes);
	/* before PBKDF2's work: a backend without the cipher fails at once */
	if (!ret)
		ret = qcrypto_cipher_new(&l.spec, b.mk, l.key_bytes, backend,
					 out);
	if (!ret)
		ret = fill_slot0(&l, o && o->iter_time_ms ? o->iter_time_ms :
				 2000, pass, pass_len, &b, a);
	if (ret < 0) {
		qcrypto_cipher_free(*out);
		*out = NULL;
	}
	if (!ret) {
		write_phdr(&l, &alg, a);
		*area = a;
		*len = (size_t)l.payload_offset * QCRYPTO_SECTOR_SIZE;
		a = NULL;
	}
	free(a);
	qcrypto_luks_bufs_free(&b, l.key_bytes);
	qcrypto_wipe(&l, sizeof(l));
	return ret;
}
