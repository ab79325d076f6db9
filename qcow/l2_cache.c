// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include "l2_cache.h"

#define L2_CACHE_MIN_SLICES 16

int l2_cache_init(struct l2_cache *c, struct qfile *f, uint32_t slice_size,
		  uint64_t max_bytes)
{
	unsigned int buckets = 64;

	memset(c, 0, sizeof(*c));
	c->file = f;
	c->slice_size = slice_size;
	c->max_slices = MAX(max_bytes / slice_size, L2_CACHE_MIN_SLICES);
	while (buckets < 2 * c->max_slices)
		buckets <<= 1;
	c->hash = calloc(buckets, sizeof(*c->hash));
	if (!c->hash)
		return -ENOMEM;
	c->hash_mask = buckets - 1;
	c->lru.next = c->lru.prev = &c->lru;
	return 0;
}

void l2_cache_destroy(struct l2_cache *c)
{
	struct l2_slice *s, *next;

	if (!c->hash)
		return;
	for (s = c->lru.next; s != &c->lru; s = next) {
		next = s->next;
		free(s->data);
		free(s);
	}
	free(c->hash);
	c->hash = NULL;
}

static unsigned int slice_hash(const struct l2_cache *c, uint64_t off)
{
	return (unsigned int)(((off >> 9) * 0x9e3779b97f4a7c15ULL) >> 32) &
	       c->hash_mask;
}

static struct l2_slice *slice_find(struct l2_cache *c, uint64_t off)
{
	struct l2_slice *s;

	for (s = c->hash[slice_hash(c, off)]; s; s = s->hnext)
		if (s->offset == off)
			return s;
	return NULL;
}

static void lru_unlink(struct l2_slice *s)
{
	s->prev->next = s->next;
	s->next->prev = s->prev;
}

static void lru_push_front(struct l2_cache *c, struct l2_slice *s)
{
	s->next = c->lru.next;
	s->prev = &c->lru;
	c->lru.next->prev = s;
	c->lru.next = s;
}

static void hash_remove(struct l2_cache *c, struct l2_slice *s)
{
	struct l2_slice **pp = &c->hash[slice_hash(c, s->offset)];

	while (*pp && *pp != s)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = s->hnext;
}

static void hash_insert(struct l2_cache *c, struct l2_slice *s)
{
	unsigned int h = slice_hash(c, s->offset);

	s->hnext = c->hash[h];
	c->hash[h] = s;
}

/* A free slot: a new slice while under the limit, else the LRU victim. */
static struct l2_slice *slice_take(struct l2_cache *c)
{
	struct l2_slice *s;

	if (c->nb_slices < c->max_slices) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return NULL;
		s->data = qalloc_aligned(c->slice_size);
		if (!s->data) {
			free(s);
			return NULL;
		}
		s->cache = c;
		c->nb_slices++;
		return s;
	}
	for (s = c->lru.prev; s != &c->lru; s = s->prev) {
		if (!s->refs && !s->loading) {
			lru_unlink(s);
			hash_remove(c, s);
			return s;
		}
	}
	return NULL;
}

static void park(struct qcow_req **list, struct qcow_req *req)
{
	req->wait_next = *list;
	*list = req;
}

static void wake_all(struct qcow_req *list, int err)
{
	while (list) {
		struct qcow_req *req = list;

		list = req->wait_next;
		req->wait_next = NULL;
		if (err) {
			qreq_fail(req, err);
			qreq_put(req);
		} else {
			req->img->drv->step(req);
		}
	}
}

static void slice_loaded(struct qio_op *op, int res)
{
	struct l2_slice *s = op->data;
	struct l2_cache *c = s->cache;
	struct qcow_req *waiters = s->waiters;
	struct qcow_req *full = c->full_waiters;

	s->waiters = NULL;
	s->loading = false;
	c->full_waiters = NULL;
	if (res < 0) {
		lru_unlink(s);
		hash_remove(c, s);
		free(s->data);
		free(s);
		c->nb_slices--;
	}
	wake_all(waiters, res < 0 ? res : 0);
	wake_all(full, 0);
}

struct l2_slice *l2_cache_get(struct l2_cache *c, struct qcow_req *req,
			      uint64_t offset, int *err)
{
	struct l2_slice *s = slice_find(c, offset);

	*err = 0;
	if (s && s->loading) {
		park(&s->waiters, req);
		return NULL;
	}
	if (s) {
		c->hits++;
		s->refs++;
		lru_unlink(s);
		lru_push_front(c, s);
		return s;
	}
	s = slice_take(c);
	if (!s) {
		if (c->nb_slices < c->max_slices) {
			*err = -ENOMEM;
			return NULL;
		}
		park(&c->full_waiters, req);
		return NULL;
	}
	c->misses++;
	s->offset = offset;
	s->loading = true;
	s->refs = 0;
	s->waiters = NULL;
	hash_insert(c, s);
	lru_push_front(c, s);
	park(&s->waiters, req);
	s->op.cb = slice_loaded;
	s->op.data = s;
	qfile_submit(req->ctx, c->file, &s->op, QIO_READ, s->data,
		     c->slice_size, offset);
	return NULL;
}

void l2_cache_put(struct l2_cache *c, struct l2_slice *s)
{
	struct qcow_req *full = c->full_waiters;

	s->refs--;
	if (!s->refs && full) {
		c->full_waiters = NULL;
		wake_all(full, 0);
	}
}
