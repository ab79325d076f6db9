// SPDX-License-Identifier: MIT
/* Raw images: guest offset = file offset. */
#include <errno.h>
#include "internal.h"

static int raw_open(struct qcow_image *img)
{
	img->size = img->file->size;
	return 0;
}

static void raw_close(struct qcow_image *img)
{
}

static void raw_status(struct qcow_req *req)
{
	struct qcow_status *st = req->status;
	uint64_t len;
	bool zero, eof;
	int ret;

	ret = qfile_seek_status(req->img->file, req->pos, &len, &zero, &eof);
	if (ret < 0) {
		/* no SEEK_DATA: everything is data */
		zero = false;
		len = req->length;
	}
	st->length = MIN(len, req->length);
	if (!st->length)
		st->length = req->length;
	st->offset = req->pos;
	st->flags = QCOW_ST_OFFSET_VALID | QCOW_ST_ALLOCATED |
		    (zero ? QCOW_ST_ZERO : QCOW_ST_DATA);
	st->file = req->img->filename;
	st->depth = 0;
}

static void raw_step(struct qcow_req *req)
{
	uint64_t end = req->offset + req->length;

	if (req->op == QCOW_OP_STATUS)
		raw_status(req);
	else
		qreq_read_file(req, req->img->file, req->buf, req->length,
			       req->offset);
	req->pos = end;
	qreq_put(req);
}

const struct qcow_driver qcow_raw_driver = {
	.name = "raw",
	.open = raw_open,
	.close = raw_close,
	.step = raw_step,
};
