// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include "meta_cache.h"

#define META_CACHE_MIN_SLICES 16
#define META_SLAB_BYTES (256u << 10)

static void slice_free(struct meta_cache *c, struct meta_slice *s);

struct meta_slab {
	struct meta_slab *next;		/* in the partial list */
	struct meta_slab **pprev;
	uint8_t *mem;
	size_t len;
	unsigned int used;
	struct meta_slice *free;	/* linked through hnext */
	struct meta_slice slices[];
};

int meta_cache_init(struct meta_cache *c, struct qfile *f,
		    uint32_t slice_size, uint64_t max_bytes)
{
	unsigned int buckets = 64;

	memset(c, 0, sizeof(*c));
	c->file = f;
	c->slice_size = slice_size;
	c->max_slices = MAX(max_bytes / slice_size, META_CACHE_MIN_SLICES);
	c->stride = f && f->align > 1 ? ALIGN_UP(slice_size, QIO_DIRECT_ALIGN) :
					slice_size;
	c->slab_slices = MIN(MAX(META_SLAB_BYTES / c->stride, 1u),
			     c->max_slices);
	while (buckets < 2 * c->max_slices && buckets < (1u << 22))
		buckets <<= 1;
	c->hash = calloc(buckets, sizeof(*c->hash));
	if (!c->hash)
		return -ENOMEM;
	c->hash_mask = buckets - 1;
	c->lru.next = c->lru.prev = &c->lru;
	return 0;
}

static void partial_add(struct meta_cache *c, struct meta_slab *b)
{
	b->next = c->partial;
	if (b->next)
		b->next->pprev = &b->next;
	b->pprev = &c->partial;
	c->partial = b;
}

static void partial_del(struct meta_slab *b)
{
	*b->pprev = b->next;
	if (b->next)
		b->next->pprev = b->pprev;
	b->pprev = NULL;
}

static struct meta_slab *slab_new(struct meta_cache *c)
{
	unsigned int i, n = c->slab_slices;
	struct meta_slab *b = calloc(1, sizeof(*b) + n * sizeof(b->slices[0]));

	if (!b)
		return NULL;
	b->len = (size_t)n * c->stride;
	b->mem = mmap(NULL, b->len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (b->mem == MAP_FAILED) {
		free(b);
		return NULL;
	}
	for (i = n; i-- > 0;) {
		b->slices[i].data = b->mem + (size_t)i * c->stride;
		b->slices[i].slab = b;
		b->slices[i].hnext = b->free;
		b->free = &b->slices[i];
	}
	c->nb_slabs++;
	c->nb_empty++;
	partial_add(c, b);
	return b;
}

static void slab_free(struct meta_cache *c, struct meta_slab *b)
{
	if (b->pprev)
		partial_del(b);
	munmap(b->mem, b->len);
	free(b);
	c->nb_slabs--;
	c->nb_empty--;
}

/* Unmaps the empty slabs but `keep` of them. */
static void free_empty_slabs(struct meta_cache *c, unsigned int keep)
{
	struct meta_slab *b, *next;

	for (b = c->partial; b && c->nb_empty > keep; b = next) {
		next = b->next;
		if (!b->used)
			slab_free(c, b);
	}
}

static struct meta_slice *slice_alloc(struct meta_cache *c)
{
	struct meta_slab *b = c->partial;
	struct meta_slice *s;
	uint8_t *data;

	if (!b)
		b = slab_new(c);
	if (!b)
		return NULL;
	s = b->free;
	b->free = s->hnext;
	if (!b->used++)
		c->nb_empty--;
	if (!b->free)
		partial_del(b);
	data = s->data;
	memset(s, 0, sizeof(*s));
	s->data = data;
	s->slab = b;
	return s;
}

static void slice_release(struct meta_cache *c, struct meta_slice *s)
{
	struct meta_slab *b = s->slab;

	if (!b->free)
		partial_add(c, b);
	s->hnext = b->free;
	b->free = s;
	if (--b->used)
		return;
	c->nb_empty++;
	if (c->nb_empty > 1)
		slab_free(c, b);
}

uint64_t meta_cache_bytes(const struct meta_cache *c)
{
	return (uint64_t)c->nb_slabs * c->slab_slices * c->stride;
}

void meta_cache_destroy(struct meta_cache *c)
{
	struct meta_slice *s, *next;

	if (!c->hash)
		return;
	for (s = c->lru.next; s != &c->lru; s = next) {
		next = s->next;
		slice_free(c, s);
	}
	free_empty_slabs(c, 0);
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
	slice_release(c, s);
	c->nb_slices--;
}

/*
 * Room for one more within the target size: clean idle slices go, but a
 * slice the fast path found since it was last here gets a second chance
 * at the front (peeks move nothing).
 */
static void shrink(struct meta_cache *c)
{
	struct meta_slice *s, *prev;

	for (s = c->lru.prev; s != &c->lru && c->nb_slices >= c->max_slices;
	     s = prev) {
		prev = s->prev;
		if (!evictable(s))
			continue;
		if (s->touched) {
			s->touched = false;
			lru_unlink(s);
			lru_push_front(c, s);
			continue;
		}
		slice_free(c, s);
	}
}

static struct meta_slice *slice_new(struct meta_cache *c, uint64_t offset)
{
	struct meta_slice *s;

	shrink(c);
	s = slice_alloc(c);
	if (!s)
		return NULL;
	s->cache = c;
	s->used_at = c->epoch;
	s->offset = offset;
	c->nb_slices++;
	hash_insert(c, s);
	lru_push_front(c, s);
	return s;
}

/* Waiters were pushed: woken in the order they came, as QEMU's queue. */
static void wake_all(struct qwaiter *list, int err)
{
	struct qwaiter *rev = NULL;

	while (list) {
		struct qwaiter *w = list;

		list = w->next;
		w->next = rev;
		rev = w;
	}
	list = rev;
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
		s->used_at = c->epoch;
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
	qfile_submit_ev(ctx, c->file, &s->op, QIO_READ, s->data,
			c->slice_size, offset, c->load_ev);
	return NULL;
}

const struct meta_slice *meta_cache_peek(struct meta_cache *c,
					 uint64_t offset)
{
	struct meta_slice *s;

	if (!c->hash)
		return NULL;
	s = slice_find(c, offset);
	if (!s || s->loading)
		return NULL;
	if (!__atomic_load_n(&s->touched, __ATOMIC_RELAXED))
		__atomic_store_n(&s->touched, true, __ATOMIC_RELAXED);
	if (__atomic_load_n(&s->used_at, __ATOMIC_RELAXED) != c->epoch)
		__atomic_store_n(&s->used_at, c->epoch, __ATOMIC_RELAXED);
	return s;
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

unsigned int meta_cache_clean(struct meta_cache *c)
{
	struct meta_slice *s, *prev;
	unsigned int n = 0;

	if (!c->hash)
		return 0;
	for (s = c->lru.prev; s != &c->lru; s = prev) {
		prev = s->prev;
		if (evictable(s) && s->used_at != c->epoch) {
			slice_free(c, s);
			n++;
		}
	}
	c->epoch++;
	free_empty_slabs(c, 0);
	return n;
}
