// SPDX-License-Identifier: MIT
/*
 * The refcount structure: reading it synchronously (for the open, the
 * check and QEMU's detection of metadata-preallocated images), and, for
 * the checkpoint, the updates of its blocks (through the refcount block
 * cache) and their growth: new blocks, a bigger table written whole.
 * The order in which they reach the disk is the checkpoint's.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include "qcow2_write.h"
#include "qcow2_checkpoint.h"
#include "layout.h"

uint64_t qcow2_refcount_entry(const struct qcow2 *s, const uint8_t *block,
			      uint64_t i)
{
	switch (s->refcount_order) {
	case 0:
		return (block[i / 8] >> (i % 8)) & 1;
	case 1:
		return (block[i / 4] >> (2 * (i % 4))) & 3;
	case 2:
		return (block[i / 2] >> (4 * (i % 2))) & 15;
	case 3:
		return block[i];
	case 4:
		return get_be16(block + 2 * i);
	case 5:
		return get_be32(block + 4 * i);
	default:
		return get_be64(block + 8 * i);
	}
}

void qcow2_refcount_put(uint32_t order, uint8_t *block, uint64_t i,
			uint64_t v)
{
	unsigned int bits = 1u << order, sh;

	switch (order) {
	case 0:
	case 1:
	case 2:
		sh = (i * bits) % 8;
		block[i * bits / 8] &= ~(((1u << bits) - 1) << sh);
		block[i * bits / 8] |= (uint8_t)(v << sh);
		break;
	case 3:
		block[i] = (uint8_t)v;
		break;
	case 4:
		put_be16(block + 2 * i, (uint16_t)v);
		break;
	case 5:
		put_be32(block + 4 * i, (uint32_t)v);
		break;
	default:
		put_be64(block + 8 * i, v);
		break;
	}
}

static uint64_t refblock_entries(const struct qcow2 *s)
{
	return ((uint64_t)s->cluster_size * 8) >> s->refcount_order;
}

/*
 * Calls fn for every cluster covered by a valid refcount block, in order.
 * Refcount blocks that are unaligned or past the end of the file are
 * skipped (the check reports them).
 */
int qcow2_walk_refcounts(struct qcow2 *s,
			 void (*fn)(void *arg, uint64_t cluster, uint64_t rc),
			 void *arg)
{
	uint64_t per_block = refblock_entries(s), rt_entries, i, j;
	uint8_t *rt, *block;
	int ret;

	rt_entries = (uint64_t)s->rt_clusters * s->cluster_size / 8;
	rt = malloc((size_t)rt_entries * 8);
	block = malloc(s->cluster_size);
	if (!rt || !block) {
		ret = -ENOMEM;
		goto out;
	}
	ret = qfile_pread_sync(s->img->file, rt, rt_entries * 8, s->rt_offset);
	/* as qemu-img: refcounts of clusters past the end of the file */
	rt_entries = MIN(rt_entries, div_round_up(div_round_up(
		s->img->file->size, s->cluster_size), per_block));
	for (i = 0; i < rt_entries && !ret; i++) {
		uint64_t off = get_be64(rt + i * 8) & REFT_OFFSET_MASK;

		if (!off || qcow2_offset_into_cluster(s, off) ||
		    off + s->cluster_size > s->img->file->size)
			continue;
		ret = qfile_pread_sync(s->img->file, block, s->cluster_size,
				       off);
		for (j = 0; j < per_block && !ret; j++) {
			uint64_t rc = qcow2_refcount_entry(s, block, j);

			if (rc)
				fn(arg, i * per_block + j, rc);
		}
	}
out:
	free(rt);
	free(block);
	return ret;
}

/* Clusters the refcount table can describe: up to its last block. */
static uint64_t refcount_coverage(struct qcow2 *s)
{
	uint64_t n = (uint64_t)s->rt_clusters * s->cluster_size / 8, i;
	uint8_t *rt = malloc((size_t)n * 8);
	uint64_t last = 0;

	if (!rt || qfile_pread_sync(s->img->file, rt, n * 8, s->rt_offset)) {
		free(rt);
		return 0;
	}
	for (i = 0; i < n; i++)
		if (get_be64(rt + i * 8))
			last = i + 1;
	free(rt);
	return last * refblock_entries(s);
}

struct rc_array {
	uint64_t *rc;
	uint64_t nb;
};

static void rc_array_fill(void *arg, uint64_t cluster, uint64_t rc)
{
	struct rc_array *a = arg;

	if (cluster < a->nb)
		a->rc[cluster] = rc;
}

/* Refcounts of every cluster of the file, as an array. */
int qcow2_load_refcounts(struct qcow2 *s, uint64_t **out, uint64_t *nb)
{
	struct rc_array a;
	int ret;

	a.nb = MIN(div_round_up(s->img->file->size, s->cluster_size),
		   refcount_coverage(s));
	a.rc = calloc(a.nb ? a.nb : 1, sizeof(*a.rc));
	if (!a.rc)
		return -ENOMEM;
	ret = qcow2_walk_refcounts(s, rc_array_fill, &a);
	if (ret < 0) {
		free(a.rc);
		return ret;
	}
	*out = a.rc;
	*nb = a.nb;
	return 0;
}

/*
 * QEMU calls an image metadata-preallocated when clearly more clusters
 * are in use than the file really stores; block status then looks for
 * holes in the file under data clusters.
 */
bool qcow2_metadata_prealloc(struct qcow2 *s)
{
	uint64_t *rc, nb, real, threshold, used = 0, i;

	if (s->prealloc_checked)
		return s->metadata_prealloc;
	s->prealloc_checked = true;
	real = qfile_allocated_size(s->img->file) / s->cluster_size;
	threshold = MAX(real * 10 / 9, real + 2);
	if (qcow2_load_refcounts(s, &rc, &nb) < 0)
		return false;
	for (i = 0; i < nb && used < threshold; i++)
		used += rc[i] > 0;
	free(rc);
	s->metadata_prealloc = used >= threshold;
	return s->metadata_prealloc;
}

/* ---- updates and growth, for the checkpoint ---- */


static uint64_t rb_entries(const struct qcow2 *s)
{
	return ((uint64_t)s->cluster_size * 8) >> s->refcount_order;
}

static int take_cluster(struct ckpt *c, uint64_t n, uint64_t *off)
{
	struct qcow2 *s = c->s;
	int64_t host = qcow2_alloc_clusters(s, n);
	uint64_t i;
	int ret;

	if (host < 0)
		return (int)host;
	/* metadata of this checkpoint: counted now, not at the next one */
	s->alloc.inc.n -= n;
	ret = qcow2_check_write(s, UINT64_MAX, (uint64_t)host,
				n << s->cluster_bits);
	if (ret < 0)
		return ret;
	for (i = 0; i < n; i++) {
		ret = cluster_vec_push(&c->touched,
				       ((uint64_t)host >> s->cluster_bits) + i);
		if (ret < 0)
			return ret;
	}
	*off = (uint64_t)host;
	return 0;
}

/* A bigger refcount table, written whole, then named by the header. */
static int grow_reftable(struct ckpt *c, uint64_t need)
{
	struct qcow2 *s = c->s;
	uint64_t cur = c->new_rt ? c->new_rt_entries : s->rt_entries;
	uint64_t entries = MAX(need, cur * 2), bytes, off = 0;
	uint64_t *rt;
	int ret;

	bytes = ALIGN_UP(entries * 8, s->cluster_size);
	if (bytes > QCOW_MAX_REFTABLE_SIZE)
		return -EFBIG;
	entries = bytes / 8;
	rt = calloc(entries, 8);
	if (!rt)
		return -ENOMEM;
	memcpy(rt, s->rt, s->rt_entries * 8);
	ret = take_cluster(c, bytes / s->cluster_size, &off);
	if (!ret)
		ret = qcow2_meta_add(s, off, bytes, QCOW2_META_REFTABLE);
	if (ret < 0) {
		free(rt);
		return ret;
	}
	if (c->new_rt)
		qcow2_release_later(s, c->new_rt_offset,
				    c->new_rt_entries * 8);
	else
		qcow2_release_later(s, s->rt_offset, s->rt_entries * 8);
	free(s->rt);
	s->rt = rt;
	s->rt_entries = entries;
	c->new_rt = rt;
	c->new_rt_entries = entries;
	c->new_rt_offset = off;
	return 0;
}

static int new_refblock(struct ckpt *c, uint64_t rt_idx)
{
	struct qcow2 *s = c->s;
	uint32_t ss = s->rb.slice_size, i;
	struct meta_slice *sl;
	uint64_t off = 0;
	int ret;

	if (rt_idx >= s->rt_entries) {
		ret = grow_reftable(c, rt_idx + 1);
		if (ret < 0)
			return ret;
	}
	ret = take_cluster(c, 1, &off);
	if (ret < 0)
		return ret;
	for (i = 0; i < s->cluster_size / ss; i++) {
		sl = meta_cache_get_new(&s->rb, off + (uint64_t)i * ss, &ret);
		if (!sl)
			return ret;
		meta_cache_put(&s->rb, sl);
	}
	ret = qcow2_meta_add(s, off, s->cluster_size, QCOW2_META_REFBLOCK);
	if (ret < 0)
		return ret;
	s->rt[rt_idx] = off;
	s->rt_dirty[rt_idx / s->rt_chunk_entries / 64] |=
		1ULL << ((rt_idx / s->rt_chunk_entries) % 64);
	s->rt_any_dirty = true;
	return 0;
}

static bool is_freed(const struct ckpt *c, uint64_t cluster)
{
	size_t lo = 0, hi = c->freed.n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (c->freed.v[mid] == cluster)
			return true;
		if (c->freed.v[mid] < cluster)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/*
 * Puts the refcount of every touched cluster into its refcount block
 * slice; returns -EAGAIN while a slice is loading.
 */
int qcow2_ckpt_apply_refcounts(struct ckpt *c)
{
	struct qcow2 *s = c->s;
	uint64_t per = rb_entries(s), max = s->refcount_max;
	int ret;

	while (c->touched_pos < c->touched.n) {
		uint64_t cl = c->touched.v[c->touched_pos];
		uint64_t idx = cl / per, j = cl % per, byte, rc;
		struct meta_slice *sl;

		if (idx >= s->rt_entries || !s->rt[idx]) {
			ret = new_refblock(c, idx);
			if (ret < 0)
				return ret;
		}
		byte = (j << s->refcount_order) / 8;
		sl = meta_cache_get(&s->rb, c->ctx, &c->waiter,
				    s->rt[idx] + ALIGN_DOWN(byte,
							    s->rb.slice_size),
				    &ret);
		if (!sl)
			return ret ? ret : -EAGAIN;
		rc = is_freed(c, cl) ? 0 : qcow2_refcount_of(s, cl);
		if (rc > max) {
			meta_cache_put(&s->rb, sl);
			qcow_log(s->img, "refcount of cluster %" PRIu64
				 " overflows %u bits", cl,
				 1u << s->refcount_order);
			return -ERANGE;
		}
		qcow2_refcount_put(s->refcount_order, sl->data, j - ALIGN_DOWN(byte,
				s->rb.slice_size) * 8 / (1u << s->refcount_order),
			     rc);
		meta_cache_mark_dirty(&s->rb, sl);
		meta_cache_put(&s->rb, sl);
		c->touched_pos++;
	}
	return 0;
}

void qcow2_ckpt_prepare_freed(struct ckpt *c)
{
	struct qcow2 *s = c->s;
	size_t i, n = 0;

	/* one reference dropped per entry; keep those that reach zero */
	for (i = 0; i < c->freed.n; i++) {
		cluster_vec_push(&c->touched, c->freed.v[i]);
		if (qcow2_refcount_drop(s, c->freed.v[i]))
			c->freed.v[n++] = c->freed.v[i];
	}
	c->freed.n = n;
	cluster_vec_sort_unique(&c->freed);
	cluster_vec_sort_unique(&c->touched);
}

int qcow2_ckpt_queue_reftable(struct ckpt *c)
{
	struct qcow2 *s = c->s;
	uint64_t chunks, i, j, bytes = (uint64_t)s->rt_chunk_entries * 8;
	struct wb_item it = { .file = s->img->file };

	if (c->new_rt) {
		it.off = c->new_rt_offset;
		it.len = c->new_rt_entries * 8;
		it.data = qalloc_aligned(it.len);
		if (!it.data)
			return -ENOMEM;
		for (i = 0; i < c->new_rt_entries; i++)
			put_be64(it.data + i * 8, c->new_rt[i]);
		memset(s->rt_dirty, 0, div_round_up(s->rt_dirty_chunks, 64) * 8);
		s->rt_any_dirty = false;
		return wb_push(&c->io, &it);
	}
	chunks = div_round_up(s->rt_entries, s->rt_chunk_entries);
	for (i = 0; i < chunks && s->rt_any_dirty; i++) {
		if (!(s->rt_dirty[i / 64] & (1ULL << (i % 64))))
			continue;
		s->rt_dirty[i / 64] &= ~(1ULL << (i % 64));
		it.off = s->rt_offset + i * bytes;
		it.len = bytes;
		it.data = qalloc_aligned(bytes);
		if (!it.data || wb_push(&c->io, &it) < 0) {
			free(it.data);
			return -ENOMEM;
		}
		for (j = 0; j < s->rt_chunk_entries; j++)
			put_be64(it.data + j * 8,
				 i * s->rt_chunk_entries + j < s->rt_entries ?
				 s->rt[i * s->rt_chunk_entries + j] : 0);
	}
	s->rt_any_dirty = false;
	return 0;
}


/* A refcount-table chunk this checkpoint was writing is written again. */
void qcow2_keep_reftable_chunk(struct qcow2 *s, uint64_t off)
{
	uint64_t bytes = (uint64_t)s->rt_chunk_entries * 8, i;

	if (off < s->rt_offset ||
	    off >= s->rt_offset + (uint64_t)s->rt_clusters * s->cluster_size)
		return;
	i = (off - s->rt_offset) / bytes;
	s->rt_dirty[i / 64] |= 1ULL << (i % 64);
	s->rt_any_dirty = true;
}
