// SPDX-License-Identifier: MIT
/*
 * Image-wide operations for qcow-img: resize, backing file changes,
 * repair and amend.  They run synchronously with no other request in
 * flight, and write the header only after everything it will point to is
 * on disk.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include "qcow2_write.h"
#include "layout.h"

static int need_writable_qcow2(struct qcow_image *img, struct qcow2 **out)
{
	if (img->format != QCOW_FMT_QCOW2)
		return qcow_set_error(-ENOTSUP, img->filename, "this operation "
				      "needs a qcow2 image");
	if (img->opts.read_only)
		return qcow_set_error(-EROFS, img->filename, "the image is "
				      "open read-only");
	*out = qcow2_of(img);
	return 0;
}

/* ---- resize ---- */

static int header_set_size(struct qcow2 *s, uint64_t size)
{
	put_be64(s->hdr_raw + QH_SIZE, size);
	put_be32(s->hdr_raw + QH_L1_SIZE, s->l1_size);
	put_be64(s->hdr_raw + QH_L1_OFFSET, s->l1_offset);
	return qcow2_header_write_sync(s);
}

/* A new, larger L1 table: written whole, then named by the header. */
static int grow_l1(struct qcow2 *s, uint32_t entries, uint64_t size)
{
	uint64_t bytes = ALIGN_UP((uint64_t)entries * 8, s->cluster_size);
	uint64_t old_off = s->l1_offset, old_bytes, i;
	uint64_t *l1, *dirty;
	uint8_t *buf;
	int64_t off;
	int ret;

	if (bytes > QCOW_MAX_L1_SIZE)
		return qcow_set_error(-EFBIG, s->img->filename, "the L1 table "
				      "would exceed 32 MiB");
	old_bytes = ALIGN_UP((uint64_t)s->l1_size * 8, s->cluster_size);
	l1 = calloc(bytes / 8, 8);
	dirty = calloc(div_round_up(bytes / 8 / s->l1_chunk_entries, 64) + 1,
		       8);
	buf = qalloc_aligned(bytes);
	if (!l1 || !dirty || !buf) {
		ret = -ENOMEM;
		goto err;
	}
	memcpy(l1, s->l1, (size_t)s->l1_size * 8);
	off = qcow2_alloc_clusters(s, bytes / s->cluster_size);
	ret = off < 0 ? (int)off : qcow2_check_write(s, UINT64_MAX,
						     (uint64_t)off, bytes);
	if (!ret)
		ret = qcow2_meta_add(s, (uint64_t)off, bytes, QCOW2_META_L1);
	if (!ret)
		ret = qcow2_ckpt_sync(s, true);
	if (ret < 0)
		goto err;
	memset(buf, 0, bytes);
	for (i = 0; i < s->l1_size; i++)
		put_be64(buf + i * 8, l1[i]);
	ret = qfile_pwrite_sync(s->img->file, buf, bytes, (uint64_t)off);
	if (!ret)
		ret = qfile_fsync_sync(s->img->file);
	if (ret < 0)
		goto err;
	free(s->l1);
	free(s->l1_dirty);
	s->l1 = l1;
	s->l1_dirty = dirty;
	s->l1_size = entries;
	s->l1_offset = (uint64_t)off;
	free(buf);
	ret = header_set_size(s, size);
	if (ret < 0)
		return ret;
	if (old_bytes && old_off)
		qcow2_release_later(s, old_off, old_bytes);
	return 0;
err:
	free(l1);
	free(dirty);
	free(buf);
	return ret;
}

/* Everything past the new end is unmapped and L2 tables past it freed. */
static int shrink(struct qcow2 *s, uint64_t size)
{
	uint64_t old = s->img->size, cs = s->cluster_size;
	uint64_t from = ALIGN_UP(size, cs), i;
	uint64_t keep = div_round_up(size, cs << s->l2_bits);
	struct qcow_ctx *ctx = qcow_sync_ctx();
	int ret = 0;

	if (!ctx)
		return -ENOMEM;
	if (from < old)
		ret = qcow2_full_discard_sync(s, from, old - from);
	for (i = keep; i < s->l1_size && !ret; i++) {
		uint64_t l2 = s->l1[i] & L1E_OFFSET_MASK;

		if (!l2)
			continue;
		ret = qcow2_release_later(s, l2, cs);
		s->l1[i] = 0;
		qcow2_mark_l1_dirty(s, i);
	}
	return ret;
}

int qcow2_resize(struct qcow_image *img, uint64_t size, bool allow_shrink)
{
	struct qcow2 *s = NULL;
	uint64_t l1_need;
	int ret;

	ret = need_writable_qcow2(img, &s);
	if (ret < 0)
		return ret;
	if (size % 512 || size > QCOW_MAX_IMAGE_SIZE / 2)
		return qcow_set_error(-EINVAL, img->filename, "size: %" PRIu64
				      " is not a multiple of 512 or too large",
				      size);
	if (size < img->size && !allow_shrink)
		return qcow_set_error(-EPERM, img->filename, "shrinking needs "
				      "--shrink");
	if (s->nb_snapshots && size < img->size)
		return qcow_set_error(-ENOTSUP, img->filename, "cannot shrink "
				      "an image with internal snapshots");
	if (size < img->size) {
		ret = shrink(s, size);
		if (ret < 0)
			return ret;
	}
	l1_need = div_round_up(size, (uint64_t)s->cluster_size << s->l2_bits);
	if (l1_need > s->l1_size)
		ret = grow_l1(s, (uint32_t)l1_need, size);
	else
		ret = qcow2_ckpt_sync(s, true);
	if (!ret && l1_need <= s->l1_size)
		ret = header_set_size(s, size);
	if (ret < 0)
		return ret;
	if (size > img->size && img->backing) {
		uint64_t old = img->size;

		/* the new area reads as zeros, not as the backing file */
		img->size = size;
		return qcow_pwrite_zeroes(img, size - old, old, 0);
	}
	img->size = size;
	return 0;
}

/* ---- backing file ---- */

int qcow2_set_backing(struct qcow_image *img, const char *name,
		      const char *format)
{
	struct qcow2_header_change chg = {
		.set_backing = true, .backing = name && *name ? name : NULL,
		.backing_format = format,
	};
	struct qcow2 *s = NULL;
	int ret;

	ret = need_writable_qcow2(img, &s);
	if (ret < 0)
		return ret;
	if (s->has_data_file && (s->autoclear & QCOW2_AUTOCLEAR_DATA_FILE_RAW)
	    && chg.backing)
		return qcow_set_error(-EINVAL, img->filename, "a raw data file "
				      "cannot have a backing file");
	ret = qcow2_header_rewrite(s, &chg);
	if (ret < 0)
		return qcow_set_error(ret, img->filename, "cannot rewrite the "
				      "header: %s", strerror(-ret));
	free(img->backing_name);
	free(img->backing_format);
	img->backing_name = chg.backing ? strdup(chg.backing) : NULL;
	img->backing_format = chg.backing && format ? strdup(format) : NULL;
	return 0;
}

/* ---- repair ---- */

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
	ret = need_writable_qcow2(img, &s);
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

int qcow2_make_empty(struct qcow_image *img)
{
	struct qcow2 *s = NULL;
	int ret = need_writable_qcow2(img, &s);

	if (ret < 0)
		return ret;
	ret = qcow2_full_discard_sync(s, 0, img->size);
	return ret < 0 ? ret : qcow2_ckpt_sync(s, true);
}

/* ---- amend ---- */

static int set_lazy(struct qcow2 *s, bool on)
{
	int ret;

	if (on == s->lazy)
		return 0;
	if (on && s->version < 3)
		return qcow_set_error(-EINVAL, s->img->filename, "lazy "
				      "refcounts need compat=1.1");
	ret = qcow2_ckpt_sync(s, true);
	if (ret < 0)
		return ret;
	if (on)
		s->compatible |= QCOW2_COMPAT_LAZY_REFCOUNTS;
	else
		s->compatible &= ~QCOW2_COMPAT_LAZY_REFCOUNTS;
	put_be64(s->hdr_raw + QH_COMPAT, s->compatible);
	if (!on && (s->incompatible & QCOW2_INCOMPAT_DIRTY))
		qcow2_header_set_dirty(s, false);
	s->lazy = on;
	return qcow2_header_write_sync(s);
}

/*
 * Version 2 has no zero flag: zero clusters become unallocated (nothing
 * below them) or hold real zeros (a backing file below, or a host cluster
 * already allocated).  Active tables only; snapshots are refused before.
 */
static int expand_zero_clusters(struct qcow2 *s)
{
	uint64_t n = 1ULL << s->l2_bits, j, cs = s->cluster_size;
	uint8_t *l2 = malloc(cs), *zeros = calloc(1, cs);
	uint32_t i;
	int ret = 0;

	if (!l2 || !zeros)
		ret = -ENOMEM;
	for (i = 0; i < s->l1_size && !ret; i++) {
		uint64_t off = s->l1[i] & L1E_OFFSET_MASK;

		if (!off)
			continue;
		ret = qcow2_ckpt_sync(s, true);
		if (!ret)
			ret = qfile_pread_sync(s->img->file, l2, cs, off);
		for (j = 0; j < n && !ret; j++) {
			uint64_t e = get_be64(l2 + j * 8);
			uint64_t guest = (((uint64_t)i << s->l2_bits) + j) * cs;
			uint64_t len;

			if (!(e & QCOW_OFLAG_ZERO) || guest >= s->img->size)
				continue;
			len = MIN(cs, s->img->size - guest);
			if ((e & L2E_OFFSET_MASK) || s->img->backing)
				ret = qcow_pwrite(s->img, zeros, len, guest);
			else
				ret = qcow2_full_discard_sync(s, guest, len);
		}
	}
	free(l2);
	free(zeros);
	return ret < 0 ? ret : qcow2_ckpt_sync(s, true);
}

static int downgrade_ok(struct qcow2 *s)
{
	if (s->incompatible & ~QCOW2_INCOMPAT_DIRTY)
		return qcow_set_error(-ENOTSUP, s->img->filename, "compat=0.10 "
				      "cannot express this image's "
				      "incompatible features");
	if (s->refcount_order != 4 || s->lazy)
		return qcow_set_error(-ENOTSUP, s->img->filename, "compat=0.10 "
				      "needs refcount_bits=16 and no lazy "
				      "refcounts");
	if (s->nb_snapshots)
		return qcow_set_error(-ENOTSUP, s->img->filename, "compat=0.10:"
				      " images with internal snapshots are "
				      "not supported yet");
	return 0;
}

static int set_compat(struct qcow2 *s, int version)
{
	struct qcow2_header_change chg = { .version = version };
	int ret;

	if (version == (int)s->version)
		return 0;
	if (version == 2) {
		ret = downgrade_ok(s);
		if (!ret)
			ret = expand_zero_clusters(s);
		if (ret < 0)
			return ret;
	}
	ret = qcow2_header_rewrite(s, &chg);
	if (ret < 0)
		return qcow_set_error(ret, s->img->filename, "cannot rewrite the "
				      "header: %s", strerror(-ret));
	return 0;
}

static int set_data_file(struct qcow2 *s, const struct qcow_amend_opts *o)
{
	struct qcow2_header_change chg = {
		.set_data_file = true, .data_file = o->data_file,
	};
	uint64_t ac = s->autoclear;

	if (o->data_file) {
		if (!s->has_data_file)
			return qcow_set_error(-ENOTSUP, s->img->filename,
					      "cannot add a data file to an "
					      "image without one");
		if (qcow2_header_rewrite(s, &chg) < 0)
			return -EIO;
		free(s->data_file_name);
		s->data_file_name = strdup(o->data_file);
	}
	if (o->data_file_raw < 0)
		return 0;
	if (o->data_file_raw && !s->has_data_file)
		return qcow_set_error(-EINVAL, s->img->filename,
				      "data_file_raw needs a data file");
	if (o->data_file_raw)
		ac |= QCOW2_AUTOCLEAR_DATA_FILE_RAW;
	else
		ac &= ~QCOW2_AUTOCLEAR_DATA_FILE_RAW;
	if (ac == s->autoclear)
		return 0;
	qcow2_header_set_autoclear(s, ac);
	return qcow2_header_write_sync(s);
}

int qcow2_amend(struct qcow_image *img, const struct qcow_amend_opts *o)
{
	struct qcow2 *s = NULL;
	int ret;

	ret = need_writable_qcow2(img, &s);
	if (ret < 0)
		return ret;
	if (o->refcount_bits > 0 && (o->refcount_bits > 64 ||
				     (o->refcount_bits & (o->refcount_bits - 1))))
		return qcow_set_error(-EINVAL, img->filename, "refcount_bits: "
				      "must be a power of two up to 64");
	/* lazy refcounts go before a downgrade and after an upgrade */
	if (o->lazy_refcounts >= 0 && o->compat == 2)
		ret = set_lazy(s, o->lazy_refcounts);
	if (!ret && (o->compat == 3 || o->compat == 2))
		ret = set_compat(s, o->compat);
	if (!ret && o->lazy_refcounts >= 0 && o->compat != 2)
		ret = set_lazy(s, o->lazy_refcounts);
	if (!ret && (o->data_file || o->data_file_raw >= 0))
		ret = set_data_file(s, o);
	if (!ret && o->refcount_bits > 0)
		ret = qcow2_change_refcount_order(s,
				__builtin_ctz((unsigned int)o->refcount_bits));
	return ret;
}
