// SPDX-License-Identifier: MIT
/*
 * New refcount structures, for changing the refcount width (qemu-img
 * amend -o refcount_bits=N) and for repairing damaged ones (check -r all):
 * a new refcount table and new refcount blocks are built from the
 * in-memory refcounts, written to free clusters and synced, then the
 * header switches to them.  A crash before the header write leaves the
 * old structures in charge and the new ones leaked; after it, the old
 * ones are the leak (released here for a width change; for a repair the
 * leak repair that follows frees them).  And, for a dirty image with lazy
 * refcounts, the in-memory refcounts set from the references the check
 * counts.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include "qcow2_check.h"
#include "layout.h"

struct layout {
	uint32_t order;
	uint64_t per_block;
	uint64_t blocks;
	uint64_t rt_clusters;
	uint64_t first;		/* first new cluster */
};

/* Enough blocks to count every cluster, themselves and the table too. */
static void plan(struct qcow2 *s, struct layout *l)
{
	uint64_t cs = s->cluster_size, end = s->alloc.end;

	l->per_block = (cs * 8) >> l->order;
	l->blocks = 1;
	l->rt_clusters = 1;
	for (;;) {
		uint64_t total = end + l->blocks + l->rt_clusters;
		uint64_t b = div_round_up(total, l->per_block);
		uint64_t r = div_round_up(b * 8, cs);

		if (b <= l->blocks && r <= l->rt_clusters)
			break;
		l->blocks = MAX(b, l->blocks);
		l->rt_clusters = MAX(r, l->rt_clusters);
	}
}

static int write_structures(struct qcow2 *s, const struct layout *l,
			    uint64_t max)
{
	uint64_t cs = s->cluster_size, i, c, end = s->alloc.end;
	uint64_t blocks_off = l->first * cs;
	uint64_t rt_off = blocks_off + l->blocks * cs;
	uint8_t *blocks = qalloc_aligned(l->blocks * cs);
	uint8_t *rt = qalloc_aligned(l->rt_clusters * cs);
	int ret = 0;

	if (!blocks || !rt) {
		ret = -ENOMEM;
		goto out;
	}
	memset(blocks, 0, l->blocks * cs);
	memset(rt, 0, l->rt_clusters * cs);
	for (c = 0; c < end && !ret; c++) {
		uint64_t rc = qcow2_refcount_of(s, c);

		if (rc > max)
			ret = qcow_set_error(-ERANGE, s->img->filename,
				"refcount_bits: cluster %" PRIu64 " has "
				"refcount %" PRIu64 ", too wide", c, rc);
		else if (rc)
			qcow2_refcount_put(l->order, blocks, c, rc);
	}
	for (i = 0; i < l->blocks; i++)
		put_be64(rt + i * 8, blocks_off + i * cs);
	if (!ret)
		ret = qfile_pwrite_sync(s->img->file, blocks, l->blocks * cs,
					blocks_off);
	if (!ret)
		ret = qfile_pwrite_sync(s->img->file, rt, l->rt_clusters * cs,
					rt_off);
	if (!ret)
		ret = qfile_fsync_sync(s->img->file);
out:
	free(blocks);
	free(rt);
	return ret;
}

/* The new structures, written and synced, become the header's. */
static int write_header(struct qcow2 *s, const struct layout *l)
{
	uint64_t cs = s->cluster_size;

	s->rt_offset = l->first * cs + l->blocks * cs;
	s->rt_clusters = (uint32_t)l->rt_clusters;
	qcow2_header_set_reftable(s);
	return qcow2_header_write_sync(s);
}

/* The in-memory table and block cache follow the header. */
static int install_table(struct qcow2 *s, const struct layout *l)
{
	uint64_t cs = s->cluster_size, i, *rt;

	rt = calloc(l->rt_clusters * cs / 8, 8);
	if (!rt)
		return -ENOMEM;
	for (i = 0; i < l->blocks; i++)
		rt[i] = (l->first + i) * cs;
	free(s->rt);
	s->rt = rt;
	s->rt_entries = l->rt_clusters * cs / 8;
	meta_cache_destroy(&s->rb);
	return meta_cache_init(&s->rb, s->img->file, MIN(cs, 4096u),
			       s->rb_cache_bytes);
}

/* Allocates and writes the new structures, then switches the header. */
static int write_new(struct qcow2 *s, struct layout *l, uint64_t max)
{
	int64_t first;
	int ret;

	plan(s, l);
	first = qcow2_alloc_clusters(s, l->blocks + l->rt_clusters);
	if (first < 0)
		return (int)first;
	s->alloc.inc.n -= l->blocks + l->rt_clusters;	/* written below */
	l->first = (uint64_t)first / s->cluster_size;
	ret = write_structures(s, l, max);
	return ret < 0 ? ret : write_header(s, l);
}

/* The old structures are released once the header names the new ones. */
static int release_old(struct qcow2 *s, uint64_t *old, uint64_t old_entries,
		       uint64_t old_rt, uint64_t old_rt_bytes)
{
	uint64_t cs = s->cluster_size, i;
	int ret = 0;

	for (i = 0; i < old_entries && !ret; i++)
		if (old[i])
			ret = qcow2_release_later(s, old[i], cs);
	if (!ret)
		ret = qcow2_release_later(s, old_rt, old_rt_bytes);
	return ret;
}

int qcow2_change_refcount_order(struct qcow2 *s, uint32_t order)
{
	uint64_t max = order == 6 ? UINT64_MAX : (1ULL << (1u << order)) - 1;
	uint64_t cs = s->cluster_size, old_rt = s->rt_offset;
	uint64_t old_rt_bytes = (uint64_t)s->rt_clusters * cs, i;
	uint64_t old_entries = s->rt_entries, *old;
	uint32_t old_order = s->refcount_order;
	struct layout l = { .order = order };
	int ret;

	if (order == s->refcount_order)
		return 0;
	if (s->version < 3)
		return qcow_set_error(-EINVAL, s->img->filename,
				      "refcount_bits: needs compat=1.1");
	ret = qcow2_ckpt_sync(s, true);
	if (ret < 0)
		return ret;
	s->refcount_order = order;
	put_be32(s->hdr_raw + QH_REFCOUNT_ORDER, order);
	ret = write_new(s, &l, max);
	if (ret < 0) {
		s->refcount_order = old_order;
		put_be32(s->hdr_raw + QH_REFCOUNT_ORDER, old_order);
		return ret;
	}
	s->refcount_max = max;
	for (i = 0; i < s->rt_entries; i++)
		if (s->rt[i])
			cmap_del(&s->meta, s->rt[i] / cs);
	old = s->rt;
	s->rt = NULL;
	ret = install_table(s, &l);
	if (!ret)
		ret = release_old(s, old, old_entries, old_rt, old_rt_bytes);
	free(old);
	if (!ret)
		ret = qcow2_meta_add(s, l.first * cs, l.blocks * cs,
				     QCOW2_META_REFBLOCK);
	if (!ret)
		ret = qcow2_meta_add(s, s->rt_offset, l.rt_clusters * cs,
				     QCOW2_META_REFTABLE);
	/* two write-backs: the releases land one checkpoint late */
	if (!ret)
		ret = qcow2_ckpt_sync(s, true);
	if (!ret)
		ret = qcow2_ckpt_sync(s, true);
	return ret;
}

/* The allocator's refcounts set to the references found. */
static int reset_refcounts(struct qcow2 *s)
{
	uint64_t *refs, nb, i, fresh;
	int ret;

	ret = qcow2_count_references(s, &refs, &nb);
	if (ret < 0)
		return ret;
	/* clusters freed here may hold anything: not fresh */
	fresh = MAX(s->alloc.fresh,
		    div_round_up(s->img->file->size, s->cluster_size));
	qcow2_alloc_free(s);	/* the metadata map too: rebuilt after */
	s->alloc.fresh = fresh;
	s->comp_next = 0;
	for (i = 0; i < nb && !ret; i++) {
		uint64_t want = MIN(refs[i], s->refcount_max);

		if (!i)
			want = MAX(want, 1);
		if (want)
			ret = qcow2_refcount_set(s, i, want);
	}
	free(refs);
	return ret;
}

/*
 * check -r all on a damaged refcount structure: every cluster gets the
 * references the check counts (the old table and blocks included, so
 * nothing in use is overwritten), in new blocks and a new table.
 */
int qcow2_rebuild_refcount_structure(struct qcow2 *s)
{
	struct layout l = { .order = s->refcount_order };
	int ret;

	ret = reset_refcounts(s);
	if (!ret)
		ret = write_new(s, &l, s->refcount_max);
	if (!ret)
		ret = install_table(s, &l);
	if (ret < 0)
		return ret;
	s->refcounts_damaged = false;
	ret = qcow2_meta_init(s);
	if (ret < 0 || s->refcounts_damaged)
		return qcow_set_error(ret < 0 ? ret : -EUCLEAN,
				      s->img->filename, "%s", qcow_strerror());
	return 0;
}

/*
 * Sets the in-memory refcount of every cluster to the references found,
 * for the next write-back to store (repair of a dirty lazy image).
 */
int qcow2_rebuild_refcounts(struct qcow2 *s)
{
	struct qcow_check_result res = { 0 };
	struct check c = { .s = s, .res = &res };
	uint64_t i, n, have;
	int ret;

	ret = qcow2_check_count(&c);
	if (!ret && (res.corruptions || c.rebuild))
		ret = -EUCLEAN;	/* needs more than new refcounts */
	n = MAX(c.nb_refs, s->alloc.end);
	for (i = 0; i < n && !ret; i++) {
		uint64_t want = i < c.nb_refs ? c.refs[i] : 0;

		if (!i)
			want = MAX(want, 1);
		have = qcow2_refcount_of(s, i);
		if (have == want)
			continue;
		if (have > want)
			s->dirty_leaks_fixed++;
		else
			s->dirty_corruptions_fixed++;
		ret = qcow2_refcount_set(s, i, want);
		if (!ret)
			ret = cluster_vec_push(&s->alloc.lazy, i);
	}
	qcow2_check_free(&c);
	return ret;
}
