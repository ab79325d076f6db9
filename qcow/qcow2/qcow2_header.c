// SPDX-License-Identifier: MIT
/* The qcow2 header and its extensions: read, validated, remembered. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "qcow2.h"
#include "layout.h"

#define HERR(s, err, ...) qcow_set_error(err, (s)->img->filename, __VA_ARGS__)

static const char *const incompat_names[] = {
	"dirty bit", "corrupt bit", "external data file",
	"compression type", "extended L2 entries",
};

/* A table of entries of entry_size bytes must sit inside the file. */
static int check_table(struct qcow2 *s, const char *what, uint64_t offset,
		       uint64_t entries, uint64_t entry_size)
{
	uint64_t size = entries * entry_size;

	/* as in QEMU, even an empty table must have a valid offset */
	if (qcow2_offset_into_cluster(s, offset))
		return HERR(s, -EINVAL, "%s offset %#" PRIx64
			    " is not cluster aligned", what, offset);
	if (!entries && offset > INT64_MAX)
		return HERR(s, -EINVAL, "%s offset %#" PRIx64 " is invalid",
			    what, offset);
	if (!entries)
		return 0;
	if (offset == 0)
		return HERR(s, -EINVAL, "%s overlaps the header", what);
	if (offset > QCOW_MAX_IMAGE_SIZE || size > QCOW_MAX_IMAGE_SIZE ||
	    offset + size > s->img->file->size)
		return HERR(s, -EINVAL, "%s at %#" PRIx64 " (%" PRIu64
			    " bytes) is past the end of the file", what,
			    offset, size);
	return 0;
}

static int unknown_incompat_error(struct qcow2 *s, uint64_t bits)
{
	char names[256] = "";
	size_t used = 0;
	unsigned int i, b;

	for (b = 0; b < 64; b++) {
		const char *name = NULL;

		if (!(bits & (1ULL << b)))
			continue;
		for (i = 0; i < s->nb_features; i++)
			if (s->features[i].type == 0 && s->features[i].bit == b)
				name = s->features[i].name;
		used += snprintf(names + used, sizeof(names) - MIN(used,
				 sizeof(names)), "%s%s%s bit %u",
				 used ? ", " : "", name ? name : "unknown",
				 name ? "" : " incompatible feature", b);
		if (used >= sizeof(names))
			break;
	}
	return HERR(s, -ENOTSUP, "incompatible_features: unsupported %s",
		    names);
}

static int read_feature_table(struct qcow2 *s, const uint8_t *p, uint32_t len)
{
	unsigned int n = len / 48, i;

	free(s->features);	/* a second table replaces the first */
	s->nb_features = 0;
	s->features = calloc(n ? n : 1, sizeof(*s->features));
	if (!s->features)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		s->features[i].type = p[i * 48];
		s->features[i].bit = p[i * 48 + 1];
		memcpy(s->features[i].name, p + i * 48 + 2, 46);
		s->features[i].name[46] = 0;
	}
	s->nb_features = n;
	return 0;
}

static char *ext_string(const uint8_t *p, uint32_t len)
{
	char *str = malloc(len + 1);

	if (!str)
		return NULL;
	memcpy(str, p, len);
	str[len] = 0;
	return str;
}

static int keep_unknown_ext(struct qcow2 *s, uint32_t type, const uint8_t *p,
			    uint32_t len)
{
	struct qcow2_ext *e = calloc(1, sizeof(*e)), **tail;

	if (!e)
		return -ENOMEM;
	e->data = malloc(len ? len : 1);
	if (!e->data) {
		free(e);
		return -ENOMEM;
	}
	memcpy(e->data, p, len);
	e->type = type;
	e->len = len;
	for (tail = &s->unknown_exts; *tail; tail = &(*tail)->next)
		;
	*tail = e;
	return 0;
}

/*
 * Problems of the extension make the bitmaps broken, not the image:
 * qcow2_bitmaps_open() reports them.
 */
static int read_bitmaps_ext(struct qcow2 *s, const uint8_t *p, uint32_t len)
{
	char why[160] = "";

	s->bitmap_ext = true;
	if (len < 24) {
		snprintf(why, sizeof(why), "bitmaps extension: length %u too "
			 "short", len);
		s->nb_bitmaps = 0;
	} else {
		s->nb_bitmaps = get_be32(p);
		s->bitmap_dir_size = get_be64(p + 8);
		s->bitmap_dir_offset = get_be64(p + 16);
	}
	if (why[0] || !(s->autoclear & QCOW2_AUTOCLEAR_BITMAPS))
		;
	else if (s->nb_bitmaps == 0 || s->nb_bitmaps > QCOW_MAX_BITMAPS)
		snprintf(why, sizeof(why), "nb_bitmaps %u out of range "
			 "(1-%u)", s->nb_bitmaps, QCOW_MAX_BITMAPS);
	else if (get_be32(p + 4))
		snprintf(why, sizeof(why), "bitmaps extension: reserved "
			 "field is not zero");
	else if (s->bitmap_dir_size > QCOW_MAX_BITMAP_DIR)
		snprintf(why, sizeof(why), "bitmap_directory_size %" PRIu64
			 " too large (max %u)", s->bitmap_dir_size,
			 QCOW_MAX_BITMAP_DIR);
	else if (qcow2_offset_into_cluster(s, s->bitmap_dir_offset) ||
		 !s->bitmap_dir_offset)
		snprintf(why, sizeof(why), "bitmap_directory_offset %#"
			 PRIx64 " is not cluster aligned",
			 s->bitmap_dir_offset);
	else if (s->bitmap_dir_offset + s->bitmap_dir_size >
		 s->img->file->size)
		snprintf(why, sizeof(why), "bitmap directory at %#" PRIx64
			 " is past the end of the file",
			 s->bitmap_dir_offset);
	if (!why[0] || !(s->autoclear & QCOW2_AUTOCLEAR_BITMAPS))
		return 0;
	free(s->bm.dir_broken);
	s->bm.dir_broken = strdup(why);
	return s->bm.dir_broken ? 0 : -ENOMEM;
}

static int read_one_ext(struct qcow2 *s, uint32_t type, const uint8_t *p,
			uint32_t len)
{
	switch (type) {
	case QEXT_BACKING_FORMAT:
		if (len > 15)
			return HERR(s, -EINVAL, "backing format extension: "
				    "length %u too long", len);
		free(s->img->backing_format);
		s->img->backing_format = ext_string(p, len);
		return s->img->backing_format ? 0 : -ENOMEM;
	case QEXT_FEATURE_TABLE:
		return read_feature_table(s, p, len);
	case QEXT_BITMAPS:
		return read_bitmaps_ext(s, p, len);
	case QEXT_CRYPTO:
		if (len != 16)
			return HERR(s, -EINVAL, "encryption extension: length "
				    "%u is not 16", len);
		s->crypto_offset = get_be64(p);
		s->crypto_length = get_be64(p + 8);
		return 0;
	case QEXT_DATA_FILE:
		if (len > QCOW_MAX_BACKING_NAME)
			return HERR(s, -EINVAL, "data file name extension: "
				    "length %u too long", len);
		free(s->data_file_name);
		s->data_file_name = ext_string(p, len);
		return s->data_file_name ? 0 : -ENOMEM;
	default:
		return keep_unknown_ext(s, type, p, len);
	}
}

static int read_extensions(struct qcow2 *s, const uint8_t *hdr, uint32_t end)
{
	uint32_t off = s->version == 2 ? QH_V2_LENGTH : s->header_length;
	uint32_t limit = end;
	int ret;

	/* extensions end where the backing file name starts */
	if (s->backing_offset && s->backing_offset < limit)
		limit = (uint32_t)s->backing_offset;
	while (off + 8 <= limit) {
		uint32_t type = get_be32(hdr + off);
		uint32_t len = get_be32(hdr + off + 4);

		off += 8;
		if (type == QEXT_END)
			return 0;
		if (len > limit - off)
			return HERR(s, -EINVAL, "header extension %#x: length "
				    "%u runs past the header", type, len);
		ret = read_one_ext(s, type, hdr + off, len);
		if (ret < 0)
			return ret;
		off += ALIGN_UP(len, 8);
	}
	return 0;
}

static int check_basic_fields(struct qcow2 *s, const uint8_t *h)
{
	if (get_be32(h + QH_MAGIC) != QCOW_MAGIC)
		return HERR(s, -EINVAL, "magic: not a qcow2 image");
	s->version = get_be32(h + QH_VERSION);
	if (s->version != 2 && s->version != 3)
		return HERR(s, -ENOTSUP, "version: qcow2 version %u is not "
			    "supported", s->version);
	s->cluster_bits = get_be32(h + QH_CLUSTER_BITS);
	if (s->cluster_bits < QCOW_MIN_CLUSTER_BITS ||
	    s->cluster_bits > QCOW_MAX_CLUSTER_BITS)
		return HERR(s, -EINVAL, "cluster_bits: %u is out of range "
			    "(%u-%u)", s->cluster_bits, QCOW_MIN_CLUSTER_BITS,
			    QCOW_MAX_CLUSTER_BITS);
	s->cluster_size = 1u << s->cluster_bits;
	if (s->version == 2) {
		s->header_length = QH_V2_LENGTH;
		s->refcount_order = 4;
		return 0;
	}
	s->incompatible = get_be64(h + QH_INCOMPAT);
	s->compatible = get_be64(h + QH_COMPAT);
	s->autoclear = get_be64(h + QH_AUTOCLEAR);
	s->refcount_order = get_be32(h + QH_REFCOUNT_ORDER);
	s->header_length = get_be32(h + QH_HEADER_LENGTH);
	if (s->header_length < QH_V3_MIN_LENGTH)
		return HERR(s, -EINVAL, "header_length: %u is shorter than "
			    "%u", s->header_length, QH_V3_MIN_LENGTH);
	if (s->header_length > s->cluster_size)
		return HERR(s, -EINVAL, "header_length: %u exceeds the "
			    "cluster size", s->header_length);
	if (s->header_length % 8)
		return HERR(s, -EINVAL, "header_length: %u is not a multiple "
			    "of 8", s->header_length);
	if (s->refcount_order > 6)
		return HERR(s, -EINVAL, "refcount_order: %u is out of range "
			    "(0-6)", s->refcount_order);
	return 0;
}

static int check_features(struct qcow2 *s, const uint8_t *h)
{
	uint64_t unknown = s->incompatible & ~QCOW2_INCOMPAT_KNOWN;

	if (unknown)
		return unknown_incompat_error(s, unknown);
	if (s->header_length > QH_COMPRESSION_TYPE)
		s->compression_type = h[QH_COMPRESSION_TYPE];
	if (s->compression_type > QCOW2_COMPRESSION_ZSTD)
		return HERR(s, -ENOTSUP, "compression_type: unknown type %u",
			    s->compression_type);
	if (!!s->compression_type !=
	    !!(s->incompatible & QCOW2_INCOMPAT_COMPRESSION))
		return HERR(s, -EINVAL, "compression_type: %u does not match "
			    "the %s", s->compression_type,
			    incompat_names[3]);
	if (s->incompatible & QCOW2_INCOMPAT_EXTL2) {
		if (s->cluster_bits < 14)
			return HERR(s, -EINVAL, "incompatible_features: "
				    "extended L2 entries need clusters of at "
				    "least 16 KiB");
		s->l2_entry_size = 16;
		s->subcluster_bits = s->cluster_bits - 5;
	} else {
		s->l2_entry_size = 8;
		s->subcluster_bits = s->cluster_bits;
	}
	s->has_data_file = !!(s->incompatible & QCOW2_INCOMPAT_DATA_FILE);
	if ((s->autoclear & QCOW2_AUTOCLEAR_DATA_FILE_RAW) &&
	    !s->has_data_file)
		return HERR(s, -EINVAL, "autoclear_features: data-file-raw "
			    "without an external data file");
	if ((s->incompatible & QCOW2_INCOMPAT_CORRUPT) &&
	    !s->img->opts.read_only)
		return HERR(s, -EACCES, "incompatible_features: the image is "
			    "marked corrupt; it can only be opened read-only");
	return 0;
}

static int check_tables(struct qcow2 *s, const uint8_t *h)
{
	uint64_t l1_needed;
	int ret;

	s->img->size = get_be64(h + QH_SIZE);
	if (s->img->size > QCOW_MAX_IMAGE_SIZE)
		return HERR(s, -EINVAL, "size: %" PRIu64 " is too large",
			    s->img->size);
	s->l2_bits = s->cluster_bits - (s->l2_entry_size == 16 ? 4 : 3);
	s->l1_size = get_be32(h + QH_L1_SIZE);
	s->l1_offset = get_be64(h + QH_L1_OFFSET);
	l1_needed = div_round_up(s->img->size,
				 1ULL << (s->cluster_bits + s->l2_bits));
	if ((uint64_t)s->l1_size * 8 > QCOW_MAX_L1_SIZE)
		return HERR(s, -EFBIG, "l1_size: %u entries exceed the 32 MiB "
			    "limit", s->l1_size);
	if (s->l1_size < l1_needed)
		return HERR(s, -EINVAL, "l1_size: %u entries cannot map the "
			    "virtual size (needs %" PRIu64 ")", s->l1_size,
			    l1_needed);
	ret = check_table(s, "l1_table_offset", s->l1_offset, s->l1_size, 8);
	if (ret < 0)
		return ret;
	s->rt_offset = get_be64(h + QH_RT_OFFSET);
	s->rt_clusters = get_be32(h + QH_RT_CLUSTERS);
	if ((uint64_t)s->rt_clusters * s->cluster_size > QCOW_MAX_REFTABLE_SIZE)
		return HERR(s, -EFBIG, "refcount_table_clusters: %u exceed the "
			    "8 MiB limit", s->rt_clusters);
	if (!s->rt_clusters)
		return HERR(s, -EINVAL, "refcount_table_clusters: 0");
	ret = check_table(s, "refcount_table_offset", s->rt_offset,
			  s->rt_clusters, s->cluster_size);
	if (ret < 0)
		return ret;
	s->nb_snapshots = get_be32(h + QH_NB_SNAPSHOTS);
	s->snapshots_offset = get_be64(h + QH_SNAPSHOTS_OFFSET);
	if (s->nb_snapshots > QCOW_MAX_SNAPSHOTS)
		return HERR(s, -EINVAL, "nb_snapshots: %u exceeds %u",
			    s->nb_snapshots, QCOW_MAX_SNAPSHOTS);
	return check_table(s, "snapshots_offset", s->snapshots_offset,
			   s->nb_snapshots, QSN_FIXED_SIZE);
}

static int read_backing_name(struct qcow2 *s, const uint8_t *h)
{
	uint32_t size = get_be32(h + QH_BACKING_SIZE);

	s->backing_offset = get_be64(h + QH_BACKING_OFFSET);
	if (!s->backing_offset)
		return 0;
	if (size > QCOW_MAX_BACKING_NAME)
		return HERR(s, -EINVAL, "backing_file_size: %u exceeds %u",
			    size, QCOW_MAX_BACKING_NAME);
	if (s->backing_offset < s->header_length ||
	    s->backing_offset > s->cluster_size ||
	    size > s->cluster_size - s->backing_offset)
		return HERR(s, -EINVAL, "backing_file_offset: %#" PRIx64
			    " is outside the header cluster",
			    s->backing_offset);
	if (!size)
		return 0;
	s->img->backing_name = ext_string(h + s->backing_offset, size);
	if (!s->img->backing_name)
		return -ENOMEM;
	if (strlen(s->img->backing_name) != size)
		return HERR(s, -EINVAL, "backing_file_size: the backing file "
			    "name contains a NUL byte");
	return 0;
}

static int check_crypto(struct qcow2 *s)
{
	if (s->crypt_method > QCOW_CRYPT_LUKS)
		return HERR(s, -EINVAL, "crypt_method: unknown method %u",
			    s->crypt_method);
	if (s->crypt_method == QCOW_CRYPT_LUKS && !s->crypto_offset)
		return HERR(s, -EINVAL, "crypt_method: LUKS without a "
			    "full disk encryption header extension");
	if (s->crypt_method == QCOW_CRYPT_LUKS) {
		int ret = check_table(s, "encryption header", s->crypto_offset,
				      s->crypto_length, 1);

		if (ret < 0)
			return ret;
	}
	return 0;
}

int qcow2_read_header(struct qcow_image *img, struct qcow2 *s)
{
	uint8_t small[QH_V3_MIN_LENGTH] = { 0 };
	uint8_t *h = NULL;
	uint32_t hsize;
	int ret;

	if (img->file->size < QH_V2_LENGTH)
		return HERR(s, -EINVAL, "file is too short for a qcow2 header");
	ret = qfile_pread_sync(img->file, small, sizeof(small), 0);
	if (ret < 0)
		return HERR(s, ret, "cannot read the header: %s",
			    strerror(-ret));
	ret = check_basic_fields(s, small);
	if (ret < 0)
		return ret;
	s->refcount_max = s->refcount_order == 6 ? UINT64_MAX :
		(1ULL << (1u << s->refcount_order)) - 1;
	hsize = s->cluster_size;
	h = calloc(1, hsize);
	if (!h)
		return -ENOMEM;
	ret = qfile_pread_sync(img->file, h, MIN(hsize, img->file->size), 0);
	if (ret < 0) {
		HERR(s, ret, "cannot read the header: %s", strerror(-ret));
		goto out;
	}
	s->crypt_method = get_be32(h + QH_CRYPT_METHOD);
	ret = read_backing_name(s, h);
	if (!ret)
		ret = read_extensions(s, h, hsize);
	/* unknown features win over anything else found wrong */
	if (s->incompatible & ~QCOW2_INCOMPAT_KNOWN)
		ret = unknown_incompat_error(s, s->incompatible &
					     ~QCOW2_INCOMPAT_KNOWN);
	if (!ret)
		ret = check_features(s, h);
	if (!ret)
		ret = check_tables(s, h);
	if (!ret)
		ret = check_crypto(s);
	if (!ret && s->has_data_file && !s->data_file_name &&
	    !img->opts.data_file)
		ret = HERR(s, -EINVAL, "incompatible_features: external data "
			   "file without a data file name");
out:
	if (ret < 0)
		free(h);
	else
		s->hdr_raw = h;
	return ret;
}

void qcow2_header_set_dirty(struct qcow2 *s, bool dirty)
{
	if (dirty)
		s->incompatible |= QCOW2_INCOMPAT_DIRTY;
	else
		s->incompatible &= ~QCOW2_INCOMPAT_DIRTY;
	put_be64(s->hdr_raw + QH_INCOMPAT, s->incompatible);
}

void qcow2_header_set_reftable(struct qcow2 *s)
{
	put_be64(s->hdr_raw + QH_RT_OFFSET, s->rt_offset);
	put_be32(s->hdr_raw + QH_RT_CLUSTERS, s->rt_clusters);
}

void qcow2_header_set_autoclear(struct qcow2 *s, uint64_t autoclear)
{
	s->autoclear = autoclear;
	put_be64(s->hdr_raw + QH_AUTOCLEAR, autoclear);
}

/* The fields we change live in the first sector of the header cluster. */
uint32_t qcow2_header_io_len(const struct qcow2 *s)
{
	return MIN(s->cluster_size, MAX(512u, s->img->file->align));
}

int qcow2_header_write_sync(struct qcow2 *s)
{
	uint32_t len = qcow2_header_io_len(s);
	uint8_t *buf = qalloc_aligned(len);
	int ret;

	if (!buf)
		return -ENOMEM;
	memcpy(buf, s->hdr_raw, len);
	ret = qfile_pwrite_sync(s->img->file, buf, len, 0);
	free(buf);
	return ret < 0 ? ret : qfile_fsync_sync(s->img->file);
}

void qcow2_free_header(struct qcow2 *s)
{
	free(s->hdr_raw);
	s->hdr_raw = NULL;
	struct qcow2_ext *e, *next;

	for (e = s->unknown_exts; e; e = next) {
		next = e->next;
		free(e->data);
		free(e);
	}
	s->unknown_exts = NULL;
	free(s->features);
	s->features = NULL;
	free(s->data_file_name);
	s->data_file_name = NULL;
}
