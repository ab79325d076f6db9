/* SPDX-License-Identifier: MIT */
/*
 * The qcow target: the block device's parameters (SET_PARAMS) for an
 * image, and a ublk request handed to the qcow engine; completion
 * commits it.
 */
#ifndef UBLKSRV_TARGET_H
#define UBLKSRV_TARGET_H

#include <stdint.h>
#include "device.h"
#include "queue.h"
#include "ublk_abi.h"

/*
 * Size = virtual size; logical blocks of 512 bytes (4 KiB with O_DIRECT);
 * physical block, io_opt and discard granularity from the cluster size;
 * a volatile write cache with FUA (FLUSH makes data and metadata durable)
 * unless read-only.
 */
int ublk_params_build(struct ublk_params *p, struct qcow_image *img,
		      const struct ublk_dev_opts *opts, uint32_t max_io_bytes);

/* Called first on the queue's thread. */
void target_thread_init(struct ublk_queue *q);
void target_queue_io(struct ublk_queue *q, struct ublk_io *io,
		     const struct ublksrv_io_desc *iod);
/* The completion of a user copy (UD_COPY) of tag's data. */
void target_copy_done(struct ublk_queue *q, uint16_t tag, int res);

#endif
