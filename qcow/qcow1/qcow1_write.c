// SPDX-License-Identifier: MIT
/*
 * Writes and zero writes to legacy qcow images.  A write to a plain
 * allocated cluster goes in place.  Anything else (an unallocated or a
 * compressed cluster) appends a new cluster at the end of the file, filled
 * with what the guest read there before (backing file, decompressed data,
 * zeros) overlaid with the new data; the L2 entry changes in the cache
 * only once that data is written, and a missing L2 table is a new zeroed
 * table appended first, its L1 entry changed in memory.  qcow1_flush.c
 * writes them back in order.  A compressed write (whole unallocated
 * clusters, as QEMU's) appends the deflated bytes at the next sector, or
 * the cluster itself where they would not be smaller.  Allocations run
 * one at a time (the lock below), so two writes never allocate the same
 * cluster twice.
 *
 * On an encrypted image every write goes through a copy: a new cluster is
 * filled whole as above and encrypted before it is written, an allocated
 * one is rewritten sector by sector (qcow1_crypt.c).  In-place writes
 * that cover a sector in part (read, decrypted, overlaid) hold the
 * allocation lock too, so that two never rewrite the same sector from
 * stale plain text; whole sectors need no lock.  A compressed write is an
 * ordinary one there (qemu-img refuses compressed output to encrypted
 * images).
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "qcow1.h"
#include "crypt_pool.h"

struct q1_alloc {
	struct qio_op op;
	struct qcow_req child;		/* backing file read */
	struct qcow_req *req;
	struct qcow1 *s;
	struct meta_slice *sl;		/* the L2 table, held */
	uint64_t l2_idx;
	uint64_t old;			/* the entry before */
	uint64_t host;			/* the new cluster */
	uint64_t in;			/* the write's place in the cluster */
	uint64_t len;
	uint64_t boff;
	uint8_t *buf;			/* the whole cluster; NULL: req's data */
	uint8_t *cbuf;			/* compressed bytes */
	struct qcrypt_job job;		/* encrypted images: buf encrypted */
};

bool q1_alloc_lock(struct qcow1 *s, struct qwaiter *w)
{
	if (s->alloc_owner == w)
		return true;
	if (!s->alloc_owner) {
		s->alloc_owner = w;
		return true;
	}
	w->next = NULL;
	if (s->alloc_tail)
		s->alloc_tail->next = w;
	else
		s->alloc_head = w;
	s->alloc_tail = w;
	return false;
}

/* The next waiter is given the lock before it resumes. */
void q1_alloc_unlock(struct qcow1 *s, struct qwaiter *w)
{
	struct qwaiter *next = s->alloc_head;

	if (s->alloc_owner != w)
		return;
	s->alloc_owner = next;
	if (!next)
		return;
	s->alloc_head = next->next;
	if (!s->alloc_head)
		s->alloc_tail = NULL;
	next->next = NULL;
	qwaiter_wake(next, 0);
}

/* [off, off + len) is past the header and the L1 table, inside the file. */
static bool q1_outside_meta(const struct qcow1 *s, uint64_t off, uint64_t len)
{
	uint64_t l1_end = s->l1_offset + (uint64_t)s->l1_size * 8;

	return off >= s->header_end && off <= s->file_end &&
	       len <= s->file_end - off &&
	       (off >= l1_end || off + len <= s->l1_offset);
}

/* A cluster the image points to may be written in place: never metadata. */
static int q1_host_ok(struct qcow_req *req, const struct qcow1 *s, uint64_t e)
{
	if (!q1_outside_meta(s, e, q1_cluster_size(s))) {
		qcow_log(req->img, "L2 entry %#" PRIx64 " for offset %" PRIu64
			 " overlaps metadata or is past the end of the file; "
			 "not written", e, req->pos);
		return -EIO;
	}
	return 0;
}

/* Deflated clusters are never encrypted: a plain write on those images. */
static bool q1_compressing(const struct qcow_req *req, const struct qcow1 *s)
{
	return req->op == QCOW_OP_WRITE_COMPRESSED && !s->crypt_method;
}

/* An unallocated cluster already reads as zeros: no backing data there. */
static bool q1_reads_zero(const struct qcow_req *req)
{
	const struct qcow_image *b = req->img->backing;

	return !b || req->pos >= b->size;
}

/* Space at the end of the file, aligned to a cluster. */
static int q1_append(struct qcow1 *s, uint64_t len, uint64_t *off)
{
	uint64_t cs = q1_cluster_size(s);
	uint64_t o = ALIGN_UP(s->file_end, cs);

	/* bit 63 flags compressed entries: host offsets stay far below */
	if (o < s->file_end || o > (1ULL << 62) - len)
		return -EFBIG;
	*off = o;
	s->file_end = o + len;
	return 0;
}

static void q1_alloc_end(struct q1_alloc *a, int err)
{
	struct qcow_req *req = a->req;
	struct qcow1 *s = a->s;

	if (err < 0) {
		qreq_fail(req, err);
	} else {
		put_be64(a->sl->data + a->l2_idx * 8, a->host);
		meta_cache_mark_dirty(&s->l2, a->sl);
		req->pos += a->len;
	}
	meta_cache_put(&s->l2, a->sl);
	free(a->buf);
	free(a->cbuf);
	free(a);
	q1_alloc_unlock(s, &req->waiter);
	/* dirty tables stay in memory: write them back before they pile up */
	if (s->l2.nb_dirty >= s->l2.max_slices / 2)
		q1_writeback_start(req->img, req->ctx);
	q1_write_step(req, s);
}

static void q1_written(struct qio_op *op, int res)
{
	q1_alloc_end((struct q1_alloc *)op, res < 0 ? res : 0);
}

/* The deflated cluster at the next sector, as QEMU places it. */
static void q1_write_compressed(struct q1_alloc *a)
{
	struct qcow1 *s = a->s;
	uint64_t cs = q1_cluster_size(s), host;
	int n, ret;

	a->cbuf = malloc(cs);
	if (!a->cbuf) {
		q1_alloc_end(a, -ENOMEM);
		return;
	}
	n = qcow_compress(0, a->cbuf, cs, a->buf, cs);
	if (n < 0 || (uint64_t)n >= cs) {
		ret = q1_append(s, cs, &a->host);
		if (ret < 0) {
			q1_alloc_end(a, ret);
			return;
		}
		a->op.cb = q1_written;
		qfile_submit(a->req->ctx, a->req->img->file, &a->op, QIO_WRITE,
			     a->buf, cs, a->host);
		return;
	}
	host = ALIGN_UP(s->file_end, 512);
	if (host + n >= 1ULL << (63 - s->cluster_bits)) {
		q1_alloc_end(a, -EFBIG);
		return;
	}
	s->file_end = host + n;
	a->host = Q1_COMPRESSED | ((uint64_t)n << (63 - s->cluster_bits)) |
		  host;
	a->op.cb = q1_written;
	qfile_submit(a->req->ctx, a->req->img->file, &a->op, QIO_WRITE,
		     a->cbuf, n, host);
}

static void q1_write_plain(struct q1_alloc *a)
{
	a->op.cb = q1_written;
	qfile_submit(a->req->ctx, a->req->img->file, &a->op, QIO_WRITE, a->buf,
		     q1_cluster_size(a->s), a->host);
}

static void q1_encrypted(struct qwaiter *w, int err)
{
	struct q1_alloc *a = container_of(w, struct q1_alloc, job.w);

	if (err < 0)
		q1_alloc_end(a, err);
	else
		q1_write_plain(a);
}

static void q1_write_cluster(struct q1_alloc *a)
{
	int ret;

	if (q1_compressing(a->req, a->s)) {
		q1_write_compressed(a);
		return;
	}
	if (!a->s->crypt_method) {
		q1_write_plain(a);
		return;
	}
	a->job.w.resume = q1_encrypted;
	ret = q1_crypt_submit(a->s, a->req->ctx, &a->job, true,
			      a->req->pos - a->in, a->buf,
			      q1_cluster_size(a->s));
	if (ret < 0)
		q1_alloc_end(a, ret);
}

static void q1_overlay_done(struct qio_op *op, int res)
{
	struct q1_alloc *a = (struct q1_alloc *)op;

	if (res < 0)
		q1_alloc_end(a, res);
	else
		q1_write_cluster(a);
}

/* The request's data (or zeros) over what the cluster held. */
static void q1_overlay(struct q1_alloc *a)
{
	struct qcow_req *req = a->req;

	if (req->op == QCOW_OP_WRITE_ZEROES) {
		memset(a->buf + a->in, 0, a->len);
	} else {
		a->op.cb = q1_overlay_done;
		if (qreq_data_get(req, &a->op, a->boff, a->buf + a->in, a->len))
			return;
	}
	q1_write_cluster(a);
}

static void q1_compressed_read(struct qio_op *op, int res)
{
	struct q1_alloc *a = (struct q1_alloc *)op;
	uint64_t host, clen;

	q1_compressed_span(a->s, a->old, &host, &clen);
	if (res >= 0)
		res = qcow_decompress(0, a->buf, q1_cluster_size(a->s), a->cbuf,
				      clen);
	if (res < 0) {
		qcow_log(a->req->img, "compressed cluster at %#" PRIx64
			 " cannot be read for a write: %s", host,
			 strerror(-res));
		q1_alloc_end(a, -EIO);
		return;
	}
	q1_overlay(a);
}

static void q1_backing_read(struct qcow_req *child, int res)
{
	struct q1_alloc *a = (struct q1_alloc *)((char *)child -
			offsetof(struct q1_alloc, child));

	if (res < 0)
		q1_alloc_end(a, res);
	else
		q1_overlay(a);
}

/* What the guest read in the cluster before: decompressed, backing, zeros. */
static void q1_fill(struct q1_alloc *a)
{
	struct qcow_image *img = a->req->img;
	uint64_t cs = q1_cluster_size(a->s);
	uint64_t start = a->req->pos - a->in, host, clen;
	int ret;

	if (a->old & Q1_COMPRESSED) {
		q1_compressed_span(a->s, a->old, &host, &clen);
		a->cbuf = malloc(clen + 1);
		if (!a->cbuf) {
			q1_alloc_end(a, -ENOMEM);
			return;
		}
		a->op.cb = q1_compressed_read;
		qfile_submit(a->req->ctx, img->file, &a->op, QIO_READ, a->cbuf,
			     clen, host);
		return;
	}
	if (!img->backing || start >= img->backing->size) {
		q1_overlay(a);
		return;
	}
	a->child.done = q1_backing_read;
	ret = qcow_submit(a->req->ctx, img->backing, &a->child, QCOW_OP_READ,
			  a->buf, start, MIN(cs, img->backing->size - start));
	if (ret < 0)
		q1_alloc_end(a, ret);
}

/*
 * The L2 table of the cluster at req->pos, a new one when there is none:
 * NULL with *err -EAGAIN when parked.
 */
static struct meta_slice *q1_l2_for_write(struct qcow_req *req,
					  struct qcow1 *s, int *err)
{
	uint64_t l1_idx = req->pos >> (s->cluster_bits + s->l2_bits);
	struct meta_slice *sl;
	uint64_t off;

	sl = q1_l2_get(req, s, err);
	if (sl && !q1_outside_meta(s, sl->offset, q1_l2_bytes(s))) {
		qcow_log(req->img, "L2 table offset %#" PRIx64 " overlaps the "
			 "header or the L1 table; not written", sl->offset);
		meta_cache_put(&s->l2, sl);
		*err = -EIO;
		return NULL;
	}
	if (sl || *err)
		return sl;
	*err = q1_append(s, q1_l2_bytes(s), &off);
	if (*err < 0)
		return NULL;
	sl = meta_cache_get_new(&s->l2, off, err);
	if (!sl)
		return NULL;
	s->l1[l1_idx] = off;
	s->l1_dirty[l1_idx / Q1_L1_CHUNK] = 1;
	return sl;
}

/*
 * Starts the allocation of the cluster at req->pos (the lock held): 1
 * when it runs (it continues the step), -EAGAIN when parked, or an error.
 */
static int q1_alloc_start(struct qcow_req *req, struct qcow1 *s,
			  uint64_t in, uint64_t len)
{
	uint64_t cs = q1_cluster_size(s);
	struct meta_slice *sl;
	struct q1_alloc *a;
	int ret;

	sl = q1_l2_for_write(req, s, &ret);
	if (!sl)
		return ret;
	a = calloc(1, sizeof(*a));
	if (!a) {
		meta_cache_put(&s->l2, sl);
		return -ENOMEM;
	}
	a->req = req;
	a->s = s;
	a->sl = sl;
	a->l2_idx = (req->pos >> s->cluster_bits) & ((1ULL << s->l2_bits) - 1);
	a->old = get_be64(sl->data + a->l2_idx * 8);
	a->in = in;
	a->len = len;
	a->boff = req->pos - req->offset;
	/* compressed: the space is known once the data is deflated */
	ret = q1_compressing(req, s) ? 0 : q1_append(s, cs, &a->host);
	if (ret < 0) {
		q1_alloc_end(a, ret);
		return 1;
	}
	if (len == cs && req->op == QCOW_OP_WRITE && !s->crypt_method) {
		a->op.cb = q1_written;
		qreq_data_submit_write(req, &a->op, req->img->file, a->boff,
				       cs, a->host);
		return 1;
	}
	a->buf = qalloc_aligned(cs);
	if (!a->buf) {
		q1_alloc_end(a, -ENOMEM);
		return 1;
	}
	memset(a->buf, 0, cs);
	/* nothing of the old cluster shows through a whole one */
	if (q1_compressing(req, s) || len == cs)
		q1_overlay(a);
	else
		q1_fill(a);
	return 1;
}

/*
 * As QEMU's: whole clusters (the last one may end with the disk), never
 * over an allocated one, byte offsets (no O_DIRECT).
 */
static int q1_compressed_ok(struct qcow_req *req, const struct qcow1 *s,
			    uint64_t in, uint64_t len, uint64_t e)
{
	if (in || (len < q1_cluster_size(s) &&
		   req->pos + len != req->img->size) ||
	    req->img->file->align > 1)
		return -EINVAL;
	return e ? -EIO : 0;
}

/* One cluster's part of the request: 1 when it runs on, -EAGAIN parked. */
static int q1_write_cluster_part(struct qcow_req *req, struct qcow1 *s,
				 uint64_t in, uint64_t len)
{
	uint64_t boff = req->pos - req->offset, e;
	int ret;

	ret = q1_entry(req, s, &e);
	if (ret < 0)
		return ret;
	if (q1_compressing(req, s)) {
		ret = q1_compressed_ok(req, s, in, len, e);
		if (ret < 0) {
			q1_alloc_unlock(s, &req->waiter);
			return ret;
		}
	} else if (e && !(e & Q1_COMPRESSED) && s->crypt_method) {
		ret = q1_host_ok(req, s, e);
		if (ret < 0) {
			q1_alloc_unlock(s, &req->waiter);
			return ret;
		}
		/* whole sectors read nothing back: no stale plain text */
		if (IS_ALIGNED(in | len, QCRYPTO_SECTOR_SIZE))
			q1_alloc_unlock(s, &req->waiter);
		else if (!q1_alloc_lock(s, &req->waiter))
			return -EAGAIN;
		q1_crypt_write_in_place(req, s, e, in, len);
		return 1;
	} else if (e && !(e & Q1_COMPRESSED)) {
		q1_alloc_unlock(s, &req->waiter);
		ret = q1_host_ok(req, s, e);
		if (ret < 0)
			return ret;
		if (req->op == QCOW_OP_WRITE)
			qreq_data_write_file(req, req->img->file, boff, len,
					     e + in);
		else
			qreq_write_zeroes_file(req, req->img->file, len,
					       e + in);
		return 0;
	}
	if (!e && req->op == QCOW_OP_WRITE_ZEROES && q1_reads_zero(req)) {
		q1_alloc_unlock(s, &req->waiter);
		return 0;
	}
	if (!q1_alloc_lock(s, &req->waiter))
		return -EAGAIN;
	return q1_alloc_start(req, s, in, len);
}

void q1_write_step(struct qcow_req *req, struct qcow1 *s)
{
	uint64_t end = req->offset + req->length, cs = q1_cluster_size(s);
	uint64_t in, len;
	int ret;

	while (req->pos < end && !req->error) {
		in = req->pos & (cs - 1);
		len = MIN(end - req->pos, cs - in);
		ret = q1_write_cluster_part(req, s, in, len);
		if (ret == -EAGAIN || ret == 1)
			return;
		if (ret < 0) {
			qreq_fail(req, ret);
			break;
		}
		req->pos += len;
	}
	q1_alloc_unlock(s, &req->waiter);
	qreq_put(req);
}
