/* SPDX-License-Identifier: MIT */
/* Opening an image named on the command line, with an optional -f name. */
#ifndef TOOLS_COMMON_OPEN_H
#define TOOLS_COMMON_OPEN_H

#include "qcow/qcow.h"

/* "raw", "qcow2", "qcow"; NULL or "" probes.  -EINVAL when unknown. */
int format_from_name(const char *name, enum qcow_format *fmt);

/*
 * Opens path with opts (whose format is replaced by fmt_name's) and prints
 * the reason to stderr when that fails.
 */
int tool_open(struct qcow_image **img, const char *path, const char *fmt_name,
	      const struct qcow_open_opts *opts);

/*
 * Why qcow_open() failed, worded as qemu-img does for files that cannot be
 * opened at all ("Could not open 'NAME': No such file or directory"), or
 * the engine's reason.  The text lives until the next call.
 */
const char *open_error_text(const char *name, int err);

/* Where a backing file name stored in image resolves to (malloc'ed). */
char *backing_path_of(const char *image, const char *name);

#endif
