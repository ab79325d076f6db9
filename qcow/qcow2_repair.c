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
#include "qcow2_write.h"
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
