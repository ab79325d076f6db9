// SPDX-License-Identifier: MIT
/* qcow-img info in the human layout of qemu-img. */
#include <inttypes.h>
#include <string.h>
#include <time.h>
#include "tools/common/size.h"
#include "tools/common/spec_info.h"
#include "tools/img/info.h"

#define NSEC_PER_SEC 1000000000ULL
#define NSEC_PER_MSEC 1000000ULL

static void snapshot_header(FILE *f)
{
	fprintf(f, "%-10s%-17s%8s%20s%13s%11s\n",
		"ID", "TAG", "VM SIZE", "DATE", "VM CLOCK", "ICOUNT");
}

static void snapshot_row(FILE *f, const struct qcow_snapshot_info *s)
{
	char size[SIZE_STR_LEN], date[64] = "", clock[64], icount[32] = "";
	uint64_t secs = s->vm_clock_nsec / NSEC_PER_SEC;
	time_t t = s->date_sec;
	struct tm tm;

	if (localtime_r(&t, &tm))
		strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm);
	snprintf(clock, sizeof(clock), "%02d:%02d:%02d.%03d",
		 (int)(secs / 3600), (int)(secs / 60 % 60), (int)(secs % 60),
		 (int)(s->vm_clock_nsec / NSEC_PER_MSEC % 1000));
	if (s->icount != UINT64_MAX)
		snprintf(icount, sizeof(icount), "%" PRIu64, s->icount);
	size_to_str(size, sizeof(size), s->vm_state_size);
	fprintf(f, "%-9s %-16s %8s%20s%13s%11s\n",
		s->id, s->name, size, date, clock, icount);
}

void print_snapshots(FILE *f, const struct qcow_info *info)
{
	unsigned int i;

	if (!info->nb_snapshots)
		return;
	fprintf(f, "Snapshot list:\n");
	snapshot_header(f);
	for (i = 0; i < info->nb_snapshots; i++)
		snapshot_row(f, &info->snapshots[i]);
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
	fprintf(f, "file format: %s\n", qcow_format_name(info->format));
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
