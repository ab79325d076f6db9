/* SPDX-License-Identifier: MIT */
/* The "format-specific" part of image information, as QEMU reports it. */
#ifndef TOOLS_COMMON_SPEC_INFO_H
#define TOOLS_COMMON_SPEC_INFO_H

#include <stdio.h>
#include <json-c/json.h>
#include "qcow.h"

/* The persistent bitmaps to list (qcow_bitmap_list()), in directory order. */
struct spec_bitmaps {
	const struct qcow_bitmap_info *v;
	int n;
};

/*
 * {"type": "qcow2", "data": {...}}, or NULL when the format has none;
 * bm (or NULL) adds "bitmaps" to a v3 image's data.
 */
struct json_object *spec_info_json(const struct qcow_info *info,
				   const struct spec_bitmaps *bm);

/* "Format specific information:" and its tree, when there is one. */
void spec_info_dump(FILE *f, const struct qcow_info *info,
		    const struct spec_bitmaps *bm);

/* img's bitmaps into bm (none when it has none or they cannot be listed). */
void spec_bitmaps_of(struct qcow_image *img, struct spec_bitmaps *bm);

#endif
