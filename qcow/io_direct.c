// SPDX-License-Identifier: MIT
/*
 * Writes to an O_DIRECT file.  One that covers its first or last block of
 * the file only in part is a read-modify-write: the blocks are read into
 * the aligned bounce, the data merged, the whole blocks written.  Another
 * write to those blocks in between would be lost or would bring back old
 * bytes, so a read-modify-write waits until no write is in flight on the
 * file and runs alone; the writes submitted after it wait for it, in
 * order.  Aligned writes that meet no read-modify-write start at once.
 */
#include <stddef.h>
#include <string.h>
#include "internal.h"

/*
 * Reads the blocks the write covers in part and merges the data in:
 * without the lock, from qcow_ctx_run_deferred().
 */
int qdirect_rmw_fill(struct qio_op *op)
{
	struct qfile *f = op->file;
	uint64_t a = f->align, end = op->io_off + op->io_len;
	bool head = op->off != op->io_off, tail = op->off + op->len != end;
	int ret = 0;

	if (head)
		ret = qfile_pread_sync(f, op->bounce, a, op->io_off);
	/* (one block: read already) */
	if (!ret && tail && !(head && op->io_len == a))
		ret = qfile_pread_sync(f, op->bounce + op->io_len - a, a,
				       end - a);
	if (!ret)
		memcpy(op->bounce + (op->off - op->io_off), op->buf, op->len);
	return ret;
}

static void dwrite_go(struct qio_op *op)
{
	if (op->rmw)
		qctx_defer_work(op->ctx, op, QIO_DEF_RMW);
	else
		qio_start(op);
}

static void dwrite_resume(struct qwaiter *w, int err)
{
	(void)err;
	dwrite_go((struct qio_op *)((char *)w - offsetof(struct qio_op, wake)));
}

static void dwrite_start(struct qio_op *op)
{
	struct qfile *f = op->file;

	f->dwrites++;
	op->tracked = true;
	if (op->rmw)
		f->drmw = true;
	/* on the thread of the op's context, which owns its ring */
	op->wake.ctx = op->ctx;
	op->wake.resume = dwrite_resume;
	qwaiter_wake(&op->wake, 0);
}

/* Starts the waiting writes that may start now, in order. */
static void dq_pump(struct qfile *f)
{
	struct qio_op *op;

	while ((op = f->dq_head)) {
		if (f->drmw || (op->rmw && f->dwrites))
			break;
		f->dq_head = op->next;
		if (!f->dq_head)
			f->dq_tail = NULL;
		op->next = NULL;
		dwrite_start(op);
	}
}

void qdirect_write(struct qio_op *op)
{
	struct qfile *f = op->file;

	qio_list_append(&f->dq_head, &f->dq_tail, op);
	dq_pump(f);
}

void qdirect_write_done(struct qio_op *op)
{
	struct qfile *f = op->file;

	op->tracked = false;
	f->dwrites--;
	if (op->rmw)
		f->drmw = false;
	dq_pump(f);
}
