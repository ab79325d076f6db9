// SPDX-License-Identifier: MIT
/* qcow-img info in the human layout of qemu-img. */
#include <inttypes.h>
#include <string.h>
#include <time.h>
#include "tools/common/size.h"
#include "tools/common/snapshot_table.h"
#include "tools/common/spec_info.h"
#include "tools/img/info.h"

/* Also qcow-img snapshot -l's; the table is ublk-qcow's too. */
void print_snapshots(FILE *f, const struct qcow_info *info)
{
	snapshot_table_print(f, info);
}

static void print_backing(FILE *f, const struct image_report *r)
{
	const struct qcow_info *info = &r->info;

	if (info->backing_file) {
		fprintf(f, "backing file: %s", info->backing_file);
		if (!r->full_backing)
			fprintf(f, " (cannot determine actual path)");
		else if (strcmp(info->backing_file, r->full_backing))
			fprintf(f, " (actual path: %s)", r->full_backing);
		fputc('\n', f);
	}
	if (info->backing_format)
		fprintf(f, "backing file format: %s\n", info->backing_format);
}

void image_report_human(FILE *f, const struct image_report *r)
{
	const struct qcow_info *info = &r->info;
	char vsize[SIZE_STR_LEN], dsize[SIZE_STR_LEN] = "unavailable";

	size_to_str(vsize, sizeof(vsize), info->virtual_size);
	if (r->has_actual_size)
		size_to_str(dsize, sizeof(dsize), r->actual_size);
	fprintf(f, "image: %s\n", r->filename);
	fprintf(f, "file format: %s\n", r->format);
	fprintf(f, "virtual size: %s (%" PRIu64 " bytes)\n", vsize,
		info->virtual_size);
	fprintf(f, "disk size: %s\n", dsize);
	if (info->crypt_method)
		fprintf(f, "encrypted: yes\n");
	if (info->cluster_size)
		fprintf(f, "cluster_size: %u\n", info->cluster_size);
	if (info->dirty)
		fprintf(f, "cleanly shut down: no\n");
	print_backing(f, r);
	print_snapshots(f, info);
	spec_info_dump(f, info, &r->bitmaps);
}
