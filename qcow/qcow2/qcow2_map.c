// SPDX-License-Identifier: MIT
#include <errno.h>
#include <inttypes.h>
#include "qcow2_map.h"
#include "layout.h"

enum qcow2_sc_type qcow2_sc_type(const struct qcow2 *s, uint64_t l2e,
				 uint64_t bitmap, unsigned int sc)
{
	bool has_offset = (l2e & L2E_OFFSET_MASK) != 0;

	if (l2e & QCOW_OFLAG_COMPRESSED)
		return SC_COMPRESSED;
	/* offset 0 is a real offset in a data file; COPIED tells */
	if (!has_offset && s->has_data_file && (l2e & QCOW_OFLAG_COPIED))
		has_offset = true;
	if (s->l2_entry_size == 8) {
		if (l2e & QCOW_OFLAG_ZERO)
			return has_offset ? SC_ZERO_ALLOC : SC_ZERO_PLAIN;
		return has_offset ? SC_NORMAL : SC_UNALLOC_PLAIN;
	}
	if (has_offset) {
		if ((bitmap >> 32) & bitmap)
			return SC_INVALID;
		if (bitmap & (1ULL << (32 + sc)))
			return SC_ZERO_ALLOC;
		if (bitmap & (1ULL << sc))
			return SC_NORMAL;
		return SC_UNALLOC_ALLOC;
	}
	if (bitmap & QCOW_L2_BITMAP_ALLOC)
		return SC_INVALID;
	if (bitmap & (1ULL << (32 + sc)))
		return SC_ZERO_PLAIN;
	return SC_UNALLOC_PLAIN;
}

/* quiet: the read fast path, which leaves the report to the slow one */
static int bad_l2(struct qcow_req *req, const char *what, uint64_t value,
		  uint64_t l2_off, uint64_t index, bool quiet)
{
	if (quiet)
		return -EAGAIN;
	qcow_log(req->img, "%s %#" PRIx64 " (L2 table %#" PRIx64 ", index %"
		 PRIu64 ")", what, value, l2_off, index);
	return -EIO;
}

/* Extend e over the entries of one slice, starting at entry i. */
static int decode_slice(struct qcow_req *req, struct qcow2_extent *e,
			const uint8_t *slice, unsigned int i,
			unsigned int nb_entries, uint64_t l2_off, bool quiet)
{
	struct qcow2 *s = qcow2_of(req->img);
	uint64_t end = req->offset + req->length;
	uint64_t pos = req->pos, sc_size = 1ULL << s->subcluster_bits;
	unsigned int nsc = s->l2_entry_size == 16 ? QCOW_L2_SUBCLUSTERS : 1;
	unsigned int sc = (pos & (s->cluster_size - 1)) >> s->subcluster_bits;
	bool first = true;

	e->len = 0;
	for (; i < nb_entries && pos < end; i++, sc = 0) {
		const uint8_t *p = slice + (uint64_t)i * s->l2_entry_size;
		uint64_t l2e = get_be64(p);
		uint64_t bitmap = nsc > 1 ? get_be64(p + 8) : 0;
		uint64_t host = l2e & L2E_OFFSET_MASK;

		for (; sc < nsc && pos < end; sc++) {
			enum qcow2_sc_type t = qcow2_sc_type(s, l2e, bitmap, sc);
			uint64_t sc_end = ALIGN_DOWN(pos, sc_size) + sc_size;
			uint64_t h = host + ((uint64_t)sc << s->subcluster_bits) +
				     (pos & (sc_size - 1));

			if (!first && (t == SC_INVALID ||
				       (type_is_mapped(t) &&
					qcow2_offset_into_cluster(s, host))))
				return 0;	/* the next call reports it */
			if (t == SC_INVALID)
				return bad_l2(req, "invalid subcluster bitmap",
					      bitmap, l2_off, i, quiet);
			if (type_is_mapped(t) &&
			    qcow2_offset_into_cluster(s, host))
				return bad_l2(req, "unaligned cluster offset",
					      host, l2_off, i, quiet);
			if (first) {
				e->type = t;
				e->host = h;
				e->l2_entry = l2e;
				e->copied = !!(l2e & QCOW_OFLAG_COPIED);
				e->index = i;
				first = false;
			} else if (t != e->type || t == SC_COMPRESSED ||
				   e->copied != !!(l2e & QCOW_OFLAG_COPIED) ||
				   (type_is_mapped(t) && h != e->host + e->len)) {
				return 0;
			}
			e->len += MIN(sc_end, end) - pos;
			pos = MIN(sc_end, end);
		}
		if (e->type == SC_COMPRESSED)
			return 0;
	}
	return 0;
}

int qcow2_map_extent(struct qcow_req *req, struct qcow2_extent *e)
{
	return qcow2_map_extent_pin(req, e, NULL);
}

int qcow2_map_extent_pin(struct qcow_req *req, struct qcow2_extent *e,
			 struct meta_slice **pin)
{
	struct qcow2 *s = qcow2_of(req->img);
	uint64_t pos = req->pos, end = req->offset + req->length;
	unsigned int l1_shift = s->cluster_bits + s->l2_bits;
	uint64_t l1_idx = pos >> l1_shift, l2_off, l2_idx, slice_off;
	unsigned int per_slice = s->l2.slice_size / s->l2_entry_size;
	struct meta_slice *sl;
	int ret;

	if (pin)
		*pin = NULL;
	if (l1_idx >= s->l1_size || !(s->l1[l1_idx] & L1E_OFFSET_MASK)) {
		e->type = SC_UNALLOC_PLAIN;
		e->copied = false;
		e->l2_entry = 0;
		e->len = MIN(end, (l1_idx + 1) << l1_shift) - pos;
		e->host = 0;
		return 0;
	}
	l2_off = s->l1[l1_idx] & L1E_OFFSET_MASK;
	if (qcow2_offset_into_cluster(s, l2_off) ||
	    l2_off + s->cluster_size > qcow2_file_end(s)) {
		qcow_log(req->img, "L2 table offset %#" PRIx64 " is invalid "
			 "(L1 index %" PRIu64 ")", l2_off, l1_idx);
		return -EIO;
	}
	l2_idx = (pos >> s->cluster_bits) & ((1ULL << s->l2_bits) - 1);
	slice_off = l2_off + (l2_idx / per_slice) * s->l2.slice_size;
	sl = meta_cache_get(&s->l2, req->ctx, &req->waiter, slice_off, &ret);
	if (!sl)
		return ret ? ret : -EAGAIN;
	ret = decode_slice(req, e, sl->data, l2_idx % per_slice, per_slice,
			   l2_off, false);
	if (pin && !ret)
		*pin = sl;
	else
		meta_cache_put(&s->l2, sl);
	return ret;
}

int qcow2_map_extent_peek(struct qcow_req *req, struct qcow2_extent *e)
{
	struct qcow2 *s = qcow2_of(req->img);
	uint64_t pos = req->pos;
	unsigned int l1_shift = s->cluster_bits + s->l2_bits;
	uint64_t l1_idx = pos >> l1_shift, l2_off, l2_idx, slice_off;
	unsigned int per_slice = s->l2.slice_size / s->l2_entry_size;
	const struct meta_slice *sl;

	if (l1_idx >= s->l1_size)
		return -EAGAIN;
	l2_off = s->l1[l1_idx] & L1E_OFFSET_MASK;
	if (!l2_off || qcow2_offset_into_cluster(s, l2_off) ||
	    l2_off + s->cluster_size > qcow2_file_end(s))
		return -EAGAIN;
	l2_idx = (pos >> s->cluster_bits) & ((1ULL << s->l2_bits) - 1);
	slice_off = l2_off + (l2_idx / per_slice) * s->l2.slice_size;
	sl = meta_cache_peek(&s->l2, slice_off);
	if (!sl)
		return -EAGAIN;
	return decode_slice(req, e, sl->data, l2_idx % per_slice, per_slice,
			    l2_off, true);
}
