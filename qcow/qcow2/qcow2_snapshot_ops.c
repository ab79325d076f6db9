// SPDX-License-Identifier: MIT
/*
 * Internal snapshots of qcow2: create, delete and apply (goto), as QEMU
 * makes them.  Each runs synchronously after a write-back that leaves
 * nothing dirty, with the header's dirty bit set (version 3) from before
 * the first refcount or COPIED flag changes until everything is on disk
 * again: a crash in between leaves an image that any open repairs
 * (refcounts rebuilt, COPIED flags set right), as QEMU repairs it.  The
 * snapshot table, the L1 table and the size change in one header write.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "qcow2.h"
#include "layout.h"

static int set_dirty(struct qcow2 *s, bool dirty)
{
	if (s->version < 3)
		return 0;
	qcow2_header_set_dirty(s, dirty);
	return qcow2_header_write_sync(s);
}

static int read_l1(struct qcow2 *s, const struct qcow2_snapshot *sn,
		   uint32_t entries, uint64_t **out)
{
	uint64_t *l1 = calloc(entries ? entries : 1, 8);
	uint32_t i;
	int ret = 0;

	if (!l1)
		return -ENOMEM;
	if (sn->l1_size)
		ret = qfile_pread_sync(s->img->file, l1,
				       (uint64_t)sn->l1_size * 8,
				       sn->l1_offset);
	if (ret < 0) {
		free(l1);
		return ret;
	}
	for (i = 0; i < sn->l1_size; i++)
		l1[i] = be64toh(l1[i]);
	*out = l1;
	return 0;
}

/* begin()'s snapshot for the active L1 */
#define ACTIVE ((const struct qcow2_snapshot *)1)

/*
 * Everything written back; the refcounts l1 would raise must fit (l1 NULL:
 * nothing raised); then the dirty bit.
 */
static int begin(struct qcow_image *img, struct qcow2 **out,
		 const struct qcow2_snapshot *sn)
{
	uint64_t *l1 = NULL;
	struct qcow2 *s;
	int ret = qcow2_need_writable(img, &s);

	if (ret < 0)
		return ret;
	if (s->corrupt || s->refcounts_damaged || !s->writable)
		return qcow_set_error(-EIO, img->filename, "the image is "
				      "corrupt; run check -r all");
	if (s->has_data_file)
		return qcow_set_error(-ENOTSUP, img->filename, "internal "
				      "snapshots need the data in the image, "
				      "not in a data file");
	*out = s;
	ret = qcow2_ckpt_settle(s);
	if (ret < 0 || s->refcount_order >= 4 || !sn)
		return ret < 0 ? ret : set_dirty(s, true);
	if (sn == ACTIVE)
		ret = qcow2_snapshot_refs(s, s->l1, s->l1_size, 2, false);
	else if (!(ret = read_l1(s, sn, sn->l1_size, &l1)))
		ret = qcow2_snapshot_refs(s, l1, sn->l1_size, 2, false);
	free(l1);
	return ret < 0 ? ret : set_dirty(s, true);
}

/*
 * Releases done, COPIED flags of the active tables right (where a release
 * may have left a refcount of one), dirty bit off.
 */
static int finish(struct qcow2 *s, bool copied)
{
	int ret = qcow2_ckpt_settle(s);

	if (!ret && copied)
		ret = qcow2_snapshot_refs(s, s->l1, s->l1_size, 0, true);
	if (!ret)
		ret = qcow2_ckpt_settle(s);
	return ret < 0 ? ret : set_dirty(s, false);
}

/* By ID first, then by name, as QEMU finds them; -1 when none. */
static int find(const struct qcow2 *s, const char *id_or_name)
{
	uint32_t i;

	for (i = 0; i < s->nb_snapshots; i++)
		if (!strcmp(s->snapshots[i].id, id_or_name))
			return (int)i;
	for (i = 0; i < s->nb_snapshots; i++)
		if (!strcmp(s->snapshots[i].name, id_or_name))
			return (int)i;
	return -1;
}

static int not_found(const struct qcow2 *s, const char *id_or_name)
{
	return qcow_set_error(-ENOENT, s->img->filename, "snapshot '%s' not "
			      "found", id_or_name);
}

/* A copy of the table with room for one more entry. */
static struct qcow2_snapshot *copy_list(const struct qcow2 *s, int skip)
{
	struct qcow2_snapshot *v = calloc(s->nb_snapshots + 1, sizeof(*v));
	uint32_t i, n = 0;

	if (!v)
		return NULL;
	for (i = 0; i < s->nb_snapshots; i++) {
		const struct qcow2_snapshot *o = &s->snapshots[i];
		struct qcow2_snapshot *c = &v[n];

		if ((int)i == skip)
			continue;
		*c = *o;
		c->id = strdup(o->id);
		c->name = strdup(o->name);
		c->extra = malloc(o->extra_size ? o->extra_size : 1);
		n++;
		if (!c->id || !c->name || !c->extra)
			goto err;
		memcpy(c->extra, o->extra, o->extra_size);
	}
	return v;
err:
	qcow2_snapshot_entries_free(v, n);
	return NULL;
}

/* QEMU's: one more than the largest numeric ID. */
static void new_id(const struct qcow2 *s, char *buf, size_t len)
{
	unsigned long max = 0, id;
	uint32_t i;

	for (i = 0; i < s->nb_snapshots; i++) {
		id = strtoul(s->snapshots[i].id, NULL, 10);
		if (id > max)
			max = id;
	}
	snprintf(buf, len, "%lu", max + 1);
}

/* A copy of l1 (l1_size entries, host order) in new clusters. */
static int write_l1_copy(struct qcow2 *s, const uint64_t *l1,
			 uint32_t l1_size, uint32_t entries, int type,
			 uint64_t *out)
{
	uint64_t bytes = ALIGN_UP((uint64_t)entries * 8, s->cluster_size), i;
	uint8_t *buf;
	int64_t off;
	int ret;

	*out = 0;
	if (!entries)
		return 0;
	buf = qalloc_aligned(bytes);
	if (!buf)
		return -ENOMEM;
	memset(buf, 0, bytes);
	for (i = 0; i < l1_size; i++)
		put_be64(buf + i * 8, l1[i]);
	off = qcow2_alloc_clusters(s, bytes / s->cluster_size);
	ret = off < 0 ? (int)off : qcow2_check_write(s, UINT64_MAX,
						     (uint64_t)off, bytes);
	if (!ret)
		ret = qcow2_meta_add(s, (uint64_t)off, (uint64_t)entries * 8,
				     type);
	/* durable by the write-back before the header names it */
	if (!ret)
		ret = qfile_pwrite_sync(s->img->file, buf, bytes,
					(uint64_t)off);
	free(buf);
	*out = (uint64_t)off;
	return ret;
}

static int snapshot_create(struct qcow_image *img,
			   const struct qcow_snapshot_create_opts *o,
			   char *id, size_t id_size)
{
	struct qcow2_snapshot *v = NULL, *sn;
	struct timespec now;
	struct qcow2 *s;
	char idbuf[24];
	int ret;

	if (!o || !o->name)
		return qcow_set_error(-EINVAL, img->filename, "a snapshot "
				      "needs a name");
	ret = qcow2_need_writable(img, &s);
	if (ret < 0)
		return ret;
	if (s->nb_snapshots >= QCOW_MAX_SNAPSHOTS)
		return qcow_set_error(-EFBIG, img->filename, "the image has "
				      "the most snapshots qcow2 allows");
	new_id(s, idbuf, sizeof(idbuf));
	v = copy_list(s, -1);
	if (!v)
		return -ENOMEM;
	sn = &v[s->nb_snapshots];
	sn->id = strdup(idbuf);
	sn->name = strdup(o->name);
	sn->extra_size = 24;
	sn->extra = calloc(1, 24);
	if (!sn->id || !sn->name || !sn->extra) {
		ret = -ENOMEM;
		goto err;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	sn->info.date_sec = o->date_sec || o->date_nsec ? o->date_sec :
			    (uint32_t)now.tv_sec;
	sn->info.date_nsec = o->date_sec || o->date_nsec ? o->date_nsec :
			     (uint32_t)(now.tv_nsec / 1000 * 1000);
	sn->info.vm_clock_nsec = o->vm_clock_nsec;
	sn->info.icount = o->icount;
	sn->info.disk_size = img->size;
	ret = begin(img, &s, ACTIVE);
	if (ret < 0)
		goto err;
	sn->l1_size = s->l1_size;
	/* every cluster the active L1 reaches gets the snapshot's reference */
	ret = qcow2_snapshot_refs(s, s->l1, s->l1_size, 1, true);
	if (!ret)
		ret = write_l1_copy(s, s->l1, s->l1_size, s->l1_size,
				    QCOW2_META_SNAPSHOT_L1, &sn->l1_offset);
	if (ret < 0)
		goto err;
	ret = qcow2_snapshot_table_replace(s, v, s->nb_snapshots + 1);
	v = NULL;
	if (!ret)
		ret = finish(s, false);
	if (!ret && id)
		snprintf(id, id_size, "%s", idbuf);
	return ret;
err:
	/* what is in memory stays for the next write-back: a leak at most */
	qcow2_snapshot_entries_free(v, s->nb_snapshots + 1);
	return ret;
}

/* The writable image's snapshot by ID or name: its index, or -errno. */
static int lookup(struct qcow_image *img, const char *id_or_name,
		  struct qcow2 **out)
{
	int i, ret = qcow2_need_writable(img, out);

	if (ret < 0)
		return ret;
	i = find(*out, id_or_name);
	return i < 0 ? not_found(*out, id_or_name) : i;
}

static int bad_l1(const struct qcow2 *s, const struct qcow2_snapshot *sn)
{
	if (!sn->l1_bad && (uint64_t)sn->l1_size * 8 <= s->img->file->size &&
	    sn->l1_offset <= s->img->file->size - (uint64_t)sn->l1_size * 8)
		return 0;
	return qcow_set_error(-EINVAL, s->img->filename, "snapshot '%s': "
			      "l1_table_offset %#" PRIx64 " or l1_size %u "
			      "is invalid", sn->id, sn->l1_offset,
			      sn->l1_size);
}

static int snapshot_delete(struct qcow_image *img, const char *id_or_name)
{
	struct qcow2_snapshot gone;
	struct qcow2_snapshot *v;
	uint64_t *l1 = NULL;
	struct qcow2 *s;
	int i, ret;

	i = lookup(img, id_or_name, &s);
	if (i < 0)
		return i;
	gone = s->snapshots[i];
	ret = bad_l1(s, &gone);
	if (!ret)
		ret = begin(img, &s, NULL);
	if (!ret)
		ret = read_l1(s, &gone, gone.l1_size, &l1);
	if (ret < 0)
		return ret;
	v = copy_list(s, i);
	ret = v ? qcow2_snapshot_table_replace(s, v, s->nb_snapshots - 1) :
		  -ENOMEM;
	/* the table no longer names it: its references go */
	if (!ret)
		ret = qcow2_snapshot_refs(s, l1, gone.l1_size, -1, false);
	if (!ret && gone.l1_size)
		ret = qcow2_release_later(s, gone.l1_offset,
					  (uint64_t)gone.l1_size * 8);
	free(l1);
	return ret < 0 ? ret : finish(s, true);
}

/* The active L1 becomes l1 (entries, host order) at a new place. */
static int switch_l1(struct qcow2 *s, uint64_t *l1, uint32_t entries,
		     uint64_t size)
{
	uint64_t old = s->l1_offset, old_bytes = (uint64_t)s->l1_size * 8;
	uint64_t chunks = div_round_up(entries, s->l1_chunk_entries);
	uint64_t *dirty = calloc(div_round_up(chunks, 64) + 1, 8);
	uint64_t off;
	int ret;

	if (!dirty)
		return -ENOMEM;
	ret = write_l1_copy(s, l1, entries, entries, QCOW2_META_L1, &off);
	if (!ret)
		ret = qcow2_ckpt_settle(s);
	if (ret < 0) {
		free(dirty);
		return ret;
	}
	put_be64(s->hdr_raw + QH_SIZE, size);
	put_be32(s->hdr_raw + QH_L1_SIZE, entries);
	put_be64(s->hdr_raw + QH_L1_OFFSET, off);
	ret = qcow2_header_write_sync(s);
	if (ret < 0) {
		free(dirty);
		return ret;
	}
	/* the old table's references go once nothing names it */
	ret = qcow2_snapshot_refs(s, s->l1, s->l1_size, -1, false);
	if (!ret && old && old_bytes)
		ret = qcow2_release_later(s, old, old_bytes);
	free(s->l1);
	free(s->l1_dirty);
	s->l1 = l1;
	s->l1_dirty = dirty;
	s->l1_size = entries;
	s->l1_offset = off;
	s->img->size = size;
	return ret;
}

static int register_l2(struct qcow2 *s, const uint64_t *l1, uint32_t n)
{
	uint32_t i;
	int ret = 0;

	for (i = 0; i < n && !ret; i++)
		if (l1[i] & L1E_OFFSET_MASK)
			ret = qcow2_meta_add(s, l1[i] & L1E_OFFSET_MASK,
					     s->cluster_size, QCOW2_META_L2);
	return ret;
}

static int snapshot_apply(struct qcow_image *img, const char *id_or_name)
{
	const struct qcow2_snapshot *sn;
	uint64_t *l1 = NULL, size;
	uint32_t entries;
	struct qcow2 *s;
	int i, ret;

	i = lookup(img, id_or_name, &s);
	if (i < 0)
		return i;
	sn = &s->snapshots[i];
	size = sn->info.disk_size;
	entries = (uint32_t)MAX(MAX(sn->l1_size, s->l1_size),
				div_round_up(size, (uint64_t)s->cluster_size <<
					     s->l2_bits));
	if ((uint64_t)entries * 8 > QCOW_MAX_L1_SIZE ||
	    size > QCOW_MAX_IMAGE_SIZE / 2)
		return qcow_set_error(-EFBIG, img->filename, "snapshot '%s': "
				      "disk size %" PRIu64 " is too large",
				      sn->id, size);
	ret = bad_l1(s, sn);
	if (!ret && size != img->size)
		ret = qcow2_bitmaps_mark_in_use(s);
	if (!ret)
		ret = begin(img, &s, sn);
	if (!ret)
		ret = read_l1(s, sn, entries, &l1);
	if (ret < 0)
		return ret;
	/* the snapshot's clusters get the active image's reference */
	ret = qcow2_snapshot_refs(s, l1, sn->l1_size, 1, true);
	if (!ret)
		ret = register_l2(s, l1, sn->l1_size);
	if (!ret)
		ret = switch_l1(s, l1, entries, size);
	else
		free(l1);
	if (!ret)
		ret = qcow2_bitmaps_resize(s, size);
	return ret < 0 ? ret : finish(s, true);
}

const struct qcow_snapshot_ops qcow2_snapshot_ops = {
	.create = snapshot_create,
	.remove = snapshot_delete,
	.apply = snapshot_apply,
};
