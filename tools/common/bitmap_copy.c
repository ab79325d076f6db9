// SPDX-License-Identifier: MIT
/* Copying the dirty ranges of one persistent bitmap into another. */
#include <errno.h>
#include <string.h>
#include "tools/common/bitmap_copy.h"
#include "tools/common/util.h"

int bitmap_copy_dirty(struct qcow_image *src, const char *sname,
		      struct qcow_image *dst, const char *dname)
{
	uint64_t end = min_u64(qcow_size(src), qcow_size(dst));
	uint64_t off = 0, len;
	bool dirty;
	int ret;

	while (off < end) {
		len = end - off;
		ret = qcow_bitmap_range(src, sname, off, &len, &dirty);
		if (ret < 0)
			return ret;
		if (!len)
			return -EIO;
		len = min_u64(len, end - off);
		if (dirty) {
			ret = qcow_bitmap_mark(dst, dname, off, len);
			if (ret < 0)
				return ret;
		}
		off += len;
	}
	return 0;
}

const struct qcow_bitmap_info *bitmap_find(struct qcow_image *img,
					   const char *name)
{
	const struct qcow_bitmap_info *v;
	int n = qcow_bitmap_list(img, &v), i;

	for (i = 0; i < n; i++)
		if (!strcmp(v[i].name, name))
			return &v[i];
	return NULL;
}
