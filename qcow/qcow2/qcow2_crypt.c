// SPDX-License-Identifier: MIT
/*
 * Encrypted qcow2 images: the data cipher made at open from the caller's
 * passphrase (legacy AES, or a LUKS1 header in the image's own clusters),
 * the header's details for info, and encrypted data clusters read (the
 * host sectors read into memory and decrypted there).  Writes encrypt
 * qcow2_write.c's bounce buffer through qcow2_crypt_submit().  The
 * ciphers run in the crypto pool (crypt_pool.c).
 *
 * Legacy AES numbers its IVs by guest sector, LUKS by host sector.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "qcow2_map.h"
#include "crypt_pool.h"
#include "layout.h"

struct qcow2_crypt {
	struct qcrypto_cipher *cipher;	/* NULL: opened with no_io */
	bool host_iv;			/* LUKS: host sector numbers */
	struct qcow_luks_info luks;
};

int qcow2_crypt_need_key(struct qcow2 *s)
{
	if (s->img->opts.key)
		return 0;
	return qcow_need_key(s->img, s->crypt_method == QCOW_CRYPT_AES ?
			     "aes" : "luks");
}

static int open_aes(struct qcow2 *s, struct qcow2_crypt *k)
{
	enum qcrypto_backend be;
	int ret;

	if (s->img->opts.no_io && !s->img->opts.key)
		return 0;
	ret = qcow2_crypt_need_key(s);
	if (ret < 0)
		return ret;
	ret = qcrypt_backend(s->img->opts.crypto_backend, s->img->filename,
			     &be);
	if (ret < 0)
		return ret;
	ret = qcrypto_legacy_aes_new(s->img->opts.key, s->img->opts.key_len,
				     be, &k->cipher);
	if (ret < 0)
		qcow_set_error(ret, s->img->filename, "aes: cannot make the "
			       "data cipher: %s", strerror(-ret));
	return ret;
}

int qcow2_crypt_open(struct qcow2 *s)
{
	struct qcow2_crypt *k;
	int ret;

	if (!s->crypt_method)
		return 0;
	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	if (s->crypt_method == QCOW_CRYPT_LUKS) {
		ret = qcow2_luks_open(s, &k->luks, &k->cipher);
		k->host_iv = true;
	} else
		ret = open_aes(s, k);
	if (ret < 0) {
		free(k);
		return ret;
	}
	s->crypt = k;
	return 0;
}

void qcow2_crypt_close(struct qcow2 *s)
{
	if (!s->crypt)
		return;
	qcrypto_cipher_free(s->crypt->cipher);
	free(s->crypt);
	s->crypt = NULL;
}

enum qcow_crypto_backend qcow2_crypt_backend(const struct qcow2 *s)
{
	if (!s->crypt || !s->crypt->cipher)
		return QCOW_CRYPTO_AUTO;
	return qcrypt_backend_public(qcrypto_cipher_backend(s->crypt->cipher));
}

const struct qcow_luks_info *qcow2_crypt_luks_info(const struct qcow2 *s)
{
	return s->crypt && s->crypt->host_iv ? &s->crypt->luks : NULL;
}

static uint64_t iv_sector(const struct qcow2_crypt *k, uint64_t guest,
			  uint64_t host)
{
	return (k->host_iv ? host : guest) / QCRYPTO_SECTOR_SIZE;
}

int qcow2_crypt_submit(struct qcow2 *s, struct qcow_ctx *ctx,
		       struct qcrypt_job *j, bool encrypt, uint64_t guest,
		       uint64_t host, void *buf, uint64_t len)
{
	const struct qcow2_crypt *k = s->crypt;

	return qcrypt_start(ctx, j, k->cipher, encrypt,
			    iv_sector(k, guest, host), guest | host, buf, len);
}

/*
 * An encrypted read: whole sectors into memory, decrypted by the pool,
 * then copied into the request.
 */
struct crypt_read {
	struct qio_op op;
	struct qcrypt_job job;
	struct qcow_req *req;
	uint64_t boff;		/* where the guest bytes go in the request */
	uint64_t guest;		/* guest offset of the first sector read */
	uint64_t skip;		/* bytes of it before the guest bytes */
	uint64_t len;		/* guest bytes */
	uint8_t *mem;		/* n bytes read at host */
	uint64_t host;
	uint64_t n;
	unsigned int slot;	/* of the image's I/O epoch */
};

static void crypt_read_end(struct crypt_read *c, int res)
{
	struct qcow_req *req = c->req;
	struct qcow2 *s = qcow2_of(req->img);

	if (res < 0) {
		qreq_fail(req, res);
		free(c->mem);
	} else {
		qreq_data_put_owned(req, c->boff, c->mem, c->skip, c->len);
	}
	qepoch_exit(&s->io_epoch, c->slot);
	free(c);
	qreq_put(req);
}

static void crypt_read_decrypted(struct qwaiter *w, int res)
{
	crypt_read_end(container_of(w, struct crypt_read, job.w), res);
}

static void crypt_read_done(struct qio_op *op, int res)
{
	struct crypt_read *c = (struct crypt_read *)op;
	struct qcow_req *req = c->req;

	if (res >= 0) {
		c->job.w.resume = crypt_read_decrypted;
		res = qcow2_crypt_submit(qcow2_of(req->img), req->ctx, &c->job,
					 false, c->guest, c->host, c->mem,
					 c->n);
		if (!res)
			return;
	}
	crypt_read_end(c, res);
}

void qcow2_crypt_read(struct qcow_req *req, uint64_t boff, uint64_t len,
		      uint64_t host)
{
	struct qcow2 *s = qcow2_of(req->img);
	uint64_t skip = host & (QCRYPTO_SECTOR_SIZE - 1);
	uint64_t n = ALIGN_UP(skip + len, QCRYPTO_SECTOR_SIZE);
	struct crypt_read *c = calloc(1, sizeof(*c));
	uint8_t *mem = qalloc_aligned(n);

	if (!c || !mem) {
		free(c);
		free(mem);
		qreq_fail(req, -ENOMEM);
		return;
	}
	c->req = req;
	c->boff = boff;
	c->guest = req->offset + boff - skip;
	c->skip = skip;
	c->len = len;
	c->mem = mem;
	c->host = host - skip;
	c->n = n;
	c->op.cb = crypt_read_done;
	c->slot = qepoch_enter(&s->io_epoch);
	qreq_get(req);
	qfile_submit(req->ctx, s->data_file, &c->op, QIO_READ, mem, n,
		     host - skip);
}
