// SPDX-License-Identifier: MIT
/*
 * Encrypted legacy qcow images (crypt_method 1, aes): the data cipher
 * made at open from the caller's passphrase, encrypted clusters read (the
 * host sectors read into memory and decrypted there) and written in place
 * (the sectors the write touches, read and decrypted when it covers them
 * in part, overlaid, encrypted and written from a copy: the caller's
 * buffer is never changed).  New clusters are encrypted whole in
 * qcow1_write.c.  The ciphers run in the crypto pool (crypt_pool.c); the
 * IVs are guest sector numbers.  Compressed clusters hold plain deflated
 * bytes, as QEMU's do.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "qcow1.h"
#include "crypt_pool.h"

int q1_crypt_open(struct qcow_image *img, struct qcow1 *s)
{
	enum qcrypto_backend be;
	int ret;

	if (!s->crypt_method || (img->opts.no_io && !img->opts.key))
		return 0;
	if (!img->opts.key)
		return qcow_need_key(img, "aes");
	ret = qcrypt_backend(img->opts.crypto_backend, img->filename, &be);
	if (ret < 0)
		return ret;
	ret = qcrypto_legacy_aes_new(img->opts.key, img->opts.key_len, be,
				     &s->cipher);
	if (ret < 0)
		return Q1ERR(img, ret, "aes: cannot make the data cipher: %s",
			     strerror(-ret));
	return 0;
}

enum qcow_crypto_backend q1_crypt_backend(const struct qcow1 *s)
{
	if (!s->cipher)
		return QCOW_CRYPTO_AUTO;
	return qcrypt_backend_public(qcrypto_cipher_backend(s->cipher));
}

void q1_crypt_close(struct qcow1 *s)
{
	qcrypto_cipher_free(s->cipher);
	s->cipher = NULL;
}

int q1_crypt_submit(struct qcow1 *s, struct qcow_ctx *ctx,
		    struct qcrypt_job *j, bool encrypt, uint64_t guest,
		    void *buf, uint64_t len)
{
	return qcrypt_start(ctx, j, s->cipher, encrypt,
			    guest / QCRYPTO_SECTOR_SIZE, guest, buf, len);
}

/*
 * Sectors [guest, guest + n) of one cluster, at host: read, or written
 * in place.  skip and len place the request's bytes in them.
 */
struct q1_span {
	struct qio_op op;
	struct qcrypt_job job;
	struct qcow_req *req;
	struct qcow1 *s;
	uint8_t *mem;
	uint64_t host;
	uint64_t guest;
	uint64_t n;
	uint64_t skip;
	uint64_t len;
	uint64_t boff;
};

static struct q1_span *q1_span_new(struct qcow_req *req, struct qcow1 *s,
				   uint64_t boff, uint64_t len, uint64_t host)
{
	uint64_t skip = req->pos & (QCRYPTO_SECTOR_SIZE - 1);
	struct q1_span *c;

	/* IVs count guest sectors: the cluster must start on one */
	if (!IS_ALIGNED(host - skip, QCRYPTO_SECTOR_SIZE)) {
		qcow_log(req->img, "L2 entry for offset %" PRIu64 " is not "
			 "sector aligned: an encrypted cluster cannot be there",
			 req->pos);
		qreq_fail(req, -EIO);
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		qreq_fail(req, -ENOMEM);
		return NULL;
	}
	c->n = ALIGN_UP(skip + len, QCRYPTO_SECTOR_SIZE);
	c->mem = qalloc_aligned(c->n);
	if (!c->mem) {
		free(c);
		qreq_fail(req, -ENOMEM);
		return NULL;
	}
	c->req = req;
	c->s = s;
	c->host = host - skip;
	c->guest = req->pos - skip;
	c->skip = skip;
	c->len = len;
	c->boff = boff;
	return c;
}

static void q1_read_end(struct q1_span *c, int res)
{
	struct qcow_req *req = c->req;

	if (res < 0) {
		qreq_fail(req, res);
		free(c->mem);
	} else {
		qreq_data_put_owned(req, c->boff, c->mem, c->skip, c->len);
	}
	free(c);
	qreq_put(req);
}

static void q1_read_decrypted(struct qwaiter *w, int res)
{
	q1_read_end(container_of(w, struct q1_span, job.w), res);
}

static void q1_read_done(struct qio_op *op, int res)
{
	struct q1_span *c = (struct q1_span *)op;

	if (res >= 0) {
		c->job.w.resume = q1_read_decrypted;
		res = q1_crypt_submit(c->s, c->req->ctx, &c->job, false,
				      c->guest, c->mem, c->n);
		if (!res)
			return;
	}
	q1_read_end(c, res);
}

void q1_crypt_read(struct qcow_req *req, struct qcow1 *s, uint64_t boff,
		   uint64_t len, uint64_t host)
{
	struct q1_span *c;

	if (!s->cipher) {
		qreq_fail(req, -EACCES);
		return;
	}
	c = q1_span_new(req, s, boff, len, host);
	if (!c)
		return;
	c->op.cb = q1_read_done;
	qreq_get(req);
	qfile_submit(req->ctx, req->img->file, &c->op, QIO_READ, c->mem, c->n,
		     c->host);
}

/* The write's end: the next cluster, or the request's completion. */
static void q1_rmw_end(struct q1_span *c, int err)
{
	struct qcow_req *req = c->req;
	struct qcow1 *s = c->s;

	if (err < 0)
		qreq_fail(req, err);
	else
		req->pos += c->len;
	free(c->mem);
	free(c);
	q1_alloc_unlock(s, &req->waiter);
	q1_write_step(req, s);
}

static void q1_rmw_written(struct qio_op *op, int res)
{
	q1_rmw_end((struct q1_span *)op, res < 0 ? res : 0);
}

static void q1_rmw_encrypted(struct qwaiter *w, int err)
{
	struct q1_span *c = container_of(w, struct q1_span, job.w);

	if (err < 0) {
		q1_rmw_end(c, err);
		return;
	}
	c->op.cb = q1_rmw_written;
	qfile_submit(c->req->ctx, c->req->img->file, &c->op, QIO_WRITE, c->mem,
		     c->n, c->host);
}

static void q1_rmw_encrypt(struct q1_span *c)
{
	int ret;

	c->job.w.resume = q1_rmw_encrypted;
	ret = q1_crypt_submit(c->s, c->req->ctx, &c->job, true, c->guest,
			      c->mem, c->n);
	if (ret < 0)
		q1_rmw_end(c, ret);
}

static void q1_rmw_copied(struct qio_op *op, int res)
{
	struct q1_span *c = (struct q1_span *)op;

	if (res < 0)
		q1_rmw_end(c, res);
	else
		q1_rmw_encrypt(c);
}

/* The request's bytes (or zeros) over the plain sectors. */
static void q1_rmw_overlay(struct q1_span *c)
{
	if (c->req->op == QCOW_OP_WRITE_ZEROES) {
		memset(c->mem + c->skip, 0, c->len);
	} else {
		c->op.cb = q1_rmw_copied;
		if (qreq_data_get(c->req, &c->op, c->boff, c->mem + c->skip,
				  c->len))
			return;
	}
	q1_rmw_encrypt(c);
}

static void q1_rmw_decrypted(struct qwaiter *w, int err)
{
	struct q1_span *c = container_of(w, struct q1_span, job.w);

	if (err < 0)
		q1_rmw_end(c, err);
	else
		q1_rmw_overlay(c);
}

static void q1_rmw_read(struct qio_op *op, int res)
{
	struct q1_span *c = (struct q1_span *)op;

	if (res >= 0) {
		c->job.w.resume = q1_rmw_decrypted;
		res = q1_crypt_submit(c->s, c->req->ctx, &c->job, false,
				      c->guest, c->mem, c->n);
		if (!res)
			return;
	}
	q1_rmw_end(c, res);
}

void q1_crypt_write_in_place(struct qcow_req *req, struct qcow1 *s,
			     uint64_t e, uint64_t in, uint64_t len)
{
	struct q1_span *c;

	c = q1_span_new(req, s, req->pos - req->offset, len, e + in);
	if (!c) {
		/* the failure is recorded: the step ends the request */
		q1_alloc_unlock(s, &req->waiter);
		q1_write_step(req, s);
		return;
	}
	if (c->skip || c->n != c->len) {
		c->op.cb = q1_rmw_read;
		qfile_submit(req->ctx, req->img->file, &c->op, QIO_READ, c->mem,
			     c->n, c->host);
		return;
	}
	q1_rmw_overlay(c);
}
