// SPDX-License-Identifier: MIT
/*
 * The snapshot table written anew: entries as QEMU writes them (extra data
 * of at least vmstate size, disk size and icount, what follows those kept),
 * the table in new clusters, then the header's count and offset in one
 * write, then the old table released.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include "qcow2.h"
#include "layout.h"

#define QSN_EXTRA_KNOWN	24u

static uint32_t entry_extra(const struct qcow2_snapshot *sn)
{
	return MAX(sn->extra_size, QSN_EXTRA_KNOWN);
}

static uint64_t entry_size(const struct qcow2_snapshot *sn)
{
	return ALIGN_UP(QSN_FIXED_SIZE + entry_extra(sn) + strlen(sn->id) +
			strlen(sn->name), 8);
}

static void put_entry(uint8_t *p, const struct qcow2_snapshot *sn)
{
	uint32_t extra = entry_extra(sn);
	size_t id = strlen(sn->id), name = strlen(sn->name);

	put_be64(p + QSN_L1_OFFSET, sn->l1_offset);
	put_be32(p + QSN_L1_SIZE, sn->l1_size);
	put_be16(p + QSN_ID_SIZE, (uint16_t)id);
	put_be16(p + QSN_NAME_SIZE, (uint16_t)name);
	put_be32(p + QSN_DATE_SEC, sn->info.date_sec);
	put_be32(p + QSN_DATE_NSEC, sn->info.date_nsec);
	put_be64(p + QSN_VM_CLOCK_NSEC, sn->info.vm_clock_nsec);
	put_be32(p + QSN_VM_STATE_SIZE, (uint32_t)sn->info.vm_state_size);
	put_be32(p + QSN_EXTRA_SIZE, extra);
	p += QSN_FIXED_SIZE;
	if (sn->extra_size > QSN_EXTRA_KNOWN)
		memcpy(p, sn->extra, sn->extra_size);
	put_be64(p + QSN_EXTRA_VMSTATE_LARGE, sn->info.vm_state_size);
	put_be64(p + QSN_EXTRA_DISK_SIZE, sn->info.disk_size);
	put_be64(p + QSN_EXTRA_ICOUNT, sn->info.icount);
	memcpy(p + extra, sn->id, id);
	memcpy(p + extra + id, sn->name, name);
}

static int check_entry(struct qcow2 *s, const struct qcow2_snapshot *sn)
{
	if (strlen(sn->id) > UINT16_MAX || strlen(sn->name) > UINT16_MAX)
		return qcow_set_error(-EINVAL, s->img->filename, "snapshot "
				      "'%s': the ID or name is longer than "
				      "65535 bytes", sn->name);
	return 0;
}

/* Writes the table for v at a new place; *off 0 when there is none. */
static int write_table(struct qcow2 *s, const struct qcow2_snapshot *v,
		       uint32_t n, uint64_t *off, uint64_t *size)
{
	uint64_t len = 0, pos = 0, bytes;
	uint8_t *buf;
	int64_t at;
	uint32_t i;
	int ret;

	for (i = 0; i < n; i++) {
		ret = check_entry(s, &v[i]);
		if (ret < 0)
			return ret;
		len += entry_size(&v[i]);
	}
	*off = 0;
	*size = len;
	if (!n)
		return 0;
	if (n > QCOW_MAX_SNAPSHOTS || len > QCOW_MAX_SNAPSHOTS_SIZE)
		return qcow_set_error(-EFBIG, s->img->filename, "snapshot "
				      "table: %u entries of %" PRIu64 " bytes "
				      "exceed the limit", n, len);
	bytes = ALIGN_UP(len, s->cluster_size);
	buf = qalloc_aligned(bytes);
	if (!buf)
		return -ENOMEM;
	memset(buf, 0, bytes);
	for (i = 0; i < n; i++) {
		put_entry(buf + pos, &v[i]);
		pos += entry_size(&v[i]);
	}
	at = qcow2_alloc_clusters(s, bytes / s->cluster_size);
	ret = at < 0 ? (int)at : qcow2_check_write(s, UINT64_MAX,
						   (uint64_t)at, bytes);
	if (!ret)
		ret = qcow2_meta_add(s, (uint64_t)at, len,
				     QCOW2_META_SNAPSHOTS);
	/* durable by the write-back before the header names it */
	if (!ret)
		ret = qfile_pwrite_sync(s->img->file, buf, bytes,
					(uint64_t)at);
	free(buf);
	*off = (uint64_t)at;
	return ret;
}

void qcow2_snapshot_entries_free(struct qcow2_snapshot *v, uint32_t n)
{
	uint32_t i;

	for (i = 0; i < n; i++) {
		free(v[i].id);
		free(v[i].name);
		free(v[i].extra);
	}
	free(v);
}

/*
 * v (n entries, owned by the image from now on, whatever the result)
 * becomes the snapshot table: its clusters and what they name must have
 * their refcounts on disk already.
 */
int qcow2_snapshot_table_replace(struct qcow2 *s, struct qcow2_snapshot *v,
				 uint32_t n)
{
	uint64_t old_off = s->snapshots_offset, old_size = s->snapshots_size;
	struct qcow_snapshot_info *infos;
	uint64_t off, size;
	uint32_t i;
	int ret;

	infos = calloc(n ? n : 1, sizeof(*infos));
	ret = infos ? write_table(s, v, n, &off, &size) : -ENOMEM;
	if (!ret)
		ret = qcow2_ckpt_settle(s);
	if (ret < 0) {
		free(infos);
		qcow2_snapshot_entries_free(v, n);
		return ret;
	}
	put_be32(s->hdr_raw + QH_NB_SNAPSHOTS, n);
	put_be64(s->hdr_raw + QH_SNAPSHOTS_OFFSET, off);
	ret = qcow2_header_write_sync(s);
	if (ret < 0) {
		/* on disk it may be either table: keep both */
		free(infos);
		qcow2_snapshot_entries_free(v, n);
		return ret;
	}
	qcow2_free_snapshots(s);
	for (i = 0; i < n; i++) {
		v[i].info.id = v[i].id;
		v[i].info.name = v[i].name;
		infos[i] = v[i].info;
	}
	s->snapshots = v;
	s->snapshot_infos = infos;
	s->nb_snapshots = n;
	s->snapshots_offset = off;
	s->snapshots_size = size;
	if (old_off && old_size)
		return qcow2_release_later(s, old_off, old_size);
	return 0;
}
