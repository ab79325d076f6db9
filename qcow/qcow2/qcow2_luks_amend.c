// SPDX-License-Identifier: MIT
/*
 * LUKS key slots of a qcow2 image changed, as qemu-img 7.2's amend -o
 * encrypt.state=active|inactive,encrypt.new-secret,encrypt.old-secret,
 * encrypt.keyslot,encrypt.iter-time: every refusal before anything is
 * written, then each slot's key material written and flushed before the
 * phdr that makes it active (or inactive), and that flushed in turn
 * (docs/crash-safety.md, "LUKS key slots").
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "qcow2.h"
#include "crypto/crypto.h"
#include "layout.h"

#define LUKS_AREA_MAX	(64ULL << 20)
/* the phdr's sectors: 592 bytes */
#define LUKS_PHDR_WRITE	1024u

struct luks_amend {
	struct qcow2 *s;
	const struct qcow_amend_opts *o;
	struct qcrypto_luks *l;
	uint8_t *hdr;
	size_t len;
	unsigned int active;		/* mask of the active slots */
};

#define LERR(a, err, ...) qcow_set_error(err, (a)->s->img->filename, \
					 __VA_ARGS__)

static int load(struct luks_amend *a)
{
	struct qcow2 *s = a->s;
	struct qcrypto_luks_slot_info si;
	char why[160] = "";
	unsigned int i;
	int ret;

	if (s->crypt_method != QCOW_CRYPT_LUKS)
		return LERR(a, -EINVAL, "encrypt.state: the image has no "
			    "LUKS header (its encryption is %s)",
			    s->crypt_method ? "aes" : "none");
	if (s->crypto_length < LUKS_PHDR_WRITE ||
	    s->crypto_length > LUKS_AREA_MAX)
		return LERR(a, -EINVAL, "encryption header extension: length "
			    "%" PRIu64 " is not a LUKS header's",
			    s->crypto_length);
	a->len = s->crypto_length;
	a->hdr = malloc(a->len);
	if (!a->hdr)
		return -ENOMEM;
	ret = qfile_pread_sync(s->img->file, a->hdr, a->len, s->crypto_offset);
	if (ret < 0)
		return LERR(a, ret, "cannot read the LUKS header: %s",
			    strerror(-ret));
	ret = qcrypto_luks_parse(a->hdr, a->len, &a->l, why, sizeof(why));
	if (ret < 0)
		return LERR(a, ret, "LUKS header: %s",
			    *why ? why : strerror(-ret));
	for (i = 0; i < QCRYPTO_LUKS_SLOTS; i++)
		if (!qcrypto_luks_slot(a->l, i, &si) && si.active)
			a->active |= 1u << i;
	return 0;
}

static int keyslot_valid(struct luks_amend *a)
{
	if (a->o->luks_keyslot >= (int)QCRYPTO_LUKS_SLOTS)
		return LERR(a, -EINVAL, "Invalid keyslot %d specified, must "
			    "be between 0 and %u", a->o->luks_keyslot,
			    QCRYPTO_LUKS_SLOTS - 1);
	return 0;
}

/* the slot to make active, refusals first */
static int add_slot(struct luks_amend *a, unsigned int *slot)
{
	const struct qcow_amend_opts *o = a->o;
	unsigned int i;

	if (!o->new_key.data)
		return LERR(a, -EINVAL, "'new-secret' is required to "
			    "activate a keyslot");
	if (o->old_key.data)
		return LERR(a, -EINVAL, "'old-secret' must not be given when "
			    "activating keyslots");
	if (keyslot_valid(a) < 0)
		return -EINVAL;
	if (o->luks_keyslot >= 0) {
		*slot = (unsigned int)o->luks_keyslot;
		if ((a->active & (1u << *slot)) && !o->force)
			return LERR(a, -EINVAL, "Refusing to overwrite active "
				    "keyslot %u - please erase it first",
				    *slot);
		return 0;
	}
	for (i = 0; i < QCRYPTO_LUKS_SLOTS; i++) {
		if (!(a->active & (1u << i))) {
			*slot = i;
			return 0;
		}
	}
	return LERR(a, -ENOSPC, "Can't add a keyslot - all keyslots are in "
		    "use");
}

/* the slots to erase, refusals first (a wrong old secret: none) */
static int erase_mask(struct luks_amend *a, unsigned int *mask)
{
	const struct qcow_amend_opts *o = a->o;
	unsigned int k;
	int ret;

	if (o->new_key.data)
		return LERR(a, -EINVAL, "'new-secret' must not be given when "
			    "erasing keyslots");
	if (o->luks_iter_time_ms)
		return LERR(a, -EINVAL, "'iter-time' must not be given when "
			    "erasing keyslots");
	if (keyslot_valid(a) < 0)
		return -EINVAL;
	if (o->luks_keyslot >= 0) {
		k = (unsigned int)o->luks_keyslot;
		if (!(a->active & (1u << k)))
			return LERR(a, -EINVAL, "Given keyslot %u is already "
				    "erased (inactive)", k);
		if (a->active == 1u << k && !o->force)
			return LERR(a, -EPERM, "Attempt to erase the only "
				    "active keyslot %u which will erase all "
				    "the data in the image irreversibly - "
				    "refusing operation", k);
		*mask = 1u << k;
		return 0;
	}
	if (!o->old_key.data)
		return LERR(a, -EINVAL, "To erase keyslot(s), either explicit "
			    "keyslot index or the password currently "
			    "contained in them must be given");
	ret = qcrypto_luks_match(a->l, a->hdr, o->old_key.data,
				 o->old_key.len, mask);
	if (ret < 0)
		return LERR(a, ret, "LUKS key slots: %s", strerror(-ret));
	if (!*mask)
		return LERR(a, -EACCES, "No keyslots match given (old) "
			    "password for erase operation");
	if (*mask == a->active && !o->force)
		return LERR(a, -EPERM, "All the active keyslots match the "
			    "(old) password that was given and erasing them "
			    "will erase all the data in the image irreversibly "
			    "- refusing operation");
	return 0;
}

static int write_sync(struct luks_amend *a, uint64_t off, uint64_t len)
{
	struct qfile *f = a->s->img->file;
	int ret;

	ret = qfile_pwrite_sync(f, a->hdr + off, len,
				a->s->crypto_offset + off);
	if (!ret)
		ret = qfile_fsync_sync(f);
	if (ret < 0)
		LERR(a, ret, "cannot write the LUKS header: %s",
		     strerror(-ret));
	return ret;
}

/* each slot's material, flushed, then the phdr naming them, flushed */
static int store(struct luks_amend *a, unsigned int mask)
{
	uint64_t off, len;
	unsigned int i;
	int ret = 0;

	for (i = 0; i < QCRYPTO_LUKS_SLOTS && !ret; i++) {
		if (!(mask & (1u << i)))
			continue;
		ret = qcrypto_luks_slot_extent(a->l, i, &off, &len);
		if (!ret)
			ret = write_sync(a, off, len);
	}
	return ret ? ret : write_sync(a, 0, LUKS_PHDR_WRITE);
}

static int change(struct luks_amend *a)
{
	const struct qcow_amend_opts *o = a->o;
	unsigned int slot = 0, mask = 0, i;
	int ret;

	if (o->luks_state == QCOW_LUKS_ACTIVE) {
		ret = add_slot(a, &slot);
		if (ret < 0)
			return ret;
		ret = qcrypto_luks_add(a->l, a->hdr, a->len, slot,
				       o->key.data, o->key.len,
				       o->new_key.data, o->new_key.len,
				       o->luks_iter_time_ms);
		if (ret == -EACCES)
			return LERR(a, ret, "encrypt.key-secret: the "
				    "passphrase unlocks no LUKS key slot");
		if (ret < 0)
			return LERR(a, ret, "LUKS key slot %u: %s", slot,
				    strerror(-ret));
		return store(a, 1u << slot);
	}
	ret = erase_mask(a, &mask);
	for (i = 0; !ret && i < QCRYPTO_LUKS_SLOTS; i++)
		if (mask & (1u << i))
			ret = qcrypto_luks_erase(a->l, a->hdr, a->len, i);
	if (ret < 0)
		return ret;
	return store(a, mask);
}

int qcow2_luks_amend(struct qcow2 *s, const struct qcow_amend_opts *o)
{
	struct luks_amend a = { .s = s, .o = o };
	int ret;

	ret = load(&a);
	if (!ret && o->luks_state == QCOW_LUKS_ACTIVE && !o->key.data)
		ret = LERR(&a, -EACCES, "encrypt.key-secret: a new key slot "
			   "needs the image's passphrase");
	if (!ret)
		ret = change(&a);
	qcrypto_luks_free(a.l);
	free(a.hdr);
	return ret;
}
