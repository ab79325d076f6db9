/* SPDX-License-Identifier: MIT */
/*
 * Running in the background: the command forks, the child serves the
 * devices, and the parent exits once the child says they are all ready
 * (printing /dev/ublkbN for each, in order) or has failed (the child
 * printed why, and removed what it had made, before it exited).
 */
#ifndef UBLKSRV_DAEMON_H
#define UBLKSRV_DAEMON_H

#include <stdbool.h>
#include "device.h"

/* Returns in the child only (0), or -errno if fork failed. */
int daemon_fork(unsigned int nr_devs);
/*
 * The devices are served: prints their /dev/ublkbN (foreground) or hands
 * them to the parent and detaches stdio.  stderr goes to the first
 * device's log; the others' logs become links to it.
 */
void daemon_ready(const int *dev_ids, unsigned int nr_devs);

/*
 * Creates the nr devices of opts (or recovers opts[0]) and serves them,
 * in one process, until the last one stops.  Returns the exit status.
 */
int serve(const struct ublk_dev_opts *opts, unsigned int nr, bool recover,
	  bool foreground);

#endif
