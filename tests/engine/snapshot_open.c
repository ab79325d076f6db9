// SPDX-License-Identifier: MIT
/*
 * Opening an internal snapshot (qcow_open_opts snapshot_id/snapshot_name)
 * of an image where qemu-img made one and the engine wrote after it: the
 * snapshot's data at the active size, by ID, by name, by both; no bitmaps
 * in that view; a read-write open refused (-EINVAL), a raw image refused
 * (-ENOTSUP), no match -ENOENT "Can't find snapshot"; the file untouched.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "qcow.h"
#include "testlib.h"

#define SIZE	(4u << 20)
#define CHUNK	65536

static char path[1024], raw[1024];

static int setup(void)
{
	struct qcow_create_opts co = {
		.format = QCOW_FMT_QCOW2, .size = SIZE, .cluster_size = 65536,
	};
	struct qcow_create_opts cr = { .format = QCOW_FMT_RAW, .size = SIZE };
	struct qcow_open_opts rw = { 0 };
	static uint8_t buf[CHUNK];
	struct qcow_image *img;
	int ret;

	snprintf(path, sizeof(path), "%s/s.qcow2", tl_tmpdir());
	snprintf(raw, sizeof(raw), "%s/r.raw", tl_tmpdir());
	if (qcow_create(path, &co) < 0 || qcow_create(raw, &cr) < 0 ||
	    qcow_open(&img, path, &rw) < 0)
		return -1;
	memset(buf, 0x11, sizeof(buf));
	ret = qcow_pwrite(img, buf, sizeof(buf), 0);
	qcow_close(img);
	if (ret < 0 || tl_run("qemu-img snapshot -c s1 '%s' && qemu-img bitmap "
			      "--add '%s' b0", path, path))
		return -1;
	if (qcow_open(&img, path, &rw) < 0)
		return -1;
	memset(buf, 0x22, sizeof(buf));
	ret = qcow_pwrite(img, buf, sizeof(buf), 0);
	qcow_close(img);
	return ret;
}

/* Opens with id/name; the first CHUNK bytes must all be want. */
static void read_case(const char *name, const char *id, const char *sname,
		      int want)
{
	struct qcow_open_opts o = {
		.read_only = true, .snapshot_id = id, .snapshot_name = sname,
	};
	const struct qcow_bitmap_info *bm;
	static uint8_t buf[CHUNK];
	struct qcow_image *img;
	int ret, i;

	tl_begin("snapshot_open/%s", name);
	ret = qcow_open(&img, path, &o);
	if (ret < 0)
		return tl_fail("open: %s", qcow_strerror());
	ret = qcow_pread(img, buf, sizeof(buf), 0);
	for (i = 0; !ret && i < CHUNK && buf[i] == want; i++)
		;
	if (ret < 0)
		tl_fail("read: %s", strerror(-ret));
	else if (i < CHUNK)
		tl_fail("byte %d reads %#x, not %#x", i, buf[i], want);
	else if (qcow_size(img) != SIZE)
		tl_fail("size %llu", (unsigned long long)qcow_size(img));
	else if ((ret = qcow_bitmap_list(img, &bm)) != (id || sname ? 0 : 1))
		tl_fail("%d bitmaps listed", ret);
	else
		tl_pass();
	qcow_close(img);
}

static void refuse_case(const char *name, const char *file, bool ro,
			const char *id, const char *sname, int err,
			const char *words)
{
	struct qcow_open_opts o = {
		.read_only = ro, .snapshot_id = id, .snapshot_name = sname,
	};
	struct qcow_image *img;
	int ret;

	tl_begin("snapshot_open/%s", name);
	ret = qcow_open(&img, file, &o);
	if (ret == 0) {
		qcow_close(img);
		return tl_fail("opened");
	}
	if (ret != err)
		return tl_fail("%d (%s), not %d", ret, qcow_strerror(), err);
	if (!strstr(qcow_strerror(), words) || !strstr(qcow_strerror(), file))
		return tl_fail("message: %s", qcow_strerror());
	tl_pass();
}

int main(int argc, char **argv)
{
	uint8_t *before;
	size_t len;

	tl_init(argc, argv);
	if (!tl_have_prog("qemu-img")) {
		tl_begin("snapshot_open/all");
		tl_skip("qemu-img is not installed");
		return tl_finish();
	}
	if (setup() < 0) {
		tl_begin("snapshot_open/setup");
		tl_fail("%s", qcow_strerror());
		return tl_finish();
	}
	before = tl_read_file(path, &len);
	read_case("active", NULL, NULL, 0x22);
	read_case("by-name", NULL, "s1", 0x11);
	read_case("by-id", "1", NULL, 0x11);
	read_case("by-both", "1", "s1", 0x11);
	refuse_case("read-write", path, false, NULL, "s1", -EINVAL,
		    "read-only");
	refuse_case("missing", path, true, NULL, "s2", -ENOENT,
		    "Can't find snapshot");
	refuse_case("id-name-mismatch", path, true, "1", "x", -ENOENT,
		    "Can't find snapshot");
	refuse_case("raw", raw, true, NULL, "s1", -ENOTSUP,
		    "no internal snapshots");
	tl_begin("snapshot_open/unchanged");
	{
		char why[1400] = "";

		if (!before || !tl_file_equals(path, before, len, why,
					       sizeof(why)))
			tl_fail("the image changed: %s", why);
		else
			tl_pass();
	}
	free(before);
	return tl_finish();
}
