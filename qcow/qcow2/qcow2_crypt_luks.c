// SPDX-License-Identifier: MIT
/*
 * The LUKS1 header of a qcow2 image (crypt_method 2), in the clusters its
 * full disk encryption header extension names: read, parsed and, with the
 * caller's passphrase, unlocked into the data cipher; its details kept
 * for info.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "qcow2.h"
#include "crypto/crypto.h"
#include "crypt_pool.h"
#include "layout.h"

/* QEMU writes about 2 MiB for 8 slots of 4000 stripes of 64-byte keys */
#define LUKS_AREA_MAX	(64ULL << 20)
#define LUKS_PHDR_LEN	592

/* What info shows of a header that qcrypto_luks_parse() accepted. */
static void luks_describe(struct qcow_luks_info *li,
			  const struct qcrypto_luks *l)
{
	const struct qcrypto_spec *spec = qcrypto_luks_spec(l);
	struct qcrypto_luks_slot_info si;
	unsigned int i;

	snprintf(li->cipher_alg, sizeof(li->cipher_alg), "%s",
		 spec->cipher_alg);
	snprintf(li->cipher_mode, sizeof(li->cipher_mode), "%s",
		 spec->cipher_mode);
	snprintf(li->ivgen_alg, sizeof(li->ivgen_alg), "%s", spec->ivgen_alg);
	snprintf(li->ivgen_hash_alg, sizeof(li->ivgen_hash_alg), "%s",
		 spec->ivgen_hash_alg);
	snprintf(li->hash_alg, sizeof(li->hash_alg), "%s",
		 qcrypto_luks_hash(l));
	snprintf(li->uuid, sizeof(li->uuid), "%s", qcrypto_luks_uuid(l));
	li->payload_offset = qcrypto_luks_payload_offset(l);
	li->master_key_iters = qcrypto_luks_mk_iters(l);
	for (i = 0; i < QCRYPTO_LUKS_SLOTS && i < 8; i++) {
		if (qcrypto_luks_slot(l, i, &si) < 0)
			continue;
		li->slots[i].active = si.active;
		li->slots[i].iters = si.iters;
		li->slots[i].key_offset = si.key_offset;
		li->slots[i].stripes = si.stripes;
	}
}

/* "cipher twofish-256-xts-plain64: not in crypto backend openssl" */
static int luks_cipher_missing(const char *file,
			       const struct qcrypto_spec *sp,
			       enum qcow_crypto_backend b)
{
	char name[96];

	snprintf(name, sizeof(name), "%s-%s%s%s%s%s", sp->cipher_alg,
		 sp->cipher_mode, sp->ivgen_alg[0] ? "-" : "", sp->ivgen_alg,
		 sp->ivgen_hash_alg[0] ? ":" : "", sp->ivgen_hash_alg);
	return qcrypt_cipher_missing(file, name, b);
}

int qcow2_luks_open(struct qcow2 *s, struct qcow_luks_info *info,
		    struct qcrypto_cipher **out)
{
	struct qcow_image *img = s->img;
	struct qcrypto_luks *l = NULL;
	uint8_t *hdr = NULL;
	char why[160] = "", opt[QCOW_KEY_OPTION_LEN];
	enum qcrypto_backend be;
	int ret;

	if (s->crypto_length < LUKS_PHDR_LEN ||
	    s->crypto_length > LUKS_AREA_MAX)
		return qcow_set_error(-EINVAL, img->filename, "encryption "
				      "header extension: length %" PRIu64
				      " is not a LUKS header's", s->crypto_length);
	hdr = malloc(s->crypto_length);
	if (!hdr)
		return -ENOMEM;
	ret = qfile_pread_sync(img->file, hdr, s->crypto_length,
			       s->crypto_offset);
	if (ret < 0) {
		qcow_set_error(ret, img->filename, "cannot read the LUKS "
			       "header: %s", strerror(-ret));
		goto out;
	}
	ret = qcrypto_luks_parse(hdr, s->crypto_length, &l, why, sizeof(why));
	if (ret < 0) {
		qcow_set_error(ret, img->filename, "LUKS header: %s",
			       *why ? why : strerror(-ret));
		goto out;
	}
	luks_describe(info, l);
	if (img->opts.no_io && !img->opts.key)
		goto out;
	ret = qcow2_crypt_need_key(s);
	if (ret < 0)
		goto out;
	ret = qcrypt_backend(img->opts.crypto_backend, img->filename, &be);
	if (ret < 0)
		goto out;
	ret = qcrypto_luks_unlock(l, hdr, img->opts.key, img->opts.key_len,
				  be, out);
	if (ret == -EACCES)
		qcow_set_error(ret, img->filename, "%s: the passphrase "
			       "unlocks no LUKS key slot",
			       qcow_key_option(img, opt, sizeof(opt)));
	else if (ret == -ENOTSUP)
		luks_cipher_missing(img->filename, qcrypto_luks_spec(l),
				    img->opts.crypto_backend);
	else if (ret < 0)
		qcow_set_error(ret, img->filename, "LUKS: cannot make the "
			       "data cipher: %s", strerror(-ret));
out:
	qcrypto_luks_free(l);
	if (hdr)
		explicit_bzero(hdr, s->crypto_length);
	free(hdr);
	return ret;
}


static void luks_create_opts(const struct qcow_create_opts *o,
			     struct qcrypto_luks_create_opts *lo)
{
	snprintf(lo->spec.cipher_alg, sizeof(lo->spec.cipher_alg), "%s",
		 o->luks_cipher_alg);
	snprintf(lo->spec.cipher_mode, sizeof(lo->spec.cipher_mode), "%s",
		 o->luks_cipher_mode);
	snprintf(lo->spec.ivgen_alg, sizeof(lo->spec.ivgen_alg), "%s",
		 o->luks_ivgen_alg);
	snprintf(lo->spec.ivgen_hash_alg, sizeof(lo->spec.ivgen_hash_alg),
		 "%s", o->luks_ivgen_hash_alg);
	snprintf(lo->hash_alg, sizeof(lo->hash_alg), "%s", o->luks_hash_alg);
	lo->iter_time_ms = o->luks_iter_time_ms;
}

static int luks_spec_refused(int err, const char *path,
			     const struct qcrypto_luks_create_opts *lo)
{
	return qcow_set_error(err, path, "encrypt: the cipher %s-%s-%s"
			      " (hash %s) is not supported",
			      *lo->spec.cipher_alg ?
			      lo->spec.cipher_alg : "aes-256",
			      *lo->spec.cipher_mode ?
			      lo->spec.cipher_mode : "xts",
			      *lo->spec.ivgen_alg ?
			      lo->spec.ivgen_alg : "plain64",
			      *lo->hash_alg ? lo->hash_alg : "sha256");
}

int qcow_luks_area_size(const char *path, const struct qcow_create_opts *o,
			uint64_t *len)
{
	struct qcrypto_luks_create_opts lo = { 0 };
	int ret;

	luks_create_opts(o, &lo);
	ret = qcrypto_luks_area_size(&lo, len);
	if (ret == -ENOTSUP || ret == -EINVAL)
		return luks_spec_refused(ret, path, &lo);
	return ret;
}

int qcow2_luks_create(const char *path, const struct qcow_create_opts *o,
		      uint8_t **area, size_t *len)
{
	struct qcrypto_luks_create_opts lo = { 0 };
	struct qcrypto_cipher *c = NULL;
	enum qcrypto_backend be;
	int ret;

	luks_create_opts(o, &lo);
	ret = qcrypt_backend(o->crypto_backend, path, &be);
	if (ret < 0)
		return ret;
	ret = qcrypto_luks_create(&lo, o->key, o->key_len, be, area, len, &c);
	qcrypto_cipher_free(c);
	qcrypto_luks_spec_defaults(&lo.spec);
	if (ret == -ENOTSUP && qcrypto_spec_check(&lo.spec) == 0)
		return luks_cipher_missing(path, &lo.spec, o->crypto_backend);
	if (ret == -ENOTSUP || ret == -EINVAL)
		return luks_spec_refused(ret, path, &lo);
	if (ret < 0)
		return qcow_set_error(ret, path, "cannot make the LUKS "
				      "header: %s", strerror(-ret));
	return 0;
}
