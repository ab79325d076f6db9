// SPDX-License-Identifier: MIT
/*
 * Metadata overlap checks and the corrupt bit.  A writable image knows the
 * clusters its metadata lives in (header, L1 tables, refcount table and
 * blocks, active L2 tables, snapshot table); a write or an allocation that
 * would land on one of them means the metadata is inconsistent.  The image
 * is then marked corrupt (incompatible bit 1) and refuses further writes,
 * as QEMU does; it opens read-only from then on.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include "qcow2.h"
#include "layout.h"

static const char *const meta_names[] = {
	[QCOW2_META_HEADER] = "the header",
	[QCOW2_META_L1] = "the active L1 table",
	[QCOW2_META_REFTABLE] = "the refcount table",
	[QCOW2_META_REFBLOCK] = "a refcount block",
	[QCOW2_META_L2] = "an active L2 table",
	[QCOW2_META_SNAPSHOTS] = "the snapshot table",
	[QCOW2_META_SNAPSHOT_L1] = "a snapshot's L1 table",
	[QCOW2_META_CRYPTO] = "the encryption header",
};

static bool is_refcount_meta(uint64_t type)
{
	return type == QCOW2_META_REFTABLE || type == QCOW2_META_REFBLOCK;
}

int qcow2_meta_add(struct qcow2 *s, uint64_t off, uint64_t len, int type)
{
	uint64_t c;
	int ret;

	if (!s->writable || !len)
		return 0;
	for (c = off >> s->cluster_bits;
	     c <= (off + len - 1) >> s->cluster_bits; c++) {
		uint64_t was = cmap_get(&s->meta, c);

		/* two structures in one cluster: the image is damaged */
		if (was && was != (uint64_t)type) {
			ret = qcow_set_error(-EUCLEAN, s->img->filename,
				"cluster %" PRIu64 " holds both %s and %s; "
				"open it read-only and run check", c,
				meta_names[was], meta_names[type]);
			if (!is_refcount_meta(was) && !is_refcount_meta(type))
				return ret;
			ret = qcow2_note_damage(s, ret);
			if (ret < 0)
				return ret;
			continue;
		}
		ret = cmap_set(&s->meta, c, (uint64_t)type);
		if (ret < 0)
			return ret;
	}
	return 0;
}

int qcow2_meta_init(struct qcow2 *s)
{
	uint64_t i;
	int ret;

	ret = qcow2_meta_add(s, 0, s->cluster_size, QCOW2_META_HEADER);
	if (!ret)
		ret = qcow2_meta_add(s, s->l1_offset, (uint64_t)s->l1_size * 8,
				     QCOW2_META_L1);
	if (!ret)
		ret = qcow2_meta_add(s, s->rt_offset, s->rt_entries * 8,
				     QCOW2_META_REFTABLE);
	for (i = 0; i < s->rt_entries && !ret; i++)
		if (s->rt[i])
			ret = qcow2_meta_add(s, s->rt[i], s->cluster_size,
					     QCOW2_META_REFBLOCK);
	for (i = 0; i < s->l1_size && !ret; i++)
		if (s->l1[i] & L1E_OFFSET_MASK)
			ret = qcow2_meta_add(s, s->l1[i] & L1E_OFFSET_MASK,
					     s->cluster_size, QCOW2_META_L2);
	if (!ret)
		ret = qcow2_meta_add(s, s->snapshots_offset, s->snapshots_size,
				     QCOW2_META_SNAPSHOTS);
	if (!ret && s->crypt_method == QCOW_CRYPT_LUKS)
		ret = qcow2_meta_add(s, s->crypto_offset, s->crypto_length,
				     QCOW2_META_CRYPTO);
	for (i = 0; i < s->nb_snapshots && !ret; i++)
		if (!s->snapshots[i].l1_bad)
			ret = qcow2_meta_add(s, s->snapshots[i].l1_offset,
					(uint64_t)s->snapshots[i].l1_size * 8,
					QCOW2_META_SNAPSHOT_L1);
	return ret;
}

/* The metadata [off, off + len) lands on, or 0. */
int qcow2_meta_overlap(struct qcow2 *s, uint64_t off, uint64_t len)
{
	uint64_t c;

	if (!s->writable || !len)
		return 0;
	for (c = off >> s->cluster_bits;
	     c <= (off + len - 1) >> s->cluster_bits; c++) {
		uint64_t t = cmap_get(&s->meta, c);

		if (t)
			return (int)t;
	}
	return 0;
}

static void corrupt_bit_written(struct qio_op *op, int res)
{
	struct qcow2 *s = op->data;

	if (res < 0)
		qcow_log(s->img, "cannot write the corrupt bit: %s",
			 strerror(-res));
	free(op);
}

/* The header goes out on the ring of whoever found the damage. */
static void write_corrupt_bit(struct qcow2 *s)
{
	struct qcow_ctx *ctx = qcow_current_ctx();
	uint32_t len = qcow2_header_io_len(s);
	struct qio_op *op;

	s->incompatible |= QCOW2_INCOMPAT_CORRUPT;
	put_be64(s->hdr_raw + QH_INCOMPAT, s->incompatible);
	if (!ctx) {
		qcow2_header_write_sync(s);
		return;
	}
	op = calloc(1, sizeof(*op) + len + 4096);
	if (!op)
		return;
	op->cb = corrupt_bit_written;
	op->data = s;
	op->buf = (uint8_t *)ALIGN_UP((uintptr_t)(op + 1), 4096);
	memcpy(op->buf, s->hdr_raw, len);
	qfile_submit(ctx, s->img->file, op, QIO_WRITE, op->buf, len, 0);
}

int qcow2_signal_corruption(struct qcow2 *s, const char *fmt, ...)
{
	char msg[300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (s->corrupt) {
		qcow_log(s->img, "%s", msg);
		return -EIO;
	}
	s->corrupt = true;
	qcow_log(s->img, "%s; the image is marked corrupt and takes no more "
		 "writes", msg);
	if (s->version >= 3 && s->writable)
		write_corrupt_bit(s);
	return -EIO;
}

/* A write or allocation to host [off, off + len) must not hit metadata. */
int qcow2_check_write(struct qcow2 *s, uint64_t guest, uint64_t off,
		      uint64_t len)
{
	int t;

	if (s->has_data_file && guest != UINT64_MAX)
		return 0;	/* data clusters live in the data file */
	t = qcow2_meta_overlap(s, off, len);
	if (!t)
		return 0;
	if (guest == UINT64_MAX)
		return qcow2_signal_corruption(s, "corrupt: allocating %#"
			PRIx64 "+%#" PRIx64 " would overwrite %s", off, len,
			meta_names[t]);
	return qcow2_signal_corruption(s, "corrupt: guest offset %#" PRIx64
		" maps to host %#" PRIx64 ", inside %s", guest, off,
		meta_names[t]);
}
