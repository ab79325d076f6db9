// SPDX-License-Identifier: MIT
/*
 * The VM state area (qcow_vmstate_pread/pwrite): random writes past the
 * guest disk, across clusters and L2 tables, that grow the L1 table again
 * and again, mixed with writes of the disk, against byte models; the
 * virtual size stays, the check is clean, a reopen reads the same.  A
 * snapshot shares the area: a write after it copies (the snapshot's bytes
 * come back when it is applied).  Raw and qcow refuse with ENOTSUP, a
 * read-only image refuses writes, offsets past QEMU's limits fail with
 * EIO or EFBIG and change nothing.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "qcow.h"
#include "testlib.h"

#define DISK (1u << 20)
#define CLUSTER 4096u
#define SPAN (2u << 20)		/* one L1 entry: 512 L2 entries of 4 KiB */
#define AREA (9u << 20)		/* the part of the area the writes reach */

struct models {
	uint8_t *disk;
	uint8_t *vm;
};

static int verify(struct qcow_image *img, const struct models *m,
		  char *why, size_t n)
{
	uint8_t *buf = malloc(AREA);
	int ret = -1;

	if (!buf) {
		snprintf(why, n, "out of memory");
		return -1;
	}
	if (qcow_size(img) != DISK)
		snprintf(why, n, "virtual size %llu, not %u",
			 (unsigned long long)qcow_size(img), DISK);
	else if ((ret = qcow_vmstate_pread(img, buf, AREA, 0)) < 0)
		snprintf(why, n, "vmstate read: %s", strerror(-ret));
	else if (memcmp(buf, m->vm, AREA))
		snprintf(why, n, "the VM state differs from its model");
	else if ((ret = qcow_pread(img, buf, DISK, 0)) < 0)
		snprintf(why, n, "disk read: %s", strerror(-ret));
	else if (memcmp(buf, m->disk, DISK))
		snprintf(why, n, "the disk differs from its model");
	else
		ret = 0;
	free(buf);
	return why[0] ? -1 : ret;
}

static int check_clean(struct qcow_image *img, char *why, size_t n)
{
	struct qcow_check_result res;
	int ret = qcow_check(img, &res, NULL, NULL);

	if (ret < 0 || res.corruptions || res.leaks || res.check_errors)
		snprintf(why, n, "check: %d, %llu corruptions, %llu leaks",
			 ret, (unsigned long long)res.corruptions,
			 (unsigned long long)res.leaks);
	return why[0] ? -1 : 0;
}

/*
 * Closed (everything written back: frees of shared clusters wait for a
 * later write-back while the image is open) and opened again.
 */
static struct qcow_image *reopen(struct qcow_image *img, const char *path,
				 char *why, size_t n)
{
	struct qcow_open_opts rw = { 0 };

	qcow_close(img);
	if (qcow_open(&img, path, &rw) == 0)
		return img;
	snprintf(why, n, "reopen: %s", qcow_strerror());
	return NULL;
}

/* One random write of the area or the disk, model and image. */
static int random_write(struct qcow_image *img, struct models *m,
			uint64_t *seed, uint8_t *buf, char *why, size_t n)
{
	bool vm = tl_rnd(seed) % 4;
	uint64_t lim = vm ? AREA : DISK;
	uint64_t len = 1 + tl_rnd(seed) % (3 * CLUSTER);
	uint64_t off = tl_rnd(seed) % (lim - len);
	int ret;

	/* runs across an L2 table's end now and then */
	if (vm && tl_rnd(seed) % 5 == 0)
		off = (tl_rnd(seed) % (AREA / SPAN - 1) + 1) * SPAN - len / 2;
	tl_fill_rand(buf, len, tl_rnd(seed));
	if (vm) {
		ret = qcow_vmstate_pwrite(img, buf, len, off);
		memcpy(m->vm + off, buf, len);
	} else {
		ret = qcow_pwrite(img, buf, len, off);
		memcpy(m->disk + off, buf, len);
	}
	if (ret < 0)
		snprintf(why, n, "%s write of %llu at %llu: %s",
			 vm ? "vmstate" : "disk", (unsigned long long)len,
			 (unsigned long long)off, strerror(-ret));
	return ret;
}

static struct qcow_image *make(const char *name, char *path, size_t n)
{
	struct qcow_create_opts co = {
		.format = QCOW_FMT_QCOW2, .size = DISK,
		.cluster_size = CLUSTER,
	};
	struct qcow_open_opts rw = { 0 };
	struct qcow_image *img;

	tl_path(path, n, name);
	if (qcow_create(path, &co) < 0 || qcow_open(&img, path, &rw) < 0)
		return NULL;
	return img;
}

static void model_case(void)
{
	struct models m = { calloc(1, DISK), calloc(1, AREA) };
	char path[1024], why[1400] = "";
	uint8_t *buf = malloc(3 * CLUSTER);
	struct qcow_image *img;
	uint64_t seed = 15;
	int i;

	tl_begin("vmstate/model");
	img = make("model.qcow2", path, sizeof(path));
	if (!img || !m.disk || !m.vm || !buf) {
		tl_fail("setup: %s", qcow_strerror());
		goto out;
	}
	for (i = 0; i < 400 && !why[0]; i++)
		random_write(img, &m, &seed, buf, why, sizeof(why));
	if (!why[0])
		verify(img, &m, why, sizeof(why));
	img = why[0] ? img : reopen(img, path, why, sizeof(why));
	if (img && !verify(img, &m, why, sizeof(why)))
		check_clean(img, why, sizeof(why));
	if (img)
		qcow_close(img);
	tl_verdict_checked(why, path);
out:
	free(m.disk);
	free(m.vm);
	free(buf);
}

/* A snapshot shares the area; writes after it copy the shared clusters. */
static void snapshot_case(void)
{
	struct qcow_snapshot_create_opts so = { .name = "s1",
						.icount = UINT64_MAX };
	struct models m = { calloc(1, DISK), calloc(1, AREA) }, old;
	char path[1024], why[1400] = "";
	uint8_t *buf = malloc(3 * CLUSTER);
	struct qcow_image *img;
	uint64_t seed = 77;
	int i;

	old.disk = malloc(DISK);
	old.vm = malloc(AREA);
	tl_begin("vmstate/snapshot");
	img = make("snap.qcow2", path, sizeof(path));
	if (!img || !m.disk || !m.vm || !buf || !old.disk || !old.vm) {
		tl_fail("setup: %s", qcow_strerror());
		goto out;
	}
	for (i = 0; i < 100 && !why[0]; i++)
		random_write(img, &m, &seed, buf, why, sizeof(why));
	if (!why[0] && qcow_snapshot_create(img, &so, NULL, 0) < 0)
		snprintf(why, sizeof(why), "snapshot: %s", qcow_strerror());
	memcpy(old.disk, m.disk, DISK);
	memcpy(old.vm, m.vm, AREA);
	for (i = 0; i < 100 && !why[0]; i++)
		random_write(img, &m, &seed, buf, why, sizeof(why));
	if (!why[0])
		verify(img, &m, why, sizeof(why));
	img = why[0] ? img : reopen(img, path, why, sizeof(why));
	if (img && !why[0] && !check_clean(img, why, sizeof(why)) &&
	    qcow_snapshot_apply(img, "s1") < 0)
		snprintf(why, sizeof(why), "apply: %s", qcow_strerror());
	if (img && !why[0] && !verify(img, &old, why, sizeof(why)))
		check_clean(img, why, sizeof(why));
	if (img)
		qcow_close(img);
	tl_verdict_checked(why, path);
out:
	free(m.disk);
	free(m.vm);
	free(old.disk);
	free(old.vm);
	free(buf);
}

static int expect(int got, int want, const char *what, char *why, size_t n)
{
	if (got == want)
		return 0;
	snprintf(why, n, "%s: %d, not %d", what, got, want);
	return -1;
}

static int refusals_qcow2(const char *path, char *why, size_t n)
{
	struct qcow_open_opts ro = { .read_only = true }, rw = { 0 };
	static uint8_t buf[512];
	struct qcow_image *img;
	int ret;

	if (qcow_open(&img, path, &rw) < 0)
		return expect(-1, 0, "open", why, n);
	ret = expect(qcow_vmstate_pwrite(img, buf, 512, 4ULL << 50),
		     -EFBIG, "write at 4 PiB", why, n) ||
	      expect(qcow_vmstate_pread(img, buf, 512, QCOW_VMSTATE_MAX),
		     -EIO, "read past the limit", why, n) ||
	      expect(qcow_vmstate_pread(img, buf, 512, 4ULL << 50), 0,
		     "read at 4 PiB", why, n);
	qcow_close(img);
	if (ret || qcow_open(&img, path, &ro) < 0)
		return ret ? ret : expect(-1, 0, "open -r", why, n);
	ret = expect(qcow_vmstate_pwrite(img, buf, 512, 0), -EROFS,
		     "read-only write", why, n);
	qcow_close(img);
	return ret;
}

/* Raw and qcow have no VM state: ENOTSUP, as QEMU's block layer says. */
static int refusals_other(enum qcow_format fmt, char *why, size_t n)
{
	struct qcow_create_opts co = { .format = fmt, .size = DISK };
	struct qcow_open_opts rw = { 0 };
	static uint8_t buf[512];
	struct qcow_image *img;
	char path[1024];
	int ret;

	tl_path(path, sizeof(path), fmt == QCOW_FMT_RAW ? "r.raw" : "r.qcow");
	if (qcow_create(path, &co) < 0 || qcow_open(&img, path, &rw) < 0) {
		snprintf(why, n, "setup: %s", qcow_strerror());
		return -1;
	}
	ret = expect(qcow_vmstate_pread(img, buf, 512, 0), -ENOTSUP,
		     qcow_format_name(fmt), why, n) ||
	      expect(qcow_vmstate_pwrite(img, buf, 512, 0), -ENOTSUP,
		     qcow_format_name(fmt), why, n);
	qcow_close(img);
	return ret;
}

static void refusals_case(void)
{
	char path[1024], why[1400] = "";
	struct qcow_image *img;
	uint8_t *before = NULL;
	size_t len;

	tl_begin("vmstate/refusals");
	if (refusals_other(QCOW_FMT_RAW, why, sizeof(why)) ||
	    refusals_other(QCOW_FMT_QCOW, why, sizeof(why)))
		return tl_fail("%s", why);
	img = make("refuse.qcow2", path, sizeof(path));
	if (img) {
		qcow_close(img);
		before = tl_read_file(path, &len);
	}
	if (!before)
		return tl_fail("setup: %s", qcow_strerror());
	if (!refusals_qcow2(path, why, sizeof(why)))
		tl_file_equals(path, before, len, why, sizeof(why));
	free(before);
	tl_verdict_checked(why, path);
}

int main(int argc, char **argv)
{
	tl_init(argc, argv);
	model_case();
	snapshot_case();
	refusals_case();
	return tl_finish();
}
