// SPDX-License-Identifier: MIT
/*
 * Writes to qcow2 images.  Clusters we own (COPIED) are written in place.
 * Anything else goes through an allocation: new host clusters are taken
 * from the in-memory allocator, the rest of each (sub)cluster is copied
 * from what the guest read there before, the data is written, and only
 * then the L2 entries are changed in the cache.  Metadata reaches the disk
 * later, in dependency order (qcow2_checkpoint.c).  While an allocation is in
 * flight, other writes to its clusters wait for it.
 *
 * On an encrypted image every write is bounced: the guest bytes and the
 * rest of their sectors (in place) or (sub)clusters (new clusters) are
 * gathered in plain text, encrypted for where they land, and written; the
 * caller's buffer is never changed.  In-place writes then also wait for
 * each other, cluster by cluster, as allocations do.  A compressed write
 * to an encrypted image is an ordinary one, as with qemu-io.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include "qcow2_map.h"
#include "qcow2_write.h"
#include "crypt_pool.h"
#include "layout.h"

struct alloc_op {
	struct qcow2 *s;
	struct qcow_req *req;
	struct alloc_op *next;
	struct qwaiter *waiters;
	uint64_t c_first;		/* guest clusters covered */
	uint64_t c_last;
	struct qcow2_extent e;		/* what [pos, pos + len) was */
	uint64_t pos;
	uint64_t len;
	uint64_t astart;		/* guest range written to host */
	uint64_t aend;
	uint64_t host;			/* host offset of astart */
	uint64_t wstart;		/* guest range buf holds */
	uint64_t wend;
	uint8_t *buf;			/* NULL: the request's own data */
	uint8_t *bounce;
	struct meta_slice *slice;
	int pending;
	int error;
	struct qcow_req cow[2];
	struct qio_op wop;
	uint64_t cdesc;			/* compressed: the new L2 entry */
	uint64_t clen;
	uint64_t alloc_off;		/* clusters taken for it, if any */
	uint64_t alloc_len;
	bool epoch;			/* in place: counted in io_epoch */
	bool fresh;			/* new clusters known to read as zeros */
	unsigned int slot;
	struct qcrypt_job job;		/* encrypted images: the bounce */
};

static void op_wake(struct alloc_op *op)
{
	struct qwaiter *list = op->waiters;

	op->waiters = NULL;
	while (list) {
		struct qwaiter *w = list;

		list = w->next;
		w->next = NULL;
		qwaiter_wake(w, 0);
	}
}

static void inflight_remove(struct qcow2 *s, struct alloc_op *op)
{
	struct alloc_op **pp = &s->inflight;

	while (*pp && *pp != op)
		pp = &(*pp)->next;
	if (*pp)
		*pp = op->next;
}

static struct alloc_op *inflight_find(struct qcow2 *s, uint64_t c_first,
				      uint64_t c_last)
{
	struct alloc_op *op;

	for (op = s->inflight; op; op = op->next)
		if (op->c_first <= c_last && c_first <= op->c_last)
			return op;
	return NULL;
}

static void op_finish(struct alloc_op *op)
{
	struct qcow2 *s = op->s;
	struct qcow_req *req = op->req;

	if (op->error) {
		qreq_fail(req, op->error);
		/* nothing references what the failed write was to fill */
		if (op->alloc_len)
			qcow2_release_later(s, op->alloc_off, op->alloc_len);
	}
	inflight_remove(s, op);
	if (op->epoch)
		qepoch_exit(&s->io_epoch, op->slot);
	if (op->slice)
		meta_cache_put(&s->l2, op->slice);
	free(op->bounce);
	op_wake(op);
	qpool_put(QPOOL_ALLOC_OP, op);
	qreq_put(req);
}

static bool needs_whole_cluster(const struct qcow2 *s,
				const struct qcow2_extent *e)
{
	if (s->l2_entry_size == 8)
		return true;
	/* the old host cluster goes away: every subcluster moves */
	return e->type == SC_COMPRESSED ||
	       (type_is_mapped(e->type) && !e->copied);
}

/* Encrypted images rewrite their own data clusters here too (bounced). */
static bool reuses_host(const struct qcow2_extent *e)
{
	return e->copied && (e->type == SC_ZERO_ALLOC ||
			     e->type == SC_UNALLOC_ALLOC ||
			     e->type == SC_NORMAL);
}

/* New entry and bitmap for one cluster whose [sc_from, sc_to) was written. */
static void new_entry(const struct qcow2 *s, const struct alloc_op *op,
		      uint64_t old, uint64_t old_bitmap, uint64_t host,
		      unsigned int sc_from, unsigned int sc_to,
		      uint64_t *entry, uint64_t *bitmap)
{
	uint64_t bits;

	*entry = (host & L2E_OFFSET_MASK) | QCOW_OFLAG_COPIED;
	if (s->l2_entry_size == 8) {
		*bitmap = 0;
		return;
	}
	bits = (sc_to >= 32 ? 0xffffffffULL : (1ULL << sc_to) - 1) &
	       ~((1ULL << sc_from) - 1);
	if (needs_whole_cluster(s, &op->e)) {
		*bitmap = QCOW_L2_BITMAP_ALLOC;
		return;
	}
	if (old & QCOW_OFLAG_COMPRESSED)
		old_bitmap = 0;
	*bitmap = (old_bitmap | bits) & ~(bits << 32);
}

void qcow2_release_entry(struct qcow2 *s, uint64_t old)
{
	uint64_t off, len;

	if (old & QCOW_OFLAG_COMPRESSED) {
		qcow2_compressed_range(s, old, &off, &len);
		qcow2_release_later(s, ALIGN_DOWN(off, 512),
				    ALIGN_UP(off + len, 512) -
				    ALIGN_DOWN(off, 512));
		return;
	}
	off = old & L2E_OFFSET_MASK;
	if (off && !s->has_data_file)
		qcow2_release_later(s, off, s->cluster_size);
}

static void update_l2(struct alloc_op *op)
{
	struct qcow2 *s = op->s;
	uint64_t cs = s->cluster_size, c;
	unsigned int idx = op->e.index;

	if (op->cdesc) {
		uint8_t *p = op->slice->data + (uint64_t)idx * s->l2_entry_size;

		put_be64(p, op->cdesc);
		if (s->l2_entry_size == 16)
			put_be64(p + 8, 0);
		meta_cache_mark_dirty(&s->l2, op->slice);
		return;
	}
	for (c = op->c_first; c <= op->c_last; c++, idx++) {
		uint8_t *p = op->slice->data + (uint64_t)idx * s->l2_entry_size;
		uint64_t gc = c * cs;
		uint64_t from = MAX(op->astart, gc), to = MIN(op->aend, gc + cs);
		uint64_t old = get_be64(p), entry, bitmap;
		uint64_t old_bitmap = s->l2_entry_size == 16 ? get_be64(p + 8) : 0;
		uint64_t host = op->host + (gc > op->astart ? gc - op->astart : 0);

		host = ALIGN_DOWN(host, cs);
		new_entry(s, op, old, old_bitmap, host,
			  (from - gc) >> s->subcluster_bits,
			  div_round_up(to - gc, 1ULL << s->subcluster_bits),
			  &entry, &bitmap);
		if (!reuses_host(&op->e))
			qcow2_release_entry(s, old);
		put_be64(p, entry);
		if (s->l2_entry_size == 16)
			put_be64(p + 8, bitmap);
	}
	meta_cache_mark_dirty(&s->l2, op->slice);
}

static void data_written(struct qio_op *wop, int res)
{
	struct alloc_op *op = wop->data;

	if (res < 0)
		op->error = res;
	else if (op->e.type != SC_NORMAL || !op->e.copied)
		update_l2(op);
	op_finish(op);
}

static void write_data(struct alloc_op *op)
{
	struct qcow2 *s = op->s;

	op->wop.cb = data_written;
	op->wop.data = op;
	if (!op->buf)
		qreq_data_submit_write(op->req, &op->wop, s->data_file,
				       op->pos - op->req->offset, op->len,
				       op->host + (op->pos - op->astart));
	else if (op->cdesc)
		qfile_submit_ev(op->req->ctx, s->data_file, &op->wop,
				QIO_WRITE, op->buf, op->clen, op->host,
				QBD_WRITE_COMPRESSED);
	else	/* copy-on-write merged with the data, as QEMU merges it */
		qfile_submit_ev(op->req->ctx, s->data_file, &op->wop,
				QIO_WRITE, op->buf, op->wend - op->wstart,
				op->host - op->astart + op->wstart,
				QBD_WRITE_AIO);
}

static void bounce_encrypted(struct qwaiter *w, int err)
{
	struct alloc_op *op = container_of(w, struct alloc_op, job.w);

	if (err < 0)
		op->error = err;
	if (op->error)
		op_finish(op);
	else
		write_data(op);
}

static void cow_put(struct alloc_op *op)
{
	struct qcow2 *s = op->s;

	if (--op->pending)
		return;
	/* the bounce holds the plain (sub)clusters: encrypted where they go */
	if (!op->error && s->crypt) {
		op->job.w.resume = bounce_encrypted;
		op->error = qcow2_crypt_submit(s, op->req->ctx, &op->job, true,
					       op->astart, op->host, op->bounce,
					       op->aend - op->astart);
		if (!op->error)
			return;
	}
	if (op->error)
		op_finish(op);
	else
		write_data(op);
}

static void cow_done(struct qcow_req *cow, int res)
{
	struct alloc_op *op = cow->priv;

	if (res < 0 && !op->error)
		op->error = res;
	cow_put(op);
}

static void guest_copied(struct qio_op *wop, int res)
{
	struct alloc_op *op = wop->data;

	if (res < 0 && !op->error)
		op->error = res;
	cow_put(op);
}

static void cow_read(struct alloc_op *op, int i, uint64_t from, uint64_t to)
{
	struct qcow_image *img = op->req->img;
	uint8_t *dst = op->bounce + (from - op->astart);
	unsigned int vm = op->req->flags & QCOW_REQ_VMSTATE;
	uint64_t end = vm ? to : MIN(to, img->size);
	int ret;

	if (to > end)
		memset(dst + (end - from), 0, to - end);
	if (from >= end)
		return;
	op->cow[i].done = cow_done;
	op->cow[i].priv = op;
	op->cow[i].flags = vm;
	op->pending++;
	ret = qcow_submit(op->req->ctx, img, &op->cow[i], QCOW_OP_READ, dst,
			  from, end - from);
	if (ret < 0) {
		op->pending--;
		op->error = ret;
	}
}

static int place_op(struct alloc_op *op)
{
	struct qcow2 *s = op->s;
	uint64_t cs = s->cluster_size, first, n;
	int64_t host;
	int ret;

	if (reuses_host(&op->e)) {
		op->host = op->e.host - (op->pos - op->astart);
		return 0;
	}
	if (s->has_data_file) {
		op->host = op->astart;	/* data files map guest = host */
		return 0;
	}
	first = ALIGN_DOWN(op->astart, cs);
	n = (ALIGN_UP(op->aend, cs) - first) / cs;
	host = qcow2_alloc_clusters_z(s, n, &op->fresh);
	if (host < 0)
		return (int)host;
	op->alloc_off = (uint64_t)host;
	op->alloc_len = n * cs;
	op->host = (uint64_t)host + (op->astart - first);
	ret = qcow2_check_write(s, UINT64_MAX, (uint64_t)host, n * cs);
	if (ret < 0)
		qcow2_alloc_undo(s, (uint64_t)host, n);
	return ret;
}

/* The bounce: the guest bytes and the rest of their (sub)clusters. */
static void start_cow(struct alloc_op *op)
{
	struct qcow_req *req = op->req;

	op->bounce = qalloc_aligned(op->aend - op->astart);
	if (!op->bounce) {
		op->error = -ENOMEM;
		op_finish(op);
		return;
	}
	op->buf = op->bounce;
	op->wstart = op->astart;
	op->wend = op->aend;
	op->pending = 2;
	op->wop.cb = guest_copied;
	op->wop.data = op;
	if (!qreq_data_get(req, &op->wop, op->pos - req->offset,
			   op->bounce + (op->pos - op->astart), op->len))
		op->pending--;
	cow_read(op, 0, op->astart, op->pos);
	cow_read(op, 1, op->pos + op->len, op->aend);
	cow_put(op);
}

/* What the rest of the (sub)clusters would be copied from reads as zeros. */
static bool cow_reads_zero(const struct qcow2 *s, const struct alloc_op *op)
{
	/* one extent's type speaks for the whole of its (sub)clusters */
	if (s->l2_entry_size == 16 && needs_whole_cluster(s, &op->e))
		return false;
	switch (op->e.type) {
	case SC_ZERO_PLAIN:
	case SC_ZERO_ALLOC:
		return true;
	case SC_UNALLOC_PLAIN:
	case SC_UNALLOC_ALLOC:
		return !op->req->img->backing;
	default:
		return false;
	}
}

/*
 * New clusters whose copy-on-write would be all zeros: the guest bytes are
 * the only ones written, into clusters that read as zeros (past the file's
 * end at the open, or zeroed first).  Encrypted images need encrypted
 * zeros, and clusters reused in place hold anything.
 */
static bool guest_bytes_only(const struct qcow2 *s, const struct alloc_op *op)
{
	return !s->crypt && op->alloc_len && (op->fresh || !s->no_zero_range) &&
	       cow_reads_zero(s, op);
}

/* The guest bytes, widened to the file's blocks (O_DIRECT) with zeros. */
static void write_guest(struct alloc_op *op)
{
	struct qcow_req *req = op->req;
	uint64_t a = op->s->data_file->align, end = op->pos + op->len;

	op->wstart = ALIGN_DOWN(op->pos, a);
	op->wend = ALIGN_UP(end, a);
	if (op->wstart == op->pos && op->wend == end) {
		write_data(op);
		return;
	}
	op->bounce = qalloc_aligned(op->wend - op->wstart);
	if (!op->bounce) {
		op->error = -ENOMEM;
		op_finish(op);
		return;
	}
	memset(op->bounce, 0, op->wend - op->wstart);
	op->buf = op->bounce;
	op->pending = 2;
	op->wop.cb = guest_copied;
	op->wop.data = op;
	if (!qreq_data_get(req, &op->wop, op->pos - req->offset,
			   op->bounce + (op->pos - op->wstart), op->len))
		op->pending--;
	cow_put(op);
}

static void host_zeroed(struct qio_op *wop, int res)
{
	struct alloc_op *op = wop->data;

	if (res == -EOPNOTSUPP || res == -EINVAL) {
		op->s->no_zero_range = true;
		start_cow(op);
	} else if (res < 0) {
		op->error = res;
		op_finish(op);
	} else {
		write_guest(op);
	}
}

/* Clusters that may hold old bytes: zeroed before the guest's land. */
static void zero_host(struct alloc_op *op)
{
	op->wop.cb = host_zeroed;
	op->wop.data = op;
	qfile_submit(op->req->ctx, op->s->data_file, &op->wop, QIO_ZERO, NULL,
		     op->aend - op->astart, op->host);
}

static int start_alloc(struct qcow_req *req, const struct qcow2_extent *e,
		       struct meta_slice *slice)
{
	struct qcow2 *s = qcow2_of(req->img);
	bool in_place = e->type == SC_NORMAL && e->copied;
	uint64_t gran = in_place ? 512 : needs_whole_cluster(s, e) ?
			s->cluster_size : 1ULL << s->subcluster_bits;
	struct alloc_op *op = qpool_get(QPOOL_ALLOC_OP, sizeof(*op));
	int ret;

	if (!op)
		return -ENOMEM;
	op->s = s;
	op->req = req;
	op->e = *e;
	op->slice = slice;
	op->pos = req->pos;
	op->len = e->len;
	op->astart = ALIGN_DOWN(op->pos, gran);
	op->aend = ALIGN_UP(op->pos + op->len, gran);
	op->c_first = op->astart >> s->cluster_bits;
	op->c_last = (op->aend - 1) >> s->cluster_bits;
	ret = in_place ? qcow2_check_write(s, op->pos, e->host, e->len) : 0;
	if (!ret && !in_place)
		qfile_event(s->img->file, QBD_CLUSTER_ALLOC);
	if (!ret)
		ret = place_op(op);
	if (ret < 0) {
		qpool_put(QPOOL_ALLOC_OP, op);
		return ret;
	}
	op->next = s->inflight;
	s->inflight = op;
	qreq_get(req);
	if (in_place) {
		op->epoch = true;
		op->slot = qepoch_enter(&s->io_epoch);
	}
	if (!s->crypt && op->astart == op->pos &&
	    op->aend == op->pos + op->len) {
		write_data(op);
		return 0;
	}
	if (guest_bytes_only(s, op)) {
		if (op->fresh)
			write_guest(op);
		else
			zero_host(op);
		return 0;
	}
	start_cow(op);
	return 0;
}

/* Bytes for compressed data, packed into partly used host clusters. */
static int64_t alloc_bytes(struct qcow2 *s, uint64_t n)
{
	uint64_t cs = s->cluster_size, used = s->comp_next & (cs - 1), c;
	int64_t off;
	int ret;

	c = s->comp_next >> s->cluster_bits;
	/* pack only while the refcount can count one more user */
	if (s->comp_next && used && n <= cs - used &&
	    qcow2_refcount_of(s, c) < s->refcount_max) {
		off = (int64_t)s->comp_next;
		ret = qcow2_refcount_set(s, c, qcow2_refcount_of(s, c) + 1);
		if (!ret)
			ret = cluster_vec_push(&s->alloc.inc, c);
		if (ret < 0)
			return ret;
	} else {
		off = qcow2_alloc_clusters(s, 1);
		if (off < 0)
			return off;
		ret = qcow2_check_write(s, UINT64_MAX, (uint64_t)off, cs);
		if (ret < 0) {
			qcow2_alloc_undo(s, (uint64_t)off, 1);
			return ret;
		}
	}
	s->comp_next = (uint64_t)off + n;
	return off;
}

static int start_compressed(struct qcow_req *req, const struct qcow2_extent *e,
			    struct meta_slice *slice)
{
	struct qcow2 *s = qcow2_of(req->img);
	uint64_t cs = s->cluster_size, n = MIN(cs, req->img->size - req->pos);
	struct alloc_op *op = qpool_get(QPOOL_ALLOC_OP, sizeof(*op));
	uint8_t *src = req->buf + (req->pos - req->offset), *pad = NULL;
	unsigned int shift = 62 - (s->cluster_bits - 8);
	int64_t host;
	int ret;

	if (!op)
		return -ENOMEM;
	op->bounce = malloc(cs);
	if (n < cs)
		pad = calloc(1, cs);
	if (!op->bounce || (n < cs && !pad)) {
		ret = -ENOMEM;
		goto err;
	}
	if (pad) {
		memcpy(pad, src, n);
		src = pad;
	}
	ret = qcow_compress(s->compression_type, op->bounce, cs - 1, src, cs);
	free(pad);
	pad = NULL;
	if (ret < 0) {
		/* does not shrink: an ordinary cluster */
		free(op->bounce);
		qpool_put(QPOOL_ALLOC_OP, op);
		return start_alloc(req, e, slice);
	}
	op->clen = (uint64_t)ret;
	host = alloc_bytes(s, op->clen);
	if (host < 0) {
		ret = (int)host;
		goto err;
	}
	op->s = s;
	op->req = req;
	op->e = *e;
	op->slice = slice;
	op->pos = req->pos;
	op->len = e->len;
	op->astart = req->pos;
	op->aend = req->pos + cs;
	op->c_first = op->c_last = req->pos >> s->cluster_bits;
	op->host = (uint64_t)host;
	op->alloc_off = ALIGN_DOWN((uint64_t)host, cs);	/* one reference */
	op->alloc_len = cs;
	op->buf = op->bounce;
	op->cdesc = QCOW_OFLAG_COMPRESSED | (uint64_t)host |
		    ((((uint64_t)host + op->clen - 1) / 512 -
		      (uint64_t)host / 512) << shift);
	op->next = s->inflight;
	s->inflight = op;
	qreq_get(req);
	write_data(op);
	return 0;
err:
	free(pad);
	free(op->bounce);
	qpool_put(QPOOL_ALLOC_OP, op);
	return ret;
}

static int write_compressed(struct qcow_req *req, struct qcow2_extent *e,
			    struct meta_slice *sl)
{
	struct qcow2 *s = qcow2_of(req->img);
	uint64_t cs = s->cluster_size;

	/* compressed data lands at byte offsets: no O_DIRECT (no RMW) */
	if (!IS_ALIGNED(req->pos, cs) ||
	    (e->len < cs && req->pos + e->len != req->img->size) ||
	    s->has_data_file || req->img->file->align > 1)
		return -EINVAL;
	/* like QEMU: compression never overwrites an allocated cluster */
	if (type_is_mapped(e->type) || e->type == SC_COMPRESSED)
		return -EIO;
	e->len = MIN(e->len, cs);
	return start_compressed(req, e, sl);
}

static bool writable_in_place(const struct qcow2_extent *e)
{
	return e->type == SC_NORMAL && e->copied;
}

/* The range the next extent can cover: up to the end of its L2 slice. */
static uint64_t slice_end(const struct qcow2 *s, uint64_t pos)
{
	uint64_t per_slice = s->l2.slice_size / s->l2_entry_size;
	uint64_t span = per_slice << s->cluster_bits;

	return ALIGN_DOWN(pos, span) + span;
}

bool qcow2_write_park(struct qcow_req *req, uint64_t end)
{
	struct qcow2 *s = qcow2_of(req->img);
	uint64_t last = (MIN(end, slice_end(s, req->pos)) - 1) >>
			s->cluster_bits;
	struct alloc_op *op = inflight_find(s, req->pos >> s->cluster_bits,
					    last);

	if (!op)
		return false;
	req->waiter.next = op->waiters;
	req->waiter.ctx = req->ctx;
	op->waiters = &req->waiter;
	return true;
}

void qcow2_write_step(struct qcow_req *req)
{
	struct qcow2 *s = qcow2_of(req->img);
	uint64_t end = req->offset + req->length;
	struct qcow2_extent e;
	struct meta_slice *sl;
	int ret;

	while (req->pos < end && !req->error) {
		if (qcow2_write_park(req, end))
			return;
		ret = qcow2_l2_prepare(req);
		if (ret == -EAGAIN)
			return;
		if (!ret)
			ret = qcow2_map_extent_pin(req, &e, &sl);
		if (ret == -EAGAIN)
			return;
		if (ret == -EIO)
			qcow2_signal_corruption(s, "corrupt: bad metadata for "
						"guest offset %#" PRIx64,
						req->pos);
		if (ret < 0) {
			qreq_fail(req, ret);
			break;
		}
		if (!writable_in_place(&e) || s->crypt || sl->dirty || s->ckpt ||
		    s->l1_any_dirty)
			req->flags |= QCOW_REQ_META;
		/* as QEMU's block layer: encrypted clusters are never compressed */
		if (req->op == QCOW_OP_WRITE_COMPRESSED && !s->crypt) {
			ret = write_compressed(req, &e, sl);
			if (ret < 0) {
				meta_cache_put(&s->l2, sl);
				qreq_fail(req, ret);
				break;
			}
		} else if (writable_in_place(&e) && !s->crypt) {
			meta_cache_put(&s->l2, sl);
			ret = qcow2_check_write(s, req->pos, e.host, e.len);
			if (ret < 0) {
				qreq_fail(req, ret);
				break;
			}
			req->epoch = &s->io_epoch;
			qreq_data_write_file(req, s->data_file,
					     req->pos - req->offset, e.len,
					     e.host);
		} else {
			ret = start_alloc(req, &e, sl);
			if (ret < 0) {
				meta_cache_put(&s->l2, sl);
				qreq_fail(req, ret);
				break;
			}
		}
		req->pos += e.len;
	}
	qcow2_ckpt_maybe(s, req->ctx);
	qreq_put(req);
}
