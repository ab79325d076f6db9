// SPDX-License-Identifier: MIT
/*
 * Lazy refcounts on a long-running image: the clusters whose refcounts
 * wait for the refcount step (written at close only, once) must not pile
 * up without bound.  Rounds of allocating writes and discards, each
 * followed by a FLUSH, change far more than QCOW2_LAZY_MAX refcounts;
 * after every FLUSH the pending list must be at most that long.  Then the
 * image must read back, and be clean for qemu-img check after close.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "qcow2/qcow2.h"
#include "testlib.h"

#define MIB		(1ull << 20)
#define IMG_SIZE	(8 * MIB)
#define RANGE		(4 * MIB)	/* 8192 clusters of 512 bytes */
#define ROUNDS		10

static size_t pending(struct qcow_image *img)
{
	return qcow2_of(img)->alloc.lazy.n;
}

static uint8_t pattern(unsigned int round, uint64_t off)
{
	return (uint8_t)(1 + round * 7 + (off / 512) % 13);
}

static void fill(uint8_t *buf, unsigned int round)
{
	uint64_t i;

	for (i = 0; i < RANGE; i++)
		buf[i] = pattern(round, i);
}

static void run(uint8_t *buf, uint8_t *got)
{
	struct qcow_create_opts co = {
		.format = QCOW_FMT_QCOW2, .size = IMG_SIZE,
		.cluster_size = 512, .lazy_refcounts = true,
	};
	struct qcow_open_opts oo = { 0 };
	struct qcow_image *img;
	size_t most = 0;
	char path[1024];
	unsigned int r;
	int ret = 0;

	tl_begin("lazy_bounded/pending-refcounts");
	tl_path(path, sizeof(path), "lazy.qcow2");
	if (qcow_create(path, &co) < 0 || qcow_open(&img, path, &oo) < 0)
		return tl_fail("%s", qcow_strerror());
	for (r = 0; r < ROUNDS && ret >= 0; r++) {
		fill(buf, r);
		ret = qcow_pwrite(img, buf, RANGE, 0);
		if (ret >= 0)
			ret = qcow_flush(img);
		most = MAX(most, pending(img));
		if (ret >= 0 && pending(img) > QCOW2_LAZY_MAX)
			break;
		if (ret >= 0)
			ret = qcow_pdiscard(img, RANGE, 0);
		if (ret >= 0)
			ret = qcow_flush(img);
		most = MAX(most, pending(img));
		if (ret >= 0 && pending(img) > QCOW2_LAZY_MAX)
			break;
	}
	if (ret < 0 || r < ROUNDS) {
		qcow_close(img);
		if (ret < 0)
			return tl_fail("round %u: %d", r, ret);
		return tl_fail("round %u: %zu refcounts pending after a FLUSH "
			       "(bound %u)", r, most, QCOW2_LAZY_MAX);
	}
	fill(buf, ROUNDS);
	ret = qcow_pwrite(img, buf, RANGE, 0);
	qcow_close(img);
	if (ret < 0)
		return tl_fail("last write: %d", ret);
	if (tl_have_prog("qemu-img") && tl_run("qemu-img check -q '%s'", path))
		return tl_fail("qemu-img check after close failed");
	oo.read_only = true;
	if (qcow_open(&img, path, &oo) < 0)
		return tl_fail("reopen: %s", qcow_strerror());
	ret = qcow_pread(img, got, RANGE, 0);
	qcow_close(img);
	if (ret < 0 || memcmp(got, buf, RANGE))
		return tl_fail("data after reopen differs (%d)", ret);
	fprintf(stderr, "    at most %zu refcounts pending\n", most);
	tl_pass();
}

int main(int argc, char **argv)
{
	uint8_t *buf = malloc(RANGE), *got = malloc(RANGE);

	tl_init(argc, argv);
	if (buf && got)
		run(buf, got);
	else
		tl_fail("out of memory");
	free(buf);
	free(got);
	return tl_finish();
}
