/* SPDX-License-Identifier: MIT */
/*
 * QEMU's blkdebug filter on the tools' command lines: the name
 * blkdebug:CONFIG:IMAGE, and file.driver=blkdebug with its options in
 * --image-opts and json: names.
 */
#ifndef TOOLS_COMMON_BLKDEBUG_H
#define TOOLS_COMMON_BLKDEBUG_H

#include <stdbool.h>
#include "tools/common/secret.h"

/* A key of file.driver=blkdebug's options (json: names check with it). */
bool tool_blkdebug_key(const char *key);
/*
 * One such key=val into t (the filter made at the first); -ENOENT for a
 * key that is not one, -EINVAL after a message.
 */
int tool_blkdebug_pair(struct tool_image *t, const char *shown,
		       const char *key, const char *val);
/* t's blkdebug options complete: file.driver=blkdebug among them. */
int tool_blkdebug_check(const char *shown, struct tool_image *t);
/*
 * arg is "blkdebug:CONFIG:IMAGE" (CONFIG may be empty): the filter with
 * CONFIG's rules into t, *image points into arg; 0 when arg is another
 * name, 1 when it is one, -EINVAL after a message.
 */
int tool_blkdebug_name(const char *arg, struct tool_image *t,
		       const char **image);

#endif
