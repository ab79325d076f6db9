// SPDX-License-Identifier: MIT
/*
 * Synchronous wrappers for the tools: one private context and io_uring per
 * thread, driven until the request completes.  QCOW_SYNC_IO=1 in the
 * environment replaces the ring by plain pread/pwrite.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <liburing.h>
#include "internal.h"

#define SYNC_RING_DEPTH 128
#define SYNC_MAX_CHUNK (64u << 20)

struct sync_state {
	struct io_uring ring;
	bool has_ring;
	struct qcow_ctx *ctx;
};

static __thread struct sync_state *sync_state;

static void sync_free(void)
{
	struct sync_state *s = sync_state;

	if (!s)
		return;
	if (s->has_ring)
		io_uring_queue_exit(&s->ring);
	qcow_ctx_free(s->ctx);
	free(s);
	sync_state = NULL;
}

static struct qcow_ctx *sync_ctx(void)
{
	struct sync_state *s = sync_state;
	const char *env = getenv("QCOW_SYNC_IO");

	if (s)
		return s->ctx;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	if (!(env && env[0] == '1'))
		s->has_ring = io_uring_queue_init(SYNC_RING_DEPTH, &s->ring,
						  0) == 0;
	if (qcow_ctx_new(&s->ctx, s->has_ring ? &s->ring : NULL) < 0) {
		if (s->has_ring)
			io_uring_queue_exit(&s->ring);
		free(s);
		return NULL;
	}
	sync_state = s;
	atexit(sync_free);
	return s->ctx;
}

struct sync_req {
	struct qcow_req req;
	bool done;
	int res;
};

static void sync_done(struct qcow_req *req, int res)
{
	struct sync_req *s = (struct sync_req *)req;

	s->done = true;
	s->res = res;
}

/*
 * Nothing on the ring: what is left runs on other threads (the crypto
 * pool, a lock's holder), and its wake-up rings the eventfd.  Waiting on
 * the ring instead would never end.
 */
static bool wait_mail(struct qcow_ctx *ctx)
{
	struct pollfd p = { .fd = ctx->event_fd, .events = POLLIN };
	eventfd_t v;

	if (qctx_has_mail(ctx))
		return true;	/* came after run_deferred: run it now */
	if (ctx->inflight)
		return false;
	poll(&p, 1, -1);
	eventfd_read(ctx->event_fd, &v);
	return true;
}

int qcow_sync_drive(struct qcow_ctx *ctx, const bool *done)
{
	struct io_uring_cqe *cqe;
	unsigned int head, n;
	int ret;

	for (;;) {
		qcow_ctx_run_deferred(ctx);
		/* also whatever else the engine runs on this context */
		if (*done && !qcow_ctx_inflight(ctx))
			return 0;
		if (!ctx->ring)
			return -EIO;	/* nothing can make progress */
		if (wait_mail(ctx))
			continue;
		ret = io_uring_submit_and_wait(ctx->ring, 1);
		if (ret < 0 && ret != -EINTR)
			return ret;
		n = 0;
		io_uring_for_each_cqe(ctx->ring, head, cqe) {
			qcow_ctx_complete(ctx, cqe);
			n++;
		}
		io_uring_cq_advance(ctx->ring, n);
	}
}

static int sync_wait(struct qcow_ctx *ctx, struct sync_req *s)
{
	int ret = qcow_sync_drive(ctx, &s->done);

	return ret < 0 ? ret : s->res;
}

static int sync_run_flags(struct qcow_image *img, enum qcow_op op, void *buf,
			  uint64_t off, uint64_t len, unsigned int flags)
{
	struct qcow_ctx *ctx = sync_ctx();
	struct sync_req s = { 0 };
	int ret;

	if (!ctx)
		return -ENOMEM;
	s.req.done = sync_done;
	s.req.flags = flags;
	ret = qcow_submit(ctx, img, &s.req, op, buf, off, len);
	if (ret < 0)
		return ret;
	return sync_wait(ctx, &s);
}

static int sync_run(struct qcow_image *img, enum qcow_op op, void *buf,
		    uint64_t off, uint64_t len)
{
	return sync_run_flags(img, op, buf, off, len, 0);
}

static int sync_chunks(struct qcow_image *img, enum qcow_op op,
		       const void *buf, uint64_t len, uint64_t off,
		       unsigned int flags)
{
	const uint8_t *p = buf;
	int ret;

	while (len) {
		uint64_t n = MIN(len, SYNC_MAX_CHUNK);

		ret = sync_run_flags(img, op, (void *)p, off, n, flags);
		if (ret < 0)
			return ret;
		if (p)
			p += n;
		off += n;
		len -= n;
	}
	return 0;
}

int qcow_pwrite(struct qcow_image *img, const void *buf, uint64_t len,
		uint64_t off)
{
	return sync_chunks(img, QCOW_OP_WRITE, buf, len, off, 0);
}

int qcow_pwrite_compressed(struct qcow_image *img, const void *buf,
			   uint64_t len, uint64_t off)
{
	return sync_chunks(img, QCOW_OP_WRITE_COMPRESSED, buf, len, off, 0);
}

int qcow_pwrite_zeroes(struct qcow_image *img, uint64_t len, uint64_t off,
		       unsigned int flags)
{
	return sync_chunks(img, QCOW_OP_WRITE_ZEROES, NULL, len, off, flags);
}

int qcow_pdiscard(struct qcow_image *img, uint64_t len, uint64_t off)
{
	return sync_chunks(img, QCOW_OP_DISCARD, NULL, len, off, 0);
}

int qcow_pdiscard_flags(struct qcow_image *img, uint64_t len, uint64_t off,
			unsigned int flags)
{
	return sync_chunks(img, QCOW_OP_DISCARD, NULL, len, off, flags);
}

int qcow_flush(struct qcow_image *img)
{
	return sync_run(img, QCOW_OP_FLUSH, NULL, 0, 0);
}

struct qcow_ctx *qcow_sync_ctx(void)
{
	return sync_ctx();
}

int qcow_pread(struct qcow_image *img, void *buf, uint64_t len, uint64_t off)
{
	uint8_t *p = buf;
	int ret;

	while (len) {
		uint64_t n = MIN(len, SYNC_MAX_CHUNK);

		ret = sync_run(img, QCOW_OP_READ, p, off, n);
		if (ret < 0)
			return ret;
		p += n;
		off += n;
		len -= n;
	}
	return 0;
}

int qcow_block_status(struct qcow_image *img, uint64_t off, uint64_t len,
		      struct qcow_status *st)
{
	int ret = sync_run(img, QCOW_OP_STATUS, st, off, len);

	return ret < 0 ? ret : 0;
}

static int vmstate_run(struct qcow_image *img, enum qcow_op op, void *buf,
		       uint64_t len, uint64_t pos)
{
	uint8_t *p = buf;
	uint64_t guest;
	int ret;

	if (pos > QCOW_VMSTATE_MAX || len > QCOW_VMSTATE_MAX - pos)
		return -EIO;
	if (!img->drv->vmstate)
		return -ENOTSUP;
	ret = img->drv->vmstate(img, pos, len, op == QCOW_OP_WRITE, &guest);
	while (!ret && len) {
		uint64_t n = MIN(len, SYNC_MAX_CHUNK);

		ret = sync_run_flags(img, op, p, guest, n, QCOW_REQ_VMSTATE);
		p += n;
		guest += n;
		len -= n;
	}
	return ret;
}

int qcow_vmstate_pread(struct qcow_image *img, void *buf, uint64_t len,
		       uint64_t pos)
{
	return vmstate_run(img, QCOW_OP_READ, buf, len, pos);
}

int qcow_vmstate_pwrite(struct qcow_image *img, const void *buf, uint64_t len,
			uint64_t pos)
{
	return vmstate_run(img, QCOW_OP_WRITE, (void *)buf, len, pos);
}
