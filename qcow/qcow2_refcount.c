// SPDX-License-Identifier: MIT
/*
 * Reading refcounts synchronously, for the check and for QEMU's detection
 * of metadata-preallocated images.  Writers get their own cache later.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include "qcow2.h"
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
