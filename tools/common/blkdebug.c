// SPDX-License-Identifier: MIT
/* QEMU's blkdebug filter named on the tools' command lines. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tools/common/blkdebug.h"
#include "tools/common/msg.h"

/* As QEMU's blkdebug prints it, on stdout. */
static void notify(void *arg, const char *tag, bool suspended)
{
	printf("blkdebug: %s request '%s'\n",
	       suspended ? "Suspended" : "Resuming", tag);
}

static int make(struct tool_image *t)
{
	if (t->blkdebug)
		return 0;
	if (qcow_blkdebug_new(&t->blkdebug) < 0) {
		tool_error("out of memory");
		return -ENOMEM;
	}
	qcow_blkdebug_set_notify(t->blkdebug, notify, NULL);
	return 0;
}

bool tool_blkdebug_key(const char *key)
{
	if (strncmp(key, "file.", 5))
		return false;
	key += 5;
	return !strcmp(key, "driver") || !strcmp(key, "config") ||
	       !strcmp(key, "align") || !strcmp(key, "image.filename") ||
	       !strcmp(key, "image.driver") ||
	       !strncmp(key, "inject-error.", 13) ||
	       !strncmp(key, "set-state.", 10);
}

static int take(struct tool_image *t, const char *shown, const char *key,
		const char *val)
{
	int ret = qcow_blkdebug_opt(t->blkdebug, key, val);

	if (ret == -ENOENT) {
		tool_error("image options: unsupported option 'file.%s'", key);
		return -EINVAL;
	}
	if (ret < 0) {
		tool_error("%s: %s", shown, qcow_strerror());
		return -EINVAL;
	}
	return 0;
}

int tool_blkdebug_pair(struct tool_image *t, const char *shown,
		       const char *key, const char *val)
{
	if (!tool_blkdebug_key(key) ||
	    (!strcmp(key, "file.driver") && (!val || strcmp(val, "blkdebug"))))
		return -ENOENT;
	if (!val) {
		tool_error("image options: '%s' needs a value", key);
		return -EINVAL;
	}
	if (make(t) < 0)
		return -ENOMEM;
	key += 5;
	if (!strcmp(key, "driver")) {
		t->blkdebug_driver = true;
		return 0;
	}
	if (!strcmp(key, "image.driver")) {
		if (strcmp(val, "file")) {
			tool_error("image options: file.image.driver '%s': "
				   "only file is supported", val);
			return -EINVAL;
		}
		return 0;
	}
	if (!strcmp(key, "image.filename")) {
		free(t->filename);
		t->filename = strdup(val);
		t->nested_file = true;
		return t->filename ? 0 : -ENOMEM;
	}
	return take(t, shown, key, val);
}

int tool_blkdebug_check(const char *shown, struct tool_image *t)
{
	if (!t->blkdebug || t->blkdebug_driver)
		return 0;
	tool_error("%s: file.config, file.image and the inject-error and "
		   "set-state options are blkdebug's: give "
		   "file.driver=blkdebug", shown);
	return -EINVAL;
}

int tool_blkdebug_name(const char *arg, struct tool_image *t,
		       const char **image)
{
	const char *conf = arg + 9, *colon;
	char *path;
	int ret;

	if (strncmp(arg, "blkdebug:", 9))
		return 0;
	colon = strchr(conf, ':');
	if (!colon) {
		tool_error("%s: blkdebug requires both config file and image "
			   "path", arg);
		return -EINVAL;
	}
	*image = colon + 1;
	if (make(t) < 0)
		return -ENOMEM;
	t->blkdebug_driver = true;
	if (colon == conf)
		return 1;
	path = strndup(conf, colon - conf);
	if (!path)
		return -ENOMEM;
	ret = qcow_blkdebug_read_config(t->blkdebug, path);
	free(path);
	if (ret < 0) {
		tool_error("%s: %s", arg, qcow_strerror());
		return -EINVAL;
	}
	return 1;
}
