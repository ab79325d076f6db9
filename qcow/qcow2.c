// SPDX-License-Identifier: MIT
/* The qcow2 driver: open, close and what info reports. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include "qcow2.h"
#include "layout.h"

#define L2_CACHE_DEFAULT_MAX	(32u << 20)
#define L2_SLICE_MAX		4096u

static int read_l1(struct qcow2 *s)
{
	uint32_t i;
	int ret;

	s->l1 = calloc(s->l1_size ? s->l1_size : 1, sizeof(uint64_t));
	if (!s->l1)
		return -ENOMEM;
	ret = qfile_pread_sync(s->img->file, s->l1, (uint64_t)s->l1_size * 8,
			       s->l1_offset);
	if (ret < 0)
		return qcow_set_error(ret, s->img->filename, "cannot read the "
				      "L1 table: %s", strerror(-ret));
	for (i = 0; i < s->l1_size; i++)
		s->l1[i] = be64toh(s->l1[i]);
	return 0;
}

static int open_data_file(struct qcow2 *s)
{
	struct qcow_image *img = s->img;
	const char *name = img->opts.data_file;
	char *path;
	int ret;

	if (!s->has_data_file) {
		s->data_file = img->file;
		return 0;
	}
	path = name ? strdup(name) :
		qcow_path_relative_to(img->filename, s->data_file_name);
	if (!path)
		return -ENOMEM;
	ret = qfile_open(&s->data_file, path, img->opts.read_only,
			 img->opts.direct);
	if (ret < 0)
		qcow_set_error(ret, img->filename, "cannot open data file "
			       "'%s': %s", path, strerror(-ret));
	free(path);
	return ret;
}

static int init_l2_cache(struct qcow2 *s)
{
	uint64_t want = img_clusters(s) * s->l2_entry_size;
	uint32_t slice = MIN(s->cluster_size, L2_SLICE_MAX);

	if (s->img->opts.l2_cache_size)
		want = s->img->opts.l2_cache_size;
	else
		want = MIN(want, L2_CACHE_DEFAULT_MAX);
	return meta_cache_init(&s->l2, s->img->file, slice, want);
}

static int qcow2_open(struct qcow_image *img)
{
	struct qcow2 *s = calloc(1, sizeof(*s));
	int ret;

	if (!s)
		return -ENOMEM;
	img->priv = s;
	s->img = img;
	ret = qcow2_read_header(img, s);
	if (ret < 0)
		return ret;
	ret = qcow2_read_snapshots(img, s);
	if (ret < 0)
		return ret;
	ret = read_l1(s);
	if (ret < 0)
		return ret;
	ret = open_data_file(s);
	if (ret < 0)
		return ret;
	ret = init_l2_cache(s);
	if (ret < 0)
		return ret;
	return qcow_open_backing(img);
}

static void qcow2_close(struct qcow_image *img)
{
	struct qcow2 *s = qcow2_of(img);

	meta_cache_destroy(&s->l2);
	if (s->data_file && s->data_file != img->file)
		qfile_close(s->data_file);
	qcow2_free_snapshots(s);
	qcow2_free_header(s);
	free(s->l1);
	free(s);
	img->priv = NULL;
}

static int qcow2_get_info(const struct qcow_image *img, struct qcow_info *info)
{
	const struct qcow2 *s = qcow2_of(img);

	info->version = s->version;
	info->cluster_size = s->cluster_size;
	info->refcount_bits = 1u << s->refcount_order;
	info->incompatible = s->incompatible;
	info->compatible = s->compatible;
	info->autoclear = s->autoclear;
	info->crypt_method = s->crypt_method;
	info->compression_type = s->compression_type;
	info->dirty = !!(s->incompatible & QCOW2_INCOMPAT_DIRTY);
	info->corrupt = !!(s->incompatible & QCOW2_INCOMPAT_CORRUPT);
	info->lazy_refcounts = !!(s->compatible & QCOW2_COMPAT_LAZY_REFCOUNTS);
	info->extended_l2 = s->l2_entry_size == 16;
	info->data_file = s->has_data_file ? s->data_file_name : NULL;
	info->data_file_raw = !!(s->autoclear & QCOW2_AUTOCLEAR_DATA_FILE_RAW);
	if (s->autoclear & QCOW2_AUTOCLEAR_BITMAPS)
		info->nb_bitmaps = s->nb_bitmaps;
	info->nb_snapshots = s->nb_snapshots;
	info->snapshots = s->snapshot_infos;
	return 0;
}

const struct qcow_driver qcow2_driver = {
	.name = "qcow2",
	.open = qcow2_open,
	.close = qcow2_close,
	.step = qcow2_step,
	.get_info = qcow2_get_info,
	.check = qcow2_check,
};
