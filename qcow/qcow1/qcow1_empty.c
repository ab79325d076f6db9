// SPDX-License-Identifier: MIT
/*
 * Emptying a legacy qcow image (after `commit`), as QEMU's qcow driver
 * does it: the L1 table zeroed on disk, then the file cut after it.  A
 * crash between the two leaves an empty image with clusters leaked.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "qcow1.h"

int qcow1_make_empty(struct qcow_image *img)
{
	struct qcow1 *s = img->priv;
	uint64_t l1_len = (uint64_t)s->l1_size * 8;
	uint64_t end = MAX(s->l1_offset + l1_len, s->header_end);
	uint8_t *zero;
	int ret;

	if (img->opts.read_only)
		return -EROFS;
	if (s->alloc_owner || s->bg_flush)
		return -EBUSY;
	zero = calloc(1, l1_len + 1);
	if (!zero)
		return -ENOMEM;
	ret = qfile_pwrite_sync(img->file, zero, l1_len, s->l1_offset);
	free(zero);
	if (!ret)
		ret = qfile_fsync_sync(img->file);
	if (ret < 0)
		return ret;
	/* what the cache holds describes clusters that are gone */
	memset(s->l1, 0, l1_len);
	memset(s->l1_dirty, 0, s->l1_size / Q1_L1_CHUNK + 1);
	meta_cache_destroy(&s->l2);
	ret = q1_l2_cache_init(img, s);
	if (ret < 0)
		return ret;
	if (end < img->file->size && ftruncate(img->file->fd, end) < 0)
		return -errno;
	img->file->size = MIN(img->file->size, end);
	s->file_end = img->file->size;
	return 0;
}
