// SPDX-License-Identifier: MIT
/*
 * LUKS1 key slots changed in a header area already parsed: which slots a
 * passphrase opens, a slot made active for a new passphrase (the master
 * key from one that opens another slot), a slot erased.  Only the slot's
 * material and its 48-byte entry in the phdr change; the caller writes
 * the material's sectors before the phdr's.
 */
#include <errno.h>
#include <string.h>

#include "crypto_internal.h"

#define LUKS_SLOT_ENTRY(i)	(208u + 48u * (i))

int qcrypto_luks_match(const struct qcrypto_luks *l, const uint8_t *hdr,
		       const char *pass, size_t pass_len, unsigned int *mask)
{
	struct qcrypto_luks_bufs b = { 0 };
	unsigned int i;
	int ret;

	*mask = 0;
	ret = qcrypto_luks_bufs_alloc(&b, l->key_bytes);
	for (i = 0; !ret && i < LUKS_SLOTS; i++) {
		if (l->slot[i].active != LUKS_SLOT_ACTIVE)
			continue;
		ret = qcrypto_luks_try_slot(l, i, hdr, pass, pass_len, &b);
		if (ret == 1)
			*mask |= 1u << i;
		ret = ret < 0 ? ret : 0;
	}
	qcrypto_luks_bufs_free(&b, l->key_bytes);
	return ret;
}

/* the slot's entry in the phdr at hdr from l */
static void put_slot(const struct qcrypto_luks *l, unsigned int i,
		     uint8_t *hdr)
{
	const struct qcrypto_luks_keyslot *s = &l->slot[i];
	uint8_t *p = hdr + LUKS_SLOT_ENTRY(i);

	qcrypto_put_be32(p, s->active);
	qcrypto_put_be32(p + 4, s->iter);
	memcpy(p + 8, s->salt, LUKS_SALT);
	qcrypto_put_be32(p + 40, s->offset);
	qcrypto_put_be32(p + 44, s->stripes);
}

/* the master key that pass opens, into b->mk; -EACCES when none */
static int master_key(const struct qcrypto_luks *l, const uint8_t *hdr,
		      const char *pass, size_t pass_len,
		      struct qcrypto_luks_bufs *b)
{
	unsigned int i;
	int ret;

	for (i = 0; i < LUKS_SLOTS; i++) {
		if (l->slot[i].active != LUKS_SLOT_ACTIVE)
			continue;
		ret = qcrypto_luks_try_slot(l, i, hdr, pass, pass_len, b);
		if (ret)
			return ret < 0 ? ret : 0;
	}
	return -EACCES;
}

int qcrypto_luks_add(struct qcrypto_luks *l, uint8_t *hdr, size_t len,
		     unsigned int slot, const char *unlock, size_t unlock_len,
		     const char *pass, size_t pass_len, uint64_t iter_time_ms)
{
	struct qcrypto_luks_keyslot *s;
	struct qcrypto_luks_keyslot next;
	struct qcrypto_luks_bufs b = { 0 };
	uint64_t at;
	int ret;

	if (slot >= LUKS_SLOTS)
		return -EINVAL;
	s = &l->slot[slot];
	at = (uint64_t)s->offset * QCRYPTO_SECTOR_SIZE;
	/* the layout was checked at parse: the material lies inside */
	if (s->stripes != LUKS_STRIPES || at > len)
		return -EINVAL;
	ret = qcrypto_luks_bufs_alloc(&b, l->key_bytes);
	if (!ret && b.m_len > len - at)
		ret = -EINVAL;
	if (!ret)
		ret = master_key(l, hdr, unlock, unlock_len, &b);
	next = *s;
	next.active = LUKS_SLOT_ACTIVE;
	if (!ret)
		ret = qcrypto_random(next.salt, LUKS_SALT);
	if (!ret)
		ret = qcrypto_luks_bench_iters(l->hash, pass_len,
					       l->key_bytes,
					       iter_time_ms ? iter_time_ms :
					       2000, 1, &next.iter);
	if (!ret)
		ret = qcrypto_pbkdf2(l->hash, pass, pass_len, next.salt,
				     LUKS_SALT, next.iter, b.key,
				     l->key_bytes);
	if (ret < 0)
		goto out;
	memset(b.m, 0, b.m_len);
	ret = qcrypto_af_split(l->hash, b.mk, l->key_bytes, LUKS_STRIPES, b.m);
	if (!ret)
		ret = qcrypto_luks_material_crypt(&l->spec, b.key, l->key_bytes,
						  true, b.m, b.m_len);
	if (ret < 0)
		goto out;
	memcpy(hdr + at, b.m, b.m_len);
	*s = next;
	put_slot(l, slot, hdr);
out:
	qcrypto_luks_bufs_free(&b, l->key_bytes);
	return ret;
}

int qcrypto_luks_erase(struct qcrypto_luks *l, uint8_t *hdr, size_t len,
		       unsigned int slot)
{
	struct qcrypto_luks_keyslot *s;
	uint64_t at, n;
	int ret;

	if (slot >= LUKS_SLOTS)
		return -EINVAL;
	s = &l->slot[slot];
	at = (uint64_t)s->offset * QCRYPTO_SECTOR_SIZE;
	n = luks_material_sectors(l->key_bytes, s->stripes) *
	    QCRYPTO_SECTOR_SIZE;
	if (at > len || n > len - at)
		return -EINVAL;
	ret = qcrypto_random(hdr + at, n);
	if (ret < 0)
		return ret;
	s->active = LUKS_SLOT_INACTIVE;
	s->iter = 0;
	memset(s->salt, 0, LUKS_SALT);
	put_slot(l, slot, hdr);
	return 0;
}

int qcrypto_luks_slot_extent(const struct qcrypto_luks *l, unsigned int slot,
			     uint64_t *off, uint64_t *len)
{
	if (slot >= LUKS_SLOTS)
		return -EINVAL;
	*off = (uint64_t)l->slot[slot].offset * QCRYPTO_SECTOR_SIZE;
	*len = luks_material_sectors(l->key_bytes, l->slot[slot].stripes) *
	       QCRYPTO_SECTOR_SIZE;
	return 0;
}
