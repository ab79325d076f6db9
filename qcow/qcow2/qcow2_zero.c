// SPDX-License-Identifier: MIT
/*
 * Write-zeroes and discard.  Whole (sub)clusters change their L2 entries
 * only: zero flags (version 3) or unmapped entries, the old host clusters
 * released after the cut.  The unaligned ends of a write-zeroes are
 * written as zeros, unless (as in QEMU) their (sub)cluster is a zero or
 * unallocated one whose other bytes the chain's block status calls zero:
 * then the whole (sub)cluster gets the zero flag.  Version 2 has none:
 * without a backing file its clusters are unmapped instead, as QEMU does.
 * The unaligned ends of a discard are left alone, as QEMU does.  With a
 * raw data file the (sub)clusters whose entries change are zeroed in the
 * data file too, as QEMU does, so that it reads as the image does.
 */
#include <errno.h>
#include <stdlib.h>
#include "qcow2_map.h"
#include "qcow2_write.h"
#include "layout.h"

#define L2_BITMAP_ALL_ZERO	0xffffffff00000000ULL

struct zero_child {
	struct qcow_req req;
	struct qcow_req *parent;
};

static void zero_child_done(struct qcow_req *r, int res)
{
	struct zero_child *z = (struct zero_child *)r;

	if (res < 0)
		qreq_fail(z->parent, res);
	qreq_put(z->parent);
	free(z);
}

static void write_zeros_piece(struct qcow_req *req, const uint8_t *zeros,
			      uint64_t off, uint64_t len)
{
	struct zero_child *z = calloc(1, sizeof(*z));
	int ret;

	if (!z) {
		qreq_fail(req, -ENOMEM);
		return;
	}
	z->parent = req;
	z->req.done = zero_child_done;
	qreq_get(req);
	ret = qcow_submit(req->ctx, req->img, &z->req, QCOW_OP_WRITE,
			  (uint8_t *)zeros, off, len);
	if (ret < 0)
		zero_child_done(&z->req, ret);
}

/*
 * [off, off + len) gets real zeros through the write path, written from
 * the shared zero source in pieces that end on its length's boundaries
 * (cluster boundaries too): no memory grows with the request.
 */
static void write_zeros(struct qcow_req *req, uint64_t off, uint64_t len)
{
	const uint8_t *zeros = qcow_zero_source();
	uint64_t n;

	if (!zeros) {
		qreq_fail(req, -ENOMEM);
		return;
	}
	for (; len; off += n, len -= n) {
		n = MIN(len, ALIGN_DOWN(off, QCOW_ZERO_SOURCE_LEN) +
			     QCOW_ZERO_SOURCE_LEN - off);
		write_zeros_piece(req, zeros, off, n);
	}
}

/*
 * An external data file's range [off, off + len) made to read as zeros
 * as its L2 entries turn zero, as QEMU does: a raw one (host offset =
 * guest offset) zeroed (by a zero range, else by writes of zeros, one
 * piece at a time), another one's freed clusters punched.
 */
struct data_zero {
	struct qio_op op;
	struct qcow_req *parent;
	uint64_t off, len, n;
	enum qio_kind kind;
};

static void data_zero_next(struct data_zero *z)
{
	struct qcow2 *s = qcow2_of(z->parent->img);
	const uint8_t *zeros = qcow_zero_source();

	if (!z->len || (z->kind == QIO_WRITE && !zeros)) {
		if (z->len)
			qreq_fail(z->parent, -ENOMEM);
		qreq_put(z->parent);
		free(z);
		return;
	}
	z->n = z->kind == QIO_WRITE ? MIN(z->len, QCOW_ZERO_SOURCE_LEN) :
	       z->len;
	qfile_submit(z->parent->ctx, s->data_file, &z->op, z->kind,
		     (uint8_t *)zeros, z->n, z->off);
}

static void data_zero_done(struct qio_op *op, int res)
{
	struct data_zero *z = op->data;

	if (z->kind == QIO_ZERO && (res == -EOPNOTSUPP || res == -EINVAL)) {
		z->kind = QIO_WRITE;
	} else if (res < 0) {
		qreq_fail(z->parent, res);
		z->len = 0;
	} else {
		z->off += z->n;
		z->len -= z->n;
	}
	data_zero_next(z);
}

static void data_zero(struct qcow_req *req, enum qio_kind kind, uint64_t off,
		      uint64_t end)
{
	struct data_zero *z;

	if (off >= end)
		return;
	z = calloc(1, sizeof(*z));
	if (!z) {
		qreq_fail(req, -ENOMEM);
		return;
	}
	z->parent = req;
	z->off = off;
	z->len = end - off;
	z->kind = kind;
	z->op.cb = data_zero_done;
	z->op.data = z;
	qreq_get(req);
	data_zero_next(z);
}

/* offset 0 is a data file's first cluster when COPIED says it is used */
static bool has_host(const struct qcow2 *s, uint64_t l2e)
{
	return (l2e & QCOW_OFLAG_COMPRESSED) || (l2e & L2E_OFFSET_MASK) ||
	       (s->has_data_file && (l2e & QCOW_OFLAG_COPIED));
}

/* One cluster whose subclusters [a, b) are discarded or zeroed. */
static bool change_entry(struct qcow_req *req, uint8_t *p, unsigned int a,
			 unsigned int b)
{
	struct qcow2 *s = qcow2_of(req->img);
	bool ext = s->l2_entry_size == 16, full = a == 0 &&
		   b == (ext ? QCOW_L2_SUBCLUSTERS : 1u);
	bool discard = req->op == QCOW_OP_DISCARD;
	/* version 2 zeroes only without a backing file: by unmapping */
	bool unmap = discard || (req->flags & QCOW_REQ_UNMAP) ||
		     s->version < 3;
	uint64_t old = get_be64(p), entry = old;
	uint64_t bitmap = ext ? get_be64(p + 8) : 0, bits;
	bool compressed = old & QCOW_OFLAG_COMPRESSED;
	bool zeroes = !discard || req->img->backing || has_host(s, old);

	if (req->flags & QCOW_REQ_FULL_DISCARD)
		zeroes = false;

	if (!full && (discard || compressed))
		return false;
	if (full && (compressed || (unmap && has_host(s, old)))) {
		qcow2_release_entry(s, old);
		entry = 0;
		bitmap = 0;
	}
	if (!ext) {
		if (zeroes && s->version >= 3)
			entry |= QCOW_OFLAG_ZERO;
		else if (zeroes || (req->flags & QCOW_REQ_FULL_DISCARD))
			entry = 0;	/* version 2: discard unmaps */
		put_be64(p, entry);
		return true;
	}
	bits = (b >= 32 ? 0xffffffffULL : (1ULL << b) - 1) &
	       ~((1ULL << a) - 1);
	bitmap &= ~bits;
	if (zeroes)
		bitmap |= bits << 32;
	put_be64(p, entry);
	put_be64(p + 8, bitmap);
	return true;
}

/*
 * Whether the backing chain's block status calls [start[i], end[i]) zero
 * (QEMU's test before it zeroes a partial subcluster): each position is
 * asked of the top backing layer, then of the layers below while they
 * leave it unallocated; past a layer's end, or below the last one, it
 * is zero.  The status requests run as children; the parent's step is
 * resumed when the verdict is known.
 */
struct zprobe {
	struct qcow_req child;
	struct qcow_status st;
	struct qcow_req *parent;
	struct qcow_image *layer;
	uint64_t sc;			/* the subcluster it decides */
	uint64_t start[2], end[2];
	uint64_t pos, lim;
	unsigned int idx;
	int verdict;			/* -1 asking, 0 not zero, 1 zero */
	bool waiting, in_submit;
};

static void probe_top(struct zprobe *z)
{
	z->layer = z->parent->img->backing;
	z->lim = z->end[z->idx];
}

static void probe_run(struct zprobe *z);

static void probe_done(struct qcow_req *child, int res)
{
	struct zprobe *z = (struct zprobe *)child;
	uint64_t len = z->st.length;

	z->waiting = false;
	if (res <= 0 || !len || len > z->lim - z->pos)
		z->verdict = 0;		/* written as zeros instead */
	else if (z->st.flags & QCOW_ST_ZERO) {
		z->pos += len;
		probe_top(z);
	} else if (z->st.flags & (QCOW_ST_DATA | QCOW_ST_ALLOCATED)) {
		z->verdict = 0;
	} else {
		z->lim = z->pos + len;
		z->layer = z->layer->backing;
	}
	if (z->in_submit)
		return;
	probe_run(z);
	if (!z->waiting)
		qwaiter_wake(&z->parent->waiter, 0);
}

static void probe_run(struct zprobe *z)
{
	struct qcow_req *req = z->parent;
	struct qcow_image *l;
	int ret;

	while (z->verdict < 0 && !z->waiting) {
		l = z->layer;
		if (z->pos >= z->end[z->idx]) {
			if (++z->idx == ARRAY_SIZE(z->end)) {
				z->verdict = 1;
				break;
			}
			z->pos = z->start[z->idx];
			probe_top(z);
			continue;
		}
		if (!l || z->pos >= l->size) {
			z->pos = z->lim;
			probe_top(z);
			continue;
		}
		memset(&z->child, 0, sizeof(z->child));
		z->child.done = probe_done;
		z->waiting = true;
		z->in_submit = true;
		ret = qcow_submit(req->ctx, l, &z->child, QCOW_OP_STATUS,
				  &z->st, z->pos, MIN(z->lim, l->size) - z->pos);
		z->in_submit = false;
		if (ret < 0) {
			z->waiting = false;
			z->verdict = 0;
		}
	}
}

static void probe_free(struct qcow_req *req)
{
	free(req->drv_state);
	req->drv_state = NULL;
}

/*
 * 1 when the rest of subcluster [s0, s1) around [req->pos, next) reads as
 * zeros in the backing chain, 0 when not, -EAGAIN while the chain is
 * asked (the step runs again with the answer), or -errno.
 */
static int backing_zero(struct qcow_req *req, uint64_t s0, uint64_t s1,
			uint64_t next)
{
	struct zprobe *z = req->drv_state;

	if (!req->img->backing)
		return 1;
	if (z && z->sc == s0)
		return z->verdict;
	probe_free(req);
	z = calloc(1, sizeof(*z));
	if (!z)
		return -ENOMEM;
	req->drv_state = z;
	*z = (struct zprobe) {
		.parent = req, .sc = s0, .verdict = -1,
		.start = { s0, next }, .end = { req->pos, s1 },
		.pos = s0,
	};
	probe_top(z);
	req->waiter.ctx = req->ctx;
	probe_run(z);
	return z->waiting ? -EAGAIN : z->verdict;
}

/*
 * The unaligned piece [req->pos, next) of one subcluster: 1 when the whole
 * subcluster got the zero flag, 0 when the piece must be written as
 * zeros, -EAGAIN when req was parked, or -errno.
 */
static int zero_partial(struct qcow_req *req, uint64_t next)
{
	struct qcow2 *s = qcow2_of(req->img);
	uint64_t gran = 1ULL << s->subcluster_bits, cs = s->cluster_size;
	uint64_t s0 = ALIGN_DOWN(req->pos, gran);
	uint64_t s1 = MIN(s0 + gran, req->img->size);
	unsigned int a = (s0 & (cs - 1)) >> s->subcluster_bits;
	struct qcow2_extent e;
	struct meta_slice *sl;
	int ret;

	if (qcow2_write_park(req, s1))
		return -EAGAIN;
	/* bad metadata: the write path reports it */
	ret = qcow2_map_extent(req, &e);
	if (ret < 0)
		return ret == -EAGAIN ? ret : 0;
	switch (e.type) {
	case SC_ZERO_PLAIN:
	case SC_ZERO_ALLOC:
		break;
	case SC_UNALLOC_PLAIN:
	case SC_UNALLOC_ALLOC:
		ret = backing_zero(req, s0, s1, next);
		if (ret <= 0)
			return ret;
		break;
	default:
		return 0;
	}
	ret = qcow2_l2_prepare(req);
	if (!ret)
		ret = qcow2_map_extent_pin(req, &e, &sl);
	if (ret < 0)
		return ret;
	ret = change_entry(req, sl->data + e.index * s->l2_entry_size, a,
			   a + 1);
	if (ret)
		meta_cache_mark_dirty(&s->l2, sl);
	meta_cache_put(&s->l2, sl);
	probe_free(req);
	return ret;
}

/* An external data file after the guest range [pos, end)'s entry changed */
static void data_file_follow(struct qcow_req *req, uint64_t old, uint64_t now,
			     uint64_t pos, uint64_t end)
{
	struct qcow2 *s = qcow2_of(req->img);
	uint64_t host = old & L2E_OFFSET_MASK;

	if (s->autoclear & QCOW2_AUTOCLEAR_DATA_FILE_RAW)
		data_zero(req, QIO_ZERO, pos, MIN(end, req->img->size));
	else if (s->has_data_file && has_host(s, old) && !has_host(s, now))
		data_zero(req, QIO_PUNCH, host, host + s->cluster_size);
}

/* The aligned range [pos, end) inside one L2 slice; returns bytes done. */
static int change_slice(struct qcow_req *req, uint64_t end, uint64_t *done)
{
	struct qcow2 *s = qcow2_of(req->img);
	uint64_t cs = s->cluster_size, scs = 1ULL << s->subcluster_bits;
	uint64_t per = s->l2.slice_size / s->l2_entry_size, pos = req->pos;
	struct qcow2_extent e;
	struct meta_slice *sl;
	unsigned int idx;
	bool dirty = false;
	int ret;

	ret = qcow2_map_extent_pin(req, &e, &sl);
	if (ret < 0)
		return ret;
	for (idx = e.index; idx < per && pos < end; idx++) {
		uint64_t cend = MIN(ALIGN_DOWN(pos, cs) + cs, end);
		unsigned int a = (pos & (cs - 1)) / scs;
		unsigned int b = div_round_up(cend - ALIGN_DOWN(pos, cs), scs);

		uint8_t *p = sl->data + idx * s->l2_entry_size;
		uint64_t old = get_be64(p);

		if (change_entry(req, p, a, b)) {
			dirty = true;
			data_file_follow(req, old, get_be64(p), pos, cend);
		} else if (req->op != QCOW_OP_DISCARD) {
			write_zeros(req, pos, cend - pos);
		}
		pos = cend;
	}
	if (dirty)
		meta_cache_mark_dirty(&s->l2, sl);
	meta_cache_put(&s->l2, sl);
	*done = pos - req->pos;
	return 0;
}

static bool metadata_only(const struct qcow2 *s, const struct qcow_req *req)
{
	if (req->op == QCOW_OP_DISCARD)
		return true;
	/* version 2 has no zero flag: unallocated reads zeros without one */
	return s->version >= 3 || !req->img->backing;
}

void qcow2_zero_step(struct qcow_req *req)
{
	struct qcow2 *s = qcow2_of(req->img);
	uint64_t gran = 1ULL << s->subcluster_bits, end, aend, next, done = 0;
	int ret;

	end = req->offset + req->length;
	/* a partial cluster at the end of the image counts as whole */
	aend = end == req->img->size ? ALIGN_UP(end, gran) :
	       ALIGN_DOWN(end, gran);
	while (req->pos < end && !req->error) {
		next = MIN(end, ALIGN_UP(req->pos + 1, gran));
		if (!IS_ALIGNED(req->pos, gran) || req->pos >= aend ||
		    !metadata_only(s, req)) {
			ret = 0;
			if (!metadata_only(s, req))
				next = end;
			else if (req->op != QCOW_OP_DISCARD)
				ret = zero_partial(req, next);
			if (ret == -EAGAIN)
				return;
			if (ret < 0) {
				qreq_fail(req, ret);
				break;
			}
			if (!ret && req->op != QCOW_OP_DISCARD)
				write_zeros(req, req->pos, next - req->pos);
			req->pos = next;
			continue;
		}
		if (qcow2_write_park(req, aend))
			return;
		ret = qcow2_l2_prepare(req);
		if (!ret)
			ret = change_slice(req, aend, &done);
		if (ret == -EAGAIN)
			return;
		if (ret < 0) {
			qreq_fail(req, ret);
			break;
		}
		req->pos = MIN(req->pos + done, end);
	}
	probe_free(req);
	qcow2_ckpt_maybe(s, req->ctx);
	qreq_put(req);
}
