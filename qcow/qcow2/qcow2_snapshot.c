// SPDX-License-Identifier: MIT
/* The internal snapshot table: read and validated at open. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include "qcow2.h"
#include "layout.h"

#define SERR(s, err, ...) qcow_set_error(err, (s)->img->filename, __VA_ARGS__)

static int read_entry(struct qcow2 *s, uint64_t *off, unsigned int i)
{
	struct qcow2_snapshot *sn = &s->snapshots[i];
	uint8_t fixed[QSN_FIXED_SIZE], extra[QCOW_MAX_SNAPSHOT_EXTRA];
	uint32_t id_size, name_size, size;
	uint8_t *var;
	int ret;

	if (*off - s->snapshots_offset > QCOW_MAX_SNAPSHOTS_SIZE ||
	    *off + QSN_FIXED_SIZE > s->img->file->size)
		return SERR(s, -EINVAL, "snapshot table: entry %u is past the "
			    "end of the file", i);
	ret = qfile_pread_sync(s->img->file, fixed, sizeof(fixed), *off);
	if (ret < 0)
		return ret;
	sn->l1_offset = get_be64(fixed + QSN_L1_OFFSET);
	sn->l1_size = get_be32(fixed + QSN_L1_SIZE);
	id_size = get_be16(fixed + QSN_ID_SIZE);
	name_size = get_be16(fixed + QSN_NAME_SIZE);
	sn->extra_size = get_be32(fixed + QSN_EXTRA_SIZE);
	if (sn->extra_size > QCOW_MAX_SNAPSHOT_EXTRA)
		return SERR(s, -EFBIG, "snapshot table: entry %u: "
			    "extra_data_size %u exceeds %u", i,
			    sn->extra_size, QCOW_MAX_SNAPSHOT_EXTRA);
	/* as QEMU: the image opens, check reports it, nothing reads it */
	sn->l1_bad = (uint64_t)sn->l1_size * 8 > QCOW_MAX_L1_SIZE ||
		     (sn->l1_size && !sn->l1_offset) ||
		     (sn->l1_size && qcow2_offset_into_cluster(s,
							       sn->l1_offset));
	size = sn->extra_size + id_size + name_size;
	if (*off + QSN_FIXED_SIZE + size > s->img->file->size)
		return SERR(s, -EINVAL, "snapshot table: entry %u is past the "
			    "end of the file", i);
	var = malloc(size ? size : 1);
	if (!var)
		return -ENOMEM;
	ret = qfile_pread_sync(s->img->file, var, size, *off + QSN_FIXED_SIZE);
	if (ret < 0)
		goto out;
	memset(extra, 0, sizeof(extra));
	memcpy(extra, var, sn->extra_size);
	/* kept for a rewrite of the table, as QEMU keeps what it ignores */
	sn->extra = malloc(sn->extra_size ? sn->extra_size : 1);
	if (!sn->extra) {
		ret = -ENOMEM;
		goto out;
	}
	memcpy(sn->extra, var, sn->extra_size);
	sn->id = strndup((char *)var + sn->extra_size, id_size);
	sn->name = strndup((char *)var + sn->extra_size + id_size, name_size);
	if (!sn->id || !sn->name) {
		ret = -ENOMEM;
		goto out;
	}
	sn->info.id = sn->id;
	sn->info.name = sn->name;
	sn->info.date_sec = get_be32(fixed + QSN_DATE_SEC);
	sn->info.date_nsec = get_be32(fixed + QSN_DATE_NSEC);
	sn->info.vm_clock_nsec = get_be64(fixed + QSN_VM_CLOCK_NSEC);
	sn->info.vm_state_size = get_be32(fixed + QSN_VM_STATE_SIZE);
	if (sn->extra_size >= QSN_EXTRA_VMSTATE_LARGE + 8)
		sn->info.vm_state_size = get_be64(extra +
						  QSN_EXTRA_VMSTATE_LARGE);
	sn->info.disk_size = s->img->size;
	if (sn->extra_size >= QSN_EXTRA_DISK_SIZE + 8)
		sn->info.disk_size = get_be64(extra + QSN_EXTRA_DISK_SIZE);
	sn->info.icount = UINT64_MAX;
	if (sn->extra_size >= QSN_EXTRA_ICOUNT + 8)
		sn->info.icount = get_be64(extra + QSN_EXTRA_ICOUNT);
	*off = ALIGN_UP(*off + QSN_FIXED_SIZE + size, 8);
out:
	free(var);
	return ret;
}

int qcow2_read_snapshots(struct qcow_image *img, struct qcow2 *s)
{
	uint64_t off = s->snapshots_offset;
	unsigned int i;
	int ret;

	if (!s->nb_snapshots)
		return 0;
	s->snapshots = calloc(s->nb_snapshots, sizeof(*s->snapshots));
	s->snapshot_infos = calloc(s->nb_snapshots,
				   sizeof(*s->snapshot_infos));
	if (!s->snapshots || !s->snapshot_infos)
		return -ENOMEM;
	for (i = 0; i < s->nb_snapshots; i++) {
		ret = read_entry(s, &off, i);
		if (ret < 0)
			return ret;
		s->snapshot_infos[i] = s->snapshots[i].info;
	}
	s->snapshots_size = off - s->snapshots_offset;
	if (off - s->snapshots_offset > QCOW_MAX_SNAPSHOTS_SIZE)
		return SERR(s, -EFBIG, "snapshot table: %" PRIu64 " bytes "
			    "exceed the limit", off - s->snapshots_offset);
	return 0;
}

void qcow2_free_snapshots(struct qcow2 *s)
{
	unsigned int i;

	for (i = 0; s->snapshots && i < s->nb_snapshots; i++) {
		free(s->snapshots[i].id);
		free(s->snapshots[i].name);
		free(s->snapshots[i].extra);
	}
	free(s->snapshots);
	free(s->snapshot_infos);
	s->snapshots = NULL;
	s->snapshot_infos = NULL;
}
