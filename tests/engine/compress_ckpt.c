// SPDX-License-Identifier: MIT
/*
 * A compressed write that arrives while a checkpoint frees the host
 * cluster compressed data is being packed into.  Driven through the
 * asynchronous API on one context without a ring (I/O done at once,
 * completions deferred), so the order of events is exact:
 *
 *   1. compressed write of guest cluster 0: host cluster c, which stays
 *      the cluster the next compressed data is packed into;
 *   2. normal write of guest cluster 0: c loses its only user;
 *   3. FLUSH: the release is on disk, c's refcount drops next time;
 *   4. FLUSH, and while its checkpoint runs (it has decided that c
 *      becomes free), a compressed write of guest cluster 1;
 *   5. the checkpoint ends;
 *   6. a normal write of guest cluster 2 takes the first free cluster.
 *
 * Guest cluster 1 must read back as written, and qemu-img check must find
 * the image clean: cluster c is neither freed under cluster 1's data nor
 * handed to cluster 2.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "qcow.h"
#include "testlib.h"

#define CS	65536u
#define SIZE	(1u << 20)

struct areq {
	struct qcow_req req;
	bool done;
	int res;
};

static void areq_done(struct qcow_req *req, int res)
{
	struct areq *a = (struct areq *)req;

	a->done = true;
	a->res = res;
}

static int submit(struct qcow_ctx *ctx, struct qcow_image *img,
		  struct areq *a, enum qcow_op op, void *buf, uint64_t off,
		  uint64_t len)
{
	memset(a, 0, sizeof(*a));
	a->req.done = areq_done;
	return qcow_submit(ctx, img, &a->req, op, buf, off, len);
}

/* Runs the deferred completions until a is done; its result. */
static int drive(struct qcow_ctx *ctx, struct areq *a)
{
	while (!a->done)
		if (!qcow_ctx_run_deferred(ctx))
			return -EIO;	/* nothing left that could end it */
	while (qcow_ctx_run_deferred(ctx))
		;
	return a->res;
}

static int run(struct qcow_ctx *ctx, struct qcow_image *img,
	       enum qcow_op op, void *buf, uint64_t off, uint64_t len)
{
	struct areq a;
	int ret = submit(ctx, img, &a, op, buf, off, len);

	return ret < 0 ? ret : drive(ctx, &a);
}

/* Compressible: a repeated 16-byte pattern with a tag per cluster. */
static void fill(uint8_t *buf, uint8_t tag)
{
	uint32_t i;

	for (i = 0; i < CS; i++)
		buf[i] = (uint8_t)(i % 16 == 0 ? tag : i % 16);
}

/* Steps 1 to 6 of the comment above; 0 or where it went wrong. */
static int workload(struct qcow_ctx *ctx, struct qcow_image *img,
		    uint8_t *bufs[3], char *why, size_t n)
{
	struct areq flush, comp;
	int ret;

	fill(bufs[0], 0xa0);
	ret = run(ctx, img, QCOW_OP_WRITE_COMPRESSED, bufs[0], 0, CS);
	if (!ret) {
		memset(bufs[0], 0x5a, CS);
		ret = run(ctx, img, QCOW_OP_WRITE, bufs[0], 0, CS);
	}
	if (!ret)
		ret = run(ctx, img, QCOW_OP_FLUSH, NULL, 0, 0);
	if (ret < 0) {
		snprintf(why, n, "steps 1-3 failed: %d", ret);
		return ret;
	}
	/* the checkpoint starts now and waits for its I/O to complete */
	fill(bufs[1], 0xb1);
	ret = submit(ctx, img, &flush, QCOW_OP_FLUSH, NULL, 0, 0);
	if (!ret)
		ret = submit(ctx, img, &comp, QCOW_OP_WRITE_COMPRESSED, bufs[1],
			     CS, CS);
	if (!ret)
		ret = drive(ctx, &flush);
	if (!ret)
		ret = drive(ctx, &comp);
	if (ret < 0) {
		snprintf(why, n, "steps 4-5 failed: %d", ret);
		return ret;
	}
	memset(bufs[2], 0xc2, CS);
	ret = run(ctx, img, QCOW_OP_WRITE, bufs[2], 2 * CS, CS);
	if (!ret)
		ret = run(ctx, img, QCOW_OP_FLUSH, NULL, 0, 0);
	if (ret < 0)
		snprintf(why, n, "step 6 failed: %d", ret);
	return ret;
}

static void verify(const char *path, uint8_t *bufs[3], char *why, size_t n)
{
	struct qcow_open_opts ro = { .read_only = true };
	struct qcow_image *img;
	uint8_t *back = malloc(CS);
	int i, ret;

	ret = back ? qcow_open(&img, path, &ro) : -ENOMEM;
	if (ret < 0) {
		snprintf(why, n, "reopen: %s", qcow_strerror());
		free(back);
		return;
	}
	for (i = 0; i < 3 && !why[0]; i++) {
		ret = qcow_pread(img, back, CS, (uint64_t)i * CS);
		if (ret < 0)
			snprintf(why, n, "guest cluster %d reads %d", i, ret);
		else if (memcmp(back, bufs[i], CS))
			snprintf(why, n, "guest cluster %d reads other data",
				 i);
	}
	qcow_close(img);
	free(back);
}

static void run_case(void)
{
	struct qcow_create_opts co = {
		.format = QCOW_FMT_QCOW2, .size = SIZE, .cluster_size = CS,
	};
	struct qcow_open_opts rw = { 0 };
	struct qcow_image *img;
	struct qcow_ctx *ctx;
	uint8_t *bufs[3] = { malloc(CS), malloc(CS), malloc(CS) };
	char path[1024], why[256] = "";
	int i, ret;

	tl_begin("compress_ckpt/pack_into_freed_cluster");
	tl_path(path, sizeof(path), "img.qcow2");
	ret = bufs[0] && bufs[1] && bufs[2] ? 0 : -ENOMEM;
	if (!ret && qcow_create(path, &co) < 0)
		ret = -EIO;
	if (!ret)
		ret = qcow_open(&img, path, &rw);
	if (ret < 0) {
		tl_fail("setup: %d %s", ret, qcow_strerror());
		goto out;
	}
	ret = qcow_ctx_new(&ctx, NULL);
	if (!ret) {
		workload(ctx, img, bufs, why, sizeof(why));
		qcow_close(img);
		qcow_ctx_free(ctx);
	} else {
		qcow_close(img);
		snprintf(why, sizeof(why), "context: %d", ret);
	}
	if (!why[0])
		verify(path, bufs, why, sizeof(why));
	tl_verdict_checked(why, path);
out:
	for (i = 0; i < 3; i++)
		free(bufs[i]);
}

int main(int argc, char **argv)
{
	tl_init(argc, argv);
	run_case();
	return tl_finish();
}
