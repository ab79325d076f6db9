/* SPDX-License-Identifier: MIT */
/* The verbs of ublk-qcow; each returns the process exit status. */
#ifndef UBLKSRV_CLI_H
#define UBLKSRV_CLI_H

int cmd_add(int argc, char **argv);
int cmd_del(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_features(int argc, char **argv);
int cmd_recover(int argc, char **argv);
int cmd_snapshot(int argc, char **argv);

/* A decimal number in [min, max], or -1 with a message naming what. */
long parse_num(const char *what, const char *s, long min, long max);

/* The ids of the ublk devices that exist, ascending; returns how many. */
int list_dev_ids(int *ids, int max);

#endif
