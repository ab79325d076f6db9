/* SPDX-License-Identifier: MIT */
/*
 * The idle timer of a queue: a queue that handed the engine no request
 * for a second starts a background write-back of dirty metadata, so that
 * little is left for the next FLUSH (or lost if the daemon dies).
 */
#ifndef UBLKSRV_IDLE_H
#define UBLKSRV_IDLE_H

#include "queue.h"

#define IDLE_TICK_SEC	1

void idle_arm(struct ublk_queue *q);
/* The timeout's completion: maybe a write-back, and the next tick. */
void idle_tick(struct ublk_queue *q, int res);

#endif
