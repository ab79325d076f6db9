// SPDX-License-Identifier: MIT
/*
 * Random operations against a byte model: writes, write-zeroes (with and
 * without unmap), discards, compressed writes, flushes and reopens at
 * unaligned offsets, on many image configurations.  The image must read
 * back exactly as the model after every few operations and after a
 * reopen, and pass qemu-img check (no corruption, no leak) at the end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "qcow.h"
#include "testlib.h"
#include "model.h"

#define SIZE	(3u << 20)
#define OPS	300

struct model {
	struct tl_model exp;
	uint8_t *buf;
	uint32_t cs;
	bool v2;
	bool backing;
};

static uint8_t base_byte(const struct model *m)
{
	return m->backing ? 0x3c : 0;
}

static int one_op(struct qcow_image *img, struct model *m, uint64_t *seed,
		  int *kind)
{
	uint64_t len = 1 + tl_rnd(seed) % (3 * m->cs), off, c;
	uint8_t pat = (uint8_t)(1 + tl_rnd(seed) % 250);

	off = tl_rnd(seed) % (SIZE - len);
	*kind = (int)(tl_rnd(seed) % 10);
	switch (*kind) {
	case 0:
		tl_model_set(&m->exp, off, 0, len);
		return qcow_pwrite_zeroes(img, len, off, 0);
	case 1:
		tl_model_set(&m->exp, off, 0, len);
		return qcow_pwrite_zeroes(img, len, off, QCOW_REQ_UNMAP);
	case 2:
		/* discarded clusters read as zeros (v2: as the backing file) */
		tl_model_discard(&m->exp, off, len, m->cs,
				 m->v2 ? base_byte(m) : 0);
		return qcow_pdiscard(img, len, off);
	case 3:
		return qcow_flush(img);
	case 4:
		/* compressed: whole clusters that were never written */
		c = (tl_rnd(seed) % (SIZE / m->cs)) * m->cs;
		memset(m->buf, pat, m->cs);
		if (qcow_pwrite_compressed(img, m->buf, m->cs, c) == 0)
			tl_model_set(&m->exp, c, pat, m->cs);
		return 0;
	default:
		memset(m->buf, pat, len);
		tl_model_put(&m->exp, off, m->buf, len);
		return qcow_pwrite(img, m->buf, len, off);
	}
}

static int make_backing(const char *path)
{
	struct qcow_create_opts co = {
		.format = QCOW_FMT_QCOW2, .size = SIZE, .cluster_size = 4096,
	};
	struct qcow_open_opts oo = { 0 };
	struct qcow_image *img;
	uint8_t *buf = malloc(SIZE);
	int ret;

	memset(buf, 0x3c, SIZE);
	ret = qcow_create(path, &co);
	if (!ret)
		ret = qcow_open(&img, path, &oo);
	if (!ret) {
		ret = qcow_pwrite(img, buf, SIZE, 0);
		qcow_close(img);
	}
	free(buf);
	return ret;
}

static void run(const char *name, struct qcow_create_opts co, bool backing,
		uint64_t seed)
{
	struct model m = { .cs = co.cluster_size, .v2 = co.compat == 2,
			   .backing = backing };
	struct qcow_open_opts oo = { 0 };
	char path[1024], bpath[1100];
	struct qcow_image *img;
	uint8_t *back = malloc(SIZE);
	int i, kind = 0, ret;

	tl_begin("write_random/%s", name);
	snprintf(path, sizeof(path), "%s/%s.qcow2", tl_tmpdir(), name);
	snprintf(bpath, sizeof(bpath), "%s.base", path);
	tl_model_init(&m.exp, SIZE, base_byte(&m));
	m.buf = malloc(3 * m.cs + 1);
	co.format = QCOW_FMT_QCOW2;
	co.size = SIZE;
	if (backing) {
		co.backing_file = bpath;
		co.backing_format = "qcow2";
	}
	if ((backing && make_backing(bpath) < 0) ||
	    qcow_create(path, &co) < 0 || qcow_open(&img, path, &oo) < 0) {
		tl_fail("%s", qcow_strerror());
		goto out;
	}
	for (i = 0; i < OPS; i++) {
		ret = one_op(img, &m, &seed, &kind);
		if (ret < 0) {
			qcow_close(img);
			tl_fail("op %d (kind %d) failed: %d", i, kind, ret);
			goto out;
		}
		if (i % 50 == 49) {
			qcow_close(img);
			if (qcow_open(&img, path, &oo) < 0) {
				tl_fail("reopen: %s", qcow_strerror());
				goto out;
			}
		}
		if ((i % 10 == 9 || i == OPS - 1) &&
		    tl_model_differs(&m.exp, img, back)) {
			qcow_close(img);
			tl_fail("content differs after op %d (kind %d)", i,
				kind);
			goto out;
		}
	}
	qcow_close(img);
	if (!tl_have_prog("qemu-img"))
		tl_skip("qemu-img is not installed: data checked only");
	else if ((ret = tl_run("qemu-img check -q '%s'", path)))
		tl_fail("qemu-img check exit %d", ret);
	else
		tl_pass();
out:
	tl_model_free(&m.exp);
	free(m.buf);
	free(back);
}

int main(int argc, char **argv)
{
	static const uint32_t sizes[] = { 512, 4096, 65536 };
	char name[64];
	int i;

	tl_init(argc, argv);
	for (i = 0; i < 18; i++) {
		struct qcow_create_opts co = {
			.cluster_size = sizes[i % 3],
			.compat = i % 6 == 5 ? 2 : 3,
		};
		bool backing = i % 4 == 3;

		if (co.compat == 3) {
			co.extended_l2 = i % 3 == 2 && i % 2;
			co.lazy_refcounts = i % 5 == 1;
			co.refcount_bits = (uint32_t[]){ 16, 1, 64, 8 }[i % 4];
			co.compression_type = i % 7 == 3;
		}
		snprintf(name, sizeof(name), "%u-v%d%s%s%s-r%u%s",
			 co.cluster_size, co.compat, co.extended_l2 ? "-extl2" :
			 "", co.lazy_refcounts ? "-lazy" : "",
			 co.compression_type ? "-zstd" : "",
			 co.refcount_bits ? co.refcount_bits : 16,
			 backing ? "-overlay" : "");
		run(name, co, backing, 1000 + i);
	}
	return tl_finish();
}
