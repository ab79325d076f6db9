/* SPDX-License-Identifier: MIT */
/* qcow-img convert: the state shared by its setup and its copy loop. */
#ifndef TOOLS_IMG_CONVERT_H
#define TOOLS_IMG_CONVERT_H

#include <stdbool.h>
#include <stdint.h>
#include "qcow.h"
#include "tools/common/progress.h"
#include "tools/img/opts.h"

struct convert {
	const char *fmt;
	const char *out_fmt;
	const char *src;
	const char *dst;
	const char *backing;		/* -B */
	const char *backing_fmt;	/* -F */
	bool show_progress;
	bool quiet;
	bool compress;			/* -c */
	bool no_create;			/* -n */
	bool force_share;		/* -U: the source only */
	uint64_t sparse;		/* -S; 0: write zeros too */
	struct img_opts opts;		/* -o */

	struct qcow_image *img;		/* source */
	struct qcow_image *out;		/* target */
	bool zero_init;			/* target reads zeros everywhere */
	uint64_t grain;			/* unit of zero detection, compression */
	uint8_t *buf;			/* source data */
	uint8_t *old;			/* target data before the copy */
	size_t buf_size;
	struct progress progress;
};

/*
 * Copies the source's guest data into the target, block by block
 * (c->grain bytes): a block that already reads the same in the target is
 * skipped, a zero block becomes a zero write, anything else is written
 * (compressed with -c).
 */
int convert_copy(struct convert *c);

#endif
