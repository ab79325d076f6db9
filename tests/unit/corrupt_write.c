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
#include "qcow/qcow.h"
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

int main(int argc, char **argv)
{
	tl_init(argc, argv);
	run();
	return tl_finish();
}
