// SPDX-License-Identifier: MIT
/*
 * The backing file of a qcow2 image: its name and format rewritten in the
 * header (qcow-img rebase), and the image emptied so that it
 * reads as its backing file (qcow-img commit).
 *
 * They run synchronously with no other request in flight, and write the
 * header only after everything it will point to is on disk.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include "qcow2_write.h"
#include "layout.h"

int qcow2_set_backing(struct qcow_image *img, const char *name,
		      const char *format)
{
	struct qcow2_header_change chg = {
		.set_backing = true, .backing = name && *name ? name : NULL,
		.backing_format = format,
	};
	struct qcow2 *s = NULL;
	int ret;

	ret = qcow2_need_writable(img, &s);
	if (ret < 0)
		return ret;
	if (s->has_data_file && (s->autoclear & QCOW2_AUTOCLEAR_DATA_FILE_RAW)
	    && chg.backing)
		return qcow_set_error(-EINVAL, img->filename, "a raw data file "
				      "cannot have a backing file");
	ret = qcow2_header_rewrite(s, &chg);
	if (ret < 0)
		return qcow_set_error(ret, img->filename, "cannot rewrite the "
				      "header: %s", strerror(-ret));
	free(img->backing_name);
	free(img->backing_format);
	img->backing_name = chg.backing ? strdup(chg.backing) : NULL;
	img->backing_format = chg.backing && format ? strdup(format) : NULL;
	return 0;
}


int qcow2_make_empty(struct qcow_image *img)
{
	struct qcow2 *s = NULL;
	int ret = qcow2_need_writable(img, &s);

	if (ret < 0)
		return ret;
	ret = qcow2_full_discard_sync(s, 0, img->size);
	return ret < 0 ? ret : qcow2_ckpt_sync(s, true);
}
