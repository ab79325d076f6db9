// SPDX-License-Identifier: MIT
/*
 * A read-only view of an internal snapshot (qemu-img convert -l, qemu-nbd
 * -l): the snapshot's L1 table is read in place of the active one.  As in
 * QEMU's temporary load, the virtual size stays the active image's: a
 * snapshot L1 table shorter than that reads as unallocated past its end,
 * a longer one is used up to the virtual size.
 */
#include <errno.h>
#include <inttypes.h>
#include "qcow2.h"
#include "layout.h"

static bool snapshot_matches(const struct qcow2_snapshot *sn, const char *id,
			     const char *name)
{
	return (!id || !strcmp(sn->id, id)) && (!name || !strcmp(sn->name, name));
}

static int snapshot_find(const struct qcow2 *s, const char *id,
			 const char *name)
{
	unsigned int i;

	for (i = 0; i < s->nb_snapshots; i++)
		if (snapshot_matches(&s->snapshots[i], id, name))
			return i;
	return -ENOENT;
}

#define SNERR(s, sn, ...) \
	qcow_set_error(-EINVAL, (s)->img->filename, "snapshot '%s' (ID %s): " \
		       __VA_ARGS__)

/* The snapshot's L1 table is untrusted as the active one is. */
static int check_snapshot_l1(struct qcow2 *s, const struct qcow2_snapshot *sn)
{
	uint64_t bytes = (uint64_t)sn->l1_size * 8;

	if (bytes > QCOW_MAX_L1_SIZE)
		return SNERR(s, sn, "l1_size %u exceeds the 32 MiB limit",
			     sn->name, sn->id, sn->l1_size);
	if (qcow2_offset_into_cluster(s, sn->l1_offset))
		return SNERR(s, sn, "l1_table_offset %#" PRIx64 " is not "
			     "cluster aligned", sn->name, sn->id,
			     sn->l1_offset);
	if (!sn->l1_size)
		return 0;
	if (!sn->l1_offset)
		return SNERR(s, sn, "l1_table_offset 0 overlaps the header",
			     sn->name, sn->id);
	if (sn->l1_offset > QCOW_MAX_IMAGE_SIZE ||
	    sn->l1_offset + bytes > s->img->file->size)
		return SNERR(s, sn, "l1_table_offset %#" PRIx64 " (%" PRIu64
			     " bytes) is past the end of the file", sn->name,
			     sn->id, sn->l1_offset, bytes);
	return 0;
}

int qcow2_snapshot_load(struct qcow2 *s)
{
	const struct qcow_open_opts *o = &s->img->opts;
	const struct qcow2_snapshot *sn;
	int i, ret;

	if (!o->snapshot_id && !o->snapshot_name)
		return 0;
	i = snapshot_find(s, o->snapshot_id, o->snapshot_name);
	if (i < 0)
		return qcow_set_error(-ENOENT, s->img->filename,
				      "Can't find snapshot");
	sn = &s->snapshots[i];
	ret = check_snapshot_l1(s, sn);
	if (ret < 0)
		return ret;
	s->l1_offset = sn->l1_offset;
	s->l1_size = sn->l1_size;
	s->snapshot_view = true;
	return 0;
}
