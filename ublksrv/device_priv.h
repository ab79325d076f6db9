/* SPDX-License-Identifier: MIT */
/* Steps shared by creating a device and recovering one (device.c). */
#ifndef UBLKSRV_DEVICE_PRIV_H
#define UBLKSRV_DEVICE_PRIV_H

#include "device.h"

#define RETRY_MS	10000	/* waiting for a dead daemon's files to go */

void sleep_ms(unsigned int ms);
/* Blocks the signals the main thread waits for (before any thread). */
void dev_init(struct ublk_dev *dev, const struct ublk_dev_opts *opts);
int dev_open_image(struct ublk_dev *dev, unsigned int busy_tries);
int dev_open_cdev(struct ublk_dev *dev);
int dev_start_queues(struct ublk_dev *dev);
int dev_save_state(struct ublk_dev *dev);

#endif
