/* SPDX-License-Identifier: MIT */
/*
 * Stable names: `add --name NAME` records NAME with the device, and the
 * daemon keeps the link RUN_DIR/by-name/NAME -> /dev/ublkbN while it
 * serves the device (a killed daemon's device keeps it for `recover`).
 */
#ifndef UBLKSRV_NAME_H
#define UBLKSRV_NAME_H

#include <stdbool.h>
#include <stddef.h>

#define UBLK_NAME_MAX	64

/* 1-64 of [A-Za-z0-9._-], not starting with '.' or '-' */
bool name_valid(const char *name);
/* 0 for a valid name; else one line and -EINVAL */
int name_check(const char *name);
/* The id of the device that exists and was recorded with name, or -ENOENT. */
int name_find(const char *name);
/* name_find, with "no ublk device named NAME" when there is none. */
int name_to_id(const char *name);
void name_link_path(const char *name, char *buf, size_t len);
/* Makes (or replaces) the link to dev_id's block device. */
int name_link(const char *name, int dev_id);
/* Removes the link if it leads to dev_id's block device. */
void name_unlink(const char *name, int dev_id);

#endif
