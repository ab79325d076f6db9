/* SPDX-License-Identifier: MIT */
/*
 * A bounded cache of metadata table slices (L2 tables, later refcount
 * blocks), keyed by host offset, evicting the least recently used slice
 * that nobody holds.  A request that needs a slice being loaded is parked
 * on it and stepped again when the load completes.
 */
#ifndef QCOW_L2_CACHE_H
#define QCOW_L2_CACHE_H

#include "internal.h"

struct l2_cache;

struct l2_slice {
	uint64_t offset;
	uint8_t *data;
	struct l2_slice *hnext;
	struct l2_slice *prev;
	struct l2_slice *next;
	unsigned int refs;
	bool loading;
	struct qcow_req *waiters;
	struct l2_cache *cache;
	struct qio_op op;
};

struct l2_cache {
	struct qfile *file;
	uint32_t slice_size;
	unsigned int max_slices;
	unsigned int nb_slices;
	struct l2_slice **hash;
	unsigned int hash_mask;
	struct l2_slice lru;		/* sentinel: next is most recent */
	struct qcow_req *full_waiters;
	uint64_t hits;
	uint64_t misses;
};

int l2_cache_init(struct l2_cache *c, struct qfile *f, uint32_t slice_size,
		  uint64_t max_bytes);
void l2_cache_destroy(struct l2_cache *c);
/*
 * The loaded slice at offset with a reference held, or NULL: then *err is
 * set on failure, or 0 when req was parked and will be stepped again.
 */
struct l2_slice *l2_cache_get(struct l2_cache *c, struct qcow_req *req,
			      uint64_t offset, int *err);
void l2_cache_put(struct l2_cache *c, struct l2_slice *s);

#endif
