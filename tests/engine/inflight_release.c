// SPDX-License-Identifier: MIT
/*
 * A read or an in-place write of a cluster that is still in flight when
 * a discard (or a write-zeroes that unmaps) releases the cluster.  The
 * I/O layer holds that read or write back (the file backend's hold hook) while the
 * release completes, two FLUSHes run and a write to another guest
 * cluster allocates; then it is let go.  The released host cluster must
 * not have gone to the other guest cluster meanwhile: the late write must
 * not land on its data, the late read must not return it (nor fail to
 * decompress a compressed cluster).  Driven through
 * the asynchronous API on one context without a ring (I/O done at once,
 * completions deferred), so the order of events is exact.  The data is
 * read back and the image checked by qemu-img.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "qcow/internal.h"
#include "testlib.h"

#define CS	65536u
#define SIZE	(1u << 20)

struct areq {
	struct qcow_req req;
	bool done;
	int res;
};

struct rcase {
	const char *name;
	enum qcow_op held;	/* QCOW_OP_WRITE or QCOW_OP_READ */
	enum qcow_op release;	/* QCOW_OP_DISCARD or QCOW_OP_WRITE_ZEROES */
	bool compressed;	/* guest cluster 0 is a compressed one */
};

static bool arming;
static struct qio_op *held_op;

static bool hold_one(void *arg, struct qio_op *op)
{
	(void)arg;
	if (!arming || held_op || !op->file ||
	    (op->kind != QIO_READ && op->kind != QIO_WRITE))
		return false;
	held_op = op;
	return true;
}

static const struct qfile_backend holder = { .hold = hold_one };

static void areq_done(struct qcow_req *req, int res)
{
	struct areq *a = (struct areq *)req;

	a->done = true;
	a->res = res;
}

static int submit(struct qcow_ctx *ctx, struct qcow_image *img,
		  struct areq *a, enum qcow_op op, void *buf, uint64_t off,
		  uint64_t len, unsigned int flags)
{
	memset(a, 0, sizeof(*a));
	a->req.done = areq_done;
	a->req.flags = flags;
	return qcow_submit(ctx, img, &a->req, op, buf, off, len);
}

static void idle(struct qcow_ctx *ctx)
{
	while (qcow_ctx_run_deferred(ctx))
		;
}

/* Runs the deferred completions until a is done; its result. */
static int drive(struct qcow_ctx *ctx, struct areq *a)
{
	idle(ctx);
	return a->done ? a->res : -EDEADLK;
}

static int run(struct qcow_ctx *ctx, struct qcow_image *img,
	       enum qcow_op op, void *buf, uint64_t off, uint64_t len,
	       unsigned int flags)
{
	struct areq a;
	int ret = submit(ctx, img, &a, op, buf, off, len, flags);

	return ret < 0 ? ret : drive(ctx, &a);
}

static bool all(const uint8_t *p, size_t n, uint8_t v)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

/*
 * Guest cluster 0 written (0x11, compressed or not) and flushed; the
 * held I/O on it (write 0x22, or a read into mine); the release of
 * cluster 0; two FLUSHes, the second of which may wait for the held I/O;
 * guest cluster 1 written (0x33); the held I/O let go; everything
 * completes.
 */
static int workload(const struct rcase *c, struct qcow_ctx *ctx,
		    struct qcow_image *img, uint8_t *mine, uint8_t *buf,
		    char *why, size_t n)
{
	struct areq io, flush;
	int ret;

	memset(buf, 0x11, CS);
	ret = run(ctx, img, c->compressed ? QCOW_OP_WRITE_COMPRESSED :
		  QCOW_OP_WRITE, buf, 0, CS, 0);
	if (!ret)
		ret = run(ctx, img, QCOW_OP_FLUSH, NULL, 0, 0, 0);
	if (ret < 0) {
		snprintf(why, n, "setup: first write: %d", ret);
		return ret;
	}
	memset(mine, c->held == QCOW_OP_WRITE ? 0x22 : 0xee, CS);
	arming = true;
	ret = submit(ctx, img, &io, c->held, mine, 0, CS, 0);
	arming = false;
	if (ret < 0 || !held_op || io.done) {
		snprintf(why, n, "setup: the I/O was not held (%d)", ret);
		if (held_op)
			qfile_backend_release(held_op);
		idle(ctx);
		return -EIO;
	}
	ret = run(ctx, img, c->release, NULL, 0, CS, QCOW_REQ_UNMAP);
	if (!ret)
		ret = run(ctx, img, QCOW_OP_FLUSH, NULL, 0, 0, 0);
	if (!ret)
		ret = submit(ctx, img, &flush, QCOW_OP_FLUSH, NULL, 0, 0, 0);
	idle(ctx);
	memset(buf, 0x33, CS);
	if (!ret)
		ret = run(ctx, img, QCOW_OP_WRITE, buf, CS, CS, 0);
	qfile_backend_release(held_op);
	idle(ctx);
	if (ret < 0 || !io.done || !flush.done || io.res || flush.res)
		snprintf(why, n, "a request failed or did not end: %d, "
			 "held I/O %d/%d, flush %d/%d", ret, io.done, io.res,
			 flush.done, flush.res);
	else if (c->held == QCOW_OP_READ && !all(mine, CS, 0x11) &&
		 !all(mine, CS, 0))
		snprintf(why, n, "the late read returned other data (%#x)",
			 mine[0]);
	else
		ret = run(ctx, img, QCOW_OP_FLUSH, NULL, 0, 0, 0);
	return why[0] ? -EIO : ret;
}

/* Guest cluster 0 zeros or (after a late write) 0x22; cluster 1 0x33. */
static void verify(const char *path, uint8_t *buf, char *why, size_t n)
{
	struct qcow_open_opts ro = { .read_only = true };
	struct qcow_image *img;
	int ret = qcow_open(&img, path, &ro);

	if (ret < 0) {
		snprintf(why, n, "reopen: %s", qcow_strerror());
		return;
	}
	ret = qcow_pread(img, buf, CS, 0);
	if (ret < 0 || !(all(buf, CS, 0) || all(buf, CS, 0x22)))
		snprintf(why, n, "guest cluster 0 reads %d, %#x", ret, buf[0]);
	else if ((ret = qcow_pread(img, buf, CS, CS)) < 0 ||
		 !all(buf, CS, 0x33))
		snprintf(why, n, "guest cluster 1 reads %d, %#x (0x33 written)",
			 ret, buf[0]);
	qcow_close(img);
}

static void run_case(const struct rcase *c)
{
	struct qcow_create_opts co = {
		.format = QCOW_FMT_QCOW2, .size = SIZE, .cluster_size = CS,
	};
	struct qcow_open_opts rw = { 0 };
	struct qcow_image *img;
	struct qcow_ctx *ctx = NULL;
	uint8_t *mine = malloc(CS), *buf = malloc(CS);
	char path[1024], why[256] = "";
	int ret;

	tl_begin("inflight_release/%s", c->name);
	held_op = NULL;
	tl_path(path, sizeof(path), "img.qcow2");
	remove(path);
	ret = mine && buf ? 0 : -ENOMEM;
	if (!ret && qcow_create(path, &co) < 0)
		ret = -EIO;
	if (!ret)
		ret = qcow_ctx_new(&ctx, NULL);
	if (!ret)
		ret = qcow_open(&img, path, &rw);
	if (ret < 0) {
		tl_fail("setup: %d %s", ret, qcow_strerror());
		goto out;
	}
	workload(c, ctx, img, mine, buf, why, sizeof(why));
	qcow_close(img);
	if (!why[0])
		verify(path, buf, why, sizeof(why));
	tl_verdict_checked(why, path);
out:
	qcow_ctx_free(ctx);
	free(mine);
	free(buf);
}

static const struct rcase cases[] = {
	{ "write_then_discard", QCOW_OP_WRITE, QCOW_OP_DISCARD, false },
	{ "write_then_zero_unmap", QCOW_OP_WRITE, QCOW_OP_WRITE_ZEROES, false },
	{ "read_then_discard", QCOW_OP_READ, QCOW_OP_DISCARD, false },
	{ "read_then_zero_unmap", QCOW_OP_READ, QCOW_OP_WRITE_ZEROES, false },
	{ "compressed_read_then_discard", QCOW_OP_READ, QCOW_OP_DISCARD, true },
};

int main(int argc, char **argv)
{
	size_t i;

	tl_init(argc, argv);
	qfile_set_backend(&holder);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i]);
	qfile_set_backend(NULL);
	return tl_finish();
}
