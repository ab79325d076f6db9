// SPDX-License-Identifier: MIT
/*
 * Write-back of dirty metadata in dependency order (a checkpoint):
 *
 *   cut:       the dirty L2 slices and L1 chunks are copied, and the set of
 *              clusters allocated and released so far is taken; work that
 *              comes later belongs to the next checkpoint.  It waits
 *              until no read or write in place begun before the previous
 *              cut is in flight (io_epoch.c): those are the only ones
 *              that can reach the clusters this checkpoint frees.
 *   dirty bit: with lazy refcounts, the header's dirty bit is on disk
 *              before any L2 entry that refcounts do not cover yet.
 *   refcounts: refcount blocks get the new refcounts of the clusters
 *              allocated before the cut and of those released by the
 *              previous checkpoint; fsync; then the refcount table (new
 *              blocks, or a new table and the header); fsync.
 *   L2:        the bitmap chunks changed since the previous cut, in
 *              place (bitmaps in use: qcow2_bitmap_flush.c); fsync.
 *              Then the copied slices and the bitmap tables that name
 *              new chunk clusters; fsync.
 *   L1:        the copied chunks; fsync.
 *
 * Data written before the cut was complete before its L2 entry changed,
 * so the first fsync also makes it durable before any L2 entry that
 * points to it.  Clusters released before the cut lose their reference
 * in the next checkpoint, after the L2 and L1 changes that dropped them
 * are durable; freed clusters are punched out before they can be reused.
 * A checkpoint with nothing dirty is a single fsync.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include "qcow2_write.h"
#include "qcow2_checkpoint.h"
#include "qcow2_bitmap.h"
#include "layout.h"

static void ckpt_next(struct ckpt *c);

static void wb_release(struct wb_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		free(l->v[i].data);
		if (l->v[i].slice)
			meta_cache_put(l->v[i].cache, l->v[i].slice);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* Copies of the dirty slices of a cache, held until written. */
static int snapshot_slices(struct ckpt *c, struct meta_cache *mc,
			   struct wb_list *out)
{
	struct meta_slice *sl = meta_cache_take_dirty(mc), *next;
	int ret = 0;

	for (; sl; sl = next) {
		struct wb_item it = {
			.off = sl->offset, .len = mc->slice_size,
			.slice = sl, .cache = mc, .file = mc->file,
		};

		next = sl->dirty_next;
		it.data = qalloc_aligned(mc->slice_size);
		if (!it.data || wb_push(out, &it) < 0) {
			free(it.data);
			/* keep it dirty for the next checkpoint */
			sl->dirty = false;
			mc->nb_dirty--;
			meta_cache_mark_dirty(mc, sl);
			ret = -ENOMEM;
			continue;
		}
		memcpy(it.data, sl->data, mc->slice_size);
		sl->refs++;
		meta_cache_mark_clean(mc, sl);
	}
	return ret;
}

static int snapshot_l1(struct ckpt *c)
{
	struct qcow2 *s = c->s;
	uint64_t chunks = div_round_up(s->l1_size, s->l1_chunk_entries), i, j;
	uint32_t bytes = s->l1_chunk_entries * 8;

	if (!s->l1_any_dirty)
		return 0;
	s->l1_any_dirty = false;
	for (i = 0; i < chunks; i++) {
		struct wb_item it = { .len = bytes, .file = s->img->file };
		uint64_t first = i * s->l1_chunk_entries;

		if (!(s->l1_dirty[i / 64] & (1ULL << (i % 64))))
			continue;
		s->l1_dirty[i / 64] &= ~(1ULL << (i % 64));
		it.off = s->l1_offset + first * 8;
		it.data = qalloc_aligned(bytes);
		if (!it.data || wb_push(&c->l1, &it) < 0) {
			free(it.data);
			qcow2_mark_l1_dirty(s, first);
			return -ENOMEM;
		}
		memset(it.data, 0, bytes);
		for (j = 0; j < s->l1_chunk_entries && first + j < s->l1_size;
		     j++)
			put_be64(it.data + j * 8, s->l1[first + j]);
	}
	return 0;
}

static int vec_append(struct cluster_vec *dst, const struct cluster_vec *src)
{
	size_t i;
	int ret;

	for (i = 0; i < src->n; i++) {
		ret = cluster_vec_push(dst, src->v[i]);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int ckpt_cut(struct ckpt *c)
{
	struct qcow2 *s = c->s;
	struct qcow2_alloc *a = &s->alloc;
	int ret;

	/* first: the clusters it allocates are in this cut's refcounts */
	ret = qcow2_bitmaps_ckpt_cut(s, &c->bm_data, &c->l2);
	if (ret < 0)
		return ret;
	/* released before the previous cut: their L2 change is on disk */
	ret = vec_append(&a->lazy, &a->inc);
	if (!ret)
		ret = vec_append(&a->lazy, &a->dec_ready);
	if (ret < 0)
		return ret;
	c->freed = a->dec_ready;
	memset(&a->dec_ready, 0, sizeof(a->dec_ready));
	c->released = a->dec;
	memset(&a->dec, 0, sizeof(a->dec));
	a->inc.n = 0;
	if (c->refcounts) {
		c->touched = a->lazy;
		memset(&a->lazy, 0, sizeof(a->lazy));
	}
	ret = snapshot_slices(c, &s->l2, &c->l2);
	if (!ret)
		ret = snapshot_l1(c);
	return ret;
}

/* ---- I/O helpers ---- */

static void submit(struct ckpt *c, struct qfile *f, enum qio_kind kind,
		   void *buf, uint64_t len, uint64_t off, int ev);

static void sync_files(struct ckpt *c)
{
	struct qcow2 *s = c->s;

	c->synced = true;
	c->pending++;
	submit(c, s->img->file, QIO_FSYNC, NULL, 0, 0, QBD_NONE_TAG);
	if (s->data_file != s->img->file)
		submit(c, s->data_file, QIO_FSYNC, NULL, 0, 0, QBD_NONE_TAG);
	if (--c->pending == 0)
		ckpt_next(c);
}

static void io_done(struct qio_op *op, int res)
{
	struct ckpt *c = op->data;

	if (res < 0 && !c->error)
		c->error = res;
	free(op);
	if (--c->pending)
		return;
	if (c->sync_after && !c->error) {
		c->sync_after = false;
		sync_files(c);
		return;
	}
	ckpt_next(c);
}

static void submit(struct ckpt *c, struct qfile *f, enum qio_kind kind,
		   void *buf, uint64_t len, uint64_t off, int ev)
{
	struct qio_op *op = calloc(1, sizeof(*op));

	if (!op) {
		if (!c->error)
			c->error = -ENOMEM;
		return;
	}
	op->cb = io_done;
	op->data = c;
	c->pending++;
	qfile_submit_ev(c->ctx, f, op, kind, buf, len, off, ev);
}

/*
 * Writes every item (each raising blkdebug event ev), then fsyncs; false
 * when there was nothing.
 */
static bool write_list(struct ckpt *c, struct wb_list *l, int ev)
{
	size_t i;

	if (!l->n)
		return false;
	c->wrote = true;
	c->sync_after = true;
	c->pending++;
	for (i = 0; i < l->n; i++)
		submit(c, l->v[i].file, QIO_WRITE, l->v[i].data, l->v[i].len,
		       l->v[i].off, ev);
	if (--c->pending == 0) {
		c->sync_after = false;
		if (c->error)
			ckpt_next(c);
		else
			sync_files(c);
	}
	return true;
}

static void ckpt_resume(struct qwaiter *w, int err)
{
	struct ckpt *c = (struct ckpt *)((char *)w -
					 offsetof(struct ckpt, waiter));

	if (err && !c->error)
		c->error = err;
	ckpt_next(c);
}

/* ---- the phases ---- */

/*
 * A failed checkpoint hands the next one everything it took: slices and
 * table chunks it did not get on disk are dirty again, the refcounts of
 * the clusters it covered are written again (they are values, not
 * deltas), released clusters wait for a checkpoint that succeeds, a
 * dirty bit it set is written again, and a move to a new refcount table
 * is made again (table written whole, then the header).
 */
static void ckpt_keep_dirty(struct ckpt *c)
{
	struct qcow2 *s = c->s;
	size_t i;

	for (i = 0; i < c->l2.n; i++)
		if (c->l2.v[i].slice)
			meta_cache_mark_dirty(&s->l2, c->l2.v[i].slice);
	qcow2_bitmaps_ckpt_failed(s);
	for (i = 0; i < c->l1.n; i++)
		qcow2_mark_l1_dirty(s, (c->l1.v[i].off - s->l1_offset) / 8);
	/* a table move is done again whole, header included */
	if (c->new_rt)
		s->rt_move_to = c->new_rt_offset;
	else if (c->moved_rt)
		s->rt_move_to = s->rt_offset;
	for (i = 0; i < c->io.n; i++) {
		if (c->io.v[i].slice)
			meta_cache_mark_dirty(c->io.v[i].cache,
					      c->io.v[i].slice);
		else if (!s->rt_move_to)
			qcow2_keep_reftable_chunk(s, c->io.v[i].off);
	}
	if (c->set_dirty_bit)
		qcow2_header_set_dirty(s, false);
	vec_append(&s->alloc.lazy, &c->touched);
	vec_append(&s->alloc.dec, &c->released);
}

static void ckpt_finish(struct ckpt *c)
{
	struct qcow2 *s = c->s;
	struct qwaiter *list = c->waiters;
	size_t i;

	if (c->error) {
		ckpt_keep_dirty(c);
		qcow_log(s->img, "metadata write-back failed: %s",
			 strerror(-c->error));
	} else {
		for (i = 0; i < c->freed.n; i++)
			qcow2_cluster_set_free(s, c->freed.v[i]);
		/* released before this cut: their refcount drops next time */
		vec_append(&s->alloc.dec_ready, &c->released);
	}
	wb_release(&c->l2);
	wb_release(&c->l1);
	wb_release(&c->io);
	wb_release(&c->bm_data);
	cluster_vec_free(&c->touched);
	cluster_vec_free(&c->freed);
	cluster_vec_free(&c->released);
	s->ckpt = NULL;
	while (list) {
		struct qwaiter *w = list;

		list = w->next;
		w->next = NULL;
		qwaiter_wake(w, c->error);
	}
	qctx_disown(c->ctx);
	free(c);
	qcow2_ckpt_kick(s, NULL);
}

static int queue_header(struct ckpt *c, struct wb_list *l)
{
	struct qcow2 *s = c->s;
	struct wb_item it = { .off = 0, .file = s->img->file };

	it.len = qcow2_header_io_len(s);
	it.data = qalloc_aligned(it.len);
	if (!it.data || wb_push(l, &it) < 0) {
		free(it.data);
		c->error = -ENOMEM;
		return -ENOMEM;
	}
	memcpy(it.data, s->hdr_raw, it.len);
	return 0;
}

static int punch_freed(struct ckpt *c)
{
	struct qcow2 *s = c->s;
	size_t i;

	if (!c->freed.n || s->has_data_file)
		return 0;
	c->pending++;
	for (i = 0; i < c->freed.n; i++)
		submit(c, s->img->file, QIO_PUNCH, NULL, s->cluster_size,
		       c->freed.v[i] << s->cluster_bits, QBD_CLUSTER_FREE);
	return --c->pending ? -EAGAIN : 0;
}

static int refcount_phase(struct ckpt *c)
{
	struct qcow2 *s = c->s;
	int ret;

	/* in memory always, lazy refcounts or not; exactly once */
	if (!c->dropped) {
		c->dropped = true;
		qcow2_ckpt_prepare_freed(c);
	}
	if (!c->refcounts)
		return 0;
	if (s->rt_move_to) {
		c->new_rt = s->rt;
		c->new_rt_entries = s->rt_entries;
		c->new_rt_offset = s->rt_move_to;
		s->rt_move_to = 0;
	}
	ret = qcow2_ckpt_apply_refcounts(c);
	if (ret < 0)
		return ret;
	return snapshot_slices(c, &c->s->rb, &c->io);
}

/* Runs phases until one waits for I/O. */
static void ckpt_next(struct ckpt *c)
{
	struct qcow2 *s = c->s;
	int ret;

	while (!c->error) {
		enum ckpt_phase p = c->phase++;

		switch (p) {
		case CK_CUT:
			/* no I/O that may reach what this checkpoint frees */
			if (!qepoch_advance(&s->io_epoch, &c->waiter)) {
				c->phase = CK_CUT;
				return;
			}
			ret = ckpt_cut(c);
			if (ret < 0)
				c->error = ret;
			break;
		case CK_DIRTY_BIT:
			if (s->lazy && (c->l2.n || c->l1.n) &&
			    !(s->incompatible & QCOW2_INCOMPAT_DIRTY)) {
				qcow2_header_set_dirty(s, true);
				c->set_dirty_bit = true;
				if (queue_header(c, &c->io) < 0)
					break;
				if (write_list(c, &c->io, QBD_NONE_TAG))
					return;
			}
			break;
		case CK_REFCOUNTS:
			wb_release(&c->io);
			ret = refcount_phase(c);
			if (ret == -EAGAIN) {
				c->phase = CK_REFCOUNTS;
				return;
			}
			if (ret < 0)
				c->error = ret;
			break;
		case CK_REFBLOCKS:
			if (write_list(c, &c->io, QBD_REFBLOCK_UPDATE_PART))
				return;
			break;
		case CK_REFTABLE:
			wb_release(&c->io);
			if (qcow2_ckpt_queue_reftable(c) < 0)
				c->error = -ENOMEM;
			else if (write_list(c, &c->io, QBD_REFTABLE_GROW))
				return;
			break;
		case CK_HEADER:
			wb_release(&c->io);
			if (!c->new_rt)
				break;
			s->rt_offset = c->new_rt_offset;
			s->rt_clusters = c->new_rt_entries * 8 /
					 s->cluster_size;
			qcow2_header_set_reftable(s);
			c->new_rt = NULL;
			c->moved_rt = true;
			if (queue_header(c, &c->io) < 0)
				break;
			if (write_list(c, &c->io, QBD_NONE_TAG))
				return;
			break;
		case CK_L2:
			/* chunks on disk before a table names their cluster */
			if (c->bm_data.n && !c->bm_data_done) {
				c->bm_data_done = true;
				c->phase = CK_L2;
				if (write_list(c, &c->bm_data, QBD_NONE_TAG))
					return;
			}
			/* data written before the cut is durable before L2 */
			if ((c->l2.n || c->l1.n) && !c->synced) {
				c->phase = CK_L2;
				sync_files(c);
				return;
			}
			if (write_list(c, &c->l2, QBD_L2_UPDATE))
				return;
			break;
		case CK_L1:
			if (write_list(c, &c->l1, QBD_L1_UPDATE))
				return;
			break;
		case CK_LAST_SYNC:
			if (!c->wrote) {
				sync_files(c);
				return;
			}
			break;
		case CK_PUNCH:
			if (punch_freed(c) == -EAGAIN)
				return;
			break;
		case CK_DONE:
			ckpt_finish(c);
			return;
		}
	}
	ckpt_finish(c);
}

/*
 * Lazy refcounts are written at close, but a device may stay open for
 * ever: once the clusters waiting for them would pass QCOW2_LAZY_MAX,
 * this checkpoint writes them, so the list stays bounded.
 */
static bool lazy_backlog_full(const struct qcow2 *s)
{
	const struct qcow2_alloc *a = &s->alloc;

	return a->lazy.n + a->inc.n + a->dec_ready.n > QCOW2_LAZY_MAX;
}

static int ckpt_start(struct qcow2 *s, struct qcow_ctx *ctx,
		      struct qwaiter *waiters, bool refcounts)
{
	struct ckpt *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->s = s;
	c->ctx = ctx;
	c->waiters = waiters;
	c->refcounts = refcounts || !s->lazy || lazy_backlog_full(s);
	c->waiter.resume = ckpt_resume;
	c->waiter.ctx = ctx;
	qctx_own(ctx, 1);
	s->ckpt = c;
	ckpt_next(c);
	return 0;
}

void qcow2_ckpt_kick(struct qcow2 *s, struct qcow_ctx *ctx)
{
	struct qwaiter *w = s->next_waiters;
	bool refcounts = s->next_refcounts;

	/* a checkpoint's I/O goes on the ring of the thread running it */
	if (!ctx)
		ctx = qcow_current_ctx();
	if (ctx)
		s->next_ctx = ctx;
	if (s->ckpt || !s->next_wanted)
		return;
	s->next_waiters = NULL;
	s->next_wanted = false;
	s->next_refcounts = false;
	if (ckpt_start(s, s->next_ctx, w, refcounts) < 0) {
		while (w) {
			struct qwaiter *next = w->next;

			w->next = NULL;
			qwaiter_wake(w, -ENOMEM);
			w = next;
		}
	}
}

void qcow2_ckpt_request(struct qcow2 *s, struct qcow_ctx *ctx,
			struct qwaiter *w, bool refcounts)
{
	if (w) {
		struct qwaiter **tail = &s->next_waiters;

		while (*tail)
			tail = &(*tail)->next;
		w->next = NULL;
		w->ctx = ctx;
		*tail = w;
	}
	s->next_wanted = true;
	s->next_refcounts |= refcounts;
	qcow2_ckpt_kick(s, ctx);
}

/* Write-back without a waiter once enough metadata is dirty. */
void qcow2_ckpt_maybe(struct qcow2 *s, struct qcow_ctx *ctx)
{
	if (s->ckpt || s->next_wanted)
		return;
	if (s->l2.nb_dirty * 2 > s->l2.max_slices ||
	    s->alloc.inc.n > 4096 || s->alloc.dec.n > 4096)
		qcow2_ckpt_request(s, ctx, NULL, false);
}

static void flush_resume(struct qwaiter *w, int err)
{
	struct qcow_req *req = (struct qcow_req *)((char *)w -
			offsetof(struct qcow_req, waiter));

	if (err)
		qreq_fail(req, err);
	qreq_put(req);
}

static void fua_synced(struct qio_op *op, int res)
{
	struct qcow_req *req = op->data;

	free(op);
	if (res < 0)
		qreq_fail(req, res);
	qreq_put(req);
}

/*
 * A FUA write that only wrote in place, through L2 entries already on
 * disk (clean slices, clean L1, no checkpoint under way), needs its data
 * durable and nothing else: one fdatasync of the file it went to.
 */
static bool fua_in_place(struct qcow_req *req)
{
	struct qcow2 *s = qcow2_of(req->img);
	struct qio_op *op;

	if (req->op != QCOW_OP_WRITE || (req->flags & QCOW_REQ_META) ||
	    !(req->flags & QCOW_REQ_FUA_DONE))
		return false;
	op = calloc(1, sizeof(*op));
	if (!op)
		return false;
	op->cb = fua_synced;
	op->data = req;
	qfile_submit(req->ctx, s->data_file, op, QIO_FSYNC, NULL, 0, 0);
	return true;
}

void qcow2_flush_step(struct qcow_req *req)
{
	struct qcow2 *s = qcow2_of(req->img);

	if (fua_in_place(req))
		return;
	req->waiter.resume = flush_resume;
	req->pos = req->offset + req->length;
	qcow2_ckpt_request(s, req->ctx, &req->waiter, false);
}

void qcow2_writeback(struct qcow_image *img)
{
	struct qcow2 *s = qcow2_of(img);

	if (!s->writable || s->corrupt || s->ckpt || s->next_wanted)
		return;
	if (s->l2.nb_dirty || s->l1_any_dirty || s->alloc.inc.n ||
	    s->alloc.dec.n || s->alloc.dec_ready.n)
		qcow2_ckpt_request(s, qcow_current_ctx(), NULL, false);
}
