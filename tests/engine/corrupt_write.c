// SPDX-License-Identifier: MIT
/*
 * Metadata found inconsistent while writing: a write whose L2 entry points
 * into the refcount table must fail, mark the image corrupt (as QEMU does)
 * and stop all further writes, without touching the refcount table; the
 * image then opens read-only only, and reads elsewhere still work.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "qcow.h"
#include "qcow/util.h"
#include "testlib.h"

#define CS 65536u

static int open_rw(struct qcow_image **img, const char *path, bool ro)
{
	struct qcow_open_opts oo = { .read_only = ro };

	return qcow_open(img, path, &oo);
}

/* Points the L2 entry of guest cluster 1 at host offset target. */
static int poke_l2(const char *path, uint64_t target, uint64_t *rt_off)
{
	uint8_t h[112], e[8];
	uint64_t l1, l2;
	int fd = open(path, O_RDWR);

	if (fd < 0 || pread(fd, h, sizeof(h), 0) != sizeof(h))
		return -1;
	*rt_off = get_be64(h + 48);
	l1 = get_be64(h + 40);
	if (pread(fd, e, 8, l1) != 8)
		return -1;
	l2 = get_be64(e) & 0x00fffffffffffe00ULL;
	put_be64(e, target | (1ULL << 63));
	if (pwrite(fd, e, 8, l2 + 8) != 8)
		return -1;
	return close(fd);
}

static void run(void)
{
	struct qcow_create_opts co = {
		.format = QCOW_FMT_QCOW2, .size = 4 << 20, .cluster_size = CS,
	};
	static uint8_t buf[CS], rt_before[CS], rt_after[CS];
	struct qcow_image *img;
	char path[1024];
	uint64_t rt_off;
	int fd, ret;

	tl_begin("corrupt_write/l2-into-refcount-table");
	snprintf(path, sizeof(path), "%s/c.qcow2", tl_tmpdir());
	memset(buf, 0x5a, sizeof(buf));
	if (qcow_create(path, &co) < 0 || open_rw(&img, path, false) < 0)
		return tl_fail("%s", qcow_strerror());
	ret = qcow_pwrite(img, buf, CS, 0);
	qcow_close(img);
	if (ret < 0 || poke_l2(path, 0, &rt_off) < 0 ||
	    poke_l2(path, rt_off, &rt_off) < 0)
		return tl_fail("setup failed");
	fd = open(path, O_RDONLY);
	pread(fd, rt_before, CS, rt_off);
	close(fd);
	if (open_rw(&img, path, false) < 0)
		return tl_fail("open: %s", qcow_strerror());
	ret = qcow_pwrite(img, buf, 4096, CS);
	if (ret != -EIO) {
		qcow_close(img);
		return tl_fail("write into the refcount table gave %d", ret);
	}
	ret = qcow_pwrite(img, buf, 4096, 2 * CS);
	qcow_close(img);
	if (ret != -EIO)
		return tl_fail("a later write to a healthy cluster gave %d",
			       ret);
	fd = open(path, O_RDONLY);
	pread(fd, rt_after, CS, rt_off);
	close(fd);
	if (memcmp(rt_before, rt_after, CS))
		return tl_fail("the refcount table was written");
	if (open_rw(&img, path, false) == 0) {
		qcow_close(img);
		return tl_fail("a corrupt image opened read-write");
	}
	if (!strstr(qcow_strerror(), "corrupt"))
		return tl_fail("refusal does not say corrupt: %s",
			       qcow_strerror());
	if (open_rw(&img, path, true) < 0)
		return tl_fail("read-only open: %s", qcow_strerror());
	ret = qcow_pread(img, buf, CS, 0);
	qcow_close(img);
	if (ret < 0 || buf[0] != 0x5a)
		return tl_fail("healthy cluster unreadable: %d", ret);
	if (tl_have_prog("qemu-img") &&
	    tl_run("qemu-img info '%s' | grep -q 'corrupt: true'", path))
		return tl_fail("qemu-img does not see the corrupt bit");
	tl_pass();
}

static int rb_cluster(const char *path, uint8_t *rb, uint64_t *l2)
{
	uint8_t h[112], e[8];
	uint64_t rt;
	int fd = open(path, O_RDONLY), ret = -1;

	if (fd < 0)
		return -1;
	if (pread(fd, h, sizeof(h), 0) == sizeof(h) &&
	    pread(fd, e, 8, get_be64(h + 40)) == 8) {
		*l2 = get_be64(e) & 0x00fffffffffffe00ULL;
		rt = get_be64(h + 48);
		if (pread(fd, e, 8, rt) == 8 &&
		    pread(fd, rb, CS, get_be64(e)) == CS)
			ret = 0;
	}
	close(fd);
	return ret;
}

static int put_rb(const char *path, const uint8_t *rb)
{
	uint8_t h[112], e[8];
	int fd = open(path, O_RDWR), ret = -1;

	if (fd < 0)
		return -1;
	if (pread(fd, h, sizeof(h), 0) == sizeof(h) &&
	    pread(fd, e, 8, get_be64(h + 48)) == 8 &&
	    pwrite(fd, rb, CS, get_be64(e)) == CS)
		ret = 0;
	close(fd);
	return ret;
}

static void check_leaks(const char *path, uint64_t *leaks, uint64_t *corr)
{
	struct qcow_check_result res = { 0 };
	struct qcow_image *img;

	*leaks = *corr = UINT64_MAX;
	if (open_rw(&img, path, true) < 0)
		return;
	if (qcow_check(img, &res, NULL, NULL) == 0) {
		*leaks = res.leaks;
		*corr = res.corruptions;
	}
	qcow_close(img);
}

/*
 * An allocation of two clusters lands on an L2 table whose refcount was
 * zeroed and the free cluster after it: the write fails and the image is
 * marked corrupt, but the clusters it took must go back: no refcount
 * changes on disk, no leaked cluster (the free one) after close.
 */
static void alloc_hits_metadata(void)
{
	struct qcow_create_opts co = {
		.format = QCOW_FMT_QCOW2, .size = 4 << 20, .cluster_size = CS,
	};
	static uint8_t buf[2 * CS], rb_before[CS], rb_after[CS];
	uint64_t l2, c, leaks, corr, leaks0, corr0;
	struct qcow_image *img;
	char path[1024];
	int ret;

	tl_begin("corrupt_write/failed-allocation-no-leak");
	snprintf(path, sizeof(path), "%s/leak.qcow2", tl_tmpdir());
	memset(buf, 0x33, sizeof(buf));
	if (qcow_create(path, &co) < 0 || open_rw(&img, path, false) < 0)
		return tl_fail("%s", qcow_strerror());
	ret = qcow_pwrite(img, buf, CS, 0);
	if (ret >= 0)
		ret = qcow_pdiscard(img, CS, 0);
	qcow_close(img);
	if (ret < 0 || rb_cluster(path, rb_before, &l2) < 0)
		return tl_fail("setup failed (%d)", ret);
	c = l2 / CS;
	/* the data cluster after the L2 table was freed by the discard */
	if (get_be16(rb_before + 2 * c) != 1 ||
	    get_be16(rb_before + 2 * (c + 1)) != 0)
		return tl_fail("setup: cluster %llu is not an L2 table "
			       "followed by a free cluster",
			       (unsigned long long)c);
	put_be16(rb_before + 2 * c, 0);
	if (put_rb(path, rb_before) < 0)
		return tl_fail("cannot zero the L2 table's refcount");
	check_leaks(path, &leaks0, &corr0);
	if (open_rw(&img, path, false) < 0)
		return tl_fail("open: %s", qcow_strerror());
	ret = qcow_pwrite(img, buf, 2 * CS, CS);
	qcow_close(img);
	if (ret != -EIO)
		return tl_fail("allocation over the L2 table gave %d", ret);
	if (rb_cluster(path, rb_after, &l2) < 0)
		return tl_fail("cannot read the refcount block back");
	if (memcmp(rb_before, rb_after, CS))
		return tl_fail("the failed allocation changed refcounts: "
			       "cluster %llu now %u, cluster %llu now %u",
			       (unsigned long long)c,
			       get_be16(rb_after + 2 * c),
			       (unsigned long long)c + 1,
			       get_be16(rb_after + 2 * (c + 1)));
	check_leaks(path, &leaks, &corr);
	if (leaks != 0 || corr != corr0)
		return tl_fail("our check: %llu leaks, %llu corruptions "
			       "(before the write: %llu, %llu)",
			       (unsigned long long)leaks,
			       (unsigned long long)corr,
			       (unsigned long long)leaks0,
			       (unsigned long long)corr0);
	if (tl_have_prog("qemu-img") &&
	    !tl_run("qemu-img check '%s' 2>&1 | grep -q 'leaked clusters'",
		    path))
		return tl_fail("qemu-img check finds leaked clusters");
	tl_pass();
}

int main(int argc, char **argv)
{
	tl_init(argc, argv);
	run();
	alloc_hits_metadata();
	return tl_finish();
}
