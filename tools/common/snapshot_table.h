/* SPDX-License-Identifier: MIT */
/* The snapshot table as qemu-img snapshot -l and qemu-img info print it. */
#ifndef TOOLS_COMMON_SNAPSHOT_TABLE_H
#define TOOLS_COMMON_SNAPSHOT_TABLE_H

#include <stdio.h>
#include "qcow.h"

/* "Snapshot list:", the header and a row each; nothing without any. */
void snapshot_table_print(FILE *f, const struct qcow_info *info);

#endif
