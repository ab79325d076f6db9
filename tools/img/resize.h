/* SPDX-License-Identifier: MIT */
/* resize --preallocation (resize_prealloc.c). */
#ifndef TOOLS_IMG_RESIZE_H
#define TOOLS_IMG_RESIZE_H

#include "qcow.h"

/* off, metadata, falloc, full; -EINVAL after qemu-img's message. */
int prealloc_mode(const char *name, enum qcow_prealloc *mode);
/* The disk grown from old to size: [old, size) allocated as mode says. */
int resize_prealloc(struct qcow_image *img, enum qcow_prealloc mode,
		    uint64_t old, uint64_t size);

#endif
