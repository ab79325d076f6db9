// SPDX-License-Identifier: MIT
/*
 * Writes that fail: the engine's I/O layer fails every image write while
 * a case wants it (the file backend's fail hook, file_backend.h, as a full
 * or failing disk would).
 * The request returns the error; the clusters allocated for it are
 * released, so after a clean close our check and qemu-img check find no
 * leak and no corruption, and the range reads as before.  A metadata
 * write-back that fails is retried whole by the next one.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "qcow/internal.h"
#include "testlib.h"

#define SIZE	(4u << 20)

static bool failing;

static int fail_writes(void *arg, const struct qio_op *op)
{
	(void)arg;
	(void)op;
	return failing ? -EIO : 0;
}

static const struct qfile_backend injector = { .fail = fail_writes };

struct wcase {
	const char *name;
	uint32_t cs;
	bool extl2;
	bool backing;
	bool compressed;	/* the failing write is a compressed one */
	bool packed;		/* ... after one that shares its cluster */
};

static int make_images(const struct wcase *c, const char *path,
		       const char *base)
{
	struct qcow_create_opts co = {
		.format = QCOW_FMT_QCOW2, .size = SIZE, .cluster_size = c->cs,
		.extended_l2 = c->extl2,
	};
	struct qcow_create_opts bo = co;
	struct qcow_open_opts rw = { 0 };
	struct qcow_image *img;
	uint8_t buf[4096];
	int ret;

	if (!c->backing)
		return qcow_create(path, &co);
	bo.extended_l2 = false;
	ret = qcow_create(base, &bo);
	if (ret < 0 || (ret = qcow_open(&img, base, &rw)) < 0)
		return ret;
	memset(buf, 0x3c, sizeof(buf));
	ret = qcow_pwrite(img, buf, sizeof(buf), 2 * c->cs);
	qcow_close(img);
	co.backing_file = base;
	co.backing_format = "qcow2";
	return ret < 0 ? ret : qcow_create(path, &co);
}

/* The write that fails, at 2 clusters in (over the base's data). */
static int failing_write(const struct wcase *c, struct qcow_image *img)
{
	uint8_t *buf = calloc(1, c->cs);
	int ret;

	if (!buf)
		return -ENOMEM;
	memset(buf, 0x77, c->cs);
	if (c->packed) {
		/* a first compressed cluster that succeeds: 3 clusters in */
		ret = qcow_pwrite_compressed(img, buf, c->cs, 3 * c->cs);
		if (ret < 0) {
			free(buf);
			return 1000 + ret;
		}
	}
	failing = true;
	if (c->compressed)
		ret = qcow_pwrite_compressed(img, buf, c->cs, 2 * c->cs);
	else
		ret = qcow_pwrite(img, buf, 1024, 2 * c->cs + 1024);
	failing = false;
	free(buf);
	return ret;
}

static bool reads_as_before(const struct wcase *c, struct qcow_image *img,
			    char *why, size_t n)
{
	uint8_t *buf = malloc(c->cs);
	uint8_t want = c->backing ? 0x3c : 0;
	uint32_t i, end = c->backing ? 4096 : c->cs;
	bool ok = buf && qcow_pread(img, buf, c->cs, 2 * c->cs) == 0;

	for (i = 0; ok && i < c->cs; i++)
		if (buf[i] != (i < end ? want : 0))
			break;
	if (!ok || i < c->cs)
		snprintf(why, n, "byte %u of the failed range is %#x", i,
			 ok ? buf[i] : 0);
	free(buf);
	return ok && i == c->cs;
}

/* qemu-img check finds nothing (true as well without qemu-img) */
static bool qemu_img_clean(const char *path)
{
	char cmd[1200];

	if (!tl_have_prog("qemu-img"))
		return true;
	snprintf(cmd, sizeof(cmd), "qemu-img check -q '%s'", path);
	return system(cmd) == 0;
}

/* Our check finds no corruption, leak or error; else why says what. */
static bool check_clean(struct qcow_image *img, char *why, size_t n)
{
	struct qcow_check_result res = { 0 };

	if (qcow_check(img, &res, NULL, NULL) < 0) {
		snprintf(why, n, "check did not run");
		return false;
	}
	if (!res.corruptions && !res.leaks && !res.check_errors)
		return true;
	snprintf(why, n, "check: %d corruptions, %d leaks, %d errors",
		 (int)res.corruptions, (int)res.leaks, (int)res.check_errors);
	return false;
}

/* The case's verdict: why (if set), then qemu-img check of the image. */
static void end_case(const char *path, const char *why)
{
	if (why[0])
		return tl_fail("%s", why);
	if (!qemu_img_clean(path))
		return tl_fail("qemu-img check %s is not clean", path);
	tl_pass();
}

static void run_case(const struct wcase *c)
{
	struct qcow_open_opts rw = { 0 }, ro = { .read_only = true };
	char path[1024], base[1024], why[512] = "";
	struct qcow_image *img;
	int ret;

	tl_begin("write_error/%s", c->name);
	tl_path(path, sizeof(path), "img.qcow2");
	tl_path(base, sizeof(base), "base.qcow2");
	remove(path);
	remove(base);
	if (make_images(c, path, base) < 0 || qcow_open(&img, path, &rw) < 0)
		return tl_fail("setup: %s", qcow_strerror());
	ret = failing_write(c, img);
	qcow_close(img);
	if (ret >= 1000)
		return tl_fail("setup: first compressed write: %d", ret - 1000);
	if (ret != -EIO)
		return tl_fail("the failing write returned %d, not -EIO", ret);
	if (qcow_open(&img, path, &ro) < 0)
		return tl_fail("reopen: %s", qcow_strerror());
	if (check_clean(img, why, sizeof(why)))
		reads_as_before(c, img, why, sizeof(why));
	qcow_close(img);
	end_case(path, why);
}

/*
 * Write-back that fails: the data was written, the flush of its metadata
 * fails, a later flush succeeds; nothing may be lost or miscounted.
 */
struct fcase {
	const char *name;
	uint32_t cs;
	uint32_t refcount_bits;
	bool lazy;
	uint64_t size;
	uint64_t before;	/* written and flushed first, from 0 */
	uint64_t off;		/* then [off, off + len) with a failing flush */
	uint64_t len;
};

static int write_pattern(struct qcow_image *img, uint64_t off, uint64_t len,
			 uint8_t pat)
{
	uint8_t buf[65536];
	uint64_t n;
	int ret = 0;

	memset(buf, pat, sizeof(buf));
	for (; len && !ret; off += n, len -= n) {
		n = len < sizeof(buf) ? len : sizeof(buf);
		ret = qcow_pwrite(img, buf, n, off);
	}
	return ret;
}

static bool reads_pattern(struct qcow_image *img, uint64_t off, uint64_t len,
			  uint8_t pat)
{
	uint8_t buf[65536];
	uint64_t n, i;

	for (; len; off += n, len -= n) {
		n = len < sizeof(buf) ? len : sizeof(buf);
		if (qcow_pread(img, buf, n, off) < 0)
			return false;
		for (i = 0; i < n; i++)
			if (buf[i] != pat)
				return false;
	}
	return true;
}

static void failed_flush(const struct fcase *f)
{
	struct qcow_create_opts co = {
		.format = QCOW_FMT_QCOW2, .size = f->size,
		.cluster_size = f->cs, .lazy_refcounts = f->lazy,
		.refcount_bits = f->refcount_bits,
	};
	struct qcow_open_opts rw = { 0 }, ro = { .read_only = true };
	char path[1024], why[512] = "";
	struct qcow_image *img;
	int ret, ret2;

	tl_begin("write_error/%s", f->name);
	tl_path(path, sizeof(path), "flush.qcow2");
	remove(path);
	if (qcow_create(path, &co) < 0 || qcow_open(&img, path, &rw) < 0)
		return tl_fail("setup: %s", qcow_strerror());
	ret = write_pattern(img, 0, f->before, 0x21);
	if (!ret)
		ret = qcow_flush(img);
	if (!ret)
		ret = write_pattern(img, f->off, f->len, 0x5e);
	failing = true;
	ret2 = qcow_flush(img);
	failing = false;
	if (ret < 0 || ret2 != -EIO) {
		qcow_close(img);
		return tl_fail("writes %d, failing flush %d (not -EIO)", ret,
			       ret2);
	}
	ret = qcow_flush(img);
	qcow_close(img);
	if (ret < 0)
		return tl_fail("the flush after the failure: %d", ret);
	if (qcow_open(&img, path, &ro) < 0)
		return tl_fail("reopen: %s", qcow_strerror());
	if (check_clean(img, why, sizeof(why)) &&
	    (!reads_pattern(img, 0, f->before, 0x21) ||
	     !reads_pattern(img, f->off, f->len, 0x5e)))
		snprintf(why, sizeof(why), "the data does not read back");
	qcow_close(img);
	end_case(path, why);
}

int main(int argc, char **argv)
{
	static const struct wcase cases[] = {
		{ "alloc-64k", .cs = 65536 },
		{ "alloc-4k", .cs = 4096 },
		{ "cow-backing-64k", .cs = 65536, .backing = true },
		{ "extl2-subcluster-64k", .cs = 65536, .extl2 = true },
		{ "extl2-cow-backing-64k", .cs = 65536, .extl2 = true,
		  .backing = true },
		{ "compressed-64k", .cs = 65536, .compressed = true },
		{ "compressed-packed-64k", .cs = 65536, .compressed = true,
		  .packed = true },
	};
	static const struct fcase flushes[] = {
		{ "flush-fails", .cs = 65536, .size = SIZE,
		  .off = 3 * 65536, .len = 8192 },
		{ "flush-fails-lazy", .cs = 65536, .lazy = true, .size = SIZE,
		  .off = 3 * 65536, .len = 8192 },
		/* new refcount blocks in the failing checkpoint */
		{ "flush-fails-refblock-growth", .cs = 512, .size = 1ULL << 30,
		  .off = 900ULL << 20, .len = 8192 },
		/*
		 * 512-byte clusters, 64-bit refcounts: one table cluster
		 * covers 2 MiB of file; the failing checkpoint moves the
		 * table
		 */
		{ "flush-fails-reftable-move", .cs = 512, .refcount_bits = 64,
		  .size = 8 << 20, .before = 1 << 20, .off = 1 << 20,
		  .len = 1536 << 10 },
	};
	size_t i;

	tl_init(argc, argv);
	qfile_set_backend(&injector);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i]);
	for (i = 0; i < sizeof(flushes) / sizeof(flushes[0]); i++)
		failed_flush(&flushes[i]);
	qfile_set_backend(NULL);
	return tl_finish();
}
