/* SPDX-License-Identifier: MIT */
/*
 * Internal snapshots of a device's image while it is served: the I/O is
 * paused (requests started finish, the engine's work drains, new ones
 * wait), the engine takes or deletes the snapshot on the main thread,
 * and the I/O resumes.  The requests of the control channel.
 */
#ifndef UBLKSRV_SNAPSHOT_H
#define UBLKSRV_SNAPSHOT_H

#include <stddef.h>
#include <stdio.h>

/* How long the queues may take to drain before the request fails. */
#define SNAPSHOT_DRAIN_MS	30000

#define CTL_SNAPSHOT_CREATE	"snapshot-create"
#define CTL_SNAPSHOT_DELETE	"snapshot-delete"
#define CTL_SNAPSHOT_LIST	"snapshot-list"

/* A ctl_handler; arg is the struct ublk_dev. */
int dev_control(void *arg, const char *verb, const char *param, FILE *out,
		char *err, size_t err_len);

#endif
