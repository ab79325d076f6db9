/* SPDX-License-Identifier: MIT */
/* The steps qemu-img amend -p draws between its 0% and 100%. */
#ifndef TOOLS_IMG_AMEND_PROGRESS_H
#define TOOLS_IMG_AMEND_PROGRESS_H

#include "qcow.h"
#include "tools/common/progress.h"

/*
 * Draws, on p, the steps qemu-img 7.2 reports while amending an image
 * that was as before says with a: its version upgrade, its pass over
 * the refcount table for a new refcount width, its pass over the L1
 * entries for a downgrade.
 */
void amend_progress_steps(struct progress *p, const struct qcow_info *before,
			  const struct qcow_amend_opts *a);

#endif
