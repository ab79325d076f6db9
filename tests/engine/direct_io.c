// SPDX-License-Identifier: MIT
/*
 * Images opened with O_DIRECT.  Writes that cover a block in part are
 * read-modify-writes (write_concurrent's and write_multiqueue's -direct
 * cases), also next to subclusters smaller than the block; clusters
 * smaller than the file's block are not written that way: a read-write
 * open of such an image must fail with one line naming the image, while a
 * read-only open of it reads right; writes of whole blocks from memory
 * that is not block-aligned are copied, not refused.
 * SKIP where the scratch directory's file system has no O_DIRECT with
 * 4 KiB blocks.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "qcow.h"
#include "testlib.h"

#define SIZE (4u << 20)

static const struct qcow_open_opts rw_direct = { .direct = true };
static const struct qcow_open_opts ro_direct = {
	.read_only = true, .direct = true,
};

static int make_image(const char *path, uint32_t cs, bool extl2,
		      uint8_t pat)
{
	struct qcow_create_opts co = {
		.format = QCOW_FMT_QCOW2, .size = SIZE, .cluster_size = cs,
		.extended_l2 = extl2,
	};
	struct qcow_open_opts rw = { 0 };
	struct qcow_image *img;
	uint8_t buf[8192];
	int ret;

	memset(buf, pat, sizeof(buf));
	ret = qcow_create(path, &co);
	if (ret < 0)
		return ret;
	ret = qcow_open(&img, path, &rw);
	if (ret < 0)
		return ret;
	/* half a block: subclusters of different kinds within one block */
	ret = qcow_pwrite(img, buf, 2048, 2048);
	if (!ret)
		ret = qcow_pwrite(img, buf, sizeof(buf), 65536);
	qcow_close(img);
	return ret;
}

/* rw refused with the reason, ro reads what was written. */
static void small_granularity(const char *name, uint32_t cs, bool extl2,
			      unsigned int block)
{
	char path[1024], why[512] = "";
	struct qcow_image *img;
	uint8_t buf[4096];
	int ret;

	tl_begin("direct_io/refuse-rw/%s", name);
	tl_path(path, sizeof(path), name);
	if (make_image(path, cs, extl2, 0x5a) < 0)
		return tl_fail("setup: %s", qcow_strerror());
	ret = qcow_open(&img, path, &rw_direct);
	if (!ret) {
		qcow_close(img);
		return tl_fail("read-write O_DIRECT open of %u-byte "
			       "granularity on %u-byte blocks succeeded",
			       extl2 ? cs / 32 : cs, block);
	}
	if (ret != -EINVAL || !strstr(qcow_strerror(), path) ||
	    !strstr(qcow_strerror(), "O_DIRECT"))
		return tl_fail("open: %d, '%s'", ret, qcow_strerror());
	if (qcow_open(&img, path, &ro_direct) < 0)
		return tl_fail("read-only open: %s", qcow_strerror());
	ret = qcow_pread(img, buf, sizeof(buf), 0);
	if (ret < 0 || buf[0] || buf[2047] || buf[2048] != 0x5a ||
	    buf[4095] != 0x5a)
		snprintf(why, sizeof(why), "read back: %d", ret);
	qcow_close(img);
	if (why[0])
		return tl_fail("%s", why);
	tl_pass();
}

/*
 * 2 KiB subclusters on 4 KiB blocks: each write below covers a block in
 * part, next to a subcluster of another kind (unallocated, allocated,
 * just allocated).  The image must read as the model (O_DIRECT and not),
 * pass qemu-img check and compare equal to the model as a raw file.
 */
static void small_subclusters(void)
{
	static const struct { uint64_t off, len; uint8_t pat; } w[] = {
		{ 512, 512, 0x11 },		/* allocates subcluster 0 */
		{ 3000, 100, 0x22 },		/* in place, subcluster 1 */
		{ 65536 + 2048, 2048, 0x33 },	/* beside data, same block */
		{ 10000, 6000, 0x44 },		/* across four subclusters */
		{ 200000, 700, 0x55 },		/* a new cluster */
		{ 200300, 2000, 0x66 },		/* over the last one */
	};
	char path[1024], raw[1024], why[512] = "";
	struct qcow_image *img;
	uint8_t *model = malloc(SIZE), *back = malloc(SIZE), buf[8192];
	unsigned int i;
	int ret = -ENOMEM;

	tl_begin("direct_io/subclusters/extl2-64k");
	tl_path(path, sizeof(path), "subcl.qcow2");
	tl_path(raw, sizeof(raw), "subcl.raw");
	if (model && back && make_image(path, 65536, true, 0x5a) == 0 &&
	    qcow_open(&img, path, &ro_direct) == 0) {
		ret = qcow_pread(img, model, SIZE, 0);
		qcow_close(img);
	}
	if (ret < 0 || qcow_open(&img, path, &rw_direct) < 0) {
		free(model);
		free(back);
		return tl_fail("setup: %s", qcow_strerror());
	}
	for (i = 0; i < sizeof(w) / sizeof(w[0]) && !why[0]; i++) {
		memset(buf, w[i].pat, w[i].len);
		memcpy(model + w[i].off, buf, w[i].len);
		ret = qcow_pwrite(img, buf, w[i].len, w[i].off);
		if (ret < 0)
			snprintf(why, sizeof(why), "write %" PRIu64 "+%" PRIu64
				 ": %s", w[i].off, w[i].len, strerror(-ret));
	}
	qcow_close(img);
	for (i = 0; i < 2 && !why[0]; i++) {
		if (qcow_open(&img, path, i ? &ro_direct : &(struct
				qcow_open_opts){ .read_only = true }) < 0) {
			snprintf(why, sizeof(why), "reopen: %s", qcow_strerror());
			break;
		}
		if (qcow_pread(img, back, SIZE, 0) < 0 ||
		    memcmp(back, model, SIZE))
			snprintf(why, sizeof(why), "read back%s differs",
				 i ? " (O_DIRECT)" : "");
		qcow_close(img);
	}
	if (!why[0] && tl_write_file(raw, model, SIZE) < 0)
		snprintf(why, sizeof(why), "cannot write the model");
	free(model);
	free(back);
	if (why[0])
		return tl_fail("%s", why);
	if (!tl_have_prog("qemu-img"))
		return tl_skip("qemu-img is not installed: data checked, "
			       "image not");
	if (tl_run("qemu-img check -q '%s'", path))
		return tl_fail("qemu-img check found problems");
	if (tl_run("qemu-img compare -q -f raw -F qcow2 '%s' '%s'", raw, path))
		return tl_fail("qemu-img compare: the image is not the model");
	tl_pass();
}

/* Whole blocks from a misaligned address: written (through a copy). */
static void misaligned_memory(unsigned int block)
{
	char path[1024], why[512] = "";
	struct qcow_image *img;
	uint8_t *mem = malloc(2 * block + 1), *src = mem + 1;
	uint8_t *back = malloc(2 * block);
	int ret;

	tl_begin("direct_io/misaligned-memory");
	tl_path(path, sizeof(path), "mem.qcow2");
	if (!mem || !back || make_image(path, 65536, false, 0x11) < 0) {
		free(mem);
		free(back);
		return tl_fail("setup: %s", qcow_strerror());
	}
	memset(src, 0xc3, 2 * block);
	if (qcow_open(&img, path, &rw_direct) < 0) {
		free(mem);
		free(back);
		return tl_fail("open: %s", qcow_strerror());
	}
	/* in place (allocated cluster), then into a new cluster */
	ret = qcow_pwrite(img, src, 2 * block, 65536);
	if (ret < 0)
		snprintf(why, sizeof(why), "in-place write: %s",
			 strerror(-ret));
	else if ((ret = qcow_pwrite(img, src, 2 * block, 3 * 65536)) < 0)
		snprintf(why, sizeof(why), "allocating write: %s",
			 strerror(-ret));
	qcow_close(img);
	if (!why[0] && qcow_open(&img, path, &ro_direct) == 0) {
		if (qcow_pread(img, back, 2 * block, 65536) < 0 ||
		    memcmp(back, src, 2 * block))
			snprintf(why, sizeof(why), "in-place data differs");
		else if (qcow_pread(img, back, 2 * block, 3 * 65536) < 0 ||
			 memcmp(back, src, 2 * block))
			snprintf(why, sizeof(why), "new cluster differs");
		qcow_close(img);
	} else if (!why[0]) {
		snprintf(why, sizeof(why), "reopen: %s", qcow_strerror());
	}
	free(mem);
	free(back);
	if (why[0])
		return tl_fail("%s", why);
	tl_pass();
}

int main(int argc, char **argv)
{
	unsigned int block;

	tl_init(argc, argv);
	block = tl_direct_block();
	if (block != 4096) {
		tl_begin("direct_io/all");
		tl_skip("%s has no O_DIRECT with 4 KiB blocks (st_blksize "
			"%u)", tl_tmpdir(), block);
		return tl_finish();
	}
	small_subclusters();
	small_granularity("cluster-512.qcow2", 512, false, block);
	misaligned_memory(block);
	return tl_finish();
}
