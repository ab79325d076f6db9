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
int dev_go_live(struct ublk_dev *dev,
		int (*go)(struct ublk_ctrl *c, uint32_t dev_id, int pid),
		const char *what);
int dev_save_state(struct ublk_dev *dev);

#endif
