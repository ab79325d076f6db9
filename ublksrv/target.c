// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include "device.h"
#include "target.h"

/* The queue whose thread is running, to catch callbacks on another one. */
static __thread struct ublk_queue *running_queue;

static void target_done(struct qcow_req *req, int res)
{
	struct ublk_io *io = (struct ublk_io *)((char *)req -
			offsetof(struct ublk_io, req));

	if (io->q != running_queue) {
		fprintf(stderr, "ublk-qcow: engine completed tag %u of queue %u "
			"on another thread\n", io->tag, io->q->q_id);
		abort();
	}
	ublk_queue_commit(io, res < 0 ? res : io->result);
}

/* The engine operation for a ublk opcode and flags; -EOPNOTSUPP if none. */
static int target_op(struct ublk_io *io, const struct ublksrv_io_desc *iod,
		     enum qcow_op *op)
{
	uint32_t flags = iod->op_flags;

	io->req.flags = 0;
	io->result = 0;
	switch (iod->op_flags & 0xff) {
	case UBLK_IO_OP_READ:
		*op = QCOW_OP_READ;
		io->result = iod->nr_sectors << 9;
		return 0;
	case UBLK_IO_OP_WRITE:
		*op = QCOW_OP_WRITE;
		io->result = iod->nr_sectors << 9;
		if (flags & UBLK_IO_F_FUA)
			io->req.flags |= QCOW_REQ_FUA;
		return 0;
	case UBLK_IO_OP_FLUSH:
		*op = QCOW_OP_FLUSH;
		return 0;
	case UBLK_IO_OP_DISCARD:
		*op = QCOW_OP_DISCARD;
		return 0;
	case UBLK_IO_OP_WRITE_ZEROES:
		*op = QCOW_OP_WRITE_ZEROES;
		if (!(flags & UBLK_IO_F_NOUNMAP))
			io->req.flags |= QCOW_REQ_UNMAP;
		if (flags & UBLK_IO_F_FUA)
			io->req.flags |= QCOW_REQ_FUA;
		return 0;
	default:
		return -EOPNOTSUPP;
	}
}

void target_thread_init(struct ublk_queue *q)
{
	running_queue = q;
}

void target_queue_io(struct ublk_queue *q, struct ublk_io *io,
		     const struct ublksrv_io_desc *iod)
{
	uint64_t off = iod->start_sector << 9;
	uint64_t len = (uint64_t)iod->nr_sectors << 9;
	enum qcow_op op;
	int ret;

	ret = target_op(io, iod, &op);
	if (ret < 0)
		goto err;
	if (op == QCOW_OP_FLUSH)
		off = len = 0;
	io->req.done = target_done;
	io->req.priv = io;
	ret = qcow_submit(q->qctx, q->dev->img, &io->req, op, io->buf, off,
			  len);
	if (ret < 0)
		goto err;
	return;
err:
	ublk_queue_commit(io, ret);
}
