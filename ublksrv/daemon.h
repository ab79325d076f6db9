/* SPDX-License-Identifier: MIT */
/*
 * The daemon: the one process that serves the devices of an `add` (or
 * the one of a `recover`), in the background unless --foreground.
 */
#ifndef UBLKSRV_DAEMON_H
#define UBLKSRV_DAEMON_H

#include <stdbool.h>
#include "device.h"

/*
 * Creates the nr devices of opts (or recovers opts[0]) and serves them,
 * in one process, until the last one stops.  Returns the exit status.
 */
int serve(const struct ublk_dev_opts *opts, unsigned int nr, bool recover,
	  bool foreground);

#endif
