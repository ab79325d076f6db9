// SPDX-License-Identifier: MIT
/*
 * FLUSH of a legacy qcow image, holding the allocation lock so no table
 * changes meanwhile: fsync (the data of new clusters), the dirty L2
 * tables, fsync, the dirty L1 entries, fsync.  An L2 entry on disk never
 * points to data that is not durable, nor an L1 entry to a table that is
 * not (docs/crash-safety.md, "Legacy qcow").  The same runs in the
 * background, for no request, when dirty tables pile up or the caller's
 * idle timer asks (qcow_writeback()).
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "qcow1.h"

/* where the flush is: the I/O of the stage before it has ended */
enum q1_flush_stage {
	Q1F_LOCK, Q1F_DATA_SYNCED, Q1F_L2_WRITTEN, Q1F_L2_SYNCED,
	Q1F_L1_WRITTEN, Q1F_DONE
};

struct q1_flush {
	struct qwaiter w;
	struct qio_op sync_op;
	struct qcow_req *req;		/* NULL: in the background */
	struct qcow_image *img;
	struct qcow_ctx *ctx;
	struct qcow1 *s;
	enum q1_flush_stage stage;
	unsigned int pending;
	int err;
};

struct q1_flush_io {
	struct qio_op op;
	struct q1_flush *f;
	struct meta_slice *sl;		/* an L2 table, or */
	uint32_t chunk;			/* an L1 chunk, in mem */
	uint8_t *mem;
};

static void q1_flush_run(struct q1_flush *f);

bool q1_meta_dirty(const struct qcow1 *s)
{
	uint32_t i;

	if (s->l2.dirty_list)
		return true;
	for (i = 0; i <= s->l1_size / Q1_L1_CHUNK; i++)
		if (s->l1_dirty[i])
			return true;
	return false;
}

static void q1_flush_resume(struct qwaiter *w, int err)
{
	struct q1_flush *f = (struct q1_flush *)w;

	if (err && !f->err)
		f->err = err;
	q1_flush_run(f);
}

static void q1_flush_io_done(struct qio_op *op, int res)
{
	struct q1_flush_io *io = (struct q1_flush_io *)op;
	struct q1_flush *f = io->f;
	struct qcow1 *s = f->s;

	if (res < 0 && !f->err)
		f->err = res;
	if (io->sl) {
		meta_cache_mark_clean(&s->l2, io->sl);
		/* still to write: back on the dirty list */
		if (res < 0)
			meta_cache_mark_dirty(&s->l2, io->sl);
	} else if (res < 0) {
		s->l1_dirty[io->chunk] = 1;
	}
	free(io->mem);
	free(io);
	if (--f->pending == 0)
		q1_flush_run(f);
}

static struct q1_flush_io *q1_flush_io_new(struct q1_flush *f)
{
	struct q1_flush_io *io = calloc(1, sizeof(*io));

	if (!io) {
		if (!f->err)
			f->err = -ENOMEM;
		return NULL;
	}
	io->f = f;
	io->op.cb = q1_flush_io_done;
	f->pending++;
	return io;
}

static void q1_flush_l2(struct q1_flush *f)
{
	struct qcow1 *s = f->s;
	struct meta_slice *sl = meta_cache_take_dirty(&s->l2), *next;
	struct q1_flush_io *io;

	for (; sl; sl = next) {
		next = sl->dirty_next;
		io = q1_flush_io_new(f);
		if (!io) {
			meta_cache_mark_clean(&s->l2, sl);
			meta_cache_mark_dirty(&s->l2, sl);
			continue;
		}
		io->sl = sl;
		qfile_submit(f->ctx, f->img->file, &io->op, QIO_WRITE,
			     sl->data, s->l2.slice_size, sl->offset);
	}
}

static void q1_flush_l1_chunk(struct q1_flush *f, uint32_t chunk)
{
	struct qcow1 *s = f->s;
	uint32_t first = chunk * Q1_L1_CHUNK, i;
	uint32_t n = MIN(Q1_L1_CHUNK, s->l1_size - first);
	struct q1_flush_io *io = q1_flush_io_new(f);

	if (!io)
		return;
	io->chunk = chunk;
	io->mem = qalloc_aligned(Q1_L1_CHUNK * 8);
	if (!io->mem) {
		f->err = -ENOMEM;
		f->pending--;
		free(io);
		return;
	}
	for (i = 0; i < n; i++)
		put_be64(io->mem + i * 8, s->l1[first + i]);
	s->l1_dirty[chunk] = 0;
	qfile_submit(f->ctx, f->img->file, &io->op, QIO_WRITE,
		     io->mem, n * 8, s->l1_offset + (uint64_t)first * 8);
}

static void q1_flush_l1(struct q1_flush *f)
{
	uint32_t i;

	for (i = 0; i <= f->s->l1_size / Q1_L1_CHUNK && !f->err; i++)
		if (f->s->l1_dirty[i])
			q1_flush_l1_chunk(f, i);
}

static void q1_flush_synced(struct qio_op *op, int res)
{
	struct q1_flush *f = (struct q1_flush *)((char *)op -
			offsetof(struct q1_flush, sync_op));

	if (res < 0 && !f->err)
		f->err = res;
	if (--f->pending == 0)
		q1_flush_run(f);
}

static void q1_flush_sync(struct q1_flush *f)
{
	f->pending++;
	f->sync_op.cb = q1_flush_synced;
	qfile_submit(f->ctx, f->img->file, &f->sync_op, QIO_FSYNC,
		     NULL, 0, 0);
}

static void q1_flush_end(struct q1_flush *f)
{
	struct qcow_req *req = f->req;

	q1_alloc_unlock(f->s, &f->w);
	if (req) {
		if (f->err)
			qreq_fail(req, f->err);
		qreq_put(req);
	} else {
		/* what failed stays dirty for the next flush */
		if (f->err)
			qcow_log(f->img, "metadata write-back failed: %s",
				 strerror(-f->err));
		f->s->bg_flush = false;
		qctx_disown(f->ctx);
	}
	free(f);
}

/* Each stage starts its I/O and comes back here when all of it is done. */
static void q1_flush_run(struct q1_flush *f)
{
	if (f->err || f->stage == Q1F_DONE) {
		q1_flush_end(f);
		return;
	}
	switch (f->stage) {
	case Q1F_LOCK:
		if (!q1_alloc_lock(f->s, &f->w))
			return;
		f->stage = q1_meta_dirty(f->s) ? Q1F_DATA_SYNCED : Q1F_DONE;
		q1_flush_sync(f);
		return;
	case Q1F_DATA_SYNCED:
		f->stage = Q1F_L2_WRITTEN;
		f->pending++;
		q1_flush_l2(f);
		break;
	case Q1F_L2_WRITTEN:
	case Q1F_L1_WRITTEN:
		f->stage++;
		q1_flush_sync(f);
		return;
	case Q1F_L2_SYNCED:
		f->stage = Q1F_L1_WRITTEN;
		f->pending++;
		q1_flush_l1(f);
		break;
	case Q1F_DONE:
		break;
	}
	if (--f->pending == 0)
		q1_flush_run(f);
}

static struct q1_flush *q1_flush_new(struct qcow_image *img,
				      struct qcow_ctx *ctx)
{
	struct q1_flush *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->img = img;
	f->ctx = ctx;
	f->s = img->priv;
	f->w.resume = q1_flush_resume;
	f->w.ctx = ctx;
	return f;
}

void qcow1_flush(struct qcow_req *req)
{
	struct q1_flush *f = q1_flush_new(req->img, req->ctx);

	if (!f) {
		qreq_fail(req, -ENOMEM);
		qreq_put(req);
		return;
	}
	f->req = req;
	q1_flush_run(f);
}

void q1_writeback_start(struct qcow_image *img, struct qcow_ctx *ctx)
{
	struct qcow1 *s = img->priv;
	struct q1_flush *f;

	if (s->bg_flush || !ctx || !q1_meta_dirty(s))
		return;
	f = q1_flush_new(img, ctx);
	if (!f)
		return;
	s->bg_flush = true;
	qctx_own(ctx, 1);
	q1_flush_run(f);
}

void qcow1_writeback(struct qcow_image *img)
{
	q1_writeback_start(img, qcow_current_ctx());
}
