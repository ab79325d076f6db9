/* SPDX-License-Identifier: MIT */
/* Opening an image named on the command line, with an optional -f name. */
#ifndef TOOLS_COMMON_OPEN_H
#define TOOLS_COMMON_OPEN_H

#include "qcow/qcow.h"

/* "raw", "qcow2", "qcow"; NULL or "" probes.  -EINVAL when unknown. */
int format_from_name(const char *name, enum qcow_format *fmt);

/*
 * Opens path with opts (whose format is replaced by fmt_name's); when that
 * fails, prints one line naming path and why (and which file of its chain
 * is to blame).
 */
int tool_open(struct qcow_image **img, const char *path, const char *fmt_name,
	      const struct qcow_open_opts *opts);

/*
 * Why an engine call on path failed: the engine's message without its
 * leading "PATH: " (other files keep their name), or strerror(-err) when
 * the engine gave none.
 */
const char *tool_reason(const char *path, int err);

/*
 * Why qcow_open(path) failed: tool_reason(), or just the system's reason
 * ("No such file or directory") when path itself cannot be opened.
 */
const char *open_error_text(const char *path, int err);

/* Where a backing file name stored in image resolves to (malloc'ed). */
char *backing_path_of(const char *image, const char *name);

#endif
