// SPDX-License-Identifier: MIT
/*
 * -s (open -s): a temporary qcow2 overlay over the image, as qemu-io's
 * snapshot mode makes one: writes go to the overlay (its file deleted
 * once open) and the image itself is only read.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tools/common/msg.h"
#include "tools/common/open.h"
#include "tools/common/secret.h"
#include "tools/io/io.h"

/* The size and format of the image under the overlay. */
static int probe_base(const struct io_open *o, uint64_t *size,
		      enum qcow_format *fmt)
{
	struct qcow_open_opts opts = {
		.read_only = true,
		.force_share = true,
		.no_io = true,
	};
	struct qcow_image *img;
	int ret;

	ret = tool_open(&img, o->path, o->fmt, &opts);
	if (ret < 0)
		return ret;
	*size = qcow_size(img);
	*fmt = qcow_format(img);
	qcow_close(img);
	return 0;
}

static int create_overlay(const char *base, uint64_t size,
			  enum qcow_format fmt, char **out)
{
	struct qcow_create_opts c = {
		.format = QCOW_FMT_QCOW2,
		.size = size,
		.backing_file = base,
		.backing_format = qcow_format_name(fmt),
	};
	const char *dir = getenv("TMPDIR");
	char *path;
	int fd, ret;

	if (asprintf(&path, "%s/qcow-io-snapshot-XXXXXX",
		     dir && *dir ? dir : "/var/tmp") < 0)
		return -ENOMEM;
	fd = mkstemp(path);
	if (fd < 0) {
		ret = -errno;
		tool_error("-s: cannot make a temporary file in %s: %s",
			   dir && *dir ? dir : "/var/tmp", strerror(-ret));
		free(path);
		return ret;
	}
	close(fd);
	ret = qcow_create(path, &c);
	if (ret < 0) {
		tool_error("-s: cannot create the overlay %s: %s", path,
			   qcow_strerror());
		unlink(path);
		free(path);
		return ret;
	}
	*out = path;
	return 0;
}

int io_temp_overlay(const struct io_open *o, char **overlay)
{
	char base[PATH_MAX];
	enum qcow_format fmt;
	uint64_t size;
	int ret;

	/* a blkdebug filter would sit under the overlay's backing file */
	if (tool_image_opts() || snapshot_param_set(&o->snapshot) ||
	    !strncmp(o->path, "blkdebug:", 9)) {
		tool_error("%s: -s goes with a plain file name only (no --image-opts, no -l, no blkdebug:)",
			   o->path);
		return -EINVAL;
	}
	ret = probe_base(o, &size, &fmt);
	if (ret < 0)
		return ret;
	if (!realpath(o->path, base)) {
		ret = -errno;
		tool_error("%s: %s", o->path, strerror(-ret));
		return ret;
	}
	return create_overlay(base, size, fmt, overlay);
}
