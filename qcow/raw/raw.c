// SPDX-License-Identifier: MIT
/* Raw images: guest offset = file offset. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "internal.h"

static int raw_open(struct qcow_image *img)
{
	/* as QEMU: whole sectors, the partial last one reads zeros after EOF */
	img->size = ALIGN_UP(img->file->size, 512);
	img->file->keep_size = true;	/* its length is the disk's */
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

static void raw_sync_done(struct qio_op *op, int res)
{
	struct qcow_req *req = op->data;

	if (res < 0)
		qreq_fail(req, res);
	free(op);
	qreq_put(req);
}

static void raw_file_op(struct qcow_req *req, enum qio_kind kind)
{
	struct qio_op *op = calloc(1, sizeof(*op));

	if (!op) {
		qreq_fail(req, -ENOMEM);
		qreq_put(req);
		return;
	}
	op->cb = raw_sync_done;
	op->data = req;
	qfile_submit(req->ctx, req->img->file, op, kind, NULL, req->length,
		     req->offset);
}

/*
 * A probed raw image must stay raw (QEMU's rule): a write reaching into
 * the bytes the probe reads is checked on those bytes as they would be
 * after it (the file's, overlaid with the request's) and refused with
 * -EPERM when they would probe as another format.
 */
struct first_bytes {
	struct qio_op file_op;
	struct qio_op data_op;
	struct qcow_req *req;
	int pending;
	int err;
	uint8_t file[QCOW_PROBE_LEN];
	uint8_t data[QCOW_PROBE_LEN];
};

static void guard_decide(struct first_bytes *g)
{
	struct qcow_req *req = g->req;
	uint64_t n = MIN(req->length, QCOW_PROBE_LEN - req->offset);
	enum qcow_format fmt;

	memcpy(g->file + req->offset, g->data, n);
	fmt = qcow_probe_header(g->file);
	if (g->err) {
		qreq_fail(req, g->err);
	} else if (fmt != QCOW_FMT_RAW) {
		if (!req->img->guard_logged)
			qcow_log(req->img, "write to the first sector refused: "
				 "the image would then probe as %s (its format "
				 "was probed; give raw explicitly to allow it)",
				 qcow_format_name(fmt));
		req->img->guard_logged = true;
		qreq_fail(req, -EPERM);
	} else {
		qreq_data_write_file(req, req->img->file, 0, req->length,
				     req->offset);
	}
	free(g);
	qreq_put(req);
}

static void guard_io_done(struct qio_op *op, int res)
{
	struct first_bytes *g = op->data;

	if (res < 0 && !g->err)
		g->err = res;
	if (--g->pending == 0)
		guard_decide(g);
}

static void raw_guarded_write(struct qcow_req *req)
{
	uint64_t n = MIN(req->length, QCOW_PROBE_LEN - req->offset);
	struct first_bytes *g = calloc(1, sizeof(*g));

	if (!g) {
		qreq_fail(req, -ENOMEM);
		return;
	}
	qreq_get(req);
	g->req = req;
	g->pending = 1;
	g->file_op.cb = guard_io_done;
	g->file_op.data = g;
	g->data_op.cb = guard_io_done;
	g->data_op.data = g;
	if (req->offset || n < QCOW_PROBE_LEN) {
		g->pending++;
		qfile_submit(req->ctx, req->img->file, &g->file_op, QIO_READ,
			     g->file, QCOW_PROBE_LEN, 0);
	}
	if (qreq_data_get(req, &g->data_op, 0, g->data, n))
		g->pending++;
	guard_io_done(&g->data_op, 0);
}

static void raw_flush(struct qcow_req *req)
{
	raw_file_op(req, QIO_FSYNC);
}

static void raw_step(struct qcow_req *req)
{
	uint64_t end = req->offset + req->length;

	if (req->op == QCOW_OP_STATUS)
		raw_status(req);
	req->pos = end;
	switch (req->op) {
	case QCOW_OP_STATUS:
		break;
	case QCOW_OP_READ:
		qreq_data_read_file(req, req->img->file, 0, req->length,
				    req->offset);
		break;
	case QCOW_OP_WRITE:
		if (req->img->probed && req->offset < QCOW_PROBE_LEN)
			raw_guarded_write(req);
		else
			qreq_data_write_file(req, req->img->file, 0,
					     req->length, req->offset);
		break;
	case QCOW_OP_WRITE_ZEROES:
		qreq_write_zeroes_file(req, req->img->file, req->length,
				       req->offset);
		break;
	case QCOW_OP_DISCARD:
		raw_file_op(req, QIO_PUNCH);
		return;
	case QCOW_OP_FLUSH:
		raw_flush(req);
		return;
	case QCOW_OP_WRITE_COMPRESSED:
		qreq_fail(req, -ENOTSUP);
		break;
	}
	qreq_put(req);
}

static int raw_create(const char *path, const struct qcow_create_opts *o)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int ret;

	if (fd < 0)
		return qcow_set_error(-errno, path, "cannot create: %s",
				      strerror(errno));
	ret = qfd_preallocate(fd, o->prealloc == QCOW_PREALLOC_OFF ?
			      QCOW_PREALLOC_METADATA : o->prealloc, 0, o->size);
	/*
	 * Like qemu-img, the first block is allocated (zeros): block status
	 * and O_DIRECT alignment probing see data there, as with QEMU's file.
	 */
	if (!ret && o->size && o->prealloc != QCOW_PREALLOC_FULL)
		ret = qcow_zero_source() ?
		      qfd_pwrite_all(fd, qcow_zero_source(),
				     o->size >= 4096 ? 4096 : MIN(o->size, 512),
				     0) : -ENOMEM;
	close(fd);
	return ret < 0 ? qcow_set_error(ret, path, "cannot write: %s",
					strerror(-ret)) : 0;
}

static int raw_resize(struct qcow_image *img, uint64_t size, bool allow_shrink)
{
	int ret;

	if (size < img->size && !allow_shrink)
		return -EPERM;
	ret = qfile_lock(img->file, QPERM_RESIZE, 0);
	if (ret < 0)
		return ret;
	if (ftruncate(img->file->fd, size) < 0)
		return -errno;
	img->file->size = size;
	img->size = ALIGN_UP(size, 512);	/* as raw_open() sees it */
	return 0;
}

const struct qcow_driver qcow_raw_driver = {
	.name = "raw",
	.open = raw_open,
	.close = raw_close,
	.step = raw_step,
	.flush = raw_flush,
	.create = raw_create,
	.resize = raw_resize,
};
