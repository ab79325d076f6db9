/* SPDX-License-Identifier: MIT */
/* Copying the dirty ranges of one persistent bitmap into another. */
#ifndef TOOLS_COMMON_BITMAP_COPY_H
#define TOOLS_COMMON_BITMAP_COPY_H

#include "qcow.h"

/*
 * Marks in bitmap dname of dst every range that bitmap sname of src has
 * dirty (up to the smaller disk size).  src and dst may be one image.
 */
int bitmap_copy_dirty(struct qcow_image *src, const char *sname,
		      struct qcow_image *dst, const char *dname);

/* The bitmap called name in img's list, or NULL. */
const struct qcow_bitmap_info *bitmap_find(struct qcow_image *img,
					   const char *name);

#endif
