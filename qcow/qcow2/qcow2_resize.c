// SPDX-License-Identifier: MIT
/*
 * qcow-img resize of a qcow2 image: a larger L1 table written whole at a
 * new place, or the tail unmapped and its L2 tables freed, then the header.
 *
 * It runs synchronously with no other request in flight, and writes the
 * header only after everything it will point to is on disk.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include "qcow2_write.h"
#include "layout.h"

static int header_set_size(struct qcow2 *s, uint64_t size)
{
	put_be64(s->hdr_raw + QH_SIZE, size);
	put_be32(s->hdr_raw + QH_L1_SIZE, s->l1_size);
	put_be64(s->hdr_raw + QH_L1_OFFSET, s->l1_offset);
	return qcow2_header_write_sync(s);
}

int qcow2_grow_l1(struct qcow2 *s, uint32_t entries, uint64_t size)
{
	uint64_t bytes = ALIGN_UP((uint64_t)entries * 8, s->cluster_size);
	uint64_t old_off = s->l1_offset, old_bytes, i;
	uint64_t *l1, *dirty;
	uint8_t *buf;
	int64_t off;
	int ret;

	if (bytes > QCOW_MAX_L1_SIZE)
		return qcow_set_error(-EFBIG, s->img->filename, "the L1 table "
				      "would exceed 32 MiB");
	old_bytes = ALIGN_UP((uint64_t)s->l1_size * 8, s->cluster_size);
	l1 = calloc(bytes / 8, 8);
	dirty = calloc(div_round_up(bytes / 8 / s->l1_chunk_entries, 64) + 1,
		       8);
	buf = qalloc_aligned(bytes);
	if (!l1 || !dirty || !buf) {
		ret = -ENOMEM;
		goto err;
	}
	memcpy(l1, s->l1, (size_t)s->l1_size * 8);
	off = qcow2_alloc_clusters(s, bytes / s->cluster_size);
	ret = off < 0 ? (int)off : qcow2_check_write(s, UINT64_MAX,
						     (uint64_t)off, bytes);
	if (!ret)
		ret = qcow2_meta_add(s, (uint64_t)off, bytes, QCOW2_META_L1);
	if (!ret)
		ret = qcow2_ckpt_sync(s, true);
	if (ret < 0)
		goto err;
	memset(buf, 0, bytes);
	for (i = 0; i < s->l1_size; i++)
		put_be64(buf + i * 8, l1[i]);
	ret = qfile_pwrite_sync(s->img->file, buf, bytes, (uint64_t)off);
	if (!ret)
		ret = qfile_fsync_sync(s->img->file);
	if (ret < 0)
		goto err;
	free(s->l1);
	free(s->l1_dirty);
	s->l1 = l1;
	s->l1_dirty = dirty;
	s->l1_size = entries;
	s->l1_offset = (uint64_t)off;
	free(buf);
	ret = header_set_size(s, size);
	if (ret < 0)
		return ret;
	if (old_bytes && old_off)
		qcow2_release_later(s, old_off, old_bytes);
	return 0;
err:
	free(l1);
	free(dirty);
	free(buf);
	return ret;
}

/* Everything past the new end is unmapped and L2 tables past it freed. */
static int shrink(struct qcow2 *s, uint64_t size)
{
	uint64_t old = s->img->size, cs = s->cluster_size;
	uint64_t from = ALIGN_UP(size, cs), i;
	uint64_t keep = div_round_up(size, cs << s->l2_bits);
	struct qcow_ctx *ctx = qcow_sync_ctx();
	int ret = 0;

	if (!ctx)
		return -ENOMEM;
	if (from < old)
		ret = qcow2_full_discard_sync(s, from, old - from);
	for (i = keep; i < s->l1_size && !ret; i++) {
		uint64_t l2 = s->l1[i] & L1E_OFFSET_MASK;

		if (!l2)
			continue;
		ret = qcow2_release_later(s, l2, cs);
		s->l1[i] = 0;
		qcow2_mark_l1_dirty(s, i);
	}
	return ret;
}

int qcow2_resize(struct qcow_image *img, uint64_t size, bool allow_shrink)
{
	struct qcow2 *s = NULL;
	uint64_t l1_need;
	int ret;

	ret = qcow2_need_writable(img, &s);
	if (ret < 0)
		return ret;
	if (size % 512 || size > QCOW_MAX_IMAGE_SIZE / 2)
		return qcow_set_error(-EINVAL, img->filename, "size: %" PRIu64
				      " is not a multiple of 512 or too large",
				      size);
	if (size < img->size && !allow_shrink)
		return qcow_set_error(-EPERM, img->filename, "shrinking needs "
				      "--shrink");
	/* the stored tables no longer fit the size once the header has it */
	ret = qcow2_bitmaps_mark_in_use(s);
	if (ret < 0)
		return ret;
	if (size < img->size) {
		ret = shrink(s, size);
		if (ret < 0)
			return ret;
	}
	l1_need = div_round_up(size, (uint64_t)s->cluster_size << s->l2_bits);
	if (l1_need > s->l1_size)
		ret = qcow2_grow_l1(s, (uint32_t)l1_need, size);
	else
		ret = qcow2_ckpt_sync(s, true);
	if (!ret && l1_need <= s->l1_size)
		ret = header_set_size(s, size);
	if (!ret)
		ret = qcow2_bitmaps_resize(s, size);
	if (ret < 0)
		return ret;
	if (size > img->size && img->backing) {
		uint64_t old = img->size;

		/* the new area reads as zeros, not as the backing file */
		img->size = size;
		return qcow_pwrite_zeroes(img, size - old, old, 0);
	}
	img->size = size;
	return 0;
}
