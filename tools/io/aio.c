// SPDX-License-Identifier: MIT
/*
 * The asynchronous requests of aio_read and aio_write: submitted on an
 * io_uring of their own and left in flight; they complete (and report)
 * in the order they finish when the next command other than aio_read or
 * aio_write runs, at aio_flush, or before the image closes.
 */
#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include "tools/common/msg.h"
#include "tools/io/io.h"

#define AIO_RING_ENTRIES 256

struct aio_req;

struct io_aio {
	struct io_uring ring;
	struct qcow_ctx *ctx;
	int event_fd;		/* the engine's: work queued to ctx */
	bool event_armed;
	/* done before their submission returned: reported at the drain */
	struct aio_req *early;
	struct aio_req **early_tail;
};

struct aio_req {
	struct qcow_req req;
	void (*done)(void *arg, int res);
	void *arg;
	struct io_aio *aio;
	bool submitting;
	int res;
	struct aio_req *next;
};

static int aio_setup(struct io_state *s)
{
	struct io_aio *aio = calloc(1, sizeof(*aio));
	int ret;

	if (!aio)
		return -ENOMEM;
	ret = io_uring_queue_init(AIO_RING_ENTRIES, &aio->ring, 0);
	if (ret < 0) {
		free(aio);
		return ret;
	}
	ret = qcow_ctx_new(&aio->ctx, &aio->ring);
	if (ret < 0) {
		io_uring_queue_exit(&aio->ring);
		free(aio);
		return ret;
	}
	aio->event_fd = qcow_ctx_event_fd(aio->ctx);
	aio->early_tail = &aio->early;
	s->aio = aio;
	return 0;
}

static void defer(struct aio_req *r, int res)
{
	r->res = res;
	r->next = NULL;
	*r->aio->early_tail = r;
	r->aio->early_tail = &r->next;
}

static void req_done(struct qcow_req *req, int res)
{
	struct aio_req *r = (struct aio_req *)req;

	if (r->submitting) {
		defer(r, res);
		return;
	}
	r->done(r->arg, res);
	free(r);
}

/* As qemu-io's, nothing reports before the next drain, errors included. */
static struct aio_req *new_req(struct io_state *s,
			       void (*done)(void *arg, int res), void *arg)
{
	struct aio_req *r;

	if (!s->aio && aio_setup(s) < 0)
		return NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->done = done;
	r->arg = arg;
	r->aio = s->aio;
	return r;
}

void io_aio_fail(struct io_state *s, int err,
		 void (*done)(void *arg, int res), void *arg)
{
	struct aio_req *r = new_req(s, done, arg);

	if (!r) {
		done(arg, err);
		return;
	}
	defer(r, err);
}

void io_aio_submit(struct io_state *s, enum qcow_op op, void *buf,
		   uint64_t offset, uint64_t length, unsigned int flags,
		   void (*done)(void *arg, int res), void *arg)
{
	struct aio_req *r = new_req(s, done, arg);
	int ret;

	if (!r) {
		done(arg, -ENOMEM);
		return;
	}
	r->req.done = req_done;
	r->req.flags = flags;
	r->submitting = true;
	ret = qcow_submit(s->aio->ctx, s->img, &r->req, op, buf, offset,
			  length);
	r->submitting = false;
	if (ret < 0)
		defer(r, ret);
}

static void run_early(struct io_aio *aio)
{
	struct aio_req *r;

	while ((r = aio->early) != NULL) {
		aio->early = r->next;
		if (!aio->early)
			aio->early_tail = &aio->early;
		r->done(r->arg, r->res);
		free(r);
	}
}

/* Wake-ups from the engine's other threads (the ciphers) come this way. */
static void arm_event(struct io_aio *aio)
{
	struct io_uring_sqe *sqe;

	if (aio->event_armed)
		return;
	sqe = io_uring_get_sqe(&aio->ring);
	if (!sqe) {
		io_uring_submit(&aio->ring);
		sqe = io_uring_get_sqe(&aio->ring);
		if (!sqe)
			return;
	}
	io_uring_prep_poll_add(sqe, aio->event_fd, POLLIN);
	io_uring_sqe_set_data64(sqe, QCOW_USER_DATA_FOREIGN);
	aio->event_armed = true;
}

static void reap(struct io_aio *aio)
{
	struct io_uring_cqe *cqe;
	unsigned int head, n = 0;
	eventfd_t v;

	io_uring_for_each_cqe(&aio->ring, head, cqe) {
		if (cqe->user_data & QCOW_USER_DATA_FOREIGN) {
			eventfd_read(aio->event_fd, &v);
			aio->event_armed = false;
		} else {
			qcow_ctx_complete(aio->ctx, cqe);
		}
		n++;
	}
	io_uring_cq_advance(&aio->ring, n);
}

/* Requests parked at blkdebug breakpoints: in flight, but not moving. */
static unsigned int parked(struct io_state *s)
{
	int n = s->img ? qcow_blkdebug_suspended(s->img, NULL) : 0;

	return n > 0 ? (unsigned int)n : 0;
}

bool io_aio_wait(struct io_state *s, bool (*cond)(struct io_state *s,
						  void *arg), void *arg)
{
	struct io_aio *aio = s->aio;
	int ret;

	if (!aio)
		return cond && cond(s, arg);
	run_early(aio);
	for (;;) {
		qcow_ctx_run_deferred(aio->ctx);
		if (cond && cond(s, arg))
			return true;
		if (qcow_ctx_inflight(aio->ctx) <= parked(s))
			break;
		arm_event(aio);
		ret = io_uring_submit_and_wait(&aio->ring, 1);
		if (ret < 0 && ret != -EINTR && ret != -EAGAIN) {
			tool_error("aio: io_uring: %s", strerror(-ret));
			break;
		}
		reap(aio);
	}
	fflush(stdout);
	return false;
}

void io_aio_drain(struct io_state *s)
{
	io_aio_wait(s, NULL, NULL);
}

void io_aio_free(struct io_state *s)
{
	if (!s->aio)
		return;
	/* what breakpoints hold ends now (qemu-io would wait for ever) */
	while (s->img && parked(s) && !qcow_blkdebug_resume(s->img, NULL))
		io_aio_drain(s);
	io_aio_drain(s);
	io_uring_queue_exit(&s->aio->ring);
	qcow_ctx_free(s->aio->ctx);
	free(s->aio);
	s->aio = NULL;
}
