/* SPDX-License-Identifier: MIT */
/* Guest-to-host mapping of qcow2: L1 and L2 entries decoded to extents. */
#ifndef QCOW_QCOW2_MAP_H
#define QCOW_QCOW2_MAP_H

#include "qcow2.h"

enum qcow2_sc_type {
	SC_NORMAL,
	SC_ZERO_PLAIN,
	SC_ZERO_ALLOC,
	SC_UNALLOC_PLAIN,
	SC_UNALLOC_ALLOC,
	SC_COMPRESSED,
	SC_INVALID,
};

struct qcow2_extent {
	enum qcow2_sc_type type;
	uint64_t len;		/* bytes from the request's position */
	uint64_t host;		/* host offset of that position */
	uint64_t l2_entry;	/* the descriptor of the first cluster */
	bool copied;		/* COPIED: the host cluster is ours alone */
	unsigned int index;	/* entry of the first cluster in its slice */
};

/*
 * The run of guest bytes at req->pos (up to the request's end) that maps
 * the same way.  Returns 0, -EAGAIN when req was parked on an L2 slice,
 * or -errno.
 */
int qcow2_map_extent(struct qcow_req *req, struct qcow2_extent *e);
/*
 * The read fast path's: under the chain lock held shared, only from a
 * cached L2 slice, nothing parked, loaded or logged; -EAGAIN: ask
 * qcow2_map_extent() under the exclusive lock.
 */
int qcow2_map_extent_peek(struct qcow_req *req, struct qcow2_extent *e);
/* The same, keeping the L2 slice held in *pin (NULL without a table). */
int qcow2_map_extent_pin(struct qcow_req *req, struct qcow2_extent *e,
			 struct meta_slice **pin);

static inline bool type_is_mapped(enum qcow2_sc_type t)
{
	return t == SC_NORMAL || t == SC_ZERO_ALLOC || t == SC_UNALLOC_ALLOC;
}

enum qcow2_sc_type qcow2_sc_type(const struct qcow2 *s, uint64_t l2e,
				 uint64_t bitmap, unsigned int sc);

static inline void qcow2_compressed_range(const struct qcow2 *s, uint64_t l2e,
					  uint64_t *off, uint64_t *len)
{
	unsigned int shift = 62 - (s->cluster_bits - 8);
	uint64_t mask = (1ULL << (s->cluster_bits - 8)) - 1;
	uint64_t sectors = ((l2e >> shift) & mask) + 1;

	*off = l2e & ((1ULL << shift) - 1);
	*len = sectors * 512 - (*off & 511);
}

#endif
