/* SPDX-License-Identifier: MIT */
#ifndef UBLKSRV_BDEV_H
#define UBLKSRV_BDEV_H

#include <stdint.h>

/*
 * Writes back what the kernel caches for /dev/ublkbN and sends a FLUSH:
 * fsync() on the block device.  Returns 0 or -errno.
 */
int bdev_flush(uint32_t dev_id);

#endif
