/* SPDX-License-Identifier: MIT */
/* An SQE of a ring the engine may have left full (see qcow_ctx_new()). */
#ifndef QCOW_TEST_TL_RING_H
#define QCOW_TEST_TL_RING_H

#include <stdlib.h>
#include <liburing.h>

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

#endif
