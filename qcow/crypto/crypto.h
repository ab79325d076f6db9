/* SPDX-License-Identifier: MIT */
/*
 * Sector ciphers and LUKS1 key slots for encrypted images.  A library of
 * its own: it knows sectors and headers, not images.  Three backends sit
 * behind it, the kernel's crypto through libkcapi (AF_ALG), OpenSSL's
 * libcrypto and nettle in userspace; QCRYPTO_BACKEND_AUTO takes the
 * faster one that works on this machine and has the cipher.
 *
 * Every function returns 0 or a negative errno.  A keyed cipher may be
 * used by several threads at once.  Key material is wiped when freed and
 * kept out of core dumps.
 */
#ifndef QCOW_CRYPTO_H
#define QCOW_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define QCRYPTO_SECTOR_SIZE	512u

enum qcrypto_backend {
	QCRYPTO_BACKEND_AUTO,
	QCRYPTO_BACKEND_KCAPI,
	QCRYPTO_BACKEND_OPENSSL,
	QCRYPTO_BACKEND_NETTLE,
	/* libcrypto where it has the cipher, else nettle */
	QCRYPTO_BACKEND_USERSPACE,
};

/* QEMU's names: alg "aes-256", mode "xts", ivgen "plain64", hash "sha256" */
struct qcrypto_spec {
	char cipher_alg[32];
	char cipher_mode[16];
	char ivgen_alg[16];
	char ivgen_hash_alg[16];	/* essiv only, else empty */
};

struct qcrypto_cipher;

/* key_len must match the algorithm (xts: twice the AES key) */
int qcrypto_cipher_new(const struct qcrypto_spec *spec, const uint8_t *key,
		       size_t key_len, enum qcrypto_backend backend,
		       struct qcrypto_cipher **out);
/*
 * In place; len a multiple of QCRYPTO_SECTOR_SIZE; sector is the IV (or
 * tweak) number of buf's first sector, each next sector one more.
 */
int qcrypto_encrypt(struct qcrypto_cipher *c, uint64_t sector, void *buf,
		    size_t len);
int qcrypto_decrypt(struct qcrypto_cipher *c, uint64_t sector, void *buf,
		    size_t len);
void qcrypto_cipher_free(struct qcrypto_cipher *c);
/* 0 when spec names a cipher this library knows, whatever the backend */
int qcrypto_spec_check(const struct qcrypto_spec *spec);
enum qcrypto_backend qcrypto_cipher_backend(const struct qcrypto_cipher *c);
const char *qcrypto_backend_name(enum qcrypto_backend b);
/* -ENOTSUP when the backend cannot run here (no AF_ALG in the kernel) */
int qcrypto_backend_probe(enum qcrypto_backend b);

/*
 * Legacy qcow/qcow2 AES (crypt_method 1): aes-128-cbc-plain64, the key
 * the passphrase cut or zero-padded to 16 bytes.
 */
int qcrypto_legacy_aes_new(const char *pass, size_t pass_len,
			   enum qcrypto_backend backend,
			   struct qcrypto_cipher **out);

/* ---- LUKS1, as QEMU keeps it in a qcow2 image ---- */

struct qcrypto_luks;

/*
 * Parses and validates a LUKS1 header (the 592-byte phdr at hdr[0]);
 * len is the whole area the image reserves for it, key material
 * included.  A bad field fails with -EINVAL and a one-line reason in
 * err naming it.
 */
int qcrypto_luks_parse(const uint8_t *hdr, size_t len,
		       struct qcrypto_luks **out, char *err, size_t err_len);
/*
 * The master key's cipher; -EACCES when no active key slot takes pass.
 * hdr: the area qcrypto_luks_parse() took (its length checked there).
 */
int qcrypto_luks_unlock(const struct qcrypto_luks *l, const uint8_t *hdr,
			const char *pass, size_t pass_len,
			enum qcrypto_backend backend,
			struct qcrypto_cipher **out);
void qcrypto_luks_free(struct qcrypto_luks *l);
/* what info prints: cipher, mode, ivgen, hash, payload offset, slots */
const struct qcrypto_spec *qcrypto_luks_spec(const struct qcrypto_luks *l);
const char *qcrypto_luks_hash(const struct qcrypto_luks *l);
uint64_t qcrypto_luks_payload_offset(const struct qcrypto_luks *l);
const char *qcrypto_luks_uuid(const struct qcrypto_luks *l);
uint32_t qcrypto_luks_mk_iters(const struct qcrypto_luks *l);

#define QCRYPTO_LUKS_SLOTS	8u

struct qcrypto_luks_slot_info {
	int active;
	uint32_t iters;
	uint32_t stripes;
	uint64_t key_offset;		/* bytes from the header's start */
};

/* slot i < QCRYPTO_LUKS_SLOTS, as qemu-img info shows it */
int qcrypto_luks_slot(const struct qcrypto_luks *l, unsigned int i,
		      struct qcrypto_luks_slot_info *info);

/* ---- key slots changed (qemu-img amend -o encrypt.*) ---- */

/* the active slots pass opens, as a mask of 1 << slot */
int qcrypto_luks_match(const struct qcrypto_luks *l, const uint8_t *hdr,
		       const char *pass, size_t pass_len, unsigned int *mask);
/*
 * Slot made active for pass with the master key that unlock opens
 * (-EACCES when it opens no slot): its new material written into the
 * area hdr (len bytes, the one parsed into l) and its phdr entry, l
 * updated; PBKDF2 iterations for iter_time_ms (0: QEMU's 2000).  On an
 * error nothing in hdr or l changed.
 */
int qcrypto_luks_add(struct qcrypto_luks *l, uint8_t *hdr, size_t len,
		     unsigned int slot, const char *unlock, size_t unlock_len,
		     const char *pass, size_t pass_len, uint64_t iter_time_ms);
/* Slot erased: its material random bytes, its entry inactive. */
int qcrypto_luks_erase(struct qcrypto_luks *l, uint8_t *hdr, size_t len,
		       unsigned int slot);
/* where slot's material lies in the area, in bytes */
int qcrypto_luks_slot_extent(const struct qcrypto_luks *l, unsigned int slot,
			     uint64_t *off, uint64_t *len);

struct qcrypto_luks_create_opts {
	struct qcrypto_spec spec;	/* empty fields: QEMU's defaults */
	char hash_alg[16];		/* empty: sha256 */
	uint64_t iter_time_ms;		/* 0: QEMU's 2000 */
};

/* the empty fields of a new header's spec filled with QEMU's defaults */
void qcrypto_luks_spec_defaults(struct qcrypto_spec *s);

/*
 * A new header with key slot 0 for pass and a random master key: the
 * area (malloc'd, *len bytes, sector aligned) to write at the image's
 * encryption header, and the master key's cipher.
 */
int qcrypto_luks_create(const struct qcrypto_luks_create_opts *o,
			const char *pass, size_t pass_len,
			enum qcrypto_backend backend, uint8_t **area,
			size_t *len, struct qcrypto_cipher **out);

/* the area qcrypto_luks_create() would make for o, in bytes, no PBKDF2 */
int qcrypto_luks_area_size(const struct qcrypto_luks_create_opts *o,
			   uint64_t *len);

#endif
