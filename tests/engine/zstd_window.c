// SPDX-License-Identifier: MIT
/*
 * zstd compressed clusters of an image made by qemu-img:
 *   - many reads of compressed clusters from one thread create at most one
 *     decompression context per thread that inflates (the reader's and the
 *     worker pool's: it is kept for the thread, not made per read);
 *   - a cluster whose frame declares a 128 MiB window (what a hostile image
 *     uses to make every read allocate that much) fails with EIO, and the
 *     clusters next to it still read right afterwards;
 *   - a frame declaring a window of one cluster (all that a cluster can
 *     need) still reads.
 * The frames are written by hand: magic, a frame header without content
 * size (so the window descriptor counts), one RLE block of one cluster.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "qcow/internal.h"
#include "qcow/crypt_pool.h"
#include "testlib.h"

#define CS		65536u
#define CB		16
#define NCLUSTERS	16

static uint8_t src[NCLUSTERS * CS], got[CS];

static void make_src(void)
{
	uint64_t i;

	for (i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)((i / 512) * 7 + i / CS);
}

/* Host offset of the compressed data of guest cluster 0..511, or 0. */
static uint64_t comp_host(const char *path, unsigned int cluster)
{
	uint8_t h[48], e[8];
	uint64_t l1, l2, ent = 0;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return 0;
	if (pread(fd, h, sizeof(h), 0) == sizeof(h)) {
		l1 = tl_get_be64(h + 40);
		if (pread(fd, e, 8, (off_t)l1) == 8) {
			l2 = tl_get_be64(e) & 0x00fffffffffffe00ULL;
			if (pread(fd, e, 8, (off_t)(l2 + cluster * 8)) == 8)
				ent = tl_get_be64(e);
		}
	}
	close(fd);
	if (!(ent & (1ULL << 62)))
		return 0;
	return ent & ((1ULL << (62 - (CB - 8))) - 1);
}

/* A frame of one cluster of byte fill, declaring window 2^window_log. */
static int poke_frame(const char *path, unsigned int cluster,
		      unsigned int window_log, uint8_t fill)
{
	uint32_t bh = 1 | (1u << 1) | (CS << 3);	/* last, RLE, size */
	uint8_t f[10] = {
		0x28, 0xb5, 0x2f, 0xfd,		/* magic */
		0x00,				/* no FCS, window descriptor */
		(uint8_t)((window_log - 10) << 3),
		(uint8_t)bh, (uint8_t)(bh >> 8), (uint8_t)(bh >> 16),
		fill,
	};
	uint64_t host = comp_host(path, cluster);
	int fd = open(path, O_WRONLY);
	int ret = -1;

	if (host && fd >= 0 && pwrite(fd, f, sizeof(f), (off_t)host) ==
	    sizeof(f))
		ret = 0;
	if (fd >= 0)
		close(fd);
	return ret;
}

static int read_cluster(struct qcow_image *img, unsigned int cluster)
{
	return qcow_pread(img, got, CS, (uint64_t)cluster * CS);
}

static bool cluster_is(const uint8_t *want)
{
	return !memcmp(got, want, CS);
}

static void reuse(const char *path)
{
	struct qcow_open_opts oo = { .read_only = true };
	struct qcow_image *img;
	unsigned long before, made;
	unsigned int i;
	int ret = 0;

	tl_begin("zstd_window/one-context-per-thread");
	if (qcow_open(&img, path, &oo) < 0)
		return tl_fail("open: %s", qcow_strerror());
	before = qcow_zstd_contexts();
	for (i = 0; i < 4 * NCLUSTERS && ret >= 0; i++) {
		ret = read_cluster(img, i % NCLUSTERS);
		if (ret >= 0 && !cluster_is(src + (i % NCLUSTERS) * CS))
			ret = -EILSEQ;
	}
	made = qcow_zstd_contexts() - before;
	qcow_close(img);
	if (ret < 0)
		return tl_fail("read %u: %d", i - 1, ret);
	/* the reader and the pool's workers inflate, one context each */
	if (made > 1 + QCRYPT_POOL_MAX)
		return tl_fail("%lu decompression contexts for %u reads from "
			       "one thread", made, 4 * NCLUSTERS);
	tl_pass();
}

static void window(const char *good, const char *bad)
{
	struct qcow_open_opts oo = { .read_only = true };
	struct qcow_image *img;
	uint8_t fill[CS];
	int ret;

	tl_begin("zstd_window/huge-window-refused");
	if (tl_run("cp '%s' '%s'", good, bad) ||
	    poke_frame(bad, 1, 27, 0xab) < 0 ||
	    poke_frame(bad, 2, CB, 0xcd) < 0)
		return tl_fail("cannot build the damaged image");
	if (qcow_open(&img, bad, &oo) < 0)
		return tl_fail("open: %s", qcow_strerror());
	ret = read_cluster(img, 1);
	if (ret != -EIO) {
		qcow_close(img);
		return tl_fail("a frame with a 128 MiB window gave %d, "
			       "not -EIO", ret);
	}
	ret = read_cluster(img, 0);
	if (ret < 0 || !cluster_is(src)) {
		qcow_close(img);
		return tl_fail("the cluster before it then read %d", ret);
	}
	tl_pass();

	tl_begin("zstd_window/cluster-window-reads");
	memset(fill, 0xcd, CS);
	ret = read_cluster(img, 2);
	qcow_close(img);
	if (ret < 0 || !cluster_is(fill))
		return tl_fail("a frame with a one-cluster window gave %d", ret);
	tl_pass();
}

int main(int argc, char **argv)
{
	char raw[1024], good[1024], bad[1024];

	tl_init(argc, argv);
	tl_path(raw, sizeof(raw), "src.raw");
	tl_path(good, sizeof(good), "zstd.qcow2");
	tl_path(bad, sizeof(bad), "bad.qcow2");
	make_src();
	if (!tl_have_prog("qemu-img")) {
		tl_begin("zstd_window");
		tl_skip("no qemu-img");
		return tl_finish();
	}
	if (tl_write_file(raw, src, sizeof(src)) < 0 ||
	    tl_run("qemu-img convert -q -c -O qcow2 -o compression_type=zstd"
		   ",cluster_size=%u '%s' '%s'", CS, raw, good)) {
		tl_begin("zstd_window/setup");
		tl_fail("qemu-img convert failed");
		return tl_finish();
	}
	reuse(good);
	window(good, bad);
	return tl_finish();
}
