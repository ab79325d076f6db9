/* SPDX-License-Identifier: MIT */
/* Block status of a guest range through the whole backing chain. */
#ifndef TOOLS_COMMON_CHAIN_H
#define TOOLS_COMMON_CHAIN_H

#include <stdbool.h>
#include "qcow.h"

/*
 * The status of [off, off + len) at the first layer that has DATA or ZERO,
 * going down the backing chain as qemu-img map does; st->depth names the
 * layer.  Ranges no layer allocates read as zeros of the last layer.
 *
 * With above set, the walk stops at the first layer that ALLOCATEs the
 * range instead, and a range past the end of a backing file is ZERO and
 * ALLOCATED there: the status qemu-img compare -s compares.
 */
int chain_status(struct qcow_image *top, uint64_t off, uint64_t len,
		 bool above, struct qcow_status *st);

#endif
