/* SPDX-License-Identifier: MIT */
/* What qcow-img info prints about one image of a chain. */
#ifndef TOOLS_IMG_INFO_H
#define TOOLS_IMG_INFO_H

#include <stdbool.h>
#include <stdio.h>
#include <json-c/json.h>
#include "qcow.h"
#include "tools/common/spec_info.h"

struct image_report {
	const char *filename;
	struct qcow_info info;
	const char *format;		/* tool_format_name() */
	bool has_actual_size;
	uint64_t actual_size;		/* bytes allocated to the file */
	char *full_backing;		/* backing file, resolved */
	struct spec_bitmaps bitmaps;	/* valid while the image is open */
};

struct json_object *image_report_json(const struct image_report *r);
void image_report_human(FILE *f, const struct image_report *r);
/* "Snapshot list:" and qemu-img's table; nothing without snapshots. */
void print_snapshots(FILE *f, const struct qcow_info *info);

#endif
