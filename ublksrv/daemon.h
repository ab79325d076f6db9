/* SPDX-License-Identifier: MIT */
/*
 * Running in the background: the command forks, the child serves the
 * device, and the parent exits once the child says the device is ready
 * (printing /dev/ublkbN) or has failed (the child printed why).
 */
#ifndef UBLKSRV_DAEMON_H
#define UBLKSRV_DAEMON_H

#include <stdbool.h>

/* Returns in the child only (0), or -errno if fork failed. */
int daemon_fork(void);
/*
 * The device is served: prints /dev/ublkbN (foreground) or hands it to the
 * parent and detaches stdio (stderr goes to the device's log file).
 */
void daemon_ready(int dev_id);

#endif
