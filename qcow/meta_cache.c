// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include "meta_cache.h"

#define META_CACHE_MIN_SLICES 16

int meta_cache_init(struct meta_cache *c, struct qfile *f,
		    uint32_t slice_size, uint64_t max_bytes)
{
	unsigned int buckets = 64;

	memset(c, 0, sizeof(*c));
	c->file = f;
	c->slice_size = slice_size;
	c->max_slices = MAX(max_bytes / slice_size, META_CACHE_MIN_SLICES);
	while (buckets < 2 * c->max_slices && buckets < (1u << 22))
		buckets <<= 1;
	c->hash = calloc(buckets, sizeof(*c->hash));
	if (!c->hash)
		return -ENOMEM;
	c->hash_mask = buckets - 1;
	c->lru.next = c->lru.prev = &c->lru;
	return 0;
}

void meta_cache_destroy(struct meta_cache *c)
{
	struct meta_slice *s, *next;

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

static unsigned int slice_hash(const struct meta_cache *c, uint64_t off)
{
	return (unsigned int)(((off >> 9) * 0x9e3779b97f4a7c15ULL) >> 32) &
	       c->hash_mask;
}

static struct meta_slice *slice_find(struct meta_cache *c, uint64_t off)
{
	struct meta_slice *s;

	for (s = c->hash[slice_hash(c, off)]; s; s = s->hnext)
		if (s->offset == off)
			return s;
	return NULL;
}

static void lru_unlink(struct meta_slice *s)
{
	s->prev->next = s->next;
	s->next->prev = s->prev;
}

static void lru_push_front(struct meta_cache *c, struct meta_slice *s)
{
	s->next = c->lru.next;
	s->prev = &c->lru;
	c->lru.next->prev = s;
	c->lru.next = s;
}

static void hash_remove(struct meta_cache *c, struct meta_slice *s)
{
	struct meta_slice **pp = &c->hash[slice_hash(c, s->offset)];

	while (*pp && *pp != s)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = s->hnext;
}

static void hash_insert(struct meta_cache *c, struct meta_slice *s)
{
	unsigned int h = slice_hash(c, s->offset);

	s->hnext = c->hash[h];
	c->hash[h] = s;
}

static bool evictable(const struct meta_slice *s)
{
	return !s->refs && !s->loading && !s->dirty;
}

static void slice_free(struct meta_cache *c, struct meta_slice *s)
{
	lru_unlink(s);
	hash_remove(c, s);
	free(s->data);
	free(s);
	c->nb_slices--;
}

/* Above the target size, clean idle slices go first. */
static void shrink(struct meta_cache *c)
{
	struct meta_slice *s, *prev;

	for (s = c->lru.prev; s != &c->lru && c->nb_slices > c->max_slices;
	     s = prev) {
		prev = s->prev;
		if (evictable(s))
			slice_free(c, s);
	}
}

static struct meta_slice *slice_new(struct meta_cache *c, uint64_t offset)
{
	struct meta_slice *s;

	shrink(c);
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->data = qalloc_aligned(c->slice_size);
	if (!s->data) {
		free(s);
		return NULL;
	}
	s->cache = c;
	s->offset = offset;
	c->nb_slices++;
	hash_insert(c, s);
	lru_push_front(c, s);
	return s;
}

static void wake_all(struct qwaiter *list, int err)
{
	while (list) {
		struct qwaiter *w = list;

		list = w->next;
		w->next = NULL;
		qwaiter_wake(w, err);
	}
}

static void slice_loaded(struct qio_op *op, int res)
{
	struct meta_slice *s = op->data;
	struct meta_cache *c = s->cache;
	struct qwaiter *waiters = s->waiters;

	s->waiters = NULL;
	s->loading = false;
	if (res < 0)
		slice_free(c, s);
	wake_all(waiters, res < 0 ? res : 0);
}

struct meta_slice *meta_cache_get(struct meta_cache *c, struct qcow_ctx *ctx,
				  struct qwaiter *w, uint64_t offset, int *err)
{
	struct meta_slice *s = slice_find(c, offset);

	*err = 0;
	w->ctx = ctx;
	if (s && s->loading) {
		w->next = s->waiters;
		s->waiters = w;
		return NULL;
	}
	if (s) {
		c->hits++;
		s->refs++;
		lru_unlink(s);
		lru_push_front(c, s);
		return s;
	}
	s = slice_new(c, offset);
	if (!s) {
		*err = -ENOMEM;
		return NULL;
	}
	c->misses++;
	s->loading = true;
	w->next = NULL;
	s->waiters = w;
	s->op.cb = slice_loaded;
	s->op.data = s;
	qfile_submit(ctx, c->file, &s->op, QIO_READ, s->data, c->slice_size,
		     offset);
	return NULL;
}

struct meta_slice *meta_cache_get_new(struct meta_cache *c, uint64_t offset,
				      int *err)
{
	struct meta_slice *s = slice_find(c, offset);

	*err = 0;
	if (s && (s->loading || s->refs)) {
		/* a freed table's slice still in use: a logic error */
		*err = -EBUSY;
		return NULL;
	}
	if (!s)
		s = slice_new(c, offset);
	if (!s) {
		*err = -ENOMEM;
		return NULL;
	}
	memset(s->data, 0, c->slice_size);
	s->refs++;
	meta_cache_mark_dirty(c, s);
	return s;
}

void meta_cache_put(struct meta_cache *c, struct meta_slice *s)
{
	s->refs--;
}

void meta_cache_mark_dirty(struct meta_cache *c, struct meta_slice *s)
{
	if (s->dirty)
		return;
	s->dirty = true;
	s->dirty_next = c->dirty_list;
	c->dirty_list = s;
	c->nb_dirty++;
}

struct meta_slice *meta_cache_take_dirty(struct meta_cache *c)
{
	struct meta_slice *list = c->dirty_list;

	c->dirty_list = NULL;
	return list;
}

void meta_cache_mark_clean(struct meta_cache *c, struct meta_slice *s)
{
	s->dirty = false;
	c->nb_dirty--;
}

void meta_cache_drop(struct meta_cache *c, uint64_t offset, uint64_t len)
{
	uint64_t off;

	for (off = ALIGN_DOWN(offset, c->slice_size); off < offset + len;
	     off += c->slice_size) {
		struct meta_slice *s = slice_find(c, off);

		if (s && evictable(s))
			slice_free(c, s);
	}
}
