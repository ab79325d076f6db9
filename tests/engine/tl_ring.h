/* SPDX-License-Identifier: MIT */
/*
 * A thread's ring driving an engine context, as a ublk queue does: an SQE
 * of a ring the engine may have left full (see qcow_ctx_new()), and the
 * loop that reaps completions and keeps a read of the context's eventfd
 * armed.
 */
#ifndef QCOW_TEST_TL_RING_H
#define QCOW_TEST_TL_RING_H

#include <stdbool.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <liburing.h>
#include "qcow.h"

#define TL_EVENT_TAG	(QCOW_USER_DATA_FOREIGN | 1)

static inline struct io_uring_sqe *tl_get_sqe(struct io_uring *ring)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	if (!sqe) {
		io_uring_submit(ring);
		sqe = io_uring_get_sqe(ring);
	}
	if (!sqe)
		abort();
	return sqe;
}

struct tl_ring {
	struct io_uring ring;
	struct qcow_ctx *ctx;
	eventfd_t ev;
};

static inline void tl_arm_event(struct tl_ring *r)
{
	struct io_uring_sqe *sqe = tl_get_sqe(&r->ring);

	io_uring_prep_read(sqe, qcow_ctx_event_fd(r->ctx), &r->ev,
			   sizeof(r->ev), 0);
	io_uring_sqe_set_data64(sqe, TL_EVENT_TAG);
}

/*
 * Runs deferred work; submits, waits for one completion if asked and
 * nothing ran, completes what came.
 */
static inline void tl_reap(struct tl_ring *r, bool wait)
{
	struct io_uring_cqe *cqe;
	unsigned int head, n = 0;
	bool event = false;

	/* what it runs may be the last work: then come back, do not wait */
	if (qcow_ctx_run_deferred(r->ctx) > 0)
		wait = false;
	io_uring_submit_and_wait(&r->ring, wait ? 1 : 0);
	io_uring_for_each_cqe(&r->ring, head, cqe) {
		if (cqe->user_data == TL_EVENT_TAG)
			event = true;
		else
			qcow_ctx_complete(r->ctx, cqe);
		n++;
	}
	io_uring_cq_advance(&r->ring, n);
	if (event)
		tl_arm_event(r);
	qcow_ctx_run_deferred(r->ctx);
}

#endif
