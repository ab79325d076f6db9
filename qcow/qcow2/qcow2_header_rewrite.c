// SPDX-License-Identifier: MIT
/*
 * Rewriting the header cluster: new backing file name or format, data file
 * name, or version.  Every extension we do not change is copied as it is,
 * unknown ones included, in QEMU's order: backing format, data file,
 * encryption header, feature names, bitmaps, then the unknown ones.  The cluster is written in one write after all
 * metadata is on disk.
 */
#include <errno.h>
#include <stdlib.h>
#include "qcow2.h"
#include "layout.h"

static size_t put_ext(uint8_t *p, size_t room, uint32_t type,
		      const void *data, uint32_t len)
{
	size_t need = 8 + ALIGN_UP(len, 8);

	if (need > room)
		return 0;
	put_be32(p, type);
	put_be32(p + 4, len);
	memcpy(p + 8, data, len);
	memset(p + 8 + len, 0, need - 8 - len);
	return need;
}

static bool known_ext(uint32_t type)
{
	return type == QEXT_BACKING_FORMAT || type == QEXT_DATA_FILE ||
	       type == QEXT_CRYPTO || type == QEXT_FEATURE_TABLE ||
	       type == QEXT_BITMAPS;
}

/*
 * The old header's extensions of one type (want), or with want QEXT_END
 * every unknown one, in their order.
 */
static int copy_exts(struct qcow2 *s, uint32_t want, uint8_t *out,
		     size_t *pos, size_t room)
{
	uint32_t off = s->version == 2 ? QH_V2_LENGTH : s->header_length;
	uint32_t limit = s->backing_offset ? (uint32_t)s->backing_offset :
			 s->cluster_size;

	while (off + 8 <= limit) {
		uint32_t type = get_be32(s->hdr_raw + off);
		uint32_t len = get_be32(s->hdr_raw + off + 4);
		size_t n;

		if (type == QEXT_END || len > limit - off - 8)
			break;
		off += 8;
		if (want == QEXT_END ? !known_ext(type) : type == want) {
			n = put_ext(out + *pos, room - *pos, type,
				    s->hdr_raw + off, len);
			if (!n)
				return -ENOSPC;
			*pos += n;
		}
		off += ALIGN_UP(len, 8);
	}
	return 0;
}

static int add_ext(uint8_t *out, size_t *pos, size_t room, uint32_t type,
		   const char *str)
{
	size_t n;

	if (!str)
		return 0;
	n = put_ext(out + *pos, room - *pos, type, str, strlen(str));
	if (!n)
		return -ENOSPC;
	*pos += n;
	return 0;
}

static int add_bitmaps_ext(uint8_t *out, size_t *pos, size_t room,
			   const struct qcow2_header_change *chg)
{
	uint8_t e[24] = { 0 };
	size_t n;

	put_be32(e, chg->nb_bitmaps);
	put_be64(e + 8, chg->bitmap_dir_size);
	put_be64(e + 16, chg->bitmap_dir_offset);
	n = put_ext(out + *pos, room - *pos, QEXT_BITMAPS, e, sizeof(e));
	if (!n)
		return -ENOSPC;
	*pos += n;
	return 0;
}

static void set_v3_fields(struct qcow2 *s, uint8_t *h)
{
	put_be64(h + QH_INCOMPAT, s->incompatible);
	put_be64(h + QH_COMPAT, s->compatible);
	put_be64(h + QH_AUTOCLEAR, s->autoclear);
	put_be32(h + QH_REFCOUNT_ORDER, s->refcount_order);
	put_be32(h + QH_HEADER_LENGTH, s->header_length);
	if (s->header_length > QH_COMPRESSION_TYPE)
		h[QH_COMPRESSION_TYPE] = s->compression_type;
}

static int put_exts(struct qcow2 *s, const struct qcow2_header_change *chg,
		    uint8_t *h, size_t *pos, bool no_features)
{
	const char *backing = chg->set_backing ? chg->backing :
			      s->img->backing_name;
	size_t room = s->cluster_size - 8;
	int version = chg->version ? chg->version : (int)s->version;
	int ret;

	if (chg->set_backing)
		ret = add_ext(h, pos, room, QEXT_BACKING_FORMAT,
			      backing ? chg->backing_format : NULL);
	else
		ret = copy_exts(s, QEXT_BACKING_FORMAT, h, pos, room);
	if (!ret && chg->set_data_file)
		ret = add_ext(h, pos, room, QEXT_DATA_FILE, chg->data_file);
	else if (!ret)
		ret = copy_exts(s, QEXT_DATA_FILE, h, pos, room);
	if (!ret)
		ret = copy_exts(s, QEXT_CRYPTO, h, pos, room);
	if (!ret && version != 2 && !no_features)
		ret = copy_exts(s, QEXT_FEATURE_TABLE, h, pos, room);
	if (!ret && chg->set_bitmaps && chg->nb_bitmaps)
		ret = add_bitmaps_ext(h, pos, room, chg);
	else if (!ret && !chg->set_bitmaps)
		ret = copy_exts(s, QEXT_BITMAPS, h, pos, room);
	if (!ret)
		ret = copy_exts(s, QEXT_END, h, pos, room);
	return ret;
}

static int build(struct qcow2 *s, const struct qcow2_header_change *chg,
		 uint8_t *h, bool no_features);

/* The feature name table is optional: dropped when nothing else fits. */
int qcow2_header_rewrite(struct qcow2 *s,
			 const struct qcow2_header_change *chg)
{
	uint8_t *h = qalloc_aligned(s->cluster_size);
	int ret;

	if (!h)
		return -ENOMEM;
	ret = build(s, chg, h, false);
	if (ret == -ENOSPC)
		ret = build(s, chg, h, true);
	free(h);
	return ret;
}

static int build(struct qcow2 *s, const struct qcow2_header_change *chg,
		 uint8_t *h, bool no_features)
{
	uint32_t cs = s->cluster_size;
	const char *backing = chg->set_backing ? chg->backing :
			      s->img->backing_name;
	int version = chg->version ? chg->version : (int)s->version;
	size_t pos, hlen;
	int ret;

	memset(h, 0, cs);
	hlen = version == 2 ? QH_V2_LENGTH :
	       MAX(s->version == 3 ? s->header_length : 112u, 112u);
	memcpy(h, s->hdr_raw, MIN(hlen, s->version == 2 ? QH_V2_LENGTH :
				  s->header_length));
	put_be32(h + QH_VERSION, version);
	if (version == 3) {
		if (s->version == 2) {
			s->header_length = hlen;
			s->refcount_order = 4;
		}
		set_v3_fields(s, h);
	}
	pos = hlen;
	ret = put_exts(s, chg, h, &pos, no_features);
	if (ret < 0)
		return ret;
	pos += 8;	/* end of extensions */
	put_be64(h + QH_BACKING_OFFSET, 0);
	put_be32(h + QH_BACKING_SIZE, 0);
	if (backing) {
		size_t n = strlen(backing);

		if (n > QCOW_MAX_BACKING_NAME || pos + n > cs)
			return -ENOSPC;
		put_be64(h + QH_BACKING_OFFSET, pos);
		put_be32(h + QH_BACKING_SIZE, (uint32_t)n);
		memcpy(h + pos, backing, n);
	}
	ret = qcow2_ckpt_sync(s, true);
	if (!ret)
		ret = qfile_pwrite_sync(s->img->file, h, cs, 0);
	if (!ret)
		ret = qfile_fsync_sync(s->img->file);
	if (!ret) {
		memcpy(s->hdr_raw, h, cs);
		s->version = version;
		if (version == 2) {
			s->header_length = QH_V2_LENGTH;
			s->compatible = s->autoclear = 0;
		}
		s->backing_offset = get_be64(h + QH_BACKING_OFFSET);
	}
	return ret;
}
