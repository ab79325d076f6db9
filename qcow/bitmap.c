// SPDX-License-Identifier: MIT
/* The public persistent dirty bitmap calls, dispatched to the driver. */
#include <errno.h>
#include "internal.h"

static int no_bitmaps(const struct qcow_image *img)
{
	return qcow_set_error(-ENOTSUP, img->filename, "the %s format has no "
			      "persistent dirty bitmaps", img->drv->name);
}

#define BITMAP_CALL(img, fn, ...)					\
	do {								\
		struct qlock_save prev;					\
		int ret;						\
									\
		if (!(img)->drv->bitmap)				\
			return no_bitmaps(img);				\
		prev = qcow_lock(NULL, (img)->lock);			\
		ret = (img)->drv->bitmap->fn(img, __VA_ARGS__);		\
		qcow_unlock(prev);					\
		return ret;						\
	} while (0)

int qcow_bitmap_list(struct qcow_image *img,
		     const struct qcow_bitmap_info **out)
{
	*out = NULL;
	if (!img->drv->bitmap)
		return 0;
	BITMAP_CALL(img, list, out);
}

int qcow_bitmap_add(struct qcow_image *img, const char *name,
		    uint64_t granularity, bool disabled)
{
	BITMAP_CALL(img, add, name, granularity, disabled);
}

int qcow_bitmap_remove(struct qcow_image *img, const char *name)
{
	BITMAP_CALL(img, remove, name);
}

int qcow_bitmap_clear(struct qcow_image *img, const char *name)
{
	BITMAP_CALL(img, clear, name);
}

int qcow_bitmap_enable(struct qcow_image *img, const char *name, bool enable)
{
	BITMAP_CALL(img, enable, name, enable);
}

int qcow_bitmap_mark(struct qcow_image *img, const char *name, uint64_t off,
		     uint64_t len)
{
	BITMAP_CALL(img, mark, name, off, len);
}

int qcow_bitmap_range(struct qcow_image *img, const char *name, uint64_t off,
		      uint64_t *len, bool *dirty)
{
	BITMAP_CALL(img, range, name, off, len, dirty);
}

/*
 * Not under the lock: storing drives write-backs, which may wait for
 * requests of other threads.  Nothing to store is success.
 */
int qcow_bitmaps_store(struct qcow_image *img)
{
	if (!img->drv->bitmap || img->opts.read_only)
		return 0;
	return img->drv->bitmap->store(img);
}
