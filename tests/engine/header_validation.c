// SPDX-License-Identifier: MIT
/*
 * Header validation with hand-made images.
 *
 * A small generator below writes valid qcow2 (v2 and v3) and legacy qcow
 * images byte by byte, from the specification and independently of the
 * engine's own layout constants.  The core cases need nothing else; cases
 * that compare the generator with QEMU are skipped without qemu-img.
 *
 * Every bad image must fail qcow_open() with a negative errno and a one
 * line qcow_strerror() text that holds the image path and names the field;
 * every image, good or bad, must be byte-identical afterwards.  Bad tables
 * met at read time must fail that read with EIO and nothing else.
 */
#include <errno.h>
#include <inttypes.h>
#include <zlib.h>
#include "qcow.h"
#include "testlib.h"

/* ---- on-disk layout, from docs/interop/qcow2.txt ---- */

#define MAGIC			0x514649fbu
#define H_MAGIC			0
#define H_VERSION		4
#define H_BACKING_OFFSET	8
#define H_BACKING_SIZE		16
#define H_CLUSTER_BITS		20
#define H_SIZE			24
#define H_CRYPT			32
#define H_L1_SIZE		36
#define H_L1_OFFSET		40
#define H_RT_OFFSET		48
#define H_RT_CLUSTERS		56
#define H_NB_SNAPSHOTS		60
#define H_SNAPSHOTS_OFFSET	64
#define H_INCOMPAT		72
#define H_COMPAT		80
#define H_AUTOCLEAR		88
#define H_REFCOUNT_ORDER	96
#define H_HEADER_LENGTH		100
#define H_COMPRESSION		104
#define V3_HEADER_LENGTH	112

#define INCOMPAT_DIRTY		(1ULL << 0)
#define INCOMPAT_CORRUPT	(1ULL << 1)
#define INCOMPAT_DATA_FILE	(1ULL << 2)
#define INCOMPAT_COMPRESSION	(1ULL << 3)
#define INCOMPAT_EXTL2		(1ULL << 4)
#define COMPAT_LAZY		(1ULL << 0)
#define AUTOCLEAR_BITMAPS	(1ULL << 0)
#define AUTOCLEAR_RAW		(1ULL << 1)

#define EXT_BACKING_FORMAT	0xe2792acau
#define EXT_FEATURE_TABLE	0x6803f857u
#define EXT_BITMAPS		0x23852875u
#define EXT_CRYPTO		0x0537be77u
#define EXT_DATA_FILE		0x44415441u

#define OFLAG_COPIED		(1ULL << 63)
#define OFLAG_COMPRESSED	(1ULL << 62)
#define OFLAG_ZERO		1ULL

/* snapshot table entry */
#define SN_L1_OFFSET		0
#define SN_L1_SIZE		8
#define SN_ID_SIZE		12
#define SN_NAME_SIZE		14
#define SN_DATE_SEC		16
#define SN_DATE_NSEC		20
#define SN_VM_CLOCK		24
#define SN_VM_STATE		32
#define SN_EXTRA_SIZE		36
#define SN_FIXED		40

/* legacy qcow (version 1) header */
#define Q1_BACKING_OFFSET	8
#define Q1_BACKING_SIZE		16
#define Q1_SIZE			24
#define Q1_CLUSTER_BITS		32
#define Q1_L2_BITS		33
#define Q1_CRYPT		36
#define Q1_L1_OFFSET		40
#define Q1_HEADER		48

#define KiB			1024ULL
#define MiB			(1024ULL * 1024)
#define GiB			(1024ULL * MiB)

static uint64_t div_up(uint64_t n, uint64_t d)
{
	return n / d + (n % d != 0);
}

/* ---- image buffers ---- */

struct img {
	uint8_t *b;
	size_t len;
};

static void im_free(struct img *im)
{
	free(im->b);
	im->b = NULL;
	im->len = 0;
}

static void im_resize(struct img *im, size_t len)
{
	uint8_t *b = realloc(im->b, len ? len : 1);

	if (!b) {
		fprintf(stderr, "out of memory\n");
		exit(1);
	}
	if (len > im->len)
		memset(b + im->len, 0, len - im->len);
	im->b = b;
	im->len = len;
}

static struct img im_copy(const struct img *src)
{
	struct img im = { NULL, 0 };

	im_resize(&im, src->len);
	memcpy(im.b, src->b, src->len);
	return im;
}

static void im_check(const struct img *im, uint64_t off, unsigned int w)
{
	if (off > im->len || w > im->len - off) {
		fprintf(stderr, "test bug: write of %u bytes at %" PRIu64
			" past the %zu-byte image\n", w, off, im->len);
		abort();
	}
}

static void w8(struct img *im, uint64_t off, uint8_t v)
{
	im_check(im, off, 1);
	im->b[off] = v;
}

static void w16(struct img *im, uint64_t off, uint16_t v)
{
	im_check(im, off, 2);
	tl_put_be16(im->b + off, v);
}

static void w32(struct img *im, uint64_t off, uint32_t v)
{
	im_check(im, off, 4);
	tl_put_be32(im->b + off, v);
}

static void w64(struct img *im, uint64_t off, uint64_t v)
{
	im_check(im, off, 8);
	tl_put_be64(im->b + off, v);
}

static void wbytes(struct img *im, uint64_t off, const void *p, size_t n)
{
	im_check(im, off, (unsigned int)n);
	memcpy(im->b + off, p, n);
}

static uint32_t r32(const struct img *im, uint64_t off)
{
	return tl_get_be32(im->b + off);
}

static uint64_t r64(const struct img *im, uint64_t off)
{
	return tl_get_be64(im->b + off);
}

/* A value of w bytes (1, 2, 4 or 8) at off. */
static void poke(struct img *im, uint64_t off, unsigned int w, uint64_t v)
{
	switch (w) {
	case 1:
		w8(im, off, (uint8_t)v);
		break;
	case 2:
		w16(im, off, (uint16_t)v);
		break;
	case 4:
		w32(im, off, (uint32_t)v);
		break;
	default:
		w64(im, off, v);
		break;
	}
}

/* ---- the qcow2 generator ---- */

static unsigned int im_cluster_bits(const struct img *im)
{
	return r32(im, H_CLUSTER_BITS);
}

static unsigned int im_refcount_order(const struct img *im)
{
	return r32(im, H_VERSION) >= 3 ? r32(im, H_REFCOUNT_ORDER) : 4;
}

/* Refcount of cluster idx in the one refcount block (reftable[0]). */
static void set_refcount(struct img *im, uint64_t idx, uint64_t val)
{
	uint64_t rb = r64(im, r64(im, H_RT_OFFSET));
	unsigned int order = im_refcount_order(im);
	unsigned int bits = 1u << order;
	uint64_t byte;
	unsigned int shift;

	if (order >= 3) {
		poke(im, rb + idx * (bits / 8), bits / 8, val);
		return;
	}
	/* sub-byte entries: the first entry in the low bits of a byte */
	byte = rb + idx * bits / 8;
	shift = (unsigned int)(idx * bits % 8);
	im->b[byte] &= (uint8_t)~(((1u << bits) - 1) << shift);
	im->b[byte] |= (uint8_t)((val & ((1u << bits) - 1)) << shift);
}

/*
 * A valid empty image: header in cluster 0 (header_length 112 for v3),
 * refcount table at cluster 1, its one refcount block at cluster 2, the
 * L1 table at cluster 3.  The file is exactly four clusters.
 */
static void gen_qcow2_order(struct img *im, unsigned int version,
			    unsigned int cb, uint64_t size, bool extl2,
			    unsigned int refcount_order)
{
	uint64_t cs = 1ULL << cb;
	unsigned int esize = extl2 ? 16 : 8;
	uint64_t l1_size = div_up(size, cs / esize * cs);
	unsigned int i;

	im_free(im);
	im_resize(im, 4 * cs);
	w32(im, H_MAGIC, MAGIC);
	w32(im, H_VERSION, version);
	w32(im, H_CLUSTER_BITS, cb);
	w64(im, H_SIZE, size);
	w32(im, H_L1_SIZE, (uint32_t)l1_size);
	w64(im, H_L1_OFFSET, 3 * cs);
	w64(im, H_RT_OFFSET, cs);
	w32(im, H_RT_CLUSTERS, 1);
	if (version >= 3) {
		w64(im, H_INCOMPAT, extl2 ? INCOMPAT_EXTL2 : 0);
		w32(im, H_REFCOUNT_ORDER, refcount_order);
		w32(im, H_HEADER_LENGTH, V3_HEADER_LENGTH);
	}
	w64(im, cs, 2 * cs);
	for (i = 0; i < 4; i++)
		set_refcount(im, i, 1);
}

static void gen_qcow2(struct img *im, unsigned int version, unsigned int cb,
		      uint64_t size, bool extl2)
{
	gen_qcow2_order(im, version, cb, size, extl2, 4);
}

/* Appends a zeroed cluster with refcount 1; returns its offset. */
static uint64_t im_alloc(struct img *im)
{
	unsigned int cb = im_cluster_bits(im);
	uint64_t off = im->len;

	im_resize(im, im->len + (1ULL << cb));
	set_refcount(im, off >> cb, 1);
	return off;
}

/* One header extension at off; returns where the next one starts. */
static uint64_t put_ext(struct img *im, uint64_t off, uint32_t type,
			const void *data, uint32_t len)
{
	w32(im, off, type);
	w32(im, off + 4, len);
	if (len && data)
		wbytes(im, off + 8, data, len);
	return off + 8 + ((len + 7ULL) & ~7ULL);
}

/* A feature name table entry (48 bytes) at p. */
static void feature_entry(uint8_t *p, uint8_t type, uint8_t bit,
			  const char *name)
{
	memset(p, 0, 48);
	p[0] = type;
	p[1] = bit;
	memcpy(p + 2, name, strnlen(name, 46));
}

/* ---- the legacy qcow generator ---- */

static void gen_qcow1(struct img *im, unsigned int cb, unsigned int l2b,
		      uint64_t size)
{
	uint64_t l1 = div_up(size, 1ULL << (cb + l2b));

	im_free(im);
	/* like qemu-img: the L1 table after the header, in 512-byte units */
	im_resize(im, Q1_HEADER + ((l1 * 8 + 511) & ~511ULL));
	w32(im, H_MAGIC, MAGIC);
	w32(im, H_VERSION, 1);
	w64(im, Q1_SIZE, size);
	w8(im, Q1_CLUSTER_BITS, (uint8_t)cb);
	w8(im, Q1_L2_BITS, (uint8_t)l2b);
	w64(im, Q1_L1_OFFSET, Q1_HEADER);
}

/* ---- running cases ---- */

static const char *case_path(const char *name)
{
	static char path[512];
	char file[256];

	snprintf(file, sizeof(file), "%s.img", name);
	return tl_path(path, sizeof(path), file);
}

static void remove_case_file(const char *path)
{
	const char *keep = getenv("KEEP_TMP");

	if (!(keep && keep[0] == '1'))
		unlink(path);
}

static struct qcow_open_opts ro_opts(enum qcow_format fmt)
{
	struct qcow_open_opts o;

	memset(&o, 0, sizeof(o));
	o.format = fmt;
	o.read_only = true;
	o.no_backing = true;
	return o;
}

/* Does msg contain one of the '|'-separated alternatives? */
static bool msg_has(const char *msg, const char *alts)
{
	char buf[256], *tok, *save = NULL;

	snprintf(buf, sizeof(buf), "%s", alts);
	for (tok = strtok_r(buf, "|", &save); tok;
	     tok = strtok_r(NULL, "|", &save))
		if (strstr(msg, tok))
			return true;
	return false;
}

/* The error text: non-empty, one line, holds the path and every need. */
static bool check_msg(const char *msg, const char *path,
		      const char *const *need, char *why, size_t n)
{
	const char *rest;
	unsigned int i;

	if (!msg[0] || !strcmp(msg, "no error")) {
		snprintf(why, n, "no error text (\"%s\")", msg);
		return false;
	}
	if (strchr(msg, '\n') || strchr(msg, '\r')) {
		snprintf(why, n, "error text is not one line: \"%s\"", msg);
		return false;
	}
	rest = strstr(msg, path);
	if (!rest) {
		snprintf(why, n, "error text lacks the path: \"%s\"", msg);
		return false;
	}
	/* the field names must be in the text, not in the path */
	rest += strlen(path);
	for (i = 0; need && need[i]; i++) {
		if (!msg_has(rest, need[i])) {
			snprintf(why, n, "error text does not name '%s': "
				 "\"%s\"", need[i], msg);
			return false;
		}
	}
	return true;
}

/*
 * Writes the image, opens it with o: the open must fail (with err if not
 * 0) and the error text must name every need; the file must not change.
 */
static void expect_fail(const char *name, const struct img *im,
			const struct qcow_open_opts *o, int err,
			const char *const *need)
{
	struct qcow_image *img = NULL;
	char path[512], msg[600], why[900];
	int ret;

	tl_begin("%s", name);
	snprintf(path, sizeof(path), "%s", case_path(name));
	ret = tl_write_file(path, im->b, im->len);
	if (ret < 0) {
		tl_fail("cannot write %s: %s", path, strerror(-ret));
		return;
	}
	ret = qcow_open(&img, path, o);
	if (ret >= 0) {
		qcow_close(img);
		tl_fail("opened (returned %d); expected a failure naming '%s'",
			ret, need && need[0] ? need[0] : "?");
		return;
	}
	snprintf(msg, sizeof(msg), "%s", qcow_strerror());
	if (err && ret != err) {
		tl_fail("returned %d (%s), expected %d (%s); text \"%s\"", ret,
			strerror(-ret), err, strerror(-err), msg);
		return;
	}
	if (!check_msg(msg, path, need, why, sizeof(why))) {
		tl_fail("%s", why);
		return;
	}
	if (!tl_file_equals(path, im->b, im->len, why, sizeof(why))) {
		tl_fail("%s", why);
		return;
	}
	remove_case_file(path);
	tl_pass();
}

#define NEED(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* Reads [off, off+len) and checks it is all byte c. */
static bool read_fill(struct qcow_image *img, uint64_t off, uint64_t len,
		      int c, char *why, size_t n)
{
	uint8_t *buf = malloc(len ? len : 1);
	uint64_t i;
	int ret;

	if (!buf) {
		snprintf(why, n, "out of memory");
		return false;
	}
	memset(buf, c ^ 0xff, len);
	ret = qcow_pread(img, buf, len, off);
	if (ret < 0) {
		snprintf(why, n, "read of %" PRIu64 " bytes at %#" PRIx64
			 " failed: %s", len, off, strerror(-ret));
		free(buf);
		return false;
	}
	for (i = 0; i < len; i++) {
		if (buf[i] != (uint8_t)c) {
			snprintf(why, n, "byte %#" PRIx64 " reads %#x, "
				 "expected %#x", off + i, buf[i], c & 0xff);
			free(buf);
			return false;
		}
	}
	free(buf);
	return true;
}

typedef bool (*open_check)(struct qcow_image *img, char *why, size_t n);

/*
 * Writes the image and opens it with o: it must open with the virtual
 * size from the header, read zeros at its start and end (when zeros is
 * set), pass check() and leave the file unchanged.
 */
static void expect_open(const char *name, const struct img *im,
			const struct qcow_open_opts *o, bool zeros,
			open_check check)
{
	struct qcow_image *img = NULL;
	char path[512], why[900];
	uint64_t size;
	int ret;
	bool ok = true;

	tl_begin("%s", name);
	snprintf(path, sizeof(path), "%s", case_path(name));
	ret = tl_write_file(path, im->b, im->len);
	if (ret < 0) {
		tl_fail("cannot write %s: %s", path, strerror(-ret));
		return;
	}
	ret = qcow_open(&img, path, o);
	if (ret < 0) {
		tl_fail("open failed: %s (%s)", strerror(-ret),
			qcow_strerror());
		return;
	}
	size = qcow_size(img);
	if (r32(im, H_MAGIC) == MAGIC && size != r64(im, H_SIZE)) {
		snprintf(why, sizeof(why), "size %" PRIu64 ", header says %"
			 PRIu64, size, r64(im, H_SIZE));
		ok = false;
	}
	if (ok && zeros && size)
		ok = read_fill(img, 0, size < MiB ? size : MiB, 0, why,
			       sizeof(why)) &&
		     read_fill(img, size - (size < 64 * KiB ? size : 64 * KiB),
			       size < 64 * KiB ? size : 64 * KiB, 0, why,
			       sizeof(why));
	if (ok && check)
		ok = check(img, why, sizeof(why));
	qcow_close(img);
	if (ok)
		ok = tl_file_equals(path, im->b, im->len, why, sizeof(why));
	if (!ok) {
		tl_fail("%s", why);
		return;
	}
	remove_case_file(path);
	tl_pass();
}

/* ---- table-driven header cases ---- */

struct poke_spec {
	uint16_t off;
	uint8_t w;
	uint64_t v;
};

struct hcase {
	const char *name;
	struct poke_spec p[4];
	const char *need[4];	/* NULL-terminated */
	int err;
	enum qcow_format fmt;
};

#define P(o, w, v) { (o), (w), (v) }
#define Q2 QCOW_FMT_QCOW2

static const struct hcase v3_cases[] = {
	/* magic: with probing a bad magic is a raw image, so force qcow2 */
	{ .name = "magic_zero", .p = { P(H_MAGIC, 4, 0) },
	  .need = { "magic" }, .fmt = Q2 },
	{ .name = "magic_byte_swapped", .p = { P(H_MAGIC, 4, 0xfb494651) },
	  .need = { "magic" }, .fmt = Q2 },
	{ .name = "magic_one_bit", .p = { P(H_MAGIC, 4, MAGIC ^ 1) },
	  .need = { "magic" }, .fmt = Q2 },
	{ .name = "magic_v1_header_forced_qcow2",
	  .p = { P(H_VERSION, 4, 1) }, .need = { "version" },
	  .err = -ENOTSUP, .fmt = Q2 },

	{ .name = "version_0", .p = { P(H_VERSION, 4, 0) },
	  .need = { "version" }, .err = -ENOTSUP },
	{ .name = "version_4", .p = { P(H_VERSION, 4, 4) },
	  .need = { "version" }, .err = -ENOTSUP },
	{ .name = "version_max", .p = { P(H_VERSION, 4, 0xffffffff) },
	  .need = { "version" }, .err = -ENOTSUP },

	{ .name = "cluster_bits_0", .p = { P(H_CLUSTER_BITS, 4, 0) },
	  .need = { "cluster_bits" } },
	{ .name = "cluster_bits_8", .p = { P(H_CLUSTER_BITS, 4, 8) },
	  .need = { "cluster_bits" } },
	{ .name = "cluster_bits_22", .p = { P(H_CLUSTER_BITS, 4, 22) },
	  .need = { "cluster_bits" } },
	{ .name = "cluster_bits_31", .p = { P(H_CLUSTER_BITS, 4, 31) },
	  .need = { "cluster_bits" } },
	{ .name = "cluster_bits_32", .p = { P(H_CLUSTER_BITS, 4, 32) },
	  .need = { "cluster_bits" } },
	{ .name = "cluster_bits_64", .p = { P(H_CLUSTER_BITS, 4, 64) },
	  .need = { "cluster_bits" } },
	{ .name = "cluster_bits_max",
	  .p = { P(H_CLUSTER_BITS, 4, 0xffffffff) },
	  .need = { "cluster_bits" } },

	{ .name = "size_2p62_plus_1", .p = { P(H_SIZE, 8, (1ULL << 62) + 1) },
	  .need = { "size" } },
	{ .name = "size_2p63", .p = { P(H_SIZE, 8, 1ULL << 63) },
	  .need = { "size" } },
	{ .name = "size_max", .p = { P(H_SIZE, 8, UINT64_MAX) },
	  .need = { "size" } },
	{ .name = "size_needs_bigger_l1", .p = { P(H_SIZE, 8, 1 * GiB) },
	  .need = { "l1_size" } },
	{ .name = "size_2p62_l1_too_small", .p = { P(H_SIZE, 8, 1ULL << 62) },
	  .need = { "l1_size" } },

	{ .name = "crypt_method_3", .p = { P(H_CRYPT, 4, 3) },
	  .need = { "crypt_method" } },
	{ .name = "crypt_method_max", .p = { P(H_CRYPT, 4, 0xffffffff) },
	  .need = { "crypt_method" } },
	{ .name = "crypt_method_luks_without_extension",
	  .p = { P(H_CRYPT, 4, 2) }, .need = { "crypt_method" } },
	{ .name = "crypt_method_aes_without_key", .p = { P(H_CRYPT, 4, 1) },
	  .need = { "encrypt.key-secret" }, .err = -EACCES },

	{ .name = "l1_size_0", .p = { P(H_L1_SIZE, 4, 0) },
	  .need = { "l1_size" } },
	{ .name = "l1_size_over_32mib", .p = { P(H_L1_SIZE, 4, 4194305) },
	  .need = { "l1_size" }, .err = -EFBIG },
	{ .name = "l1_size_max", .p = { P(H_L1_SIZE, 4, 0xffffffff) },
	  .need = { "l1_size" }, .err = -EFBIG },
	{ .name = "l1_size_table_past_eof", .p = { P(H_L1_SIZE, 4, 8193) },
	  .need = { "l1_table_offset|l1_size", "end of the file" } },

	{ .name = "l1_table_offset_unaligned_8",
	  .p = { P(H_L1_OFFSET, 8, 0x30008) },
	  .need = { "l1_table_offset", "aligned" } },
	{ .name = "l1_table_offset_unaligned_512",
	  .p = { P(H_L1_OFFSET, 8, 0x30200) },
	  .need = { "l1_table_offset", "aligned" } },
	{ .name = "l1_table_offset_zero", .p = { P(H_L1_OFFSET, 8, 0) },
	  .need = { "l1_table_offset", "header" } },
	{ .name = "l1_table_offset_at_eof",
	  .p = { P(H_L1_OFFSET, 8, 0x40000) },
	  .need = { "l1_table_offset", "end of the file" } },
	{ .name = "l1_table_offset_past_eof",
	  .p = { P(H_L1_OFFSET, 8, 0x100000) },
	  .need = { "l1_table_offset", "end of the file" } },
	{ .name = "l1_table_offset_2p62",
	  .p = { P(H_L1_OFFSET, 8, 1ULL << 62) },
	  .need = { "l1_table_offset" } },
	{ .name = "l1_table_offset_2p63",
	  .p = { P(H_L1_OFFSET, 8, 1ULL << 63) },
	  .need = { "l1_table_offset" } },
	{ .name = "l1_table_offset_max_aligned",
	  .p = { P(H_L1_OFFSET, 8, 0xffffffffffff0000ULL) },
	  .need = { "l1_table_offset" } },
	{ .name = "l1_table_offset_max",
	  .p = { P(H_L1_OFFSET, 8, UINT64_MAX) },
	  .need = { "l1_table_offset" } },
	/* QEMU checks the alignment of an empty table too */
	{ .name = "l1_table_offset_unaligned_empty_table",
	  .p = { P(H_SIZE, 8, 0), P(H_L1_SIZE, 4, 0),
		 P(H_L1_OFFSET, 8, 0x30008) },
	  .need = { "l1_table_offset" } },

	{ .name = "refcount_table_offset_unaligned_8",
	  .p = { P(H_RT_OFFSET, 8, 0x10008) },
	  .need = { "refcount_table_offset", "aligned" } },
	{ .name = "refcount_table_offset_unaligned_512",
	  .p = { P(H_RT_OFFSET, 8, 0x10200) },
	  .need = { "refcount_table_offset", "aligned" } },
	{ .name = "refcount_table_offset_zero", .p = { P(H_RT_OFFSET, 8, 0) },
	  .need = { "refcount_table_offset", "header" } },
	{ .name = "refcount_table_offset_at_eof",
	  .p = { P(H_RT_OFFSET, 8, 0x40000) },
	  .need = { "refcount_table_offset", "end of the file" } },
	{ .name = "refcount_table_offset_past_eof",
	  .p = { P(H_RT_OFFSET, 8, 0x1000000) },
	  .need = { "refcount_table_offset", "end of the file" } },
	{ .name = "refcount_table_offset_2p63",
	  .p = { P(H_RT_OFFSET, 8, 1ULL << 63) },
	  .need = { "refcount_table_offset" } },
	{ .name = "refcount_table_offset_max_aligned",
	  .p = { P(H_RT_OFFSET, 8, 0xffffffffffff0000ULL) },
	  .need = { "refcount_table_offset" } },

	{ .name = "refcount_table_clusters_0", .p = { P(H_RT_CLUSTERS, 4, 0) },
	  .need = { "refcount_table_clusters" } },
	{ .name = "refcount_table_clusters_over_8mib",
	  .p = { P(H_RT_CLUSTERS, 4, 129) },
	  .need = { "refcount_table_clusters" }, .err = -EFBIG },
	{ .name = "refcount_table_clusters_max",
	  .p = { P(H_RT_CLUSTERS, 4, 0xffffffff) },
	  .need = { "refcount_table_clusters" }, .err = -EFBIG },
	{ .name = "refcount_table_clusters_past_eof",
	  .p = { P(H_RT_CLUSTERS, 4, 4) },
	  .need = { "refcount_table_offset|refcount_table_clusters",
		    "end of the file" } },

	{ .name = "refcount_order_7", .p = { P(H_REFCOUNT_ORDER, 4, 7) },
	  .need = { "refcount_order" } },
	{ .name = "refcount_order_8", .p = { P(H_REFCOUNT_ORDER, 4, 8) },
	  .need = { "refcount_order" } },
	{ .name = "refcount_order_64", .p = { P(H_REFCOUNT_ORDER, 4, 64) },
	  .need = { "refcount_order" } },
	{ .name = "refcount_order_max",
	  .p = { P(H_REFCOUNT_ORDER, 4, 0xffffffff) },
	  .need = { "refcount_order" } },

	{ .name = "header_length_0", .p = { P(H_HEADER_LENGTH, 4, 0) },
	  .need = { "header_length" } },
	{ .name = "header_length_8", .p = { P(H_HEADER_LENGTH, 4, 8) },
	  .need = { "header_length" } },
	{ .name = "header_length_72", .p = { P(H_HEADER_LENGTH, 4, 72) },
	  .need = { "header_length" } },
	{ .name = "header_length_100", .p = { P(H_HEADER_LENGTH, 4, 100) },
	  .need = { "header_length" } },
	{ .name = "header_length_103", .p = { P(H_HEADER_LENGTH, 4, 103) },
	  .need = { "header_length" } },
	{ .name = "header_length_108", .p = { P(H_HEADER_LENGTH, 4, 108) },
	  .need = { "header_length" } },
	{ .name = "header_length_116", .p = { P(H_HEADER_LENGTH, 4, 116) },
	  .need = { "header_length" } },
	{ .name = "header_length_cluster_plus_1",
	  .p = { P(H_HEADER_LENGTH, 4, 65537) },
	  .need = { "header_length" } },
	{ .name = "header_length_cluster_plus_8",
	  .p = { P(H_HEADER_LENGTH, 4, 65544) },
	  .need = { "header_length" } },
	{ .name = "header_length_max",
	  .p = { P(H_HEADER_LENGTH, 4, 0xffffffff) },
	  .need = { "header_length" } },

	{ .name = "nb_snapshots_65537",
	  .p = { P(H_NB_SNAPSHOTS, 4, 65537), P(H_SNAPSHOTS_OFFSET, 8,
						0x30000) },
	  .need = { "nb_snapshots" } },
	{ .name = "nb_snapshots_max",
	  .p = { P(H_NB_SNAPSHOTS, 4, 0xffffffff),
		 P(H_SNAPSHOTS_OFFSET, 8, 0x30000) },
	  .need = { "nb_snapshots" } },
	{ .name = "snapshots_offset_zero",
	  .p = { P(H_NB_SNAPSHOTS, 4, 1), P(H_SNAPSHOTS_OFFSET, 8, 0) },
	  .need = { "snapshots_offset", "header" } },
	{ .name = "snapshots_offset_unaligned",
	  .p = { P(H_NB_SNAPSHOTS, 4, 1),
		 P(H_SNAPSHOTS_OFFSET, 8, 0x30008) },
	  .need = { "snapshots_offset", "aligned" } },
	{ .name = "snapshots_offset_at_eof",
	  .p = { P(H_NB_SNAPSHOTS, 4, 1),
		 P(H_SNAPSHOTS_OFFSET, 8, 0x40000) },
	  .need = { "snapshots_offset", "end of the file" } },
	{ .name = "snapshots_offset_max_aligned",
	  .p = { P(H_NB_SNAPSHOTS, 4, 1),
		 P(H_SNAPSHOTS_OFFSET, 8, 0xffffffffffff0000ULL) },
	  .need = { "snapshots_offset" } },
	{ .name = "snapshots_table_past_eof",
	  .p = { P(H_NB_SNAPSHOTS, 4, 1639),
		 P(H_SNAPSHOTS_OFFSET, 8, 0x30000) },
	  .need = { "snapshots_offset|nb_snapshots", "end of the file" } },
	/* QEMU checks the offset of an empty table too */
	{ .name = "snapshots_offset_unaligned_empty_table",
	  .p = { P(H_SNAPSHOTS_OFFSET, 8, 0x123) },
	  .need = { "snapshots_offset" } },
	{ .name = "snapshots_offset_above_int64_max_empty_table",
	  .p = { P(H_SNAPSHOTS_OFFSET, 8, 0xffffffffffff0000ULL) },
	  .need = { "snapshots_offset" } },

	{ .name = "backing_file_offset_in_header",
	  .p = { P(H_BACKING_OFFSET, 8, 8), P(H_BACKING_SIZE, 4, 4) },
	  .need = { "backing_file_offset" } },
	{ .name = "backing_file_offset_in_v3_fields",
	  .p = { P(H_BACKING_OFFSET, 8, 100), P(H_BACKING_SIZE, 4, 4) },
	  .need = { "backing_file_offset" } },
	{ .name = "backing_file_offset_past_cluster",
	  .p = { P(H_BACKING_OFFSET, 8, 0x10000), P(H_BACKING_SIZE, 4, 1) },
	  .need = { "backing_file_offset" } },
	{ .name = "backing_file_name_crosses_cluster",
	  .p = { P(H_BACKING_OFFSET, 8, 0xffff), P(H_BACKING_SIZE, 4, 2) },
	  .need = { "backing_file_offset|backing_file_size" } },
	{ .name = "backing_file_offset_beyond_cluster_size_0",
	  .p = { P(H_BACKING_OFFSET, 8, 0x20000), P(H_BACKING_SIZE, 4, 0) },
	  .need = { "backing_file_offset" } },
	{ .name = "backing_file_offset_wraps_around",
	  .p = { P(H_BACKING_OFFSET, 8, 0xfffffffffffffff0ULL),
		 P(H_BACKING_SIZE, 4, 32) },
	  .need = { "backing_file_offset" } },
	{ .name = "backing_file_offset_2p63",
	  .p = { P(H_BACKING_OFFSET, 8, 1ULL << 63),
		 P(H_BACKING_SIZE, 4, 1) },
	  .need = { "backing_file_offset" } },
	{ .name = "backing_file_size_1024",
	  .p = { P(H_BACKING_OFFSET, 8, 512), P(H_BACKING_SIZE, 4, 1024) },
	  .need = { "backing_file_size" } },
	/* the name at 512 is all NUL bytes */
	{ .name = "backing_file_name_with_nul",
	  .p = { P(H_BACKING_OFFSET, 8, 512), P(H_BACKING_SIZE, 4, 8),
		 P(512, 4, 0x61620063) },
	  .need = { "backing_file_size|backing_file_offset" } },
	{ .name = "backing_file_size_65535",
	  .p = { P(H_BACKING_OFFSET, 8, 512), P(H_BACKING_SIZE, 4, 65535) },
	  .need = { "backing_file_size" } },
	{ .name = "backing_file_size_max",
	  .p = { P(H_BACKING_OFFSET, 8, 512),
		 P(H_BACKING_SIZE, 4, 0xffffffff) },
	  .need = { "backing_file_size" } },

	{ .name = "incompatible_bit_5", .p = { P(H_INCOMPAT, 8, 1ULL << 5) },
	  .need = { "incompatible_features", "bit 5" }, .err = -ENOTSUP },
	{ .name = "incompatible_bit_31",
	  .p = { P(H_INCOMPAT, 8, 1ULL << 31) },
	  .need = { "incompatible_features", "bit 31" }, .err = -ENOTSUP },
	{ .name = "incompatible_bit_63",
	  .p = { P(H_INCOMPAT, 8, 1ULL << 63) },
	  .need = { "incompatible_features", "bit 63" }, .err = -ENOTSUP },
	{ .name = "incompatible_bits_5_and_40",
	  .p = { P(H_INCOMPAT, 8, 1ULL << 5 | 1ULL << 40) },
	  .need = { "incompatible_features", "bit 5", "bit 40" },
	  .err = -ENOTSUP },
	{ .name = "incompatible_all_unknown_bits",
	  .p = { P(H_INCOMPAT, 8, ~0x1fULL) },
	  .need = { "incompatible_features", "bit 5" }, .err = -ENOTSUP },
	{ .name = "incompatible_unknown_bit_wins_over_bad_fields",
	  .p = { P(H_INCOMPAT, 8, 1ULL << 7), P(H_L1_OFFSET, 8, 0x30008),
		 P(H_CRYPT, 4, 9) },
	  .need = { "incompatible_features", "bit 7" }, .err = -ENOTSUP },

	{ .name = "compression_type_2",
	  .p = { P(H_INCOMPAT, 8, INCOMPAT_COMPRESSION),
		 P(H_COMPRESSION, 1, 2) },
	  .need = { "compression_type" } },
	{ .name = "compression_type_255",
	  .p = { P(H_INCOMPAT, 8, INCOMPAT_COMPRESSION),
		 P(H_COMPRESSION, 1, 255) },
	  .need = { "compression_type" } },
	{ .name = "compression_type_zstd_without_bit",
	  .p = { P(H_COMPRESSION, 1, 1) },
	  .need = { "compression_type" } },
	{ .name = "compression_bit_with_zlib",
	  .p = { P(H_INCOMPAT, 8, INCOMPAT_COMPRESSION) },
	  .need = { "compression_type" } },
	{ .name = "compression_bit_header_too_short_for_type",
	  .p = { P(H_INCOMPAT, 8, INCOMPAT_COMPRESSION),
		 P(H_HEADER_LENGTH, 4, 104), P(H_COMPRESSION, 1, 1) },
	  .need = { "compression_type" } },

	{ .name = "extended_l2_cluster_bits_13",
	  .p = { P(H_CLUSTER_BITS, 4, 13),
		 P(H_INCOMPAT, 8, INCOMPAT_EXTL2) },
	  .need = { "incompatible_features|cluster_bits", "extended L2" } },
	{ .name = "extended_l2_cluster_bits_9",
	  .p = { P(H_CLUSTER_BITS, 4, 9), P(H_INCOMPAT, 8, INCOMPAT_EXTL2) },
	  .need = { "incompatible_features|cluster_bits", "extended L2" } },

	{ .name = "data_file_bit_without_name",
	  .p = { P(H_INCOMPAT, 8, INCOMPAT_DATA_FILE) },
	  .need = { "incompatible_features", "data file" } },
	{ .name = "data_file_raw_without_data_file",
	  .p = { P(H_AUTOCLEAR, 8, AUTOCLEAR_RAW) },
	  .need = { "autoclear_features", "data-file-raw" } },
};

/* The same header cases where they apply to version 2 images. */
static const struct hcase v2_cases[] = {
	{ .name = "v2_version_forced_1", .p = { P(H_VERSION, 4, 1) },
	  .need = { "version" }, .fmt = Q2 },
	{ .name = "v2_cluster_bits_8", .p = { P(H_CLUSTER_BITS, 4, 8) },
	  .need = { "cluster_bits" } },
	{ .name = "v2_cluster_bits_22", .p = { P(H_CLUSTER_BITS, 4, 22) },
	  .need = { "cluster_bits" } },
	{ .name = "v2_size_2p63", .p = { P(H_SIZE, 8, 1ULL << 63) },
	  .need = { "size" } },
	{ .name = "v2_l1_size_0", .p = { P(H_L1_SIZE, 4, 0) },
	  .need = { "l1_size" } },
	{ .name = "v2_l1_table_offset_past_eof",
	  .p = { P(H_L1_OFFSET, 8, 0x100000) },
	  .need = { "l1_table_offset" } },
	{ .name = "v2_l1_table_offset_unaligned",
	  .p = { P(H_L1_OFFSET, 8, 0x30200) },
	  .need = { "l1_table_offset" } },
	{ .name = "v2_refcount_table_clusters_0",
	  .p = { P(H_RT_CLUSTERS, 4, 0) },
	  .need = { "refcount_table_clusters" } },
	{ .name = "v2_refcount_table_offset_zero",
	  .p = { P(H_RT_OFFSET, 8, 0) },
	  .need = { "refcount_table_offset" } },
	{ .name = "v2_nb_snapshots_65537",
	  .p = { P(H_NB_SNAPSHOTS, 4, 65537),
		 P(H_SNAPSHOTS_OFFSET, 8, 0x30000) },
	  .need = { "nb_snapshots" } },
	{ .name = "v2_backing_file_offset_in_header",
	  .p = { P(H_BACKING_OFFSET, 8, 64), P(H_BACKING_SIZE, 4, 4) },
	  .need = { "backing_file_offset" } },
	{ .name = "v2_backing_file_size_1024",
	  .p = { P(H_BACKING_OFFSET, 8, 512), P(H_BACKING_SIZE, 4, 1024) },
	  .need = { "backing_file_size" } },
	{ .name = "v2_crypt_method_3", .p = { P(H_CRYPT, 4, 3) },
	  .need = { "crypt_method" } },
	/* bytes 72.. of a v2 image are extensions: an unterminated one */
	{ .name = "v2_extension_past_cluster",
	  .p = { P(72, 4, 0x12345678), P(76, 4, 0xfff0) },
	  .need = { "header extension|extension" } },
};

/* Legacy qcow: the header of gen_qcow1(cb 12, l2_bits 9, 1 MiB). */
#define Q1 QCOW_FMT_QCOW
static const struct hcase q1_cases[] = {
	{ .name = "qcow1_magic_bad", .p = { P(H_MAGIC, 4, MAGIC ^ 0x100) },
	  .need = { "magic" }, .fmt = Q1 },
	{ .name = "qcow1_version_2_forced_qcow", .p = { P(H_VERSION, 4, 2) },
	  .need = { "version" }, .fmt = Q1 },
	{ .name = "qcow1_cluster_bits_0", .p = { P(Q1_CLUSTER_BITS, 1, 0) },
	  .need = { "cluster_bits" } },
	{ .name = "qcow1_cluster_bits_8", .p = { P(Q1_CLUSTER_BITS, 1, 8) },
	  .need = { "cluster_bits" } },
	{ .name = "qcow1_cluster_bits_17", .p = { P(Q1_CLUSTER_BITS, 1, 17) },
	  .need = { "cluster_bits" } },
	{ .name = "qcow1_cluster_bits_255",
	  .p = { P(Q1_CLUSTER_BITS, 1, 255) }, .need = { "cluster_bits" } },
	{ .name = "qcow1_l2_bits_0", .p = { P(Q1_L2_BITS, 1, 0) },
	  .need = { "l2_bits" } },
	{ .name = "qcow1_l2_bits_5", .p = { P(Q1_L2_BITS, 1, 5) },
	  .need = { "l2_bits" } },
	/* QEMU: L2 tables between 512 bytes and 64 KiB (l2_bits 6-13) */
	{ .name = "qcow1_l2_bits_14", .p = { P(Q1_L2_BITS, 1, 14) },
	  .need = { "l2_bits" } },
	{ .name = "qcow1_l2_bits_16", .p = { P(Q1_L2_BITS, 1, 16) },
	  .need = { "l2_bits" } },
	{ .name = "qcow1_l2_bits_17", .p = { P(Q1_L2_BITS, 1, 17) },
	  .need = { "l2_bits" } },
	{ .name = "qcow1_l2_bits_255", .p = { P(Q1_L2_BITS, 1, 255) },
	  .need = { "l2_bits" } },
	{ .name = "qcow1_crypt_method_2", .p = { P(Q1_CRYPT, 4, 2) },
	  .need = { "crypt_method" } },
	{ .name = "qcow1_crypt_method_max", .p = { P(Q1_CRYPT, 4, 0xffffffff) },
	  .need = { "crypt_method" } },
	{ .name = "qcow1_crypt_method_aes_without_key",
	  .p = { P(Q1_CRYPT, 4, 1) }, .need = { "encrypt.key-secret" },
	  .err = -EACCES },
	/* QEMU: "Image size is too small (must be at least 2 bytes)" */
	{ .name = "qcow1_size_0", .p = { P(Q1_SIZE, 8, 0) },
	  .need = { "size" } },
	{ .name = "qcow1_size_1", .p = { P(Q1_SIZE, 8, 1) },
	  .need = { "size" } },
	{ .name = "qcow1_size_2p62_plus_1",
	  .p = { P(Q1_SIZE, 8, (1ULL << 62) + 1) }, .need = { "size" } },
	{ .name = "qcow1_size_l1_over_32mib", .p = { P(Q1_SIZE, 8, 1ULL << 62) },
	  .need = { "size" } },
	{ .name = "qcow1_size_max", .p = { P(Q1_SIZE, 8, UINT64_MAX) },
	  .need = { "size" } },
	{ .name = "qcow1_l1_table_offset_past_eof",
	  .p = { P(Q1_L1_OFFSET, 8, 0x100000) },
	  .need = { "l1_table_offset" } },
	{ .name = "qcow1_l1_table_offset_at_eof",
	  .p = { P(Q1_L1_OFFSET, 8, 560) }, .need = { "l1_table_offset" } },
	{ .name = "qcow1_l1_table_offset_max",
	  .p = { P(Q1_L1_OFFSET, 8, UINT64_MAX & ~7ULL) },
	  .need = { "l1_table_offset" } },
	{ .name = "qcow1_l1_table_past_eof", .p = { P(Q1_SIZE, 8, 1 * GiB) },
	  .need = { "l1_table_offset" } },
	{ .name = "qcow1_backing_file_size_1024",
	  .p = { P(Q1_BACKING_OFFSET, 8, 48), P(Q1_BACKING_SIZE, 4, 1024) },
	  .need = { "backing_file_size" } },
	{ .name = "qcow1_backing_file_size_max",
	  .p = { P(Q1_BACKING_OFFSET, 8, 48),
		 P(Q1_BACKING_SIZE, 4, 0xffffffff) },
	  .need = { "backing_file_size" } },
	{ .name = "qcow1_backing_file_past_eof",
	  .p = { P(Q1_BACKING_OFFSET, 8, 0x10000), P(Q1_BACKING_SIZE, 4, 4) },
	  .need = { "backing_file_offset|backing_file_size" } },
	{ .name = "qcow1_backing_file_offset_wraps",
	  .p = { P(Q1_BACKING_OFFSET, 8, UINT64_MAX - 1),
		 P(Q1_BACKING_SIZE, 4, 8) },
	  .need = { "backing_file_offset|backing_file_size" } },
};

static void run_hcases(const struct img *base, const struct hcase *c,
		       size_t n)
{
	size_t i;
	unsigned int j;

	for (i = 0; i < n; i++) {
		struct img im = im_copy(base);
		struct qcow_open_opts o = ro_opts(c[i].fmt);

		for (j = 0; j < 4 && c[i].p[j].w; j++)
			poke(&im, c[i].p[j].off, c[i].p[j].w, c[i].p[j].v);
		expect_fail(c[i].name, &im, &o, c[i].err, c[i].need);
		im_free(&im);
	}
}

/* ---- valid images ---- */

static void test_valid(void)
{
	struct qcow_open_opts ro = ro_opts(QCOW_FMT_NONE);
	struct qcow_open_opts rw = ro;
	struct img im = { NULL, 0 }, v;
	unsigned int i;
	char name[64];

	rw.read_only = false;
	gen_qcow2(&im, 3, 16, 1 * MiB, false);
	expect_open("valid_v3", &im, &ro, true, NULL);
	expect_open("valid_v3_read_write", &im, &rw, true, NULL);
	{
		struct qcow_open_opts f = ro_opts(QCOW_FMT_QCOW2);

		expect_open("valid_v3_forced_qcow2", &im, &f, true, NULL);
	}

	gen_qcow2(&im, 2, 16, 1 * MiB, false);
	expect_open("valid_v2", &im, &ro, true, NULL);
	gen_qcow2(&im, 3, 9, 1 * MiB, false);
	expect_open("valid_cluster_bits_9", &im, &ro, true, NULL);
	gen_qcow2(&im, 3, 21, 1 * MiB, false);
	expect_open("valid_cluster_bits_21", &im, &ro, true, NULL);
	gen_qcow2(&im, 3, 14, 1 * MiB, true);
	expect_open("valid_extended_l2_cluster_bits_14", &im, &ro, true, NULL);
	gen_qcow2(&im, 3, 16, 1 * MiB, true);
	expect_open("valid_extended_l2_cluster_bits_16", &im, &ro, true, NULL);
	for (i = 0; i <= 6; i++) {
		gen_qcow2_order(&im, 3, 16, 1 * MiB, false, i);
		snprintf(name, sizeof(name), "valid_refcount_order_%u", i);
		expect_open(name, &im, &ro, true, NULL);
	}
	gen_qcow2(&im, 3, 16, 0, false);
	w32(&im, H_L1_SIZE, 0);
	expect_open("valid_size_0", &im, &ro, false, NULL);
	gen_qcow2(&im, 3, 16, 1 * MiB, false);

	v = im_copy(&im);
	w32(&v, H_HEADER_LENGTH, 104);
	expect_open("valid_header_length_104", &v, &ro, true, NULL);
	w32(&v, H_HEADER_LENGTH, 120);
	expect_open("valid_header_length_120", &v, &ro, true, NULL);
	w32(&v, H_HEADER_LENGTH, 65536);
	expect_open("valid_header_length_cluster_size", &v, &ro, true, NULL);
	im_free(&v);

	v = im_copy(&im);
	w32(&v, H_L1_SIZE, 100);
	expect_open("valid_l1_size_larger_than_needed", &v, &ro, true, NULL);
	im_free(&v);

	v = im_copy(&im);
	w64(&v, H_INCOMPAT, INCOMPAT_DIRTY);
	expect_open("valid_dirty_bit_read_only", &v, &ro, true, NULL);
	im_free(&v);

	v = im_copy(&im);
	w64(&v, H_INCOMPAT, INCOMPAT_CORRUPT);
	expect_open("corrupt_bit_read_only_opens", &v, &ro, true, NULL);
	expect_fail("corrupt_bit_read_write_refused", &v, &rw, -EACCES,
		    NEED("incompatible_features", "corrupt"));
	{
		struct qcow_open_opts rw2 = rw;

		rw2.format = QCOW_FMT_QCOW2;
		expect_fail("corrupt_bit_read_write_forced_qcow2_refused", &v,
			    &rw2, -EACCES, NEED("incompatible_features",
						"corrupt"));
	}
	w64(&v, H_INCOMPAT, INCOMPAT_CORRUPT | INCOMPAT_DIRTY);
	expect_fail("corrupt_and_dirty_read_write_refused", &v, &rw, -EACCES,
		    NEED("incompatible_features", "corrupt"));
	im_free(&v);

	v = im_copy(&im);
	w64(&v, H_COMPAT, COMPAT_LAZY | 1ULL << 33);
	w64(&v, H_AUTOCLEAR, 1ULL << 10 | 1ULL << 63);
	expect_open("valid_unknown_compatible_and_autoclear_bits", &v, &ro,
		    true, NULL);
	im_free(&v);

	v = im_copy(&im);
	w64(&v, H_INCOMPAT, INCOMPAT_COMPRESSION);
	w8(&v, H_COMPRESSION, 1);
	expect_open("valid_zstd_compression_type", &v, &ro, true, NULL);
	im_free(&v);

	v = im_copy(&im);
	w32(&v, H_CRYPT, 1);
	{
		struct qcow_open_opts o = ro;

		o.no_io = true;
		expect_open("crypt_method_aes_opens_with_no_io", &v, &o, false,
			    NULL);
	}
	im_free(&v);

	/* the longest backing name QEMU accepts (not opened: no_backing) */
	v = im_copy(&im);
	memset(v.b + 1024, 'b', 1023);
	w64(&v, H_BACKING_OFFSET, 1024);
	w32(&v, H_BACKING_SIZE, 1023);
	expect_open("valid_backing_name_1023_bytes", &v, &ro, true, NULL);
	im_free(&v);

	/* a backing name right at the end of the header cluster */
	v = im_copy(&im);
	memcpy(v.b + 65536 - 8, "base.img", 8);
	w64(&v, H_BACKING_OFFSET, 65536 - 8);
	w32(&v, H_BACKING_SIZE, 8);
	expect_open("valid_backing_name_at_cluster_end", &v, &ro, true, NULL);
	im_free(&v);

	/* with probing, a file without the magic is a raw image (QEMU too) */
	v = im_copy(&im);
	w32(&v, H_MAGIC, 0);
	tl_begin("magic_bad_probes_as_raw");
	{
		struct qcow_image *img = NULL;
		const char *path = case_path(tl_case_name());
		int ret;

		if (tl_write_file(path, v.b, v.len) < 0) {
			tl_fail("cannot write %s", path);
		} else if ((ret = qcow_open(&img, path, &ro)) < 0) {
			tl_fail("open failed: %s", qcow_strerror());
		} else {
			enum qcow_format f = qcow_format(img);
			uint64_t size = qcow_size(img);

			qcow_close(img);
			if (f != QCOW_FMT_RAW || size != v.len)
				tl_fail("format %d size %" PRIu64, f, size);
			else if (!tl_file_equals(path, v.b, v.len, NULL, 0))
				tl_fail("file changed");
			else {
				remove_case_file(path);
				tl_pass();
			}
		}
	}
	im_free(&v);

	/* an unknown extension that fills the header cluster exactly */
	v = im_copy(&im);
	put_ext(&v, V3_HEADER_LENGTH, 0x12345678, NULL,
		65536 - V3_HEADER_LENGTH - 8);
	expect_open("valid_extension_fills_cluster", &v, &ro, true, NULL);
	im_free(&v);

	/* a stale bitmaps extension (autoclear bit clear) is ignored */
	v = im_copy(&im);
	{
		uint8_t ext[24] = { 0 };

		tl_put_be64(ext + 16, 0x123);
		put_ext(&v, V3_HEADER_LENGTH, EXT_BITMAPS, ext, sizeof(ext));
	}
	expect_open("valid_stale_bitmaps_extension_ignored", &v, &ro, true,
		    NULL);
	im_free(&v);

	/* empty tables may sit anywhere aligned, as in QEMU */
	v = im_copy(&im);
	w64(&v, H_SNAPSHOTS_OFFSET, 0x7fff0000);
	expect_open("valid_empty_snapshot_table_offset_ignored", &v, &ro,
		    true, NULL);
	im_free(&v);

	im_free(&im);
}

/* ---- header extensions ---- */

static void test_extensions(void)
{
	struct qcow_open_opts ro = ro_opts(QCOW_FMT_NONE);
	struct img base = { NULL, 0 }, v;
	uint8_t ft[4 * 48];
	uint64_t off;

	gen_qcow2(&base, 3, 16, 1 * MiB, false);

	v = im_copy(&base);
	put_ext(&v, V3_HEADER_LENGTH, 0x12345678, NULL, 0);
	w32(&v, V3_HEADER_LENGTH + 4, 65536 - V3_HEADER_LENGTH - 8 + 1);
	expect_fail("extension_length_past_cluster_by_1", &v, &ro, 0,
		    NEED("header extension", "length"));
	w32(&v, V3_HEADER_LENGTH + 4, 0xffffffff);
	expect_fail("extension_length_max", &v, &ro, 0,
		    NEED("header extension", "length"));
	w32(&v, V3_HEADER_LENGTH + 4, 0x80000000);
	expect_fail("extension_length_2p31", &v, &ro, 0,
		    NEED("header extension", "length"));
	im_free(&v);

	v = im_copy(&base);
	off = put_ext(&v, V3_HEADER_LENGTH, 0x12345678, "abcdefgh", 8);
	off = put_ext(&v, off, 0x12345679, NULL, 0);
	w32(&v, off - 4, 65536);
	expect_fail("extension_second_past_cluster", &v, &ro, 0,
		    NEED("header extension", "length"));
	im_free(&v);

	/* extensions end where the backing file name starts */
	v = im_copy(&base);
	memcpy(v.b + 1024, "base.img", 8);
	w64(&v, H_BACKING_OFFSET, 1024);
	w32(&v, H_BACKING_SIZE, 8);
	put_ext(&v, V3_HEADER_LENGTH, 0x12345678, NULL, 0);
	w32(&v, V3_HEADER_LENGTH + 4, 1000);
	expect_fail("extension_runs_into_backing_name", &v, &ro, 0,
		    NEED("header extension", "length"));
	im_free(&v);

	v = im_copy(&base);
	put_ext(&v, V3_HEADER_LENGTH, EXT_BACKING_FORMAT, "qcow2qcow2qcow2q",
		16);
	expect_fail("backing_format_extension_too_long", &v, &ro, 0,
		    NEED("backing format"));
	im_free(&v);

	v = im_copy(&base);
	put_ext(&v, V3_HEADER_LENGTH, EXT_CRYPTO, "\0\0\0\0\0\0\0\0", 8);
	expect_fail("encryption_extension_bad_length", &v, &ro, 0,
		    NEED("encryption"));
	im_free(&v);

	/*
	 * A broken bitmaps extension: read-only opens work (bitmaps never
	 * block reads), read-write ones refuse naming the field.
	 */
	{
		struct qcow_open_opts rwb = ro;
		uint8_t ext[24] = { 0 };

		rwb.read_only = false;
		v = im_copy(&base);
		w64(&v, H_AUTOCLEAR, AUTOCLEAR_BITMAPS);
		put_ext(&v, V3_HEADER_LENGTH, EXT_BITMAPS, ext, sizeof(ext));
		expect_open("bitmaps_extension_nb_bitmaps_0_ro", &v, &ro, true,
			    NULL);
		expect_fail("bitmaps_extension_nb_bitmaps_0", &v, &rwb, 0,
			    NEED("nb_bitmaps"));
		tl_put_be32(ext, 1);
		tl_put_be64(ext + 8, 64);
		tl_put_be64(ext + 16, 0x100000);
		put_ext(&v, V3_HEADER_LENGTH, EXT_BITMAPS, ext, sizeof(ext));
		expect_open("bitmaps_extension_directory_past_eof_ro", &v, &ro,
			    true, NULL);
		expect_fail("bitmaps_extension_directory_past_eof", &v, &rwb,
			    0, NEED("bitmap"));
		tl_put_be64(ext + 16, 0x30008);
		put_ext(&v, V3_HEADER_LENGTH, EXT_BITMAPS, ext, sizeof(ext));
		expect_open("bitmaps_extension_directory_unaligned_ro", &v, &ro,
			    true, NULL);
		expect_fail("bitmaps_extension_directory_unaligned", &v, &rwb,
			    0, NEED("bitmap"));
		put_ext(&v, V3_HEADER_LENGTH, EXT_BITMAPS, ext, 16);
		expect_open("bitmaps_extension_too_short_ro", &v, &ro, true,
			    NULL);
		expect_fail("bitmaps_extension_too_short", &v, &rwb, 0,
			    NEED("bitmap"));
		im_free(&v);
	}

	/* unknown incompatible bits named from the feature name table */
	v = im_copy(&base);
	w64(&v, H_INCOMPAT, 1ULL << 5);
	feature_entry(ft, 0, 0, "dirty bit");
	feature_entry(ft + 48, 0, 5, "fancy new feature");
	feature_entry(ft + 96, 1, 5, "same bit, compatible");
	feature_entry(ft + 144, 2, 5, "same bit, autoclear");
	put_ext(&v, V3_HEADER_LENGTH, EXT_FEATURE_TABLE, ft, sizeof(ft));
	expect_fail("incompatible_bit_5_named_by_feature_table", &v, &ro,
		    -ENOTSUP, NEED("incompatible_features", "bit 5",
				   "fancy new feature"));
	im_free(&v);

	/* a name of another type for the bit is not the feature's name */
	v = im_copy(&base);
	w64(&v, H_INCOMPAT, 1ULL << 6);
	feature_entry(ft, 1, 6, "a compatible one");
	feature_entry(ft + 48, 2, 6, "an autoclear one");
	put_ext(&v, V3_HEADER_LENGTH, EXT_FEATURE_TABLE, ft, 96);
	expect_fail("incompatible_bit_6_table_names_other_types", &v, &ro,
		    -ENOTSUP, NEED("incompatible_features", "bit 6"));
	{
		/* and the text must not borrow those names */
		struct qcow_image *img = NULL;
		const char *path = case_path("incompatible_bit_6_other_names");

		tl_begin("incompatible_bit_6_other_type_names_not_used");
		if (tl_write_file(path, v.b, v.len) < 0) {
			tl_fail("cannot write %s", path);
		} else if (qcow_open(&img, path, &ro) >= 0) {
			qcow_close(img);
			tl_fail("opened");
		} else if (strstr(qcow_strerror(), "compatible one") ||
			   strstr(qcow_strerror(), "autoclear one")) {
			tl_fail("names the bit after another feature type: "
				"\"%s\"", qcow_strerror());
		} else {
			remove_case_file(path);
			tl_pass();
		}
	}
	im_free(&v);

	/* a 46-byte name has no terminating NUL */
	v = im_copy(&base);
	w64(&v, H_INCOMPAT, 1ULL << 9);
	feature_entry(ft, 0, 9, "0123456789012345678901234567890123456789ABCDEF");
	put_ext(&v, V3_HEADER_LENGTH, EXT_FEATURE_TABLE, ft, 48);
	expect_fail("incompatible_bit_9_name_46_bytes", &v, &ro, -ENOTSUP,
		    NEED("bit 9",
			 "0123456789012345678901234567890123456789ABCDEF"));
	im_free(&v);

	/* two feature tables: no leak, the bits still reported */
	v = im_copy(&base);
	w64(&v, H_INCOMPAT, 1ULL << 5 | 1ULL << 6);
	feature_entry(ft, 0, 5, "feature five");
	off = put_ext(&v, V3_HEADER_LENGTH, EXT_FEATURE_TABLE, ft, 48);
	feature_entry(ft, 0, 6, "feature six");
	put_ext(&v, off, EXT_FEATURE_TABLE, ft, 48);
	expect_fail("incompatible_bits_two_feature_tables", &v, &ro, -ENOTSUP,
		    NEED("incompatible_features", "bit 5", "bit 6",
			 "feature six"));
	im_free(&v);

	/* a name with control characters must not break the line */
	v = im_copy(&base);
	w64(&v, H_INCOMPAT, 1ULL << 5);
	feature_entry(ft, 0, 5, "evil\nname\r");
	put_ext(&v, V3_HEADER_LENGTH, EXT_FEATURE_TABLE, ft, 48);
	expect_fail("incompatible_bit_name_with_newline_one_line", &v, &ro,
		    -ENOTSUP, NEED("incompatible_features", "bit 5"));
	im_free(&v);

	/* the unknown bit is reported even if an extension is bad too */
	v = im_copy(&base);
	w64(&v, H_INCOMPAT, 1ULL << 5);
	feature_entry(ft, 0, 5, "fancy new feature");
	off = put_ext(&v, V3_HEADER_LENGTH, EXT_FEATURE_TABLE, ft, 48);
	put_ext(&v, off, 0x12345678, NULL, 0);
	w32(&v, off + 4, 0x7fffffff);
	expect_fail("incompatible_bit_wins_over_bad_extension", &v, &ro,
		    -ENOTSUP, NEED("incompatible_features", "bit 5",
				   "fancy new feature"));
	im_free(&v);

	/* external data file: named, but missing; names with newlines */
	v = im_copy(&base);
	w64(&v, H_INCOMPAT, INCOMPAT_DATA_FILE);
	put_ext(&v, V3_HEADER_LENGTH, EXT_DATA_FILE, "no-such-data.raw", 16);
	expect_fail("data_file_missing", &v, &ro, -ENOENT,
		    NEED("data file"));
	put_ext(&v, V3_HEADER_LENGTH, EXT_DATA_FILE, "no-such\ndata.raw", 16);
	expect_fail("data_file_name_with_newline_one_line", &v, &ro, -ENOENT,
		    NEED("data file"));
	im_free(&v);

	im_free(&base);
}

/* ---- truncated files ---- */

static void test_truncated(void)
{
	struct qcow_open_opts forced = ro_opts(QCOW_FMT_QCOW2);
	struct qcow_open_opts probe = ro_opts(QCOW_FMT_NONE);
	struct img base = { NULL, 0 }, q1 = { NULL, 0 }, v;
	char path[512], why[900], msg[600];
	size_t n;
	int ret, pass;

	gen_qcow2(&base, 3, 16, 1 * MiB, false);
	/* every length of the first 112 bytes, forced qcow2 and probed */
	for (n = 0; n <= V3_HEADER_LENGTH; n++) {
		struct qcow_image *img = NULL;
		bool ok = true;

		tl_begin("truncated_v3_%zu_bytes", n);
		snprintf(path, sizeof(path), "%s",
			 case_path(tl_case_name()));
		if (tl_write_file(path, base.b, n) < 0) {
			tl_fail("cannot write %s", path);
			continue;
		}
		for (pass = 0; pass < 2 && ok; pass++) {
			ret = qcow_open(&img, path, pass ? &probe : &forced);
			snprintf(msg, sizeof(msg), "%s", qcow_strerror());
			if (ret >= 0) {
				enum qcow_format f = qcow_format(img);

				qcow_close(img);
				/* QEMU probes < 8 bytes as raw too */
				if (pass && n < 8 && f == QCOW_FMT_RAW)
					continue;
				snprintf(why, sizeof(why), "opened (%s)",
					 pass ? "probed" : "forced qcow2");
				ok = false;
			} else if (!check_msg(msg, path, NULL, why,
					      sizeof(why))) {
				ok = false;
			}
		}
		if (ok)
			ok = tl_file_equals(path, base.b, n, why, sizeof(why));
		if (!ok) {
			tl_fail("%s", why);
			continue;
		}
		remove_case_file(path);
		tl_pass();
	}

	/* tables cut by the end of the file */
	v = im_copy(&base);
	im_resize(&v, 0x30004);
	expect_fail("truncated_in_l1_table", &v, &probe, 0,
		    NEED("l1_table_offset", "end of the file"));
	im_resize(&v, 0x18000);
	expect_fail("truncated_in_refcount_table", &v, &probe, 0,
		    NEED("table_offset", "end of the file"));
	im_resize(&v, 0x10000);
	expect_fail("truncated_to_header_cluster", &v, &probe, 0,
		    NEED("table_offset", "end of the file"));
	im_resize(&v, 4096);
	expect_fail("truncated_in_header_cluster", &v, &probe, 0,
		    NEED("table_offset", "end of the file"));
	im_free(&v);

	/* a version 2 header cut anywhere in its 72 bytes */
	gen_qcow2(&v, 2, 16, 1 * MiB, false);
	tl_begin("truncated_v2_every_length_below_72");
	{
		bool ok = true;

		snprintf(path, sizeof(path), "%s", case_path(tl_case_name()));
		for (n = 0; n < 72 && ok; n++) {
			struct qcow_image *img = NULL;

			if (tl_write_file(path, v.b, n) < 0) {
				snprintf(why, sizeof(why), "cannot write");
				ok = false;
				break;
			}
			ret = qcow_open(&img, path, &forced);
			snprintf(msg, sizeof(msg), "%s", qcow_strerror());
			if (ret >= 0) {
				qcow_close(img);
				snprintf(why, sizeof(why), "%zu bytes: opened",
					 n);
				ok = false;
			} else if (!check_msg(msg, path, NULL, why,
					      sizeof(why)) ||
				   !tl_file_equals(path, v.b, n, why,
						   sizeof(why))) {
				ok = false;
			}
		}
		if (ok) {
			remove_case_file(path);
			tl_pass();
		} else {
			tl_fail("%s", why);
		}
	}
	im_free(&v);

	/* legacy qcow: every length of the 48-byte header */
	gen_qcow1(&q1, 12, 9, 1 * MiB);
	tl_begin("truncated_qcow1_every_length_below_48");
	{
		struct qcow_open_opts f1 = ro_opts(QCOW_FMT_QCOW);
		bool ok = true;

		snprintf(path, sizeof(path), "%s", case_path(tl_case_name()));
		for (n = 0; n < Q1_HEADER && ok; n++) {
			for (pass = 0; pass < 2 && ok; pass++) {
				struct qcow_image *img = NULL;

				if (tl_write_file(path, q1.b, n) < 0) {
					snprintf(why, sizeof(why),
						 "cannot write");
					ok = false;
					break;
				}
				ret = qcow_open(&img, path,
						pass ? &probe : &f1);
				snprintf(msg, sizeof(msg), "%s",
					 qcow_strerror());
				if (ret >= 0) {
					enum qcow_format f = qcow_format(img);

					qcow_close(img);
					if (pass && n < 8 &&
					    f == QCOW_FMT_RAW)
						continue;
					snprintf(why, sizeof(why),
						 "%zu bytes: opened (%s)", n,
						 pass ? "probed" : "forced");
					ok = false;
				} else if (!check_msg(msg, path, NULL, why,
						      sizeof(why)) ||
					   !tl_file_equals(path, q1.b, n, why,
							   sizeof(why))) {
					ok = false;
				}
			}
		}
		if (ok) {
			remove_case_file(path);
			tl_pass();
		} else {
			tl_fail("%s", why);
		}
	}
	im_free(&q1);
	im_free(&base);
}

/* ---- snapshot tables ---- */

/*
 * The base image plus a snapshot L1 table (cluster 4) and a one-entry
 * snapshot table (cluster 5, the last one): id "1", name "snap1", 16
 * bytes of extra data.  The entry takes 62 bytes.
 */
#define SN_TABLE 0x50000ULL
static void gen_snapshot_image(struct img *im)
{
	uint64_t l1, tab;

	gen_qcow2(im, 3, 16, 1 * MiB, false);
	l1 = im_alloc(im);
	tab = im_alloc(im);
	w32(im, H_NB_SNAPSHOTS, 1);
	w64(im, H_SNAPSHOTS_OFFSET, tab);
	w64(im, tab + SN_L1_OFFSET, l1);
	w32(im, tab + SN_L1_SIZE, 1);
	w16(im, tab + SN_ID_SIZE, 1);
	w16(im, tab + SN_NAME_SIZE, 5);
	w32(im, tab + SN_DATE_SEC, 1700000000);
	w32(im, tab + SN_DATE_NSEC, 5);
	w64(im, tab + SN_VM_CLOCK, 123456789);
	w32(im, tab + SN_EXTRA_SIZE, 16);
	w64(im, tab + SN_FIXED, 0);		/* vm_state_size_large */
	w64(im, tab + SN_FIXED + 8, 1 * MiB);	/* disk size */
	wbytes(im, tab + SN_FIXED + 16, "1snap1", 6);
}

static bool check_bad_snapshot(struct qcow_image *img, char *why, size_t n)
{
	struct qcow_check_result res;
	int ret = qcow_check(img, &res, NULL, NULL);

	if (ret < 0 || res.corruptions != 1) {
		snprintf(why, n, "check: %d, %" PRIu64 " corruptions, expected "
			 "the snapshot entry as one", ret, res.corruptions);
		return false;
	}
	return true;
}

static bool check_one_snapshot(struct qcow_image *img, char *why, size_t n)
{
	struct qcow_info info;
	int ret = qcow_get_info(img, &info);

	if (ret < 0) {
		snprintf(why, n, "qcow_get_info: %s", strerror(-ret));
		return false;
	}
	if (info.nb_snapshots != 1 || !info.snapshots ||
	    strcmp(info.snapshots[0].id, "1") ||
	    strcmp(info.snapshots[0].name, "snap1") ||
	    info.snapshots[0].date_sec != 1700000000 ||
	    info.snapshots[0].disk_size != 1 * MiB) {
		snprintf(why, n, "snapshot table read wrong (%u snapshots)",
			 info.nb_snapshots);
		return false;
	}
	return true;
}

static void test_snapshots(void)
{
	struct qcow_open_opts ro = ro_opts(QCOW_FMT_NONE);
	struct img base = { NULL, 0 }, v;

	gen_snapshot_image(&base);
	expect_open("snapshot_table_valid", &base, &ro, true,
		    check_one_snapshot);

	v = im_copy(&base);
	w32(&v, SN_TABLE + SN_EXTRA_SIZE, 1025);
	expect_fail("snapshot_extra_data_size_1025", &v, &ro, 0,
		    NEED("snapshot", "extra_data_size"));
	w32(&v, SN_TABLE + SN_EXTRA_SIZE, 0xffffffff);
	expect_fail("snapshot_extra_data_size_max", &v, &ro, 0,
		    NEED("snapshot", "extra_data_size"));
	im_free(&v);

	/* as QEMU: such a snapshot opens, is never read, check reports it */
	v = im_copy(&base);
	w64(&v, SN_TABLE + SN_L1_OFFSET, 0x40008);
	expect_open("snapshot_l1_offset_unaligned_8", &v, &ro, true,
		    check_bad_snapshot);
	w64(&v, SN_TABLE + SN_L1_OFFSET, 0x40200);
	expect_open("snapshot_l1_offset_unaligned_512", &v, &ro, true,
		    check_bad_snapshot);
	w64(&v, SN_TABLE + SN_L1_OFFSET, 0);
	expect_open("snapshot_l1_offset_zero", &v, &ro, true,
		    check_bad_snapshot);
	im_free(&v);

	v = im_copy(&base);
	w32(&v, SN_TABLE + SN_L1_SIZE, 4194305);
	expect_open("snapshot_l1_size_over_32mib", &v, &ro, true,
		    check_bad_snapshot);
	im_free(&v);

	v = im_copy(&base);
	w64(&v, H_SNAPSHOTS_OFFSET, 0x100000);
	expect_fail("snapshot_table_offset_past_eof", &v, &ro, 0,
		    NEED("snapshots_offset", "end of the file"));
	w64(&v, H_SNAPSHOTS_OFFSET, SN_TABLE + 0x10000);
	expect_fail("snapshot_table_offset_at_eof", &v, &ro, 0,
		    NEED("snapshots_offset", "end of the file"));
	im_free(&v);

	/* the fixed part is in the file, id and name are not */
	v = im_copy(&base);
	w16(&v, SN_TABLE + SN_ID_SIZE, 0xffff);
	w16(&v, SN_TABLE + SN_NAME_SIZE, 0xffff);
	expect_fail("snapshot_id_and_name_past_eof", &v, &ro, 0,
		    NEED("snapshot", "end of the file"));
	im_free(&v);

	v = im_copy(&base);
	im_resize(&v, SN_TABLE + 60);
	expect_fail("snapshot_name_cut_by_eof", &v, &ro, 0,
		    NEED("snapshot", "entry 0", "end of the file"));
	im_free(&v);

	v = im_copy(&base);
	w32(&v, SN_TABLE + SN_EXTRA_SIZE, 1024);
	im_resize(&v, SN_TABLE + 1000);
	expect_fail("snapshot_extra_data_cut_by_eof", &v, &ro, 0,
		    NEED("snapshot", "end of the file"));
	im_free(&v);

	/* two entries claimed, the file ends inside the second */
	v = im_copy(&base);
	w32(&v, H_NB_SNAPSHOTS, 2);
	im_resize(&v, SN_TABLE + 90);
	expect_fail("snapshot_second_entry_past_eof", &v, &ro, 0,
		    NEED("snapshot", "entry 1", "end of the file"));
	im_free(&v);

	im_free(&base);
}

/* ---- legacy qcow ---- */

static void test_qcow1(void)
{
	struct qcow_open_opts ro = ro_opts(QCOW_FMT_NONE);
	struct img base = { NULL, 0 }, v;

	gen_qcow1(&base, 12, 9, 1 * MiB);
	expect_open("qcow1_valid", &base, &ro, true, NULL);
	v = im_copy(&base);
	w8(&v, Q1_L2_BITS, 13);
	expect_open("qcow1_valid_l2_bits_13", &v, &ro, true, NULL);
	w8(&v, Q1_L2_BITS, 6);
	w8(&v, Q1_CLUSTER_BITS, 16);
	expect_open("qcow1_valid_cluster_bits_16", &v, &ro, true, NULL);
	im_free(&v);
	run_hcases(&base, q1_cases, sizeof(q1_cases) / sizeof(q1_cases[0]));
	im_free(&base);
}

/* ---- bad tables met at read time ---- */

#define RD_L2		0x40000ULL
#define RD_DATA_A	0x50000ULL
#define RD_DATA_B	0x60000ULL
#define RD_COMP		0x70000ULL
#define RD_COMP_AT	(RD_COMP + 300)	/* compressed data start mid-sector */
#define RD_SIZE		(1 * GiB)

static uint8_t comp_byte(uint64_t i)
{
	return (uint8_t)((i / 100) * 7 + (i % 3));
}

/* Raw deflate (window 12) of one 64 KiB cluster of comp_byte(). */
static size_t deflate_cluster(uint8_t *out, size_t cap)
{
	uint8_t *in = malloc(64 * KiB);
	z_stream z;
	size_t i, n = 0;

	if (!in)
		return 0;
	for (i = 0; i < 64 * KiB; i++)
		in[i] = comp_byte(i);
	memset(&z, 0, sizeof(z));
	if (deflateInit2(&z, 6, Z_DEFLATED, -12, 9, Z_DEFAULT_STRATEGY) ==
	    Z_OK) {
		z.next_in = in;
		z.avail_in = 64 * KiB;
		z.next_out = out;
		z.avail_out = (uInt)cap;
		if (deflate(&z, Z_FINISH) == Z_STREAM_END)
			n = z.total_out;
		deflateEnd(&z);
	}
	free(in);
	return n;
}

static uint64_t comp_descriptor(uint64_t off, uint64_t len)
{
	uint64_t extra = ((off + len - 1) >> 9) - (off >> 9);

	return OFLAG_COMPRESSED | extra << 54 | off;
}

/*
 * 1 GiB, 64 KiB clusters, two L1 entries (the second unused); L2 table
 * at cluster 4 mapping guest cluster 0 to data 0xa5, 1 to data 0x5a, 2 to
 * a compressed cluster, 3 unallocated, 4 a zero cluster.
 */
static void gen_read_image(struct img *im)
{
	uint8_t comp[70000];
	size_t clen = deflate_cluster(comp, sizeof(comp));
	uint64_t l1;

	gen_qcow2(im, 3, 16, RD_SIZE, false);
	l1 = r64(im, H_L1_OFFSET);
	im_alloc(im);
	im_alloc(im);
	im_alloc(im);
	im_alloc(im);
	memset(im->b + RD_DATA_A, 0xa5, 64 * KiB);
	memset(im->b + RD_DATA_B, 0x5a, 64 * KiB);
	if (!clen || RD_COMP_AT + clen > RD_COMP + 64 * KiB) {
		fprintf(stderr, "test bug: deflate gave %zu bytes\n", clen);
		abort();
	}
	wbytes(im, RD_COMP_AT, comp, clen);
	w64(im, l1, RD_L2 | OFLAG_COPIED);
	w64(im, RD_L2, RD_DATA_A | OFLAG_COPIED);
	w64(im, RD_L2 + 8, RD_DATA_B | OFLAG_COPIED);
	w64(im, RD_L2 + 16, comp_descriptor(RD_COMP_AT, clen));
	w64(im, RD_L2 + 32, OFLAG_ZERO);
}

/*
 * Extended L2 (16-byte entries, 32 subclusters of 2 KiB), 1 MiB: guest
 * cluster 0 all 0xa5; cluster 1 subclusters 0-15 0x5a and 16-31 reading
 * as zeros; the rest unallocated.
 */
static void gen_extl2_read_image(struct img *im)
{
	uint64_t l1;

	gen_qcow2(im, 3, 16, 1 * MiB, true);
	l1 = r64(im, H_L1_OFFSET);
	im_alloc(im);
	im_alloc(im);
	im_alloc(im);
	memset(im->b + RD_DATA_A, 0xa5, 64 * KiB);
	memset(im->b + RD_DATA_B, 0x5a, 64 * KiB);
	w64(im, l1, RD_L2 | OFLAG_COPIED);
	w64(im, RD_L2, RD_DATA_A | OFLAG_COPIED);
	w64(im, RD_L2 + 8, 0xffffffffULL);
	w64(im, RD_L2 + 16, RD_DATA_B | OFLAG_COPIED);
	w64(im, RD_L2 + 24, 0xffff000000000000ULL | 0xffffULL);
}

/* What a read of a range must give: a fill byte, the compressed
 * pattern (COMP), or an error. */
#define COMP (-2)
struct rd {
	uint64_t off;
	uint64_t len;
	int fill;	/* byte, COMP */
	int err;	/* expected -errno, 0 for success */
};

static bool check_reads(struct qcow_image *img, const struct rd *r,
			size_t n, char *why, size_t wn)
{
	size_t i;
	uint64_t j;

	for (i = 0; i < n; i++) {
		uint8_t *buf = malloc(r[i].len);
		int ret;

		if (!buf) {
			snprintf(why, wn, "out of memory");
			return false;
		}
		memset(buf, 0xee, r[i].len);
		ret = qcow_pread(img, buf, r[i].len, r[i].off);
		if (r[i].err) {
			free(buf);
			if (ret != r[i].err) {
				snprintf(why, wn, "read of %" PRIu64 " at %#"
					 PRIx64 " returned %d, expected %d",
					 r[i].len, r[i].off, ret, r[i].err);
				return false;
			}
			continue;
		}
		if (ret < 0) {
			snprintf(why, wn, "read of %" PRIu64 " at %#" PRIx64
				 " failed: %s", r[i].len, r[i].off,
				 strerror(-ret));
			free(buf);
			return false;
		}
		for (j = 0; j < r[i].len; j++) {
			uint64_t g = r[i].off + j;
			uint8_t want = r[i].fill == COMP ?
				comp_byte(g & 0xffff) : (uint8_t)r[i].fill;

			if (buf[j] != want) {
				snprintf(why, wn, "guest byte %#" PRIx64
					 " reads %#x, expected %#x", g,
					 buf[j], want);
				free(buf);
				return false;
			}
		}
		free(buf);
	}
	return true;
}

/* Opens the image, runs the reads; the file must not change. */
static void read_case(const char *name, const struct img *im,
		      const struct rd *r, size_t n)
{
	struct qcow_open_opts ro = ro_opts(QCOW_FMT_NONE);
	struct qcow_image *img = NULL;
	char path[512], why[900];
	bool ok;
	int ret;

	tl_begin("%s", name);
	snprintf(path, sizeof(path), "%s", case_path(name));
	ret = tl_write_file(path, im->b, im->len);
	if (ret < 0) {
		tl_fail("cannot write %s: %s", path, strerror(-ret));
		return;
	}
	ret = qcow_open(&img, path, &ro);
	if (ret < 0) {
		tl_fail("open failed: %s", qcow_strerror());
		return;
	}
	ok = check_reads(img, r, n, why, sizeof(why));
	/* a failed read leaves the image usable: read it all again */
	if (ok)
		ok = check_reads(img, r, n, why, sizeof(why));
	qcow_close(img);
	if (ok)
		ok = tl_file_equals(path, im->b, im->len, why, sizeof(why));
	if (!ok) {
		tl_fail("%s", why);
		return;
	}
	remove_case_file(path);
	tl_pass();
}

#define NRD(a) (sizeof(a) / sizeof((a)[0]))
#define C64 (64 * KiB)
#define HALF (512 * MiB)

static void test_read_time(void)
{
	struct img base = { NULL, 0 }, v;
	uint64_t l1;

	gen_read_image(&base);
	l1 = r64(&base, H_L1_OFFSET);
	{
		const struct rd r[] = {
			{ 0, C64, 0xa5, 0 }, { C64, C64, 0x5a, 0 },
			{ 2 * C64, C64, COMP, 0 },
			{ 2 * C64 + 4096, 512, COMP, 0 },
			{ 3 * C64, 2 * C64, 0, 0 },
			{ HALF, C64, 0, 0 }, { RD_SIZE - C64, C64, 0, 0 },
		};

		read_case("read_valid_image", &base, r, NRD(r));
	}

	/* L1 entry with an L2 table offset not aligned to a cluster */
	v = im_copy(&base);
	w64(&v, l1 + 8, 0x40200 | OFLAG_COPIED);
	{
		const struct rd r[] = {
			{ HALF, C64, 0, -EIO }, { HALF + 4096, 512, 0, -EIO },
			{ HALF - 4096, 8192, 0, -EIO },
			{ 0, C64, 0xa5, 0 }, { C64, C64, 0x5a, 0 },
			{ 2 * C64, C64, COMP, 0 }, { 3 * C64, C64, 0, 0 },
			{ HALF - C64, C64, 0, 0 },
		};

		read_case("read_l1_entry_unaligned_l2_offset", &v, r, NRD(r));
	}
	w64(&v, l1 + 8, 0x1000000 | OFLAG_COPIED);
	{
		const struct rd r[] = {
			{ HALF, C64, 0, -EIO }, { 0, C64, 0xa5, 0 },
			{ HALF - C64, C64, 0, 0 },
		};

		read_case("read_l1_entry_l2_past_eof", &v, r, NRD(r));
	}
	im_free(&v);

	/* L2 entry with a data cluster offset not aligned to a cluster */
	v = im_copy(&base);
	w64(&v, RD_L2 + 8, (RD_DATA_B + 0x200) | OFLAG_COPIED);
	{
		const struct rd r[] = {
			{ C64, C64, 0, -EIO }, { C64 + 4096, 512, 0, -EIO },
			{ 0, 3 * C64, 0, -EIO },
			{ 0, C64, 0xa5, 0 }, { 2 * C64, C64, COMP, 0 },
			{ 3 * C64, C64, 0, 0 },
		};

		read_case("read_l2_entry_unaligned_data_offset", &v, r,
			  NRD(r));
	}
	im_free(&v);

	/* a preallocated zero cluster with an unaligned offset */
	v = im_copy(&base);
	w64(&v, RD_L2 + 32, (RD_DATA_B + 0x200) | OFLAG_ZERO);
	{
		const struct rd r[] = {
			{ 4 * C64, C64, 0, -EIO }, { 0, C64, 0xa5, 0 },
			{ C64, C64, 0x5a, 0 }, { 3 * C64, C64, 0, 0 },
		};

		read_case("read_l2_zero_entry_unaligned_offset", &v, r,
			  NRD(r));
	}
	im_free(&v);

	/* a compressed cluster holding garbage */
	v = im_copy(&base);
	{
		uint64_t i, x = 0x9e3779b97f4a7c15ULL;
		const struct rd r[] = {
			{ 2 * C64, C64, 0, -EIO },
			{ 2 * C64 + 4096, 512, 0, -EIO },
			{ C64, 2 * C64, 0, -EIO },
			{ 0, C64, 0xa5, 0 }, { C64, C64, 0x5a, 0 },
			{ 3 * C64, C64, 0, 0 },
		};

		for (i = RD_COMP_AT; i < RD_COMP + C64; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			v.b[i] = (uint8_t)x;
		}
		read_case("read_compressed_garbage", &v, r, NRD(r));
	}
	im_free(&v);

	/* a good deflate stream cut short by the descriptor's length */
	v = im_copy(&base);
	w64(&v, RD_L2 + 16, comp_descriptor(RD_COMP_AT, 64));
	{
		const struct rd r[] = {
			{ 2 * C64, C64, 0, -EIO }, { 0, C64, 0xa5, 0 },
			{ 3 * C64, C64, 0, 0 },
		};

		read_case("read_compressed_stream_cut_short", &v, r, NRD(r));
	}
	/* compressed data past the end of the file (reads as zeros) */
	w64(&v, RD_L2 + 16, comp_descriptor(0x10000000, 1000));
	{
		const struct rd r[] = {
			{ 2 * C64, C64, 0, -EIO }, { 0, C64, 0xa5, 0 },
			{ 3 * C64, C64, 0, 0 },
		};

		read_case("read_compressed_past_eof", &v, r, NRD(r));
	}
	im_free(&v);

	/* zstd image whose compressed cluster is not a zstd frame */
	v = im_copy(&base);
	w64(&v, H_INCOMPAT, INCOMPAT_COMPRESSION);
	w8(&v, H_COMPRESSION, 1);
	{
		const struct rd r[] = {
			{ 2 * C64, C64, 0, -EIO }, { 0, C64, 0xa5, 0 },
			{ C64, C64, 0x5a, 0 }, { 3 * C64, C64, 0, 0 },
		};

		read_case("read_zstd_compressed_garbage", &v, r, NRD(r));
	}
	im_free(&v);
	im_free(&base);

	gen_extl2_read_image(&base);
	{
		const struct rd r[] = {
			{ 0, C64, 0xa5, 0 }, { C64, C64 / 2, 0x5a, 0 },
			{ C64 + C64 / 2, C64 / 2, 0, 0 },
			{ 2 * C64, C64, 0, 0 },
		};

		read_case("read_extended_l2_valid", &base, r, NRD(r));
	}
	v = im_copy(&base);
	w64(&v, RD_L2 + 24, 0xffff000000000000ULL | 0xffffULL | 1ULL << 32);
	{
		const struct rd r[] = {
			{ C64, C64, 0, -EIO }, { C64, 2048, 0, -EIO },
			{ C64 + 40960, 2048, 0, -EIO },
			{ 0, C64, 0xa5, 0 }, { 2 * C64, C64, 0, 0 },
		};

		read_case("read_extended_l2_alloc_and_zero_bits", &v, r,
			  NRD(r));
	}
	im_free(&v);
	v = im_copy(&base);
	w64(&v, RD_L2 + 32, 0);
	w64(&v, RD_L2 + 40, 1ULL << 3);
	{
		const struct rd r[] = {
			{ 2 * C64, C64, 0, -EIO }, { 0, C64, 0xa5, 0 },
			{ C64, C64 / 2, 0x5a, 0 }, { 3 * C64, C64, 0, 0 },
		};

		read_case("read_extended_l2_alloc_bits_without_offset", &v, r,
			  NRD(r));
	}
	im_free(&v);
	im_free(&base);
}

/* ---- the generator against QEMU (skipped without qemu-img) ---- */

static void qemu_check(const char *name, const struct img *im,
		       const char *fmt, const char *io_cmds)
{
	char path[512];
	int st;

	tl_begin("%s", name);
	if (!tl_have_prog("qemu-img") || !tl_have_prog("qemu-io")) {
		tl_skip("qemu-img or qemu-io not installed");
		return;
	}
	snprintf(path, sizeof(path), "%s", case_path(name));
	if (tl_write_file(path, im->b, im->len) < 0) {
		tl_fail("cannot write %s", path);
		return;
	}
	if (!strcmp(fmt, "qcow2")) {
		st = tl_run("qemu-img check -q -f qcow2 '%s' >&2", path);
		if (st != 0) {
			tl_fail("qemu-img check exits %d", st);
			return;
		}
	}
	st = tl_run("qemu-io -r -f %s %s '%s' | grep -q 'verification "
		    "failed' && exit 1; qemu-io -r -f %s %s '%s' >/dev/null "
		    "2>&1", fmt, io_cmds, path, fmt, io_cmds, path);
	if (st != 0) {
		tl_fail("qemu-io %s exits %d", io_cmds, st);
		return;
	}
	remove_case_file(path);
	tl_pass();
}

/* QEMU decompresses the generated compressed cluster to the pattern. */
static void qemu_compressed(const struct img *im)
{
	char path[512], raw[600];
	uint8_t buf[4096];
	uint64_t off;
	int fd, st;
	ssize_t n;
	size_t i;

	tl_begin("qemu_reads_generated_compressed_cluster");
	if (!tl_have_prog("qemu-img")) {
		tl_skip("qemu-img not installed");
		return;
	}
	snprintf(path, sizeof(path), "%s", case_path(tl_case_name()));
	snprintf(raw, sizeof(raw), "%s.raw", path);
	if (tl_write_file(path, im->b, im->len) < 0) {
		tl_fail("cannot write %s", path);
		return;
	}
	st = tl_run("qemu-img convert -f qcow2 -O raw '%s' '%s' >&2", path,
		    raw);
	if (st != 0) {
		tl_fail("qemu-img convert exits %d", st);
		return;
	}
	fd = open(raw, O_RDONLY);
	if (fd < 0) {
		tl_fail("cannot open %s", raw);
		return;
	}
	for (off = 2 * C64; off < 3 * C64; off += sizeof(buf)) {
		n = pread(fd, buf, sizeof(buf), (off_t)off);
		if (n != (ssize_t)sizeof(buf)) {
			close(fd);
			tl_fail("short read of %s", raw);
			return;
		}
		for (i = 0; i < sizeof(buf); i++) {
			if (buf[i] != comp_byte((off + i) & 0xffff)) {
				close(fd);
				tl_fail("QEMU reads %#x at %#" PRIx64
					", expected %#x", buf[i],
					off + i, comp_byte((off + i) &
							   0xffff));
				return;
			}
		}
	}
	close(fd);
	remove_case_file(raw);
	remove_case_file(path);
	tl_pass();
}

static void qemu_created(const char *name, const char *create_args,
			 enum qcow_format want)
{
	struct qcow_open_opts ro = ro_opts(QCOW_FMT_NONE);
	struct qcow_image *img = NULL;
	char path[512], why[300];
	int st;

	tl_begin("%s", name);
	if (!tl_have_prog("qemu-img")) {
		tl_skip("qemu-img not installed");
		return;
	}
	snprintf(path, sizeof(path), "%s", case_path(name));
	st = tl_run("qemu-img create -q %s '%s' 1M >&2", create_args, path);
	if (st != 0) {
		tl_fail("qemu-img create exits %d", st);
		return;
	}
	st = qcow_open(&img, path, &ro);
	if (st < 0) {
		tl_fail("open failed: %s", qcow_strerror());
		return;
	}
	if (qcow_format(img) != want || qcow_size(img) != 1 * MiB) {
		tl_fail("format %d size %" PRIu64, qcow_format(img),
			qcow_size(img));
		qcow_close(img);
		return;
	}
	if (!read_fill(img, 0, 1 * MiB, 0, why, sizeof(why))) {
		tl_fail("%s", why);
		qcow_close(img);
		return;
	}
	qcow_close(img);
	remove_case_file(path);
	tl_pass();
}

static void test_against_qemu(void)
{
	struct img im = { NULL, 0 };
	const char *zeros = "-c 'read -P 0 0 1M'";

	gen_qcow2(&im, 3, 16, 1 * MiB, false);
	qemu_check("qemu_accepts_generated_v3", &im, "qcow2", zeros);
	gen_qcow2(&im, 2, 16, 1 * MiB, false);
	qemu_check("qemu_accepts_generated_v2", &im, "qcow2", zeros);
	gen_qcow2(&im, 3, 9, 1 * MiB, false);
	qemu_check("qemu_accepts_generated_cluster_bits_9", &im, "qcow2",
		   zeros);
	gen_qcow2(&im, 3, 21, 1 * MiB, false);
	qemu_check("qemu_accepts_generated_cluster_bits_21", &im, "qcow2",
		   zeros);
	gen_qcow2(&im, 3, 14, 1 * MiB, true);
	qemu_check("qemu_accepts_generated_extended_l2", &im, "qcow2", zeros);
	gen_qcow2_order(&im, 3, 16, 1 * MiB, false, 0);
	qemu_check("qemu_accepts_generated_refcount_order_0", &im, "qcow2",
		   zeros);
	gen_qcow2_order(&im, 3, 16, 1 * MiB, false, 6);
	qemu_check("qemu_accepts_generated_refcount_order_6", &im, "qcow2",
		   zeros);
	gen_snapshot_image(&im);
	qemu_check("qemu_accepts_generated_snapshot_table", &im, "qcow2",
		   zeros);
	gen_read_image(&im);
	qemu_check("qemu_reads_generated_read_image", &im, "qcow2",
		   "-c 'read -P 0xa5 0 64k' -c 'read -P 0x5a 64k 64k' "
		   "-c 'read -P 0 192k 128k' -c 'read -P 0 512M 64k'");
	qemu_compressed(&im);
	gen_extl2_read_image(&im);
	qemu_check("qemu_reads_generated_extended_l2_image", &im, "qcow2",
		   "-c 'read -P 0xa5 0 64k' -c 'read -P 0x5a 64k 32k' "
		   "-c 'read -P 0 96k 32k' -c 'read -P 0 128k 896k'");
	gen_qcow1(&im, 12, 9, 1 * MiB);
	qemu_check("qemu_reads_generated_qcow1", &im, "qcow", zeros);
	im_free(&im);

	qemu_created("qemu_created_v3_opens", "-f qcow2", QCOW_FMT_QCOW2);
	qemu_created("qemu_created_v2_opens", "-f qcow2 -o compat=0.10",
		     QCOW_FMT_QCOW2);
	qemu_created("qemu_created_extended_l2_opens",
		     "-f qcow2 -o extended_l2=on", QCOW_FMT_QCOW2);
	qemu_created("qemu_created_qcow1_opens", "-f qcow", QCOW_FMT_QCOW);
}

int main(int argc, char **argv)
{
	struct img base = { NULL, 0 };

	tl_init(argc, argv);
	if (!tl_tmpdir()) {
		printf("FAIL: setup cannot make a scratch directory: %s\n",
		       strerror(errno));
		return 1;
	}

	test_valid();

	gen_qcow2(&base, 3, 16, 1 * MiB, false);
	run_hcases(&base, v3_cases, sizeof(v3_cases) / sizeof(v3_cases[0]));
	gen_qcow2(&base, 2, 16, 1 * MiB, false);
	run_hcases(&base, v2_cases, sizeof(v2_cases) / sizeof(v2_cases[0]));
	im_free(&base);

	test_extensions();
	test_truncated();
	test_snapshots();
	test_qcow1();
	test_read_time();
	test_against_qemu();

	return tl_finish();
}
