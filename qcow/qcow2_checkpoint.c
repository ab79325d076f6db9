// SPDX-License-Identifier: MIT
/*
 * Write-back of dirty metadata in dependency order (a checkpoint):
 *
 *   cut:       the dirty L2 slices and L1 chunks are copied, and the set of
 *              clusters allocated and released so far is taken; work that
 *              comes later belongs to the next checkpoint.
 *   dirty bit: with lazy refcounts, the header's dirty bit is on disk
 *              before any L2 entry that refcounts do not cover yet.
 *   refcounts: refcount blocks get the new refcounts of the clusters
 *              allocated before the cut and of those released by the
 *              previous checkpoint; fsync; then the refcount table (new
 *              blocks, or a new table and the header); fsync.
 *   L2:        the copied slices; fsync.
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
#include "layout.h"

enum ckpt_phase {
	CK_DIRTY_BIT,
	CK_REFCOUNTS,
	CK_REFBLOCKS,
	CK_REFTABLE,
	CK_HEADER,
	CK_L2,
	CK_L1,
	CK_LAST_SYNC,
	CK_PUNCH,
	CK_DONE,
};

struct wb_item {
	uint64_t off;
	uint32_t len;
	uint8_t *data;
	struct meta_slice *slice;
	struct meta_cache *cache;
	struct qfile *file;
};

struct wb_list {
	struct wb_item *v;
	size_t n;
	size_t cap;
};

struct ckpt {
	struct qcow2 *s;
	struct qcow_ctx *ctx;
	enum ckpt_phase phase;
	int pending;
	int error;
	bool refcounts;		/* this checkpoint writes refcounts */
	bool wrote;
	bool sync_after;	/* fsync once the writes are done */
	bool synced;		/* an fsync completed since the cut */
	bool dropped;		/* released references taken off in memory */
	bool set_dirty_bit;	/* this checkpoint set the lazy dirty bit */
	bool moved_rt;		/* ... named a new refcount table */
	struct qwaiter waiter;
	struct qwaiter *waiters;	/* completed with this checkpoint */
	struct cluster_vec touched;
	struct cluster_vec freed;
	struct cluster_vec released;	/* taken at the cut */
	size_t touched_pos;
	struct wb_list l2;
	struct wb_list l1;
	struct wb_list io;		/* refblocks, table, header */
	uint64_t *new_rt;
	uint64_t new_rt_entries;
	uint64_t new_rt_offset;
};

static void ckpt_next(struct ckpt *c);

static int wb_push(struct wb_list *l, const struct wb_item *it)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 32;
		struct wb_item *p = realloc(l->v, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		l->v = p;
		l->cap = cap;
	}
	l->v[l->n++] = *it;
	return 0;
}

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
		   void *buf, uint64_t len, uint64_t off);

static void sync_files(struct ckpt *c)
{
	struct qcow2 *s = c->s;

	c->synced = true;
	c->pending++;
	submit(c, s->img->file, QIO_FSYNC, NULL, 0, 0);
	if (s->data_file != s->img->file)
		submit(c, s->data_file, QIO_FSYNC, NULL, 0, 0);
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
		   void *buf, uint64_t len, uint64_t off)
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
	qfile_submit(c->ctx, f, op, kind, buf, len, off);
}

/* Writes every item, then fsyncs; false when there was nothing. */
static bool write_list(struct ckpt *c, struct wb_list *l)
{
	size_t i;

	if (!l->n)
		return false;
	c->wrote = true;
	c->sync_after = true;
	c->pending++;
	for (i = 0; i < l->n; i++)
		submit(c, l->v[i].file, QIO_WRITE, l->v[i].data, l->v[i].len,
		       l->v[i].off);
	if (--c->pending == 0) {
		c->sync_after = false;
		if (c->error)
			ckpt_next(c);
		else
			sync_files(c);
	}
	return true;
}

/* ---- refcounts ---- */

static uint64_t rb_entries(const struct qcow2 *s)
{
	return ((uint64_t)s->cluster_size * 8) >> s->refcount_order;
}

static int take_cluster(struct ckpt *c, uint64_t n, uint64_t *off)
{
	struct qcow2 *s = c->s;
	int64_t host = qcow2_alloc_clusters(s, n);
	uint64_t i;
	int ret;

	if (host < 0)
		return (int)host;
	/* metadata of this checkpoint: counted now, not at the next one */
	s->alloc.inc.n -= n;
	ret = qcow2_check_write(s, UINT64_MAX, (uint64_t)host,
				n << s->cluster_bits);
	if (ret < 0)
		return ret;
	for (i = 0; i < n; i++) {
		ret = cluster_vec_push(&c->touched,
				       ((uint64_t)host >> s->cluster_bits) + i);
		if (ret < 0)
			return ret;
	}
	*off = (uint64_t)host;
	return 0;
}

/* A bigger refcount table, written whole, then named by the header. */
static int grow_reftable(struct ckpt *c, uint64_t need)
{
	struct qcow2 *s = c->s;
	uint64_t cur = c->new_rt ? c->new_rt_entries : s->rt_entries;
	uint64_t entries = MAX(need, cur * 2), bytes, off = 0;
	uint64_t *rt;
	int ret;

	bytes = ALIGN_UP(entries * 8, s->cluster_size);
	if (bytes > QCOW_MAX_REFTABLE_SIZE)
		return -EFBIG;
	entries = bytes / 8;
	rt = calloc(entries, 8);
	if (!rt)
		return -ENOMEM;
	memcpy(rt, s->rt, s->rt_entries * 8);
	ret = take_cluster(c, bytes / s->cluster_size, &off);
	if (!ret)
		ret = qcow2_meta_add(s, off, bytes, QCOW2_META_REFTABLE);
	if (ret < 0) {
		free(rt);
		return ret;
	}
	if (c->new_rt)
		qcow2_release_later(s, c->new_rt_offset,
				    c->new_rt_entries * 8);
	else
		qcow2_release_later(s, s->rt_offset, s->rt_entries * 8);
	free(s->rt);
	s->rt = rt;
	s->rt_entries = entries;
	c->new_rt = rt;
	c->new_rt_entries = entries;
	c->new_rt_offset = off;
	return 0;
}

static int new_refblock(struct ckpt *c, uint64_t rt_idx)
{
	struct qcow2 *s = c->s;
	uint32_t ss = s->rb.slice_size, i;
	struct meta_slice *sl;
	uint64_t off = 0;
	int ret;

	if (rt_idx >= s->rt_entries) {
		ret = grow_reftable(c, rt_idx + 1);
		if (ret < 0)
			return ret;
	}
	ret = take_cluster(c, 1, &off);
	if (ret < 0)
		return ret;
	for (i = 0; i < s->cluster_size / ss; i++) {
		sl = meta_cache_get_new(&s->rb, off + (uint64_t)i * ss, &ret);
		if (!sl)
			return ret;
		meta_cache_put(&s->rb, sl);
	}
	ret = qcow2_meta_add(s, off, s->cluster_size, QCOW2_META_REFBLOCK);
	if (ret < 0)
		return ret;
	s->rt[rt_idx] = off;
	s->rt_dirty[rt_idx / s->rt_chunk_entries / 64] |=
		1ULL << ((rt_idx / s->rt_chunk_entries) % 64);
	s->rt_any_dirty = true;
	return 0;
}

static bool is_freed(const struct ckpt *c, uint64_t cluster)
{
	size_t lo = 0, hi = c->freed.n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (c->freed.v[mid] == cluster)
			return true;
		if (c->freed.v[mid] < cluster)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static void ckpt_resume(struct qwaiter *w, int err)
{
	struct ckpt *c = (struct ckpt *)((char *)w -
					 offsetof(struct ckpt, waiter));

	if (err && !c->error)
		c->error = err;
	ckpt_next(c);
}

/*
 * Puts the refcount of every touched cluster into its refcount block
 * slice; returns -EAGAIN while a slice is loading.
 */
static int apply_refcounts(struct ckpt *c)
{
	struct qcow2 *s = c->s;
	uint64_t per = rb_entries(s), max = s->refcount_max;
	int ret;

	while (c->touched_pos < c->touched.n) {
		uint64_t cl = c->touched.v[c->touched_pos];
		uint64_t idx = cl / per, j = cl % per, byte, rc;
		struct meta_slice *sl;

		if (idx >= s->rt_entries || !s->rt[idx]) {
			ret = new_refblock(c, idx);
			if (ret < 0)
				return ret;
		}
		byte = (j << s->refcount_order) / 8;
		sl = meta_cache_get(&s->rb, c->ctx, &c->waiter,
				    s->rt[idx] + ALIGN_DOWN(byte,
							    s->rb.slice_size),
				    &ret);
		if (!sl)
			return ret ? ret : -EAGAIN;
		rc = is_freed(c, cl) ? 0 : qcow2_refcount_of(s, cl);
		if (rc > max) {
			meta_cache_put(&s->rb, sl);
			qcow_log(s->img, "refcount of cluster %" PRIu64
				 " overflows %u bits", cl,
				 1u << s->refcount_order);
			return -ERANGE;
		}
		qcow2_refcount_put(s->refcount_order, sl->data, j - ALIGN_DOWN(byte,
				s->rb.slice_size) * 8 / (1u << s->refcount_order),
			     rc);
		meta_cache_mark_dirty(&s->rb, sl);
		meta_cache_put(&s->rb, sl);
		c->touched_pos++;
	}
	return 0;
}

static void prepare_freed(struct ckpt *c)
{
	struct qcow2 *s = c->s;
	size_t i, n = 0;

	/* one reference dropped per entry; keep those that reach zero */
	for (i = 0; i < c->freed.n; i++) {
		cluster_vec_push(&c->touched, c->freed.v[i]);
		if (qcow2_refcount_drop(s, c->freed.v[i]))
			c->freed.v[n++] = c->freed.v[i];
	}
	c->freed.n = n;
	cluster_vec_sort_unique(&c->freed);
	cluster_vec_sort_unique(&c->touched);
}

static int queue_reftable(struct ckpt *c)
{
	struct qcow2 *s = c->s;
	uint64_t chunks, i, j, bytes = (uint64_t)s->rt_chunk_entries * 8;
	struct wb_item it = { .file = s->img->file };

	if (c->new_rt) {
		it.off = c->new_rt_offset;
		it.len = c->new_rt_entries * 8;
		it.data = qalloc_aligned(it.len);
		if (!it.data)
			return -ENOMEM;
		for (i = 0; i < c->new_rt_entries; i++)
			put_be64(it.data + i * 8, c->new_rt[i]);
		memset(s->rt_dirty, 0, div_round_up(s->rt_dirty_chunks, 64) * 8);
		s->rt_any_dirty = false;
		return wb_push(&c->io, &it);
	}
	chunks = div_round_up(s->rt_entries, s->rt_chunk_entries);
	for (i = 0; i < chunks && s->rt_any_dirty; i++) {
		if (!(s->rt_dirty[i / 64] & (1ULL << (i % 64))))
			continue;
		s->rt_dirty[i / 64] &= ~(1ULL << (i % 64));
		it.off = s->rt_offset + i * bytes;
		it.len = bytes;
		it.data = qalloc_aligned(bytes);
		if (!it.data || wb_push(&c->io, &it) < 0) {
			free(it.data);
			return -ENOMEM;
		}
		for (j = 0; j < s->rt_chunk_entries; j++)
			put_be64(it.data + j * 8,
				 i * s->rt_chunk_entries + j < s->rt_entries ?
				 s->rt[i * s->rt_chunk_entries + j] : 0);
	}
	s->rt_any_dirty = false;
	return 0;
}

/* ---- the phases ---- */

/* A refcount-table chunk this checkpoint was writing is written again. */
static void keep_reftable_chunk(struct qcow2 *s, uint64_t off)
{
	uint64_t bytes = (uint64_t)s->rt_chunk_entries * 8, i;

	if (off < s->rt_offset ||
	    off >= s->rt_offset + (uint64_t)s->rt_clusters * s->cluster_size)
		return;
	i = (off - s->rt_offset) / bytes;
	s->rt_dirty[i / 64] |= 1ULL << (i % 64);
	s->rt_any_dirty = true;
}

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
		meta_cache_mark_dirty(&s->l2, c->l2.v[i].slice);
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
			keep_reftable_chunk(s, c->io.v[i].off);
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
	cluster_vec_free(&c->touched);
	cluster_vec_free(&c->freed);
	cluster_vec_free(&c->released);
	s->ckpt = NULL;
	c->ctx->owned--;
	while (list) {
		struct qwaiter *w = list;

		list = w->next;
		w->next = NULL;
		qwaiter_wake(w, c->error);
	}
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
		       c->freed.v[i] << s->cluster_bits);
	return --c->pending ? -EAGAIN : 0;
}

static int refcount_phase(struct ckpt *c)
{
	struct qcow2 *s = c->s;
	int ret;

	/* in memory always, lazy refcounts or not; exactly once */
	if (!c->dropped) {
		c->dropped = true;
		prepare_freed(c);
	}
	if (!c->refcounts)
		return 0;
	if (s->rt_move_to) {
		c->new_rt = s->rt;
		c->new_rt_entries = s->rt_entries;
		c->new_rt_offset = s->rt_move_to;
		s->rt_move_to = 0;
	}
	ret = apply_refcounts(c);
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
		case CK_DIRTY_BIT:
			if (s->lazy && (c->l2.n || c->l1.n) &&
			    !(s->incompatible & QCOW2_INCOMPAT_DIRTY)) {
				qcow2_header_set_dirty(s, true);
				c->set_dirty_bit = true;
				if (queue_header(c, &c->io) < 0)
					break;
				if (write_list(c, &c->io))
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
			if (write_list(c, &c->io))
				return;
			break;
		case CK_REFTABLE:
			wb_release(&c->io);
			if (queue_reftable(c) < 0)
				c->error = -ENOMEM;
			else if (write_list(c, &c->io))
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
			if (write_list(c, &c->io))
				return;
			break;
		case CK_L2:
			/* data written before the cut is durable before L2 */
			if ((c->l2.n || c->l1.n) && !c->synced) {
				c->phase = CK_L2;
				sync_files(c);
				return;
			}
			if (write_list(c, &c->l2))
				return;
			break;
		case CK_L1:
			if (write_list(c, &c->l1))
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

static int ckpt_start(struct qcow2 *s, struct qcow_ctx *ctx,
		      struct qwaiter *waiters, bool refcounts)
{
	struct ckpt *c = calloc(1, sizeof(*c));
	int ret;

	if (!c)
		return -ENOMEM;
	c->s = s;
	c->ctx = ctx;
	c->waiters = waiters;
	c->refcounts = refcounts || !s->lazy;
	c->waiter.resume = ckpt_resume;
	c->waiter.ctx = ctx;
	ctx->owned++;
	s->ckpt = c;
	ret = ckpt_cut(c);
	if (ret < 0)
		c->error = ret;
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

void qcow2_flush_step(struct qcow_req *req)
{
	struct qcow2 *s = qcow2_of(req->img);

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
