// SPDX-License-Identifier: MIT
/* qcow-io info: format, cluster size, VM state offset and format details. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "tools/common/msg.h"
#include "tools/common/open.h"
#include "tools/common/size.h"
#include "tools/common/spec_info.h"
#include "tools/io/io.h"

/*
 * qcow2 keeps VM state after the guest disk, at the first guest offset a
 * new L1 entry would map.
 */
static uint64_t vm_state_offset(const struct qcow_info *info)
{
	unsigned int cluster_bits, l2_bits, shift;
	uint64_t span;

	if (info->format != QCOW_FMT_QCOW2 || !info->cluster_size)
		return 0;
	cluster_bits = __builtin_ctz(info->cluster_size);
	l2_bits = cluster_bits - (info->extended_l2 ? 4 : 3);
	shift = cluster_bits + l2_bits;
	span = 1ULL << shift;
	return (info->virtual_size + span - 1) >> shift << shift;
}

int io_info(struct io_state *s, int argc, char **argv)
{
	char cluster[SIZE_STR_LEN], vmstate[SIZE_STR_LEN];
	struct spec_bitmaps bm;
	struct qcow_info info;
	const char *name;
	int ret;

	ret = qcow_get_info(s->img, &info);
	if (ret < 0) {
		tool_error("%s: info: %s", qcow_filename(s->img),
			   strerror(-ret));
		return ret;
	}
	name = tool_format_name(s->img);
	/* the file driver is a format and a protocol: named twice */
	printf("format name: %s\n", name);
	if (!strcmp(name, "file"))
		printf("format name: %s\n", name);
	size_to_io_str(cluster, sizeof(cluster), info.cluster_size);
	size_to_io_str(vmstate, sizeof(vmstate), vm_state_offset(&info));
	printf("cluster size: %s\n", cluster);
	printf("vm state offset: %s\n", vmstate);
	spec_bitmaps_of(s->img, &bm);
	spec_info_dump(stdout, &info, &bm);
	return 0;
}
