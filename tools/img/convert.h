/* SPDX-License-Identifier: MIT */
/* qcow-img convert: the state shared by its setup and its copy loop. */
#ifndef TOOLS_IMG_CONVERT_H
#define TOOLS_IMG_CONVERT_H

#include <stdbool.h>
#include <stdint.h>
#include "qcow.h"
#include "tools/common/progress.h"
#include "tools/common/snapshot_param.h"
#include "tools/img/opts.h"

struct convert_bitmap {
	char *name;
	uint64_t granularity;
	bool enabled;
};

/* One source image: its guest bytes at [start, start + size) of the target. */
struct convert_src {
	const char *name;
	struct qcow_image *img;
	uint64_t start;
	uint64_t size;
};

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
	bool copy_bitmaps;		/* --bitmaps */
	bool skip_broken_bitmaps;	/* --skip-broken-bitmaps */
	struct snapshot_param snapshot;	/* -l: export this snapshot */
	bool target_image_opts;		/* dst is an --image-opts string */

	struct qcow_image *img;		/* source (the first one) */
	struct convert_src *srcs;	/* the sources, concatenated */
	int nr_srcs;
	uint64_t total;			/* their sizes' sum */
	struct qcow_image *out;		/* target */
	bool zero_init;			/* target reads zeros everywhere */
	uint64_t grain;			/* unit of zero detection, compression */
	uint8_t *buf;			/* source data */
	uint8_t *old;			/* target data before the copy */
	size_t buf_size;
	struct progress progress;
	bool chunk_below;		/* the last chunk: from a backing file */
	struct convert_bitmap *bitmaps;	/* the source's, to copy */
	int nr_bitmaps;
};

/*
 * Copies the source's guest data into the target, block by block
 * (c->grain bytes): a block that already reads the same in the target is
 * skipped, a zero block becomes a zero write, anything else is written
 * (compressed with -c).
 */
int convert_copy(struct convert *c);

/*
 * --bitmaps: the source's bitmaps, checked and listed (after it is open;
 * inconsistent ones refused or, with --skip-broken-bitmaps, skipped with a
 * warning); the target checked (qcow2 v3, no bitmap of the same names);
 * after the data, the bitmaps made in the target.  Each prints its error.
 */
int convert_bitmaps_source(struct convert *c);
int convert_bitmaps_target(struct convert *c);
int convert_bitmaps_copy(struct convert *c);
void convert_bitmaps_free(struct convert *c);

#endif
