// SPDX-License-Identifier: MIT
/* Reads and block status of qcow2 images, as request state machines. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include "crypt_pool.h"
#include "qcow2_map.h"
#include "layout.h"

struct comp_read {
	struct qio_op op;
	struct qcrypt_job job;	/* the decompression, in the worker pool */
	struct qcow_req *req;
	uint8_t *cbuf;
	uint8_t *out;		/* the cluster, decompressed */
	uint64_t clen;
	uint64_t boff;		/* where the guest bytes go in the request */
	uint64_t dst_len;
	uint64_t skip;		/* guest bytes of the cluster before them */
	unsigned int slot;	/* of the image's I/O epoch */
	bool in_place;		/* out is the request's buffer */
};

static void comp_read_end(struct comp_read *c, int res)
{
	struct qcow_req *req = c->req;
	struct qcow2 *s = qcow2_of(req->img);

	if (!res && !c->in_place) {
		qreq_data_put_owned(req, c->boff, c->out, c->skip, c->dst_len);
		c->out = NULL;
	}
	if (res < 0)
		qreq_fail(req, res);
	if (!c->in_place)
		free(c->out);
	free(c->cbuf);
	qepoch_exit(&s->io_epoch, c->slot);
	free(c);
	qreq_put(req);
}

/* Runs on a worker: touches only the buffers. */
static int comp_decompress(struct qcrypt_job *j)
{
	struct comp_read *c = container_of(j, struct comp_read, job);
	struct qcow2 *s = qcow2_of(c->req->img);

	return qcow_decompress(s->compression_type, c->out, s->cluster_size,
			       c->cbuf, c->clen);
}

static void comp_decompressed(struct qwaiter *w, int res)
{
	struct comp_read *c = container_of(w, struct comp_read, job.w);

	if (res < 0) {
		qcow_log(c->req->img, "compressed cluster at %#" PRIx64
			 " (%" PRIu64 " bytes) does not decompress",
			 c->op.off, c->clen);
		res = -EIO;
	}
	comp_read_end(c, res);
}

static void comp_read_done(struct qio_op *op, int res)
{
	struct comp_read *c = (struct comp_read *)op;
	struct qcow_req *req = c->req;
	struct qcow2 *s = qcow2_of(req->img);

	if (res < 0)
		goto fail;
	c->in_place = !req->fixed && c->dst_len == s->cluster_size;
	c->out = c->in_place ? req->buf + c->boff : malloc(s->cluster_size);
	res = -ENOMEM;
	if (!c->out)
		goto fail;
	c->job.run = comp_decompress;
	c->job.w.resume = comp_decompressed;
	/*
	 * Queued for the workers; what none has taken when this thread has
	 * nothing else to do, it inflates itself (qcow_ctx_run_deferred()).
	 */
	c->job.submitter_may_run = true;
	qcrypt_submit(op->ctx, &c->job);
	return;
fail:
	comp_read_end(c, res);
}

static void read_compressed(struct qcow_req *req, const struct qcow2_extent *e,
			    uint64_t boff)
{
	struct qcow2 *s = qcow2_of(req->img);
	struct comp_read *c = calloc(1, sizeof(*c));
	uint64_t off;

	if (!c) {
		qreq_fail(req, -ENOMEM);
		return;
	}
	qcow2_compressed_range(s, e->l2_entry, &off, &c->clen);
	c->cbuf = malloc(c->clen);
	if (!c->cbuf) {
		free(c);
		qreq_fail(req, -ENOMEM);
		return;
	}
	c->req = req;
	c->boff = boff;
	c->dst_len = e->len;
	c->skip = req->pos & (s->cluster_size - 1);
	c->op.cb = comp_read_done;
	c->slot = qepoch_enter(&s->io_epoch);
	qreq_get(req);
	qfile_submit_ev(req->ctx, req->img->file, &c->op, QIO_READ, c->cbuf,
			c->clen, off, QBD_READ_COMPRESSED);
}

static void read_extent(struct qcow_req *req, const struct qcow2_extent *e)
{
	struct qcow2 *s = qcow2_of(req->img);
	uint64_t boff = req->pos - req->offset;

	switch (e->type) {
	case SC_NORMAL:
		if (s->crypt) {
			qcow2_crypt_read(req, boff, e->len, e->host);
			break;
		}
		req->epoch = &s->io_epoch;
		qreq_data_read_file(req, s->data_file, boff, e->len, e->host);
		break;
	case SC_ZERO_PLAIN:
	case SC_ZERO_ALLOC:
		qreq_data_zero(req, boff, e->len);
		break;
	case SC_UNALLOC_PLAIN:
	case SC_UNALLOC_ALLOC:
		qreq_data_backing(req, boff, req->pos, e->len);
		break;
	case SC_COMPRESSED:
		if (s->crypt) {
			qcow_log(req->img, "compressed cluster at guest offset "
				 "%#" PRIx64 " in an encrypted image",
				 req->pos);
			qreq_fail(req, -EIO);
			break;
		}
		read_compressed(req, e, boff);
		break;
	default:
		qreq_fail(req, -EIO);
		break;
	}
}

/* QEMU recurses into the file of metadata-preallocated images for holes. */
static void status_recurse(struct qcow2 *s, struct qcow_status *st)
{
	uint64_t len;
	bool zero, eof;

	if (qfile_seek_status(s->data_file, st->offset, &len, &zero, &eof) < 0)
		return;
	if (eof && (!len || zero)) {
		st->flags |= QCOW_ST_ZERO;
		return;
	}
	st->length = MIN(st->length, len);
	if (zero)
		st->flags |= QCOW_ST_ZERO;
}

static void status_extent(struct qcow_req *req, const struct qcow2_extent *e)
{
	struct qcow2 *s = qcow2_of(req->img);
	struct qcow_image *b = req->img->backing;
	struct qcow_status *st = req->status;

	st->length = e->len;
	st->depth = 0;
	st->file = s->data_file->name;
	if (type_is_mapped(e->type) && !s->crypt_method) {
		st->offset = e->host;
		st->flags |= QCOW_ST_OFFSET_VALID;
	}
	switch (e->type) {
	case SC_NORMAL:
		st->flags |= QCOW_ST_DATA;
		break;
	case SC_ZERO_PLAIN:
	case SC_ZERO_ALLOC:
		st->flags |= QCOW_ST_ZERO;
		break;
	case SC_COMPRESSED:
		st->flags |= QCOW_ST_DATA | QCOW_ST_COMPRESSED;
		break;
	default:
		break;
	}
	if (st->flags & (QCOW_ST_DATA | QCOW_ST_ZERO))
		st->flags |= QCOW_ST_ALLOCATED;
	else if (!b || req->pos >= b->size)
		st->flags |= QCOW_ST_ZERO;
	if (e->type == SC_NORMAL && qcow2_metadata_prealloc(s))
		status_recurse(s, st);
}

void qcow2_read_step(struct qcow_req *req)
{
	uint64_t end = req->offset + req->length;
	struct qcow2_extent e;
	int ret;

	while (req->pos < end && !req->error) {
		ret = qcow2_map_extent(req, &e);
		if (ret == -EAGAIN)
			return;		/* parked: stepped again later */
		if (ret < 0) {
			qreq_fail(req, ret);
			break;
		}
		if (req->op == QCOW_OP_STATUS) {
			status_extent(req, &e);
			req->pos = end;
			break;
		}
		read_extent(req, &e);
		req->pos += e.len;
	}
	qreq_put(req);
}
