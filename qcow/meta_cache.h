/* SPDX-License-Identifier: MIT */
/*
 * A cache of metadata table slices (L2 tables, refcount blocks), keyed by
 * host offset.  Clean slices nobody holds are evicted least recently used
 * first once the cache is at its size; held, loading and dirty slices are
 * never evicted, so the size is a target that in-flight work may exceed.
 * Whoever needs a slice being loaded waits on it and is resumed when the
 * load completes.
 *
 * Slices live in slabs, arrays of them in one anonymous mapping each, so
 * that the memory a slice costs is its size: one aligned allocation per
 * slice cost about twice that in the allocator's gaps.  A slab is
 * unmapped once empty (one empty slab is kept against churn), so cleaned
 * entries return their memory.
 */
#ifndef QCOW_META_CACHE_H
#define QCOW_META_CACHE_H

#include "internal.h"

struct meta_cache;

struct meta_slab;

struct meta_slice {
	uint64_t offset;
	uint8_t *data;
	struct meta_slice *hnext;
	struct meta_slice *prev;
	struct meta_slice *next;
	struct meta_slice *dirty_next;
	unsigned int refs;
	unsigned int used_at;		/* clean epoch of the last use */
	bool loading;
	bool dirty;
	bool touched;			/* found by a peek since last evicted */
	struct qwaiter *waiters;
	struct meta_cache *cache;
	struct meta_slab *slab;
	struct qio_op op;
};

struct meta_cache {
	struct qfile *file;
	uint32_t slice_size;
	unsigned int max_slices;
	unsigned int nb_slices;
	unsigned int nb_dirty;
	struct meta_slice **hash;
	unsigned int hash_mask;
	struct meta_slice lru;		/* sentinel: next is most recent */
	struct meta_slice *dirty_list;
	uint64_t hits;
	uint64_t misses;
	uint32_t stride;		/* bytes between slices in a slab */
	unsigned int slab_slices;
	struct meta_slab *partial;	/* slabs with a free slice */
	unsigned int nb_slabs;
	unsigned int nb_empty;
	unsigned int epoch;
	int load_ev;			/* blkdebug event of a load */
};

int meta_cache_init(struct meta_cache *c, struct qfile *f,
		    uint32_t slice_size, uint64_t max_bytes);
void meta_cache_destroy(struct meta_cache *c);
/*
 * The loaded slice at offset with a reference held, or NULL: then *err is
 * set on failure, or 0 when w was queued and will be resumed.
 */
struct meta_slice *meta_cache_get(struct meta_cache *c, struct qcow_ctx *ctx,
				  struct qwaiter *w, uint64_t offset, int *err);
/* A held, zero-filled, dirty slice for a table that is new on disk. */
struct meta_slice *meta_cache_get_new(struct meta_cache *c, uint64_t offset,
				      int *err);
void meta_cache_put(struct meta_cache *c, struct meta_slice *s);
/*
 * Under the chain lock held shared (the read fast path): the loaded slice
 * at offset, or NULL.  Nothing is held: the caller reads it before it lets
 * go of the lock.  Marks it used for the eviction (a second chance) and
 * the clean; the caller counts the hit (atomically) if it uses it.
 */
const struct meta_slice *meta_cache_peek(struct meta_cache *c,
					 uint64_t offset);
void meta_cache_mark_dirty(struct meta_cache *c, struct meta_slice *s);
/* Takes the dirty list; the caller cleans each slice it writes. */
struct meta_slice *meta_cache_take_dirty(struct meta_cache *c);
void meta_cache_mark_clean(struct meta_cache *c, struct meta_slice *s);
/* Forget cached slices in [offset, offset + len): the clusters are free. */
void meta_cache_drop(struct meta_cache *c, uint64_t offset, uint64_t len);
/*
 * Frees the idle, clean slices not used since the previous call (QEMU's
 * cache-clean-interval) and the empty slabs; returns how many slices.
 */
unsigned int meta_cache_clean(struct meta_cache *c);
/* Bytes the slabs hold (what the cache costs) */
uint64_t meta_cache_bytes(const struct meta_cache *c);

#endif
