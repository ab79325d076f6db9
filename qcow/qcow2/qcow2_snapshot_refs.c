// SPDX-License-Identifier: MIT
/*
 * The refcounts an L1 table holds, as qcow2 counts them for snapshots: one
 * per L1 table for every L2 table it names and every host cluster those
 * name (a shared L2 table counts its data once per L1 table).  Raising
 * them is done in memory for the next write-back; lowering them is a
 * release (the refcount drops in the write-back after the next one).
 *
 * With set_copied, the COPIED flags of the tables walked say "refcount is
 * one" afterwards, as QEMU leaves them; changed L2 tables are written in
 * place, for the caller's next write-back to make durable (it has the
 * image marked dirty).  It runs after a
 * write-back that left no metadata dirty, so the tables on disk are those
 * of the cache.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include "qcow2_map.h"
#include "qcow2_check.h"
#include "qcow2_write.h"
#include "layout.h"

struct walk {
	struct qcow2 *s;
	int addend;
	bool set_copied;
	bool dry;		/* only count what raising would add */
	struct shared_map added;
	uint8_t *l2;
};

static int ref_one(struct walk *w, uint64_t c)
{
	struct qcow2 *s = w->s;
	uint64_t rc, more = 1;
	int ret;

	if (w->addend < 0)
		return qcow2_release_later(s, c << s->cluster_bits, 1);
	if (!w->addend)
		return 0;
	rc = qcow2_refcount_of(s, c);
	if (w->dry)
		more += cmap_get(&w->added, c);
	if (rc + more > s->refcount_max)
		return qcow_set_error(-ERANGE, s->img->filename, "the refcount "
				      "of cluster %" PRIu64 " would exceed "
				      "%u bits", c, 1u << s->refcount_order);
	if (w->dry)
		return cmap_set(&w->added, c, more);
	ret = qcow2_refcount_set(s, c, rc + 1);
	return ret < 0 ? ret : cluster_vec_push(&s->alloc.inc, c);
}

static int ref_range(struct walk *w, uint64_t off, uint64_t len)
{
	uint64_t c;
	int ret;

	for (c = off >> w->s->cluster_bits;
	     c <= (off + len - 1) >> w->s->cluster_bits; c++) {
		ret = ref_one(w, c);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* COPIED as the refcount says; true when the entry changed. */
static bool fix_copied(struct walk *w, uint64_t *e, uint64_t c)
{
	bool want = qcow2_refcount_of(w->s, c) == 1;

	if (!w->set_copied || want == !!(*e & QCOW_OFLAG_COPIED))
		return false;
	*e ^= QCOW_OFLAG_COPIED;
	return true;
}

/* One L2 entry, as qemu-img check counts it; true when it changed. */
static int walk_entry(struct walk *w, uint8_t *p, bool *changed)
{
	struct qcow2 *s = w->s;
	uint64_t l2e = get_be64(p), off, len;
	uint64_t bitmap = s->l2_entry_size == 16 ? get_be64(p + 8) : 0;
	enum qcow2_sc_type t;
	int ret;

	if (qcow2_check_l2_entry_unused(s, p))
		return 0;
	t = qcow2_sc_type(s, l2e, bitmap, 0);
	if (t == SC_COMPRESSED) {
		if (bitmap || s->has_data_file)
			return 0;
		qcow2_compressed_range(s, l2e, &off, &len);
		return ref_range(w, off, len);
	}
	off = l2e & L2E_OFFSET_MASK;
	if (!off || qcow2_offset_into_cluster(s, off) ||
	    (!type_is_mapped(t) && t != SC_INVALID))
		return 0;
	if (s->has_data_file)
		return 0;
	ret = ref_one(w, off >> s->cluster_bits);
	if (ret < 0 || !fix_copied(w, &l2e, off >> s->cluster_bits))
		return ret;
	put_be64(p, l2e);
	*changed = true;
	return 0;
}

static int walk_l2(struct walk *w, uint64_t l2_off)
{
	struct qcow2 *s = w->s;
	uint64_t n = 1ULL << s->l2_bits, i;
	bool changed = false;
	int ret;

	ret = qcow2_check_read_l2(s, w->l2, l2_off);
	if (ret)
		return ret > 0 ? 0 : ret;
	for (i = 0; i < n; i++) {
		ret = walk_entry(w, w->l2 + i * s->l2_entry_size, &changed);
		if (ret < 0)
			return ret;
	}
	if (!changed)
		return 0;
	meta_cache_drop(&s->l2, l2_off, s->cluster_size);
	return qfile_pwrite_sync(s->img->file, w->l2, s->cluster_size, l2_off);
}

/*
 * l1 is in host order; its COPIED flags change with set_copied (the
 * caller marks the active table dirty or writes its copy).
 */
int qcow2_snapshot_refs(struct qcow2 *s, uint64_t *l1, uint32_t l1_size,
			int addend, bool set_copied)
{
	struct walk w = { .s = s, .addend = addend, .set_copied = set_copied };
	uint32_t i;
	int ret = 0;

	/* narrow refcounts: refused before anything changes */
	if (addend == 2) {
		w.addend = 1;
		w.dry = true;
		w.set_copied = false;
	}

	w.l2 = qalloc_aligned(s->cluster_size);
	if (!w.l2)
		return -ENOMEM;
	for (i = 0; i < l1_size && !ret; i++) {
		uint64_t off = l1[i] & L1E_OFFSET_MASK;

		if (!off || qcow2_offset_into_cluster(s, off))
			continue;
		/* the data first: a release reads the table before it goes */
		ret = walk_l2(&w, off);
		if (!ret)
			ret = ref_one(&w, off >> s->cluster_bits);
		if (!ret && !w.dry &&
		    fix_copied(&w, &l1[i], off >> s->cluster_bits) &&
		    l1 == s->l1)
			qcow2_mark_l1_dirty(s, i);
	}
	free(w.l2);
	cmap_free(&w.added);
	return ret;
}
