/* SPDX-License-Identifier: MIT */
/* The block device's parameters (SET_PARAMS) for an image. */
#ifndef UBLKSRV_PARAMS_H
#define UBLKSRV_PARAMS_H

#include <stdint.h>
#include "device.h"
#include "ublk_abi.h"

/*
 * Size = virtual size; logical blocks of 512 bytes (4 KiB with O_DIRECT);
 * physical block, io_opt and discard granularity from the cluster size;
 * a volatile write cache with FUA (FLUSH makes data and metadata durable)
 * unless read-only.
 */
int ublk_params_build(struct ublk_params *p, struct qcow_image *img,
		      const struct ublk_dev_opts *opts, uint32_t max_io_bytes);

#endif
