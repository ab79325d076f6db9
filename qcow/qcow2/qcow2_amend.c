// SPDX-License-Identifier: MIT
/*
 * qcow-img amend of a qcow2 image: lazy refcounts, compat (a downgrade
 * expands zero clusters first), the data file and refcount_bits.
 *
 * It runs synchronously with no other request in flight, and writes the
 * header only after everything it will point to is on disk.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include "qcow2_write.h"
#include "layout.h"

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
	if (s->bm.n || s->bm.dir_broken)
		return qcow_set_error(-ENOTSUP, s->img->filename, "compat=0.10 "
				      "cannot store persistent dirty bitmaps: "
				      "remove them first (qcow-img bitmap "
				      "--remove)");
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

	ret = qcow2_need_writable(img, &s);
	if (ret < 0)
		return ret;
	if (o->refcount_bits > 0 && (o->refcount_bits > 64 ||
				     (o->refcount_bits & (o->refcount_bits - 1))))
		return qcow_set_error(-EINVAL, img->filename, "refcount_bits: "
				      "must be a power of two up to 64");
	/* first: its refusals and a wrong passphrase leave all unchanged */
	if (o->luks_state != QCOW_LUKS_KEEP)
		ret = qcow2_luks_amend(s, o);
	/* lazy refcounts go before a downgrade and after an upgrade */
	if (!ret && o->lazy_refcounts >= 0 && o->compat == 2)
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
