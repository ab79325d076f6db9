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

static uint64_t refblock_entries(const struct qcow2 *s)
{
	return ((uint64_t)s->cluster_size * 8) >> s->refcount_order;
}

/*
 * Refcounts of the first nb clusters of the file; a refcount block that
 * is unaligned or past the end of the file counts as all zeros and is
 * reported through bad_blocks when given.
 */
int qcow2_load_refcounts(struct qcow2 *s, uint64_t **out, uint64_t *nb)
{
	uint64_t clusters = div_round_up(s->img->file->size, s->cluster_size);
	uint64_t per_block = refblock_entries(s), rt_entries, i, j;
	uint8_t *rt = NULL, *block = NULL;
	uint64_t *rc;
	int ret;

	rc = calloc(clusters ? clusters : 1, sizeof(*rc));
	rt_entries = (uint64_t)s->rt_clusters * s->cluster_size / 8;
	rt = malloc((size_t)rt_entries * 8);
	block = malloc(s->cluster_size);
	if (!rc || !rt || !block) {
		ret = -ENOMEM;
		goto err;
	}
	ret = qfile_pread_sync(s->img->file, rt, rt_entries * 8, s->rt_offset);
	if (ret < 0)
		goto err;
	for (i = 0; i < rt_entries && i * per_block < clusters; i++) {
		uint64_t off = get_be64(rt + i * 8) & REFT_OFFSET_MASK;

		if (!off || qcow2_offset_into_cluster(s, off) ||
		    off + s->cluster_size > s->img->file->size)
			continue;
		ret = qfile_pread_sync(s->img->file, block, s->cluster_size,
				       off);
		if (ret < 0)
			goto err;
		for (j = 0; j < per_block && i * per_block + j < clusters; j++)
			rc[i * per_block + j] = qcow2_refcount_entry(s, block,
								     j);
	}
	free(rt);
	free(block);
	*out = rc;
	*nb = clusters;
	return 0;
err:
	free(rc);
	free(rt);
	free(block);
	return ret;
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
