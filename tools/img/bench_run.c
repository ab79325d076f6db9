// SPDX-License-Identifier: MIT
/*
 * qcow-img bench's queue: qemu-img bench's request pattern (depth requests
 * in flight, each next one step further, wrapping at the end of the image,
 * a flush every flush_interval requests) on the engine, over one io_uring
 * driven as a ublk queue drives it: submit and wait, reap every
 * completion, run the engine's deferred work, issue what became possible.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <liburing.h>
#include "tools/img/bench.h"

#define BENCH_ALIGN 4096
#define BENCH_HUGE (2u << 20)
#define BENCH_RING_MAX 32768u
#define UD_EVENT (QCOW_USER_DATA_FOREIGN | 1)

struct bench;

struct slot {
	struct qcow_req req;
	struct bench *b;
	uint8_t *buf;
	struct slot *next;	/* free list, or completions in order */
};

struct flush_req {
	struct qcow_req req;
	struct bench *b;
};

struct bench {
	const struct bench_cfg *cfg;
	struct qcow_image *img;
	struct qcow_ctx *ctx;
	struct io_uring ring;
	bool has_ring;
	int event_fd;
	uint64_t image_size;
	uint64_t offset;	/* of the next request */
	uint64_t unissued;
	uint64_t completed;
	uint64_t inflight;	/* reads and writes */
	uint64_t flushes;	/* flushes in flight */
	bool draining;		/* a drained flush is due */
	bool in_flush;		/* the drained flush runs */
	int error;
	struct slot *slots;
	struct slot *free_slots;
	struct slot *done_head, *done_tail;	/* not yet looked at */
	uint8_t *bufs;
};

static void fail(struct bench *b, int err)
{
	if (!b->error)
		b->error = err;
}

static void flush_done(struct qcow_req *req, int res)
{
	struct flush_req *f = (struct flush_req *)req;
	struct bench *b = f->b;

	if (res < 0)
		fail(b, res);
	b->flushes--;
	free(f);
}

/* A drained flush runs alone, in slot 0 (free: nothing is in flight). */
static void drained_flush_done(struct qcow_req *req, int res)
{
	struct slot *s = req->priv;

	if (res < 0)
		fail(s->b, res);
	s->b->in_flush = false;
	s->b->flushes--;
}

static void issue_flush(struct bench *b, bool drained)
{
	struct qcow_req *req;
	struct flush_req *f = NULL;
	int ret;

	if (b->cfg->no_flush)
		return;		/* -t unsafe: a flush does nothing */
	if (drained) {
		req = &b->slots[0].req;
		req->done = drained_flush_done;
		req->priv = &b->slots[0];
		b->in_flush = true;
	} else {
		f = calloc(1, sizeof(*f));
		if (!f) {
			fail(b, -ENOMEM);
			return;
		}
		f->b = b;
		req = &f->req;
		req->done = flush_done;
	}
	req->flags = 0;
	b->flushes++;
	ret = qcow_submit(b->ctx, b->img, req, QCOW_OP_FLUSH, NULL, 0, 0);
	if (ret < 0) {
		b->flushes--;
		b->in_flush = false;
		free(f);
		fail(b, ret);
	}
}

/*
 * The engine's callback only queues the completion: the bench looks at
 * completions one by one outside the engine (see handle_completions()).
 */
static void slot_done(struct qcow_req *req, int res)
{
	struct slot *s = req->priv;
	struct bench *b = s->b;

	if (res < 0)
		fail(b, res);
	s->next = NULL;
	if (b->done_tail)
		b->done_tail->next = s;
	else
		b->done_head = s;
	b->done_tail = s;
}

static void issue_one(struct bench *b)
{
	const struct bench_cfg *c = b->cfg;
	struct slot *s = b->free_slots;
	uint64_t off = b->offset;
	int ret;

	b->free_slots = s->next;
	b->unissued--;
	b->offset += c->step;
	b->offset = b->image_size ? b->offset % b->image_size : 0;
	if (off > b->image_size || c->bufsize > b->image_size - off) {
		fail(b, -EIO);	/* as QEMU's block layer refuses it */
		return;
	}
	s->req.done = slot_done;
	s->req.priv = s;
	s->req.flags = c->write && c->writethrough ? QCOW_REQ_FUA : 0;
	b->inflight++;
	ret = qcow_submit(b->ctx, b->img, &s->req,
			  c->write ? QCOW_OP_WRITE : QCOW_OP_READ, s->buf, off,
			  c->bufsize);
	if (ret < 0) {
		b->inflight--;
		fail(b, ret);
	}
}

/* Issues what may go out now. */
static void fill(struct bench *b)
{
	if (b->error || b->in_flush)
		return;
	if (b->draining) {
		if (b->inflight)
			return;
		b->draining = false;
		issue_flush(b, true);
		if (b->in_flush)
			return;
	}
	while (!b->error && b->unissued && b->inflight < b->cfg->depth &&
	       !b->draining)
		issue_one(b);
}

/*
 * qemu-img bench's rule, completion by completion: a flush whenever the
 * requests not yet issued are a multiple of the interval, then the free
 * slots refilled, so the count not yet issued passes every value.
 */
static void handle_completions(struct bench *b)
{
	uint64_t fi = b->cfg->flush_interval;
	struct slot *s;

	while ((s = b->done_head)) {
		b->done_head = s->next;
		if (!b->done_head)
			b->done_tail = NULL;
		b->inflight--;
		b->completed++;
		s->next = b->free_slots;
		b->free_slots = s;
		if (fi && b->unissued % fi == 0) {
			if (b->cfg->drain)
				b->draining = true;
			else
				issue_flush(b, false);
		}
		fill(b);
	}
	fill(b);
}

static void arm_event(struct bench *b)
{
	struct io_uring_sqe *sqe;

	if (!b->has_ring || b->event_fd < 0)
		return;
	sqe = io_uring_get_sqe(&b->ring);
	if (!sqe) {
		io_uring_submit(&b->ring);
		sqe = io_uring_get_sqe(&b->ring);
	}
	if (!sqe) {
		fail(b, -EBUSY);
		return;
	}
	io_uring_prep_poll_add(sqe, b->event_fd, POLLIN);
	io_uring_sqe_set_data64(sqe, UD_EVENT);
}

static void reap(struct bench *b)
{
	struct io_uring_cqe *cqe, copy;
	eventfd_t v;

	while (io_uring_peek_cqe(&b->ring, &cqe) == 0) {
		copy = *cqe;
		io_uring_cqe_seen(&b->ring, cqe);
		if (copy.user_data == UD_EVENT) {
			eventfd_read(b->event_fd, &v);
			arm_event(b);
		} else {
			qcow_ctx_complete(b->ctx, &copy);
		}
	}
}

/* Without a ring, work of other threads (ciphers) rings the eventfd. */
static void wait_event(struct bench *b)
{
	struct pollfd p = { .fd = b->event_fd, .events = POLLIN };
	eventfd_t v;

	if (b->event_fd >= 0 && poll(&p, 1, -1) == 1)
		eventfd_read(b->event_fd, &v);
}

/* The engine's deferred work, then the completions it produced. */
static bool run_local(struct bench *b)
{
	bool progress = b->done_head != NULL;
	int n;

	while ((n = qcow_ctx_run_deferred(b->ctx)) > 0)
		progress = true;
	handle_completions(b);
	return progress;
}

/* One turn of the loop; false once nothing can progress any more. */
static bool turn(struct bench *b)
{
	int ret;

	if (run_local(b))
		return true;
	/* requests of ours may wait on another thread's work: its mail
	 * rings the eventfd */
	if (!qcow_ctx_inflight(b->ctx) && !b->inflight && !b->flushes)
		return false;
	if (!b->has_ring) {
		wait_event(b);
		return true;
	}
	ret = io_uring_submit_and_wait(&b->ring, 1);
	if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY) {
		fail(b, ret);
		return false;
	}
	reap(b);
	run_local(b);
	return true;
}

static bool busy(const struct bench *b)
{
	return b->completed < b->cfg->count && !(b->error && !b->inflight);
}

static int ring_init(struct bench *b)
{
	static const unsigned int flags[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
		IORING_SETUP_COOP_TASKRUN,
		0,
	};
	const char *env = getenv("QCOW_SYNC_IO");
	unsigned int n = 32, i;
	int ret = -EINVAL;

	if (env && env[0] == '1')
		return 0;
	while (n < 2 * b->cfg->depth && n < BENCH_RING_MAX)
		n <<= 1;
	for (i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		ret = io_uring_queue_init(n, &b->ring, flags[i]);
		if (ret != -EINVAL)
			break;
	}
	if (ret < 0)
		return ret;
	b->has_ring = true;
	return 0;
}

static int slots_init(struct bench *b)
{
	const struct bench_cfg *c = b->cfg;
	uint64_t n = c->depth < c->count ? c->depth : c->count;
	uint64_t stride = (c->bufsize + BENCH_ALIGN - 1) & ~(uint64_t)(BENCH_ALIGN - 1);
	uint64_t i, len;
	void *p;

	if (!n)
		n = 1;		/* slot 0 also carries drained flushes */
	if (!stride)
		stride = BENCH_ALIGN;
	b->slots = calloc(n, sizeof(*b->slots));
	len = n * stride;
	if (!b->slots || posix_memalign(&p, len >= BENCH_HUGE ?
					BENCH_HUGE : BENCH_ALIGN, len))
		return -ENOMEM;
	/*
	 * Scattered 4K pages make a 1M O_DIRECT request more segments than
	 * a disk takes (virtio-blk: 254), so the kernel splits it in two
	 * and cannot merge neighbours; huge pages keep it one segment.
	 */
	if (len >= BENCH_HUGE)
		madvise(p, len, MADV_HUGEPAGE);
	b->bufs = p;
	memset(b->bufs, c->pattern, len);
	for (i = n; i-- > 0;) {
		b->slots[i].b = b;
		b->slots[i].buf = b->bufs + i * stride;
		b->slots[i].next = b->free_slots;
		b->free_slots = &b->slots[i];
	}
	return 0;
}

double bench_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

/* After the last request: the flushes still out, then the engine idle. */
static void settle(struct bench *b)
{
	while ((b->flushes || b->inflight || qcow_ctx_inflight(b->ctx)) &&
	       turn(b))
		;
}

static int bench_setup(struct bench *b)
{
	int ret = ring_init(b);

	if (ret < 0)
		return ret;
	ret = qcow_ctx_new(&b->ctx, b->has_ring ? &b->ring : NULL);
	if (ret < 0)
		return ret;
	b->event_fd = qcow_ctx_event_fd(b->ctx);
	arm_event(b);
	return slots_init(b);
}

static void bench_teardown(struct bench *b)
{
	if (b->ctx)
		qcow_ctx_free(b->ctx);
	if (b->has_ring)
		io_uring_queue_exit(&b->ring);
	free(b->bufs);
	free(b->slots);
}

int bench_queue_run(struct qcow_image *img, const struct bench_cfg *cfg,
		    void (*ready)(void *arg), void *arg, double *t_end)
{
	struct bench b = {
		.cfg = cfg,
		.img = img,
		.event_fd = -1,
		.image_size = qcow_size(img),
		.offset = cfg->offset,
		.unissued = cfg->count,
	};
	int ret;

	ret = bench_setup(&b);
	ready(arg);
	if (ret < 0)
		goto out;
	fill(&b);
	while (busy(&b) && turn(&b))
		;
	*t_end = bench_now();
	settle(&b);
	ret = b.error;
	if (!ret && b.completed < cfg->count)
		ret = -EIO;	/* the loop stalled: an engine bug */
out:
	bench_teardown(&b);
	return ret;
}
