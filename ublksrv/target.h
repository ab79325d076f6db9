/* SPDX-License-Identifier: MIT */
/* A ublk request handed to the qcow engine; completion commits it. */
#ifndef UBLKSRV_TARGET_H
#define UBLKSRV_TARGET_H

#include "queue.h"

/* Called first on the queue's thread. */
void target_thread_init(struct ublk_queue *q);
void target_queue_io(struct ublk_queue *q, struct ublk_io *io,
		     const struct ublksrv_io_desc *iod);
/* The completion of a user copy (UD_COPY) of tag's data. */
void target_copy_done(struct ublk_queue *q, uint16_t tag, int res);

#endif
