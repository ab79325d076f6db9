// SPDX-License-Identifier: MIT
/*
 * Creating qcow2 images.  The layout is computed whole and written with
 * plain writes before anyone can open the file: the header cluster, the
 * refcount table, its refcount blocks, the L1 table and, with
 * preallocation, every L2 table and data cluster; an encrypted image's
 * LUKS header goes in clusters after the L1 table, as QEMU puts it.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <unistd.h>
#include "qcow2.h"
#include "layout.h"

#define CERR(path, err, ...) qcow_set_error(err, path, __VA_ARGS__)

struct layout {
	uint32_t cs;
	uint32_t cluster_bits;
	uint32_t refcount_order;
	uint32_t l2_entry_size;
	uint64_t l1_size;
	uint64_t l1_clusters;
	uint64_t l2_tables;		/* preallocated */
	uint64_t data_clusters;		/* preallocated, in this file */
	uint64_t rt_clusters;
	uint64_t rb_count;
	uint64_t rt_off;
	uint64_t rb_off;
	uint64_t l1_off;
	uint64_t crypt_off;		/* the LUKS header, after L1 */
	uint64_t crypt_len;
	uint64_t crypt_clusters;
	uint64_t l2_off;
	uint64_t data_off;
	uint64_t end;			/* clusters in use */
};

static const struct {
	uint8_t type;
	uint8_t bit;
	const char *name;
} feature_names[] = {
	{ 0, 0, "dirty bit" },
	{ 0, 1, "corrupt bit" },
	{ 0, 2, "external data file" },
	{ 0, 3, "compression type" },
	{ 0, 4, "extended L2 entries" },
	{ 1, 0, "lazy refcounts" },
	{ 2, 0, "bitmaps" },
	{ 2, 1, "raw external data" },
};

static int check_opts(const char *path, const struct qcow_create_opts *o,
		      struct layout *l)
{
	uint32_t cs = o->cluster_size ? o->cluster_size : 65536;
	uint32_t rb = o->refcount_bits ? o->refcount_bits : 16;
	int compat = o->compat ? o->compat : 3;

	if (cs < 512 || cs > (2u << 20) || (cs & (cs - 1)))
		return CERR(path, -EINVAL, "cluster_size: must be a power of "
			    "two between 512 and 2M");
	if (rb > 64 || (rb & (rb - 1)))
		return CERR(path, -EINVAL, "refcount_bits: must be a power of "
			    "two up to 64");
	if (o->size % 512)
		return CERR(path, -EINVAL, "size: must be a multiple of 512");
	if (o->size > QCOW_MAX_IMAGE_SIZE / 2)
		return CERR(path, -EFBIG, "size: too large");
	if (compat == 2 && (rb != 16 || o->lazy_refcounts || o->extended_l2 ||
			    o->compression_type || o->data_file))
		return CERR(path, -EINVAL, "compat: 0.10 images support "
			    "neither refcount_bits other than 16, lazy "
			    "refcounts, extended L2, zstd nor data files");
	if (o->extended_l2 && cs < 16384)
		return CERR(path, -EINVAL, "extended_l2: needs a cluster size "
			    "of at least 16k");
	if (o->data_file_raw && !o->data_file)
		return CERR(path, -EINVAL, "data_file_raw: needs data_file");
	if (o->data_file_raw && o->backing_file)
		return CERR(path, -EINVAL, "data_file_raw: cannot be used "
			    "with a backing file");
	if (o->backing_file && strlen(o->backing_file) > QCOW_MAX_BACKING_NAME)
		return CERR(path, -EINVAL, "backing_file: name too long");
	if (o->compression_type < 0 || o->compression_type > 1)
		return CERR(path, -EINVAL, "compression_type: unknown");
	if (o->crypt_method > QCOW_CRYPT_LUKS)
		return CERR(path, -EINVAL, "encrypt.format: unknown");
	if (o->crypt_method && !o->key)
		return CERR(path, -EINVAL, "encrypt.key-secret: an encrypted "
			    "image needs a passphrase");
	if (div_round_up(o->size, (uint64_t)cs * (cs / (o->extended_l2 ? 16 : 8)))
	    * 8 > QCOW_MAX_L1_SIZE)
		return CERR(path, -EFBIG, "size: the L1 table would exceed 32 "
			    "MiB; use a larger cluster size");
	l->cs = cs;
	l->cluster_bits = __builtin_ctz(cs);
	l->refcount_order = __builtin_ctz(rb);
	l->l2_entry_size = o->extended_l2 ? 16 : 8;
	return 0;
}

static void plan(struct layout *l, const struct qcow_create_opts *o)
{
	uint64_t cs = l->cs, l2_entries = cs / l->l2_entry_size;
	uint64_t per_rb = (cs * 8) >> l->refcount_order, fixed;
	/* as QEMU: a raw data file is mapped whole from the start */
	bool prealloc = o->prealloc != QCOW_PREALLOC_OFF || o->data_file_raw;

	l->l1_size = div_round_up(o->size, cs * l2_entries);
	/* like QEMU, an empty disk has no L1 table at all */
	l->l1_clusters = div_round_up(l->l1_size * 8, cs);
	l->l2_tables = prealloc ? l->l1_size : 0;
	l->data_clusters = prealloc && !o->data_file ?
			   div_round_up(o->size, cs) : 0;
	l->crypt_clusters = div_round_up(l->crypt_len, cs);
	fixed = 1 + l->l1_clusters + l->crypt_clusters + l->l2_tables +
		l->data_clusters;
	l->rb_count = 1;
	l->rt_clusters = 1;
	for (;;) {
		uint64_t total = fixed + l->rt_clusters + l->rb_count;
		uint64_t rb = div_round_up(total, per_rb);
		uint64_t rt = div_round_up(rb * 8, cs);

		if (rb <= l->rb_count && rt <= l->rt_clusters)
			break;
		l->rb_count = MAX(rb, l->rb_count);
		l->rt_clusters = MAX(rt, l->rt_clusters);
	}
	l->rt_off = cs;
	l->rb_off = l->rt_off + l->rt_clusters * cs;
	l->l1_off = l->rb_off + l->rb_count * cs;
	l->crypt_off = l->l1_off + l->l1_clusters * cs;
	l->l2_off = l->crypt_off + l->crypt_clusters * cs;
	l->data_off = l->l2_off + l->l2_tables * cs;
	l->end = l->data_off / cs + l->data_clusters;
}

static size_t put_ext(uint8_t *p, uint32_t type, const void *data,
		      uint32_t len)
{
	put_be32(p, type);
	put_be32(p + 4, len);
	memcpy(p + 8, data, len);
	return 8 + ALIGN_UP(len, 8);
}

static int build_header(const char *path, const struct qcow_create_opts *o,
			const struct layout *l, uint8_t *h)
{
	int compat = o->compat ? o->compat : 3;
	uint32_t hlen = compat == 2 ? QH_V2_LENGTH : 112;
	uint64_t incompat = 0, autoclear = 0;
	uint8_t table[ARRAY_SIZE(feature_names) * 48] = { 0 };
	size_t pos = hlen, i;

	put_be32(h + QH_MAGIC, QCOW_MAGIC);
	put_be32(h + QH_VERSION, compat);
	put_be32(h + QH_CLUSTER_BITS, l->cluster_bits);
	put_be64(h + QH_SIZE, o->size);
	put_be32(h + QH_L1_SIZE, (uint32_t)l->l1_size);
	put_be64(h + QH_L1_OFFSET, l->l1_size ? l->l1_off : 0);
	put_be64(h + QH_RT_OFFSET, l->rt_off);
	put_be32(h + QH_RT_CLUSTERS, (uint32_t)l->rt_clusters);
	if (compat >= 3) {
		if (o->data_file)
			incompat |= QCOW2_INCOMPAT_DATA_FILE;
		if (o->compression_type)
			incompat |= QCOW2_INCOMPAT_COMPRESSION;
		if (o->extended_l2)
			incompat |= QCOW2_INCOMPAT_EXTL2;
		if (o->data_file_raw)
			autoclear |= QCOW2_AUTOCLEAR_DATA_FILE_RAW;
		put_be64(h + QH_INCOMPAT, incompat);
		put_be64(h + QH_COMPAT, o->lazy_refcounts ?
			 QCOW2_COMPAT_LAZY_REFCOUNTS : 0);
		put_be64(h + QH_AUTOCLEAR, autoclear);
		put_be32(h + QH_REFCOUNT_ORDER, l->refcount_order);
		put_be32(h + QH_HEADER_LENGTH, hlen);
		h[QH_COMPRESSION_TYPE] = (uint8_t)o->compression_type;
	}
	if (o->backing_format)
		pos += put_ext(h + pos, QEXT_BACKING_FORMAT, o->backing_format,
			       strlen(o->backing_format));
	if (o->data_file)
		pos += put_ext(h + pos, QEXT_DATA_FILE, o->data_file,
			       strlen(o->data_file));
	put_be32(h + QH_CRYPT_METHOD, o->crypt_method);
	if (o->crypt_method == QCOW_CRYPT_LUKS) {
		uint8_t fde[16];

		put_be64(fde, l->crypt_off);
		put_be64(fde + 8, l->crypt_len);
		pos += put_ext(h + pos, QEXT_CRYPTO, fde, sizeof(fde));
	}
	/*
	 * The feature name table is optional: qemu-img 7.2 writes it only with
	 * clusters larger than 4 KiB; left out too when it does not fit.
	 */
	if (compat >= 3 && l->cs > 4096 && pos + 8 + sizeof(table) + 8 +
	    (o->backing_file ? strlen(o->backing_file) : 0) <= l->cs) {
		for (i = 0; i < ARRAY_SIZE(feature_names); i++) {
			table[i * 48] = feature_names[i].type;
			table[i * 48 + 1] = feature_names[i].bit;
			memcpy(table + i * 48 + 2, feature_names[i].name,
			       strlen(feature_names[i].name));
		}
		pos += put_ext(h + pos, QEXT_FEATURE_TABLE, table,
			       sizeof(table));
	}
	pos += 8;	/* end of extensions */
	if (o->backing_file) {
		size_t n = strlen(o->backing_file);

		if (pos + n > l->cs)
			return CERR(path, -EINVAL, "backing_file: name does "
				    "not fit in the header cluster");
		put_be64(h + QH_BACKING_OFFSET, pos);
		put_be32(h + QH_BACKING_SIZE, (uint32_t)n);
		memcpy(h + pos, o->backing_file, n);
	}
	return 0;
}

static void refcount_one(const struct layout *l, uint8_t *blocks, uint64_t c)
{
	uint64_t bit = c << l->refcount_order;
	unsigned int width = 1u << l->refcount_order;

	/* the last bit of the entry: big-endian for widths >= 8 */
	if (width >= 8)
		blocks[(bit + width) / 8 - 1] = 1;
	else
		blocks[bit / 8] |= 1u << (bit % 8);
}

static int write_tables(int fd, const struct qcow_create_opts *o,
			const struct layout *l)
{
	uint64_t cs = l->cs, i, rb_bytes = l->rb_count * cs;
	uint64_t l2_entries = cs / l->l2_entry_size, data_c, n;
	uint8_t *buf, *rt;
	int ret;

	rt = calloc(1, l->rt_clusters * cs);
	buf = calloc(1, MAX(rb_bytes, MAX(l->l1_clusters * cs, cs)));
	if (!rt || !buf) {
		ret = -ENOMEM;
		goto out;
	}
	for (i = 0; i < l->rb_count; i++)
		put_be64(rt + i * 8, l->rb_off + i * cs);
	ret = qfd_pwrite_all(fd, rt, l->rt_clusters * cs, l->rt_off);
	for (i = 0; i < l->end && !ret; i++)
		refcount_one(l, buf, i);
	if (!ret)
		ret = qfd_pwrite_all(fd, buf, rb_bytes, l->rb_off);
	memset(buf, 0, MAX(rb_bytes, l->l1_clusters * cs));
	for (i = 0; i < l->l2_tables; i++)
		put_be64(buf + i * 8, (l->l2_off + i * cs) | QCOW_OFLAG_COPIED);
	/* like QEMU, the file may end right after the L1 entries */
	if (!ret && l->l1_size)
		ret = qfd_pwrite_all(fd, buf, l->l2_tables ?
				     l->l1_clusters * cs : l->l1_size * 8,
				     l->l1_off);
	data_c = 0;
	n = div_round_up(o->size, cs);
	for (i = 0; i < l->l2_tables && !ret; i++) {
		uint64_t j;

		memset(buf, 0, cs);
		for (j = 0; j < l2_entries && data_c < n; j++, data_c++) {
			uint8_t *p = buf + j * l->l2_entry_size;
			uint64_t host = o->data_file ? data_c * cs :
					l->data_off + data_c * cs;

			/* extended L2: no subcluster allocated, as QEMU */
			put_be64(p, host | QCOW_OFLAG_COPIED);
		}
		ret = qfd_pwrite_all(fd, buf, cs, l->l2_off + i * cs);
	}
out:
	free(rt);
	free(buf);
	return ret;
}

static int create_data_file(const char *path, const struct qcow_create_opts *o)
{
	char *name = qcow_path_relative_to(path, o->data_file);
	int fd, ret = 0;

	if (!name)
		return -ENOMEM;
	fd = open(name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		ret = CERR(path, -errno, "cannot create data file '%s': %s",
			   name, strerror(errno));
	else if (o->prealloc != QCOW_PREALLOC_OFF || o->data_file_raw)
		ret = qfd_preallocate(fd, o->prealloc == QCOW_PREALLOC_OFF ?
				      QCOW_PREALLOC_METADATA : o->prealloc,
				      0, o->size);
	if (fd >= 0)
		close(fd);
	free(name);
	return ret;
}

int qcow2_create(const char *path, const struct qcow_create_opts *o)
{
	struct layout l = { 0 };
	uint8_t *h = NULL, *luks = NULL;
	size_t luks_len = 0;
	int fd, ret;

	ret = check_opts(path, o, &l);
	if (ret < 0)
		return ret;
	if (o->crypt_method == QCOW_CRYPT_LUKS) {
		ret = qcow2_luks_create(path, o, &luks, &luks_len);
		if (ret < 0)
			return ret;
		l.crypt_len = luks_len;
	}
	plan(&l, o);
	h = calloc(1, l.cs);
	if (!h)
		return -ENOMEM;
	ret = build_header(path, o, &l, h);
	if (ret < 0)
		goto out;
	if (o->data_file) {
		ret = create_data_file(path, o);
		if (ret < 0)
			goto out;
	}
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		ret = CERR(path, -errno, "cannot create: %s", strerror(errno));
		goto out;
	}
	ret = qfd_pwrite_all(fd, h, l.cs, 0);
	if (!ret)
		ret = write_tables(fd, o, &l);
	if (!ret && luks)
		ret = qfd_pwrite_all(fd, luks, luks_len, l.crypt_off);
	if (!ret && l.data_clusters)
		ret = qfd_preallocate(fd, o->prealloc, l.data_off,
				      l.data_clusters * l.cs);
	if (!ret && fsync(fd) < 0)
		ret = -errno;
	close(fd);
	if (ret < 0)
		CERR(path, ret, "cannot write: %s", strerror(-ret));
out:
	if (luks)
		explicit_bzero(luks, luks_len);
	free(luks);
	free(h);
	return ret;
}
