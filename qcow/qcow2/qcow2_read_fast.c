// SPDX-License-Identifier: MIT
/*
 * The read fast path: a read that one run of this image's allocated data
 * holds whole, its L2 entries in the cache, starts under the chain lock
 * held shared and ends with no lock at all, so that the queues reading
 * one image do not take turns.  Anything else (a cache miss, a hole,
 * zeros, the backing file, compressed or encrypted data, a bad entry)
 * takes the exclusive path, which also reports what is wrong.
 *
 * Shared holders only read chain state, which changes only under the
 * exclusive lock; what they write is atomic (the I/O epoch's counts, the
 * slice's use marks, the hit count) or their own (the context, the
 * request, the op from the context's free list).
 */
#include <stdlib.h>
#include "qcow2_map.h"
#include "layout.h"

struct fast_read {
	struct qio_op op;		/* first: the op is the object */
	struct qcow_req *req;
	struct qepoch *epoch;
	struct qlock *lock;
	unsigned int slot;
};

/* The context's free list: only its own thread starts and ends its ops. */
static struct fast_read *fast_get(struct qcow_ctx *ctx)
{
	struct fast_read *f = ctx->fast_free;

	if (!f)
		return malloc(sizeof(*f));
	ctx->fast_free = *(void **)f;
	ctx->fast_nr--;
	return f;
}

static void fast_put(struct qcow_ctx *ctx, struct fast_read *f)
{
	if (ctx->fast_nr >= QPOOL_MAX) {
		free(f);
		return;
	}
	*(void **)f = ctx->fast_free;
	ctx->fast_free = f;
	ctx->fast_nr++;
}

/* With no lock (or the exclusive one, from the deferred list). */
static void fast_done(struct qio_op *op, int res)
{
	struct fast_read *f = (struct fast_read *)op;
	struct qcow_req *req = f->req;
	struct qcow_ctx *ctx = op->ctx;
	struct qlock_save prev;

	if (res < 0)
		qreq_fail(req, res);
	if (qepoch_exit_unlocked(f->epoch, f->slot)) {
		prev = qcow_lock(ctx, f->lock);
		qepoch_wake(f->epoch, f->slot);
		qcow_unlock(prev);
	}
	fast_put(ctx, f);
	qreq_put(req);
}

/* The fixed buffer takes the read as it is (see qreq_data_read_file()). */
static bool fixed_direct(const struct qcow_req *req, const struct qfile *f,
			 uint64_t host)
{
	uint64_t a = f->align;

	if (host + req->length > f->size)
		return false;
	return a <= 1 || (IS_ALIGNED(host, a) && IS_ALIGNED(req->length, a) &&
			  IS_ALIGNED(req->fixed_addr, a));
}

bool qcow2_read_fast(struct qcow_req *req)
{
	struct qcow2 *s = qcow2_of(req->img);
	struct qcow2_extent e;
	struct fast_read *f;

	if (s->crypt || s->crypt_method)
		return false;
	if (qcow2_map_extent_peek(req, &e) || e.type != SC_NORMAL ||
	    e.len != req->length)
		return false;
	if (req->fixed && !fixed_direct(req, s->data_file, e.host))
		return false;
	f = fast_get(req->ctx);
	if (!f)
		return false;
	__atomic_add_fetch(&s->l2.hits, 1, __ATOMIC_RELAXED);
	f->req = req;
	f->epoch = &s->io_epoch;
	f->lock = req->img->lock;
	f->slot = qepoch_enter(&s->io_epoch);
	f->op.cb = fast_done;
	f->op.data = NULL;
	req->pos = req->offset + req->length;
	qreq_get(req);
	if (req->fixed)
		qfile_submit_fixed(req->ctx, s->data_file, &f->op, QIO_READ,
				   req->fixed->index, req->fixed_addr,
				   req->length, e.host, QBD_READ_AIO);
	else
		qfile_submit_ev(req->ctx, s->data_file, &f->op, QIO_READ,
				req->buf, req->length, e.host, QBD_READ_AIO);
	/* the step's reference: the I/O holds the other, never done here */
	qreq_put(req);
	return true;
}
