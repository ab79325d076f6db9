// SPDX-License-Identifier: MIT
/* The file backend (file_backend.h): the hooks of the one a test set. */
#include "internal.h"

static const struct qfile_backend *backend;

void qfile_set_backend(const struct qfile_backend *be)
{
	backend = be;
}

int qfile_open(struct qfile **out, const char *name, bool read_only,
	       bool direct)
{
	if (backend && backend->open)
		return backend->open(backend->arg, out, name, read_only,
				     direct);
	return qfile_open_os(out, name, read_only, direct);
}

/* A write the backend wants to fail does not reach the file. */
int qio_injected_error(const struct qio_op *op)
{
	if (!backend || !backend->fail ||
	    (op->kind != QIO_WRITE && op->kind != QIO_ZERO) || !op->file)
		return 0;
	return backend->fail(backend->arg, op);
}

void qio_record(enum qio_event ev, const struct qio_op *op, int res)
{
	if (backend && backend->event && op->kind != QIO_READ &&
	    op->kind != QIO_FALLOC &&
	    op->file && !op->fixed)
		backend->event(backend->arg, ev, op, res);
}

bool qio_held(struct qio_op *op)
{
	if (op->held || !backend || !backend->hold ||
	    !backend->hold(backend->arg, op))
		return false;
	op->held = true;
	op->ctx->inflight++;
	return true;
}

void qfile_backend_release(struct qio_op *op)
{
	struct qlock_save prev = qcow_lock(op->ctx, op->lock);

	op->ctx->inflight--;
	qio_start(op);
	qcow_unlock(prev);
}
