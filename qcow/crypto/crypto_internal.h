/* SPDX-License-Identifier: MIT */
/*
 * Shared by the files of qcow/crypto/ only: the keyed cipher, the
 * backends' operations, IV generation and memory for key material.
 */
#ifndef QCOW_CRYPTO_INTERNAL_H
#define QCOW_CRYPTO_INTERNAL_H

#include <stdbool.h>
#include "crypto.h"

#define QCRYPTO_BLOCK		16u
#define QCRYPTO_MAX_KEY		64u

enum qcrypto_mode { QCRYPTO_ECB, QCRYPTO_CBC, QCRYPTO_XTS, QCRYPTO_CTR };
#define QCRYPTO_NR_MODES	4
/* the block ciphers, by family (LUKS's cipher_name, the kernel's name) */
enum qcrypto_algo {
	QCRYPTO_AES,
	QCRYPTO_TWOFISH,
	QCRYPTO_SERPENT,
	QCRYPTO_CAST5,
	QCRYPTO_SM4,
};
#define QCRYPTO_NR_ALGOS	5
enum qcrypto_ivgen {
	QCRYPTO_IV_NONE,
	QCRYPTO_IV_PLAIN,
	QCRYPTO_IV_PLAIN64,
	QCRYPTO_IV_ESSIV,
};

/* a cipher spec resolved: what the backends key */
struct qcrypto_alg {
	enum qcrypto_algo algo;
	enum qcrypto_mode mode;
	enum qcrypto_ivgen ivgen;
	unsigned int key_bytes;		/* one key of the cipher: 16, 24, 32 */
	unsigned int block;		/* 16; cast5 8 */
	size_t key_len;			/* key_bytes, twice for xts */
};

struct qcrypto_cipher;

struct qcrypto_ops {
	int (*init)(struct qcrypto_cipher *c, const uint8_t *key);
	/* whole sectors; the backend asks qcrypto_sector_iv() for IVs */
	int (*crypt)(struct qcrypto_cipher *c, bool enc, uint64_t sector,
		     uint8_t *buf, size_t len);
	/* ecb, len a multiple of the block: essiv's IV cipher (userspace) */
	int (*ecb)(struct qcrypto_cipher *c, uint8_t *buf, size_t len);
	void (*fini)(struct qcrypto_cipher *c);
	int (*probe)(void);
};

struct qcrypto_cipher {
	enum qcrypto_backend backend;
	const struct qcrypto_ops *ops;
	struct qcrypto_alg alg;
	void *priv;
	/* essiv: aes-ecb keyed with the hash of the key */
	struct qcrypto_cipher *essiv;
};

extern const struct qcrypto_ops qcrypto_openssl_ops;
extern const struct qcrypto_ops qcrypto_kcapi_ops;
extern const struct qcrypto_ops qcrypto_nettle_ops;

/* a backend's operations; NULL for AUTO and USERSPACE */
const struct qcrypto_ops *qcrypto_backend_ops(enum qcrypto_backend b);

int qcrypto_alg_parse(const struct qcrypto_spec *spec, struct qcrypto_alg *a);
/*
 * QEMU's cipher-alg names ("aes-256", "twofish-128", "cast5-128",
 * "sm4"): the family and the key length; -ENOTSUP when unknown
 */
int qcrypto_algo_by_name(const char *name, enum qcrypto_algo *algo,
			 unsigned int *key_bytes);
/* "aes", "twofish", "serpent", "cast5", "sm4" */
const char *qcrypto_algo_family(enum qcrypto_algo algo);
/* the family by that name; -ENOTSUP when unknown */
int qcrypto_algo_by_family(const char *family, enum qcrypto_algo *algo);
/* QEMU's name of family and key length, in out; -EINVAL when none */
int qcrypto_algo_name(enum qcrypto_algo algo, unsigned int key_bytes,
		      char *out, size_t len);
/*
 * A keyed cipher of alg without IV generation of its own: the backend
 * as given, USERSPACE (libcrypto where it has the cipher, else nettle)
 * or AUTO resolved
 */
int qcrypto_cipher_alloc(const struct qcrypto_alg *alg, const uint8_t *key,
			 enum qcrypto_backend backend,
			 struct qcrypto_cipher **out);
/* the 16-byte IV (or tweak) of one sector */
int qcrypto_sector_iv(struct qcrypto_cipher *c, uint64_t sector,
		      uint8_t iv[QCRYPTO_BLOCK]);

/* the backend AUTO stands for, for this algorithm: KCAPI or USERSPACE */
enum qcrypto_backend qcrypto_backend_auto(const struct qcrypto_alg *a);

/* digests by QEMU's name ("sha256"), through libcrypto */
const void *qcrypto_md(const char *name);	/* NULL when unknown */
size_t qcrypto_md_size(const char *name);	/* 0 when unknown */
int qcrypto_digest(const char *name, const void *in, size_t len,
		   uint8_t *out);
int qcrypto_pbkdf2(const char *name, const void *pass, size_t pass_len,
		   const uint8_t *salt, size_t salt_len, uint32_t iter,
		   uint8_t *out, size_t out_len);

/* LUKS1 anti-forensic split of a len-byte key into stripes * len bytes */
int qcrypto_af_split(const char *hash, const uint8_t *key, size_t len,
		     uint32_t stripes, uint8_t *out);
int qcrypto_af_merge(const char *hash, const uint8_t *in, size_t len,
		     uint32_t stripes, uint8_t *key);
int qcrypto_random(void *buf, size_t len);

/* ---- LUKS1 ---- */

#define LUKS_PHDR_SIZE		592u
#define LUKS_SLOTS		8u
#define LUKS_STRIPES		4000u
#define LUKS_SALT		32u
#define LUKS_DIGEST		20u
#define LUKS_SLOT_ACTIVE	0x00AC71F3u
#define LUKS_SLOT_INACTIVE	0x0000DEADu
/* the phdr's sectors: key material starts past them (QEMU, cryptsetup) */
#define LUKS_HDR_SECTORS	8u
/* PBKDF2 counts past this would take minutes: refused */
#define LUKS_MAX_ITER		(1u << 27)
#define LUKS_MIN_ITER		1000u

struct qcrypto_luks_keyslot {
	uint32_t active;
	uint32_t iter;
	uint8_t salt[LUKS_SALT];
	uint32_t offset;		/* sectors */
	uint32_t stripes;
};

struct qcrypto_luks {
	struct qcrypto_spec spec;
	char hash[16];
	char uuid[41];
	uint32_t payload_offset;	/* sectors */
	uint32_t key_bytes;
	uint8_t mk_digest[LUKS_DIGEST];
	uint8_t mk_salt[LUKS_SALT];
	uint32_t mk_iter;
	struct qcrypto_luks_keyslot slot[LUKS_SLOTS];
};

/* the buffers of one key slot's work, in key memory */
struct qcrypto_luks_bufs {
	uint8_t *key;		/* key_bytes: slot key, then master key */
	uint8_t *mk;
	uint8_t *m;		/* the material, whole sectors */
	size_t m_len;
};

int qcrypto_luks_bufs_alloc(struct qcrypto_luks_bufs *b, uint32_t key_bytes);
void qcrypto_luks_bufs_free(struct qcrypto_luks_bufs *b, uint32_t key_bytes);
/* 1 when slot i of the area hdr gives the master key (in b->mk), else 0 */
int qcrypto_luks_try_slot(const struct qcrypto_luks *l, unsigned int i,
			  const uint8_t *hdr, const char *pass,
			  size_t pass_len, struct qcrypto_luks_bufs *b);
/* a slot's key material en- or decrypted in place (userspace) */
int qcrypto_luks_material_crypt(const struct qcrypto_spec *spec,
				const uint8_t *key, uint32_t key_bytes,
				bool enc, uint8_t *m, size_t len);
/*
 * PBKDF2 iterations of hash taking ms of CPU here (in_len bytes in,
 * out_len out), divided by div; within LUKS_MIN_ITER..LUKS_MAX_ITER
 */
int qcrypto_luks_bench_iters(const char *hash, size_t in_len,
			     size_t out_len, uint64_t ms, uint32_t div,
			     uint32_t *iters);
void qcrypto_put_be32(uint8_t *p, uint32_t v);

/* the sectors one slot's key material takes */
static inline uint64_t luks_material_sectors(uint32_t key_bytes,
					     uint32_t stripes)
{
	return ((uint64_t)key_bytes * stripes + QCRYPTO_SECTOR_SIZE - 1) /
	       QCRYPTO_SECTOR_SIZE;
}

/*
 * Memory for keys and key material: page granular, left out of core
 * dumps, locked when the limit allows, wiped before it is unmapped.
 */
void *qcrypto_secure_alloc(size_t len);
void qcrypto_secure_free(void *p, size_t len);
void qcrypto_wipe(void *p, size_t len);

#endif
