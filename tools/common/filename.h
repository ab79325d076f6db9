/* SPDX-License-Identifier: MIT */
/* Image file names as qemu-img reads them: json:{...}, file:NAME. */
#ifndef TOOLS_COMMON_FILENAME_H
#define TOOLS_COMMON_FILENAME_H

#include <stdbool.h>
#include "tools/common/secret.h"

/*
 * tool_image_parse() of arg as qemu-img reads an image name: an
 * --image-opts string when image_opts; else "json:{...}", whose options
 * are taken as --image-opts takes them (nested objects as dotted keys),
 * or a file name (a "file:" prefix dropped).  A name with another
 * protocol prefix (a colon before any slash) fails with one line, as a
 * bad JSON does: -EINVAL.
 */
int tool_image_from_arg(const char *arg, bool image_opts,
			struct tool_image *t);

/*
 * The name of an image to create (or write into without --target-image-
 * opts): arg without a "file:" prefix; another protocol (json: too)
 * fails with one line, -EINVAL, as in qemu-img.
 */
int tool_filename_new(const char *arg, const char **name);

/*
 * The file name of the image opened from arg as qemu-img shows it
 * (malloc'ed): name, with "./" before it when arg was "file:NAME" and
 * NAME would read as a protocol prefix; a blkdebug:CONFIG:NAME arg whole.
 */
char *tool_filename_show(const char *arg, const char *name);

#endif
