// SPDX-License-Identifier: MIT
/*
 * L2 tables for writers: a new zeroed table where the L1 entry is empty, a
 * private copy where the table is shared with a snapshot.  The L1 entry
 * changes in memory only; it reaches the disk after the table does.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include "qcow2_write.h"
#include "layout.h"

struct l2_copy {
	struct qcow2 *s;
	struct l2_copy *next;
	uint64_t l1_index;
	uint64_t old;
	uint8_t *buf;
	struct qwaiter *waiters;
	struct qio_op op;
};

void qcow2_mark_l1_dirty(struct qcow2 *s, uint64_t l1_index)
{
	uint64_t chunk = l1_index / s->l1_chunk_entries;

	s->l1_dirty[chunk / 64] |= 1ULL << (chunk % 64);
	s->l1_any_dirty = true;
}

/* Slices of a table at off, filled from src (or zeros). */
static int install_table(struct qcow2 *s, uint64_t off, const uint8_t *src)
{
	uint32_t ss = s->l2.slice_size, i;
	struct meta_slice *sl;
	int ret;

	for (i = 0; i < s->cluster_size / ss; i++) {
		sl = meta_cache_get_new(&s->l2, off + (uint64_t)i * ss, &ret);
		if (!sl)
			return ret;
		if (src)
			memcpy(sl->data, src + (uint64_t)i * ss, ss);
		meta_cache_put(&s->l2, sl);
	}
	return 0;
}

static int new_table(struct qcow2 *s, uint64_t l1_index, const uint8_t *src)
{
	int64_t off = qcow2_alloc_clusters(s, 1);
	int ret;

	if (off < 0)
		return (int)off;
	ret = qcow2_check_write(s, UINT64_MAX, (uint64_t)off, s->cluster_size);
	if (!ret)
		ret = qcow2_meta_add(s, (uint64_t)off, s->cluster_size,
				     QCOW2_META_L2);
	if (!ret)
		ret = install_table(s, (uint64_t)off, src);
	if (ret < 0)
		return ret;
	s->l1[l1_index] = (uint64_t)off | QCOW_OFLAG_COPIED;
	qcow2_mark_l1_dirty(s, l1_index);
	return 0;
}

static void copy_done(struct qio_op *op, int res)
{
	struct l2_copy *c = op->data;
	struct qcow2 *s = c->s;
	struct l2_copy **pp = &s->l2_copies;
	struct qwaiter *list = c->waiters;

	if (res >= 0)
		res = new_table(s, c->l1_index, c->buf);
	if (res >= 0)
		res = qcow2_release_later(s, c->old, s->cluster_size);
	if (res < 0)
		qcow_log(s->img, "cannot copy the shared L2 table at %#" PRIx64
			 ": %s", c->old, strerror(-res));
	while (*pp && *pp != c)
		pp = &(*pp)->next;
	if (*pp)
		*pp = c->next;
	free(c->buf);
	free(c);
	while (list) {
		struct qwaiter *w = list;

		list = w->next;
		w->next = NULL;
		qwaiter_wake(w, res < 0 ? res : 0);
	}
}

static int start_copy(struct qcow_req *req, uint64_t l1_index, uint64_t old)
{
	struct qcow2 *s = qcow2_of(req->img);
	struct l2_copy *c;

	for (c = s->l2_copies; c; c = c->next)
		if (c->l1_index == l1_index)
			break;
	if (!c) {
		c = calloc(1, sizeof(*c));
		if (!c)
			return -ENOMEM;
		c->buf = qalloc_aligned(s->cluster_size);
		if (!c->buf) {
			free(c);
			return -ENOMEM;
		}
		c->s = s;
		c->l1_index = l1_index;
		c->old = old;
		c->next = s->l2_copies;
		s->l2_copies = c;
		c->op.cb = copy_done;
		c->op.data = c;
		qfile_submit_ev(req->ctx, s->img->file, &c->op, QIO_READ,
				c->buf, s->cluster_size, old,
				QBD_L2_ALLOC_COW_READ);
	}
	req->waiter.next = c->waiters;
	req->waiter.ctx = req->ctx;
	c->waiters = &req->waiter;
	return -EAGAIN;
}

int qcow2_l2_prepare(struct qcow_req *req)
{
	struct qcow2 *s = qcow2_of(req->img);
	uint64_t idx = req->pos >> (s->cluster_bits + s->l2_bits);
	uint64_t l1e, off;

	if (idx >= s->l1_size)
		return -EIO;
	l1e = s->l1[idx];
	off = l1e & L1E_OFFSET_MASK;
	if (!off)
		return new_table(s, idx, NULL);
	if (qcow2_offset_into_cluster(s, off) ||
	    qcow2_meta_overlap(s, off, s->cluster_size) != QCOW2_META_L2)
		return qcow2_signal_corruption(s, "corrupt: L1 entry %" PRIu64
					       " names an L2 table at %#"
					       PRIx64 " that is unaligned or "
					       "overlaps other metadata", idx,
					       off);
	if (l1e & QCOW_OFLAG_COPIED)
		return 0;
	if (qcow2_refcount_of(s, off >> s->cluster_bits) == 1) {
		s->l1[idx] |= QCOW_OFLAG_COPIED;
		qcow2_mark_l1_dirty(s, idx);
		return 0;
	}
	return start_copy(req, idx, off);
}
