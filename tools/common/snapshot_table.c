// SPDX-License-Identifier: MIT
#include <inttypes.h>
#include <time.h>
#include "tools/common/size.h"
#include "tools/common/snapshot_table.h"

#define NSEC_PER_SEC 1000000000ULL
#define NSEC_PER_MSEC 1000000ULL

static void table_header(FILE *f)
{
	fprintf(f, "%-10s%-17s%8s%20s%13s%11s\n",
		"ID", "TAG", "VM SIZE", "DATE", "VM CLOCK", "ICOUNT");
}

static void table_row(FILE *f, const struct qcow_snapshot_info *s)
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

void snapshot_table_print(FILE *f, const struct qcow_info *info)
{
	unsigned int i;

	if (!info->nb_snapshots)
		return;
	fprintf(f, "Snapshot list:\n");
	table_header(f);
	for (i = 0; i < info->nb_snapshots; i++)
		table_row(f, &info->snapshots[i]);
}
