// SPDX-License-Identifier: MIT
/*
 * Request life cycle.  A request holds one reference for every piece of
 * I/O in flight on its behalf, plus one while a driver step runs or while
 * it is parked waiting for metadata; the last put completes it.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include "internal.h"

void qreq_get(struct qcow_req *req)
{
	req->pending++;
}

void qreq_done(struct qcow_req *req)
{
	int res = req->error;

	if (!res && req->op == QCOW_OP_STATUS)
		res = (int)MIN(req->status->length, (uint64_t)INT32_MAX);
	req->done(req, res);
}

void qreq_put(struct qcow_req *req)
{
	if (--req->pending > 0)
		return;
	if (!req->error && (req->flags & QCOW_REQ_FUA) &&
	    !(req->flags & QCOW_REQ_FUA_DONE) && req->op != QCOW_OP_READ &&
	    req->op != QCOW_OP_STATUS && req->op != QCOW_OP_FLUSH) {
		req->flags |= QCOW_REQ_FUA_DONE;
		req->pending = 1;
		req->img->drv->flush(req);
		return;
	}
	if ((req->flags & QCOW_REQ_OUTER) && qcow_current_lock())
		qcow_done_later(req);
	else
		qreq_done(req);
}

void qreq_fail(struct qcow_req *req, int err)
{
	if (!req->error)
		req->error = err;
}

static void req_resume(struct qwaiter *w, int err)
{
	struct qcow_req *req = (struct qcow_req *)((char *)w -
			offsetof(struct qcow_req, waiter));

	if (err) {
		qreq_fail(req, err);
		qreq_put(req);
		return;
	}
	req->img->drv->step(req);
}

static void req_init(struct qcow_ctx *ctx, struct qcow_image *img,
		     struct qcow_req *req, enum qcow_op op, void *buf,
		     uint64_t offset, uint64_t length)
{
	req->img = img;
	req->ctx = ctx;
	req->op = op;
	req->offset = offset;
	req->length = length;
	req->pos = offset;
	req->pending = 1;
	req->error = 0;
	req->waiter.resume = req_resume;
	req->waiter.next = NULL;
	req->waiter.ctx = ctx;
	req->drv_state = NULL;
	req->epoch = NULL;
	req->flags &= ~(QCOW_REQ_FUA_DONE | QCOW_REQ_META);
	if (op == QCOW_OP_STATUS) {
		req->status = buf;
		req->buf = NULL;
		memset(req->status, 0, sizeof(*req->status));
	} else {
		req->buf = buf;
		req->status = NULL;
	}
}

/*
 * A read the driver can start under the chain lock held shared (the read
 * fast path), from a thread that holds no lock of the chain.
 */
static bool submit_fast(struct qcow_ctx *ctx, struct qcow_image *img,
			struct qcow_req *req, void *buf, uint64_t offset,
			uint64_t length)
{
	struct qlock_save prev;
	bool ok = false;

	/* the blkdebug filter's rules are changed under the lock only */
	if (!img->drv->read_fast || !ctx->ring || !length || img->file->dbg ||
	    (req->flags & QCOW_REQ_VMSTATE))
		return false;
	if (!qcow_lock_shared(ctx, img->lock, &prev))
		return false;
	if (offset <= img->size && length <= img->size - offset) {
		req_init(ctx, img, req, QCOW_OP_READ, buf, offset, length);
		ok = img->drv->read_fast(req);
	}
	qcow_unlock(prev);
	return ok;
}

static int submit_locked(struct qcow_ctx *ctx, struct qcow_image *img,
			 struct qcow_req *req, enum qcow_op op, void *buf,
			 uint64_t offset, uint64_t length);

/* The caller's own request, not one the engine makes inside a step. */
static void outer_mark(struct qcow_req *req)
{
	req->flags &= ~QCOW_REQ_OUTER;
	if (!qcow_current_lock())
		req->flags |= QCOW_REQ_OUTER;
}

int qcow_submit(struct qcow_ctx *ctx, struct qcow_image *img,
		struct qcow_req *req, enum qcow_op op, void *buf,
		uint64_t offset, uint64_t length)
{
	struct qlock_save prev;
	int ret;

	req->fixed = NULL;
	outer_mark(req);
	if (op == QCOW_OP_READ &&
	    submit_fast(ctx, img, req, buf, offset, length))
		return 0;
	prev = qcow_lock(ctx, img->lock);
	ret = submit_locked(ctx, img, req, op, buf, offset, length);
	qcow_unlock(prev);
	return ret;
}

int qcow_submit_fixed(struct qcow_ctx *ctx, struct qcow_image *img,
		      struct qcow_req *req, enum qcow_op op,
		      const struct qcow_fixed *fx, uint64_t addr,
		      uint64_t offset, uint64_t length)
{
	struct qlock_save prev;
	int ret;

	if (!ctx->ring || !fx || (op != QCOW_OP_READ && op != QCOW_OP_WRITE))
		return -EINVAL;
	req->fixed = fx;
	req->fixed_addr = addr;
	outer_mark(req);
	if (op == QCOW_OP_READ &&
	    submit_fast(ctx, img, req, NULL, offset, length))
		return 0;
	prev = qcow_lock(ctx, img->lock);
	ret = submit_locked(ctx, img, req, op, NULL, offset, length);
	qcow_unlock(prev);
	return ret;
}

static int submit_locked(struct qcow_ctx *ctx, struct qcow_image *img,
			 struct qcow_req *req, enum qcow_op op, void *buf,
			 uint64_t offset, uint64_t length)
{
	if (op != QCOW_OP_READ && op != QCOW_OP_STATUS &&
	    op != QCOW_OP_FLUSH && img->opts.read_only)
		return -EROFS;
	if (op == QCOW_OP_FLUSH) {
		offset = length = 0;
		qfile_event(img->file, QBD_FLUSH_TO_OS);
	}
	if (req->flags & QCOW_REQ_VMSTATE) {
		/* qcow_vmstate_pread/pwrite made that range valid */
		if ((op != QCOW_OP_READ && op != QCOW_OP_WRITE) ||
		    !img->drv->vmstate || offset + length < offset)
			return -EINVAL;
	} else if (offset > img->size || length > img->size - offset) {
		return -EINVAL;
	}
	if (op == QCOW_OP_STATUS && !buf)
		return -EINVAL;
	req_init(ctx, img, req, op, buf, offset, length);
	/* a read-only image has nothing to make durable */
	if ((!length && op != QCOW_OP_FLUSH && op != QCOW_OP_STATUS) ||
	    (op == QCOW_OP_FLUSH && img->opts.read_only)) {
		qreq_put(req);
		return 0;
	}
	if (op != QCOW_OP_READ && op != QCOW_OP_STATUS && op != QCOW_OP_FLUSH &&
	    !(req->flags & QCOW_REQ_VMSTATE) && img->drv->bitmap) {
		int ret = img->drv->bitmap->track(img, offset, length);

		if (ret < 0) {
			qreq_fail(req, ret);
			qreq_put(req);
			return 0;
		}
	}
	img->drv->step(req);
	return 0;
}

void qcow_writeback(struct qcow_ctx *ctx, struct qcow_image *img)
{
	struct qlock_save prev;

	if (!img->drv->writeback)
		return;
	prev = qcow_lock(ctx, img->lock);
	img->drv->writeback(img);
	qcow_unlock(prev);
}
