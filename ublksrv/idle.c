// SPDX-License-Identifier: MIT
#include <errno.h>
#include "device.h"
#include "idle.h"
#include "log.h"

void idle_arm(struct ublk_queue *q)
{
	struct io_uring_sqe *sqe = ublk_queue_sqe(q);

	q->idle_ts.tv_sec = IDLE_TICK_SEC;
	q->idle_ts.tv_nsec = 0;
	io_uring_prep_timeout(sqe, &q->idle_ts, 0, 0);
	io_uring_sqe_set_data64(sqe, QCOW_USER_DATA_FOREIGN | UD_IDLE);
}

void idle_tick(struct ublk_queue *q, int res)
{
	if (res != -ETIME) {
		if (res != -ECANCELED)
			ublk_errno(res, "queue %u: idle timer", q->q_id);
		return;
	}
	if (!q->nr_live)
		return;		/* stopping */
	if (q->served == q->served_at_tick)
		qcow_writeback(q->qctx, q->dev->img);
	q->served_at_tick = q->served;
	idle_arm(q);
}
