// SPDX-License-Identifier: MIT
/* The public internal snapshot calls, dispatched to the driver. */
#include <errno.h>
#include "internal.h"

static int snapshot_check(const struct qcow_image *img)
{
	if (!img->drv->snapshot)
		return qcow_set_error(-ENOTSUP, img->filename, "the %s format "
				      "has no internal snapshots",
				      img->drv->name);
	if (img->opts.read_only)
		return qcow_set_error(-EACCES, img->filename, "the image is "
				      "open read-only");
	return 0;
}

int qcow_snapshot_create(struct qcow_image *img,
			 const struct qcow_snapshot_create_opts *opts,
			 char *id, size_t id_size)
{
	int ret = snapshot_check(img);

	return ret < 0 ? ret : img->drv->snapshot->create(img, opts, id,
							  id_size);
}

int qcow_snapshot_delete(struct qcow_image *img, const char *id_or_name)
{
	int ret = snapshot_check(img);

	return ret < 0 ? ret : img->drv->snapshot->remove(img, id_or_name);
}

int qcow_snapshot_apply(struct qcow_image *img, const char *id_or_name)
{
	int ret = snapshot_check(img);

	return ret < 0 ? ret : img->drv->snapshot->apply(img, id_or_name);
}
