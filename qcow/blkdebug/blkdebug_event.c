// SPDX-License-Identifier: MIT
/* The names of blkdebug events and I/O types, as QEMU 7.2 spells them. */
#include <string.h>
#include "blkdebug/blkdebug.h"

static const char *const event_names[QBD_NR_EVENTS] = {
	[QBD_L1_UPDATE] = "l1_update",
	[QBD_L1_GROW_ALLOC_TABLE] = "l1_grow_alloc_table",
	[QBD_L1_GROW_WRITE_TABLE] = "l1_grow_write_table",
	[QBD_L1_GROW_ACTIVATE_TABLE] = "l1_grow_activate_table",
	[QBD_L2_LOAD] = "l2_load",
	[QBD_L2_UPDATE] = "l2_update",
	[QBD_L2_UPDATE_COMPRESSED] = "l2_update_compressed",
	[QBD_L2_ALLOC_COW_READ] = "l2_alloc_cow_read",
	[QBD_L2_ALLOC_WRITE] = "l2_alloc_write",
	[QBD_READ_AIO] = "read_aio",
	[QBD_READ_BACKING_AIO] = "read_backing_aio",
	[QBD_READ_COMPRESSED] = "read_compressed",
	[QBD_WRITE_AIO] = "write_aio",
	[QBD_WRITE_COMPRESSED] = "write_compressed",
	[QBD_VMSTATE_LOAD] = "vmstate_load",
	[QBD_VMSTATE_SAVE] = "vmstate_save",
	[QBD_COW_READ] = "cow_read",
	[QBD_COW_WRITE] = "cow_write",
	[QBD_REFTABLE_LOAD] = "reftable_load",
	[QBD_REFTABLE_GROW] = "reftable_grow",
	[QBD_REFTABLE_UPDATE] = "reftable_update",
	[QBD_REFBLOCK_LOAD] = "refblock_load",
	[QBD_REFBLOCK_UPDATE] = "refblock_update",
	[QBD_REFBLOCK_UPDATE_PART] = "refblock_update_part",
	[QBD_REFBLOCK_ALLOC] = "refblock_alloc",
	[QBD_REFBLOCK_ALLOC_HOOKUP] = "refblock_alloc_hookup",
	[QBD_REFBLOCK_ALLOC_WRITE] = "refblock_alloc_write",
	[QBD_REFBLOCK_ALLOC_WRITE_BLOCKS] = "refblock_alloc_write_blocks",
	[QBD_REFBLOCK_ALLOC_WRITE_TABLE] = "refblock_alloc_write_table",
	[QBD_REFBLOCK_ALLOC_SWITCH_TABLE] = "refblock_alloc_switch_table",
	[QBD_CLUSTER_ALLOC] = "cluster_alloc",
	[QBD_CLUSTER_ALLOC_BYTES] = "cluster_alloc_bytes",
	[QBD_CLUSTER_FREE] = "cluster_free",
	[QBD_FLUSH_TO_OS] = "flush_to_os",
	[QBD_FLUSH_TO_DISK] = "flush_to_disk",
	[QBD_PWRITEV_RMW_HEAD] = "pwritev_rmw_head",
	[QBD_PWRITEV_RMW_AFTER_HEAD] = "pwritev_rmw_after_head",
	[QBD_PWRITEV_RMW_TAIL] = "pwritev_rmw_tail",
	[QBD_PWRITEV_RMW_AFTER_TAIL] = "pwritev_rmw_after_tail",
	[QBD_PWRITEV] = "pwritev",
	[QBD_PWRITEV_ZERO] = "pwritev_zero",
	[QBD_PWRITEV_DONE] = "pwritev_done",
	[QBD_EMPTY_IMAGE_PREPARE] = "empty_image_prepare",
	[QBD_L1_SHRINK_WRITE_TABLE] = "l1_shrink_write_table",
	[QBD_L1_SHRINK_FREE_L2_CLUSTERS] = "l1_shrink_free_l2_clusters",
	[QBD_COR_WRITE] = "cor_write",
	[QBD_CLUSTER_ALLOC_SPACE] = "cluster_alloc_space",
	[QBD_NONE] = "none",
};

static const char *const iotype_names[QBD_NR_IOTYPES] = {
	[QBD_IO_READ] = "read",
	[QBD_IO_WRITE] = "write",
	[QBD_IO_WRITE_ZEROES] = "write-zeroes",
	[QBD_IO_DISCARD] = "discard",
	[QBD_IO_FLUSH] = "flush",
	[QBD_IO_BLOCK_STATUS] = "block-status",
};

/* -1 for a name that is no event (the untagged slot has none) */
int qbd_event_by_name(const char *name)
{
	int i;

	for (i = QBD_NONE_TAG + 1; i < QBD_NR_EVENTS; i++)
		if (!strcmp(event_names[i], name))
			return i;
	return -1;
}

const char *qbd_event_name(int event)
{
	return event > QBD_NONE_TAG && event < QBD_NR_EVENTS ?
	       event_names[event] : "";
}

int qbd_iotype_by_name(const char *name)
{
	int i;

	for (i = 0; i < QBD_NR_IOTYPES; i++)
		if (!strcmp(iotype_names[i], name))
			return i;
	return -1;
}
