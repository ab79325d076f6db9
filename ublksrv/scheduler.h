/* SPDX-License-Identifier: MIT */
/* The block layer's I/O scheduler in front of a device (-o scheduler=). */
#ifndef UBLKSRV_SCHEDULER_H
#define UBLKSRV_SCHEDULER_H

#include <stdbool.h>
#include <stdint.h>

#define UBLK_DEFAULT_SCHEDULER	"none"
#define UBLK_KEEP_SCHEDULER	"keep"

/* A name the option may give: 1-31 of a-z 0-9 - _. */
bool ublk_scheduler_name_ok(const char *name);
/* Sets /dev/ublkbN's scheduler to name; 0 or -errno. */
int ublk_set_scheduler(uint32_t dev_id, const char *name);

#endif
