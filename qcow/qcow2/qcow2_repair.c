// SPDX-License-Identifier: MIT
/*
 * qcow-img check -r of a qcow2 image: the check's findings, a rebuild of
 * a damaged refcount structure, refcounts and COPIED flags set to the
 * references found, and the check again.
 *
 * It runs synchronously with no other request in flight, and writes the
 * header only after everything it will point to is on disk.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include "qcow2_map.h"
#include "qcow2_write.h"
#include "qcow2_check.h"
#include "layout.h"

static int rebuild_if_damaged(struct qcow2 *s, unsigned int flags,
			      bool rebuild,
			      void (*report)(void *arg, const char *msg),
			      void *arg)
{
	int ret;

	if (!rebuild) {
		if (!s->refcounts_damaged)
			return 0;
		/* damage the check does not repair: refuse as the open did */
		return qcow_set_error(-EUCLEAN, s->img->filename, "%s",
				      s->damage_msg ? s->damage_msg :
				      "damaged refcount structure");
	}
	if (!(flags & (QCOW_REPAIR_ERRORS | QCOW_REPAIR_REBUILD))) {
		if (report)
			report(arg, "ERROR need to rebuild refcount structures");
		return qcow_set_error(-EIO, s->img->filename, "the refcount "
				      "structure is damaged: repair it with "
				      "check -r all");
	}
	if (report)
		report(arg, "Rebuilding refcount structure");
	ret = qcow2_rebuild_refcount_structure(s);
	if (ret < 0)
		return qcow_set_error(ret, s->img->filename, "cannot rebuild "
				      "the refcount structure: %s",
				      qcow_strerror());
	return 0;
}

/*
 * A rebuild fixes, as qemu-img counts it, every leak of the first check and
 * every corruption of it that the new structure no longer has.
 */
static int count_rebuild(struct qcow_image *img,
			 const struct qcow_check_result *found,
			 struct qcow_check_result *fixed)
{
	struct qcow2_check_opts o = { .copied = false };
	struct qcow_check_result after;
	int ret;

	memset(&after, 0, sizeof(after));
	ret = qcow2_check_ex(img, &after, NULL, NULL, &o);
	if (ret < 0)
		return ret;
	fixed->leaks_fixed += found->leaks;
	if (found->corruptions > after.corruptions)
		fixed->corruptions_fixed += found->corruptions -
					    after.corruptions;
	fixed->rebuilt = true;
	return 0;
}

/*
 * check -r all: bitmaps with broken metadata removed (their clusters are
 * then leaks the refcount repair frees), never valid or in-use ones.
 */
static int remove_broken_bitmaps(struct qcow2 *s, unsigned int flags,
				 struct qcow_check_result *fixed,
				 void (*report)(void *arg, const char *msg),
				 void *arg)
{
	struct qcow2_bitmaps *bm = &s->bm;
	unsigned int i = 0;
	int ret;

	if (!(flags & QCOW_REPAIR_ERRORS))
		return 0;
	if (bm->dir_broken) {
		qcow2_check_report_fix(report, arg, "Removing the bitmaps "
				       "extension: %s", bm->dir_broken);
		free(bm->dir_broken);
		bm->dir_broken = NULL;
		bm->dir_dropped = true;
		bm->changed = true;
		fixed->corruptions_fixed++;
	}
	while (i < bm->n) {
		if (!bm->v[i].broken) {
			i++;
			continue;
		}
		qcow2_check_report_fix(report, arg, "Removing bitmap '%s': %s",
				       bm->v[i].name, bm->v[i].broken);
		ret = qcow2_bitmap_remove_at(s, i);
		if (ret < 0)
			return ret;
		fixed->corruptions_fixed++;
	}
	if (!bm->changed)
		return 0;
	ret = qcow2_bitmaps_store_sync(s);
	if (ret < 0)
		return qcow_set_error(ret, s->img->filename, "cannot remove the "
				      "broken bitmaps: %s", strerror(-ret));
	return 0;
}

/* Refcounts, then COPIED flags (fixed by either mode, as qemu-img does). */
static int fix_all(struct qcow2 *s, unsigned int flags,
		   struct qcow_check_result *fixed,
		   void (*report)(void *arg, const char *msg), void *arg)
{
	struct qcow_check_result refs = { 0 };
	int ret;

	ret = qcow2_fix_refcounts(s, flags, &refs, report, arg);
	if (!ret)
		ret = qcow2_ckpt_sync(s, true);
	if (!ret)
		ret = qcow2_fix_copied(s, fixed, report, arg);
	if (!ret)
		ret = qcow2_ckpt_sync(s, true);
	/* after a rebuild, the leaks are the old structure's: not counted */
	if (!fixed->rebuilt)
		fixed->leaks_fixed += refs.leaks_fixed;
	fixed->corruptions_fixed += refs.corruptions_fixed;
	return ret;
}

int qcow2_repair(struct qcow_image *img, unsigned int flags,
		 struct qcow_check_result *res,
		 void (*report)(void *arg, const char *msg), void *arg)
{
	struct qcow2_check_opts o = { .copied = false };
	struct qcow_check_result found, fixed = { 0 };
	struct qcow2 *s = NULL;
	int ret;

	memset(res, 0, sizeof(*res));
	ret = qcow2_need_writable(img, &s);
	if (ret < 0)
		return ret;
	/* as qemu-img: refcount findings, the repairs, then COPIED */
	memset(&found, 0, sizeof(found));
	ret = qcow2_check_ex(img, &found, report, arg, &o);
	if (!ret)
		ret = rebuild_if_damaged(s, flags, o.rebuild, report, arg);
	if (!ret && o.rebuild)
		ret = count_rebuild(img, &found, &fixed);
	if (!ret)
		ret = remove_broken_bitmaps(s, flags, &fixed, report, arg);
	if (!ret)
		ret = qcow2_check(img, res, NULL, NULL);
	if (!ret && (res->leaks || res->corruptions)) {
		ret = fix_all(s, flags, &fixed, report, arg);
		memset(res, 0, sizeof(*res));	/* the check adds to it */
		if (!ret)
			ret = qcow2_check(img, res, NULL, NULL);
	}
	/* and what the open fixed in a dirty image, as qemu-img's check */
	res->leaks_fixed = fixed.leaks_fixed + s->dirty_leaks_fixed;
	res->corruptions_fixed = fixed.corruptions_fixed +
				 s->dirty_corruptions_fixed;
	res->rebuilt = fixed.rebuilt;
	s->dirty_leaks_fixed = 0;
	s->dirty_corruptions_fixed = 0;
	return ret;
}

/* Refcounts that disagree with the references, as flags allow. */
int qcow2_fix_refcounts(struct qcow2 *s, unsigned int flags,
			struct qcow_check_result *fixed,
			void (*report)(void *arg, const char *msg), void *arg)
{
	struct qcow_check_result res = { 0 };
	struct check c = {
		.s = s, .res = &res, .fix = flags, .quiet = true,
		.report = report, .arg = arg,
	};
	uint64_t i, n;
	int ret;

	/* the findings were reported by the check before */
	ret = qcow2_check_count(&c);
	if (!ret)
		ret = qcow2_load_refcounts(s, &c.disk, &c.nb_disk);
	/* as qemu-img: clusters past the end of the file are left alone */
	n = MIN(MAX(c.nb_refs, s->alloc.end),
		div_round_up(s->img->file->size, s->cluster_size));
	for (i = 0; i < n && !ret; i++) {
		uint64_t want = i < c.nb_refs ? c.refs[i] : 0;
		uint64_t have = i < c.nb_disk ? c.disk[i] : 0;

		if (!i)
			want = MAX(want, 1);
		if (have == want || (have > want && !(flags &
						       QCOW_REPAIR_LEAKS)) ||
		    (have < want && !(flags & QCOW_REPAIR_ERRORS)))
			continue;
		qcow2_check_say_fix(&c, "Repairing cluster %" PRIu64
				    " refcount=%" PRIu64 " reference=%" PRIu64,
				    i, have, want);
		ret = qcow2_refcount_set(s, i, want);
		if (!ret)
			ret = cluster_vec_push(&s->alloc.lazy, i);
		if (!ret && have > want)
			fixed->leaks_fixed++;
		else if (!ret)
			fixed->corruptions_fixed++;
	}
	/* and the unaligned zero clusters the walk fixed */
	fixed->corruptions_fixed += res.corruptions_fixed;
	qcow2_check_free(&c);
	return ret;
}

static bool fix_entry_copied(struct qcow2 *s, uint8_t *p,
			     void (*report)(void *arg, const char *msg),
			     void *arg)
{
	uint64_t l2e = get_be64(p);
	uint64_t bitmap = s->l2_entry_size == 16 ? get_be64(p + 8) : 0;
	enum qcow2_sc_type t;
	uint64_t rc;

	if (qcow2_check_l2_entry_unused(s, p))
		return false;
	t = qcow2_sc_type(s, l2e, bitmap, 0);
	if (t == SC_COMPRESSED || t == SC_INVALID || !type_is_mapped(t))
		return false;
	rc = s->has_data_file ? 1 :
		qcow2_refcount_of(s, (l2e & L2E_OFFSET_MASK) >> s->cluster_bits);
	if ((rc == 1) == !!(l2e & QCOW_OFLAG_COPIED))
		return false;
	qcow2_check_report_fix(report, arg, "Repairing OFLAG_COPIED data "
			       "cluster: l2_entry=%" PRIx64
			       " refcount=%" PRIu64, l2e, rc);
	put_be64(p, l2e ^ QCOW_OFLAG_COPIED);
	return true;
}

/* COPIED flags of the active tables set to "refcount is one". */
int qcow2_fix_copied(struct qcow2 *s, struct qcow_check_result *fixed,
		     void (*report)(void *arg, const char *msg), void *arg)
{
	uint8_t *l2 = qalloc_aligned(s->cluster_size);
	uint64_t n = 1ULL << s->l2_bits, j;
	uint32_t i;
	int ret = 0;

	if (!l2)
		return -ENOMEM;
	for (i = 0; i < s->l1_size && !ret; i++) {
		uint64_t off = s->l1[i] & L1E_OFFSET_MASK;
		uint64_t rc;
		bool dirty = false;

		if (!off || qcow2_offset_into_cluster(s, off))
			continue;
		rc = qcow2_refcount_of(s, off >> s->cluster_bits);
		if ((rc == 1) != !!(s->l1[i] & QCOW_OFLAG_COPIED)) {
			qcow2_check_report_fix(report, arg, "Repairing "
					       "OFLAG_COPIED L2 cluster: "
					       "l1_index=%u l1_entry=%" PRIx64
					       " refcount=%" PRIu64, i,
					       s->l1[i], rc);
			s->l1[i] ^= QCOW_OFLAG_COPIED;
			qcow2_mark_l1_dirty(s, i);
			fixed->corruptions_fixed++;
		}
		ret = qcow2_check_read_l2(s, l2, off);
		for (j = 0; j < n && !ret; j++)
			if (fix_entry_copied(s, l2 + j * s->l2_entry_size,
					     report, arg)) {
				dirty = true;
				fixed->corruptions_fixed++;
			}
		if (ret > 0)
			ret = 0;
		if (ret || !dirty)
			continue;
		meta_cache_drop(&s->l2, off, s->cluster_size);
		ret = qfile_pwrite_sync(s->img->file, l2, s->cluster_size, off);
		if (!ret)
			ret = qfile_fsync_sync(s->img->file);
	}
	free(l2);
	return ret;
}
