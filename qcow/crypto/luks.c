// SPDX-License-Identifier: MIT
/*
 * LUKS1 headers: the 592-byte phdr parsed and validated field by field
 * (the LUKS1 on-disk format, with QEMU's rules for its key slots), and
 * what info shows.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto_internal.h"

static const uint8_t luks_magic[6] = { 'L', 'U', 'K', 'S', 0xba, 0xbe };

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static __attribute__((format(printf, 3, 4)))
int bad(char *err, size_t err_len, const char *fmt, ...)
{
	va_list ap;

	if (err && err_len) {
		va_start(ap, fmt);
		vsnprintf(err, err_len, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* a NUL-terminated string field of n bytes, printable */
static bool field_str(const uint8_t *p, size_t n, char *out, size_t out_len)
{
	size_t i;

	for (i = 0; i < n && p[i]; i++)
		if (p[i] < 0x20 || p[i] > 0x7e)
			return false;
	if (i == n || i >= out_len)
		return false;
	memcpy(out, p, i);
	out[i] = 0;
	return true;
}

/* cipher_mode "MODE[-IVGEN[:HASH]]" into spec; 0 or -EINVAL */
static int parse_mode(const char *s, struct qcrypto_spec *spec)
{
	const char *dash = strchr(s, '-'), *colon;
	size_t n = dash ? (size_t)(dash - s) : strlen(s);

	if (!n || n >= sizeof(spec->cipher_mode))
		return -EINVAL;
	memcpy(spec->cipher_mode, s, n);
	if (!dash)
		return 0;
	colon = strchr(dash + 1, ':');
	n = colon ? (size_t)(colon - dash - 1) : strlen(dash + 1);
	if (!n || n >= sizeof(spec->ivgen_alg))
		return -EINVAL;
	memcpy(spec->ivgen_alg, dash + 1, n);
	if (!colon)
		return 0;
	if (strlen(colon + 1) >= sizeof(spec->ivgen_hash_alg) ||
	    !qcrypto_md(colon + 1))
		return -EINVAL;
	/* dm-crypt ignores a hash on plain and plain64, QEMU too */
	if (!strcmp(spec->ivgen_alg, "essiv"))
		strcpy(spec->ivgen_hash_alg, colon + 1);
	return 0;
}

static int parse_cipher(struct qcrypto_luks *l, const uint8_t *hdr,
			char *err, size_t err_len)
{
	char name[32], mode[32];
	struct qcrypto_alg alg;
	enum qcrypto_algo algo;
	uint32_t one;

	if (!field_str(hdr + 8, 32, name, sizeof(name)))
		return bad(err, err_len, "cipher_name: not a string");
	if (!field_str(hdr + 40, 32, mode, sizeof(mode)))
		return bad(err, err_len, "cipher_mode: not a string");
	if (!field_str(hdr + 72, 32, l->hash, sizeof(l->hash)) ||
	    !qcrypto_md(l->hash))
		return bad(err, err_len, "hash_spec: '%.32s' unknown",
			   (const char *)hdr + 72);
	if (qcrypto_algo_by_family(name, &algo) < 0)
		return bad(err, err_len, "cipher_name: '%s' unknown", name);
	/* the mode and ivgen first, with the family's 128-bit key */
	qcrypto_algo_name(algo, 16, l->spec.cipher_alg,
			  sizeof(l->spec.cipher_alg));
	if (parse_mode(mode, &l->spec) < 0 ||
	    qcrypto_alg_parse(&l->spec, &alg) < 0)
		return bad(err, err_len, "cipher_mode: '%s' unknown for %s",
			   mode, name);
	one = l->key_bytes / (alg.mode == QCRYPTO_XTS ? 2 : 1);
	if (one * (alg.mode == QCRYPTO_XTS ? 2 : 1) != l->key_bytes ||
	    qcrypto_algo_name(algo, one, l->spec.cipher_alg,
			      sizeof(l->spec.cipher_alg)) < 0)
		return bad(err, err_len, "key_bytes: %u does not fit %s-%s",
			   l->key_bytes, name, l->spec.cipher_mode);
	/* essiv's key length (the digest's) must fit the family too */
	if (qcrypto_alg_parse(&l->spec, &alg) < 0)
		return bad(err, err_len, "cipher_mode: '%s' does not fit "
			   "%s", mode, l->spec.cipher_alg);
	return 0;
}

/* a key slot's fields; its material against the phdr, payload and len */
static int parse_slot(struct qcrypto_luks *l, unsigned int i,
		      const uint8_t *p, size_t len, char *err, size_t err_len)
{
	struct qcrypto_luks_keyslot *s = &l->slot[i];
	uint64_t end;

	s->active = get_be32(p);
	s->iter = get_be32(p + 4);
	memcpy(s->salt, p + 8, LUKS_SALT);
	s->offset = get_be32(p + 40);
	s->stripes = get_be32(p + 44);
	if (s->active != LUKS_SLOT_ACTIVE && s->active != LUKS_SLOT_INACTIVE)
		return bad(err, err_len, "key slot %u: active 0x%08x neither "
			   "0x%08x nor 0x%08x", i, s->active, LUKS_SLOT_ACTIVE,
			   LUKS_SLOT_INACTIVE);
	if (s->stripes != LUKS_STRIPES)
		return bad(err, err_len, "key slot %u: stripes %u (not %u)", i,
			   s->stripes, LUKS_STRIPES);
	if (s->active == LUKS_SLOT_ACTIVE &&
	    (!s->iter || s->iter > LUKS_MAX_ITER))
		return bad(err, err_len, "key slot %u: iterations %u (1..%u)",
			   i, s->iter, LUKS_MAX_ITER);
	if (s->offset < LUKS_HDR_SECTORS)
		return bad(err, err_len, "key slot %u: key material offset "
			   "%u overlaps the header", i, s->offset);
	end = s->offset + luks_material_sectors(l->key_bytes, s->stripes);
	if (end > l->payload_offset)
		return bad(err, err_len, "key slot %u: key material offset "
			   "%u overlaps the payload offset %u", i, s->offset,
			   l->payload_offset);
	if (s->active == LUKS_SLOT_ACTIVE && end * QCRYPTO_SECTOR_SIZE > len)
		return bad(err, err_len, "key slot %u: key material offset "
			   "%u ends past the header area (%zu bytes)", i,
			   s->offset, len);
	return 0;
}

static int check_overlaps(const struct qcrypto_luks *l, char *err,
			  size_t err_len)
{
	uint64_t n = luks_material_sectors(l->key_bytes, LUKS_STRIPES);
	unsigned int i, j;

	for (i = 0; i < LUKS_SLOTS; i++)
		for (j = i + 1; j < LUKS_SLOTS; j++)
			if (l->slot[i].offset < l->slot[j].offset + n &&
			    l->slot[j].offset < l->slot[i].offset + n)
				return bad(err, err_len, "key slot %u: key "
					   "material offset %u overlaps key "
					   "slot %u's", j, l->slot[j].offset,
					   i);
	return 0;
}

static int parse(struct qcrypto_luks *l, const uint8_t *hdr, size_t len,
		 char *err, size_t err_len)
{
	unsigned int i;
	int ret;

	if (len < LUKS_PHDR_SIZE)
		return bad(err, err_len, "header: %zu bytes, less than the "
			   "phdr's %u", len, LUKS_PHDR_SIZE);
	if (memcmp(hdr, luks_magic, sizeof(luks_magic)))
		return bad(err, err_len, "magic: not LUKS");
	if (hdr[6] != 0 || hdr[7] != 1)
		return bad(err, err_len, "version: %u (only 1)",
			   (unsigned int)hdr[6] << 8 | hdr[7]);
	l->payload_offset = get_be32(hdr + 104);
	l->key_bytes = get_be32(hdr + 108);
	ret = parse_cipher(l, hdr, err, err_len);
	if (ret < 0)
		return ret;
	memcpy(l->mk_digest, hdr + 112, LUKS_DIGEST);
	memcpy(l->mk_salt, hdr + 132, LUKS_SALT);
	l->mk_iter = get_be32(hdr + 164);
	if (!l->mk_iter || l->mk_iter > LUKS_MAX_ITER)
		return bad(err, err_len, "mk_digest_iter: %u (1..%u)",
			   l->mk_iter, LUKS_MAX_ITER);
	if (!field_str(hdr + 168, 40, l->uuid, sizeof(l->uuid)))
		return bad(err, err_len, "uuid: not a string");
	if (l->payload_offset < LUKS_HDR_SECTORS)
		return bad(err, err_len, "payload_offset: %u overlaps the "
			   "header", l->payload_offset);
	for (i = 0; i < LUKS_SLOTS; i++) {
		ret = parse_slot(l, i, hdr + 208 + 48 * i, len, err, err_len);
		if (ret < 0)
			return ret;
	}
	return check_overlaps(l, err, err_len);
}

int qcrypto_luks_parse(const uint8_t *hdr, size_t len,
		       struct qcrypto_luks **out, char *err, size_t err_len)
{
	struct qcrypto_luks *l;
	int ret;

	*out = NULL;
	if (err && err_len)
		err[0] = 0;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	ret = parse(l, hdr, len, err, err_len);
	if (ret < 0) {
		free(l);
		return ret;
	}
	*out = l;
	return 0;
}

void qcrypto_luks_free(struct qcrypto_luks *l)
{
	if (!l)
		return;
	qcrypto_wipe(l, sizeof(*l));
	free(l);
}

const struct qcrypto_spec *qcrypto_luks_spec(const struct qcrypto_luks *l)
{
	return &l->spec;
}

const char *qcrypto_luks_hash(const struct qcrypto_luks *l)
{
	return l->hash;
}

uint64_t qcrypto_luks_payload_offset(const struct qcrypto_luks *l)
{
	return (uint64_t)l->payload_offset * QCRYPTO_SECTOR_SIZE;
}

const char *qcrypto_luks_uuid(const struct qcrypto_luks *l)
{
	return l->uuid;
}

uint32_t qcrypto_luks_mk_iters(const struct qcrypto_luks *l)
{
	return l->mk_iter;
}

int qcrypto_luks_slot(const struct qcrypto_luks *l, unsigned int i,
		      struct qcrypto_luks_slot_info *info)
{
	if (i >= LUKS_SLOTS)
		return -EINVAL;
	info->active = l->slot[i].active == LUKS_SLOT_ACTIVE;
	info->iters = l->slot[i].iter;
	info->stripes = l->slot[i].stripes;
	info->key_offset = (uint64_t)l->slot[i].offset * QCRYPTO_SECTOR_SIZE;
	return 0;
}
