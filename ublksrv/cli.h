/* SPDX-License-Identifier: MIT */
/* The verbs of ublk-qcow; each returns the process exit status. */
#ifndef UBLKSRV_CLI_H
#define UBLKSRV_CLI_H

#include <stdbool.h>
#include "device.h"

int cmd_add(int argc, char **argv);
int cmd_del(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_features(int argc, char **argv);
int cmd_recover(int argc, char **argv);

/*
 * Creates the nr devices of opts (or recovers opts[0]) and serves them,
 * in one process, until the last one stops.  Returns the exit status.
 */
int serve(const struct ublk_dev_opts *opts, unsigned int nr, bool recover,
	  bool foreground);

/* A decimal number in [min, max], or -1 with a message naming what. */
long parse_num(const char *what, const char *s, long min, long max);

/* The ids of the ublk devices that exist, ascending; returns how many. */
int list_dev_ids(int *ids, int max);

#endif
