// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "device.h"
#include "target.h"

#define MAX_DISCARD_BYTES	(64u << 20)
#define PAGE_SHIFT_4K		12

static unsigned int ilog2_u32(uint32_t v)
{
	unsigned int n = 0;

	while (v >>= 1)
		n++;
	return n;
}

static unsigned int max_u(unsigned int a, unsigned int b)
{
	return a > b ? a : b;
}

static unsigned int min_u(unsigned int a, unsigned int b)
{
	return a < b ? a : b;
}

static void params_discard(struct ublk_params *p, uint32_t cluster)
{
	struct ublk_param_discard *d = &p->discard;
	uint32_t lbs = 1u << p->basic.logical_bs_shift;

	p->types |= UBLK_PARAM_TYPE_DISCARD;
	d->discard_granularity = cluster > lbs ? cluster : lbs;
	d->max_discard_sectors = MAX_DISCARD_BYTES >> 9;
	d->max_write_zeroes_sectors = MAX_DISCARD_BYTES >> 9;
	d->max_discard_segments = 1;
}

int ublk_params_build(struct ublk_params *p, struct qcow_image *img,
		      const struct ublk_dev_opts *opts, uint32_t max_io_bytes)
{
	struct ublk_param_basic *b = &p->basic;
	struct qcow_info info;
	unsigned int cbits;
	uint32_t cluster;
	int ret;

	memset(p, 0, sizeof(*p));
	ret = qcow_get_info(img, &info);
	if (ret < 0)
		return ret;
	cluster = info.cluster_size ? info.cluster_size : 65536;
	if (cluster & (cluster - 1))
		return -EINVAL;
	cbits = ilog2_u32(cluster);
	p->types = UBLK_PARAM_TYPE_BASIC;
	/* read-only: no cache to flush, and the engine refuses FLUSH */
	if (opts->read_only)
		b->attrs = UBLK_ATTR_READ_ONLY;
	else
		b->attrs = UBLK_ATTR_VOLATILE_CACHE | UBLK_ATTR_FUA;
	b->logical_bs_shift = opts->direct ? PAGE_SHIFT_4K : 9;
	b->physical_bs_shift = max_u(b->logical_bs_shift,
				     min_u(cbits, PAGE_SHIFT_4K));
	b->io_min_shift = b->physical_bs_shift;
	b->io_opt_shift = max_u(cbits, b->physical_bs_shift);
	b->max_sectors = max_io_bytes >> 9;
	b->dev_sectors = (qcow_size(img) >> b->logical_bs_shift) <<
			 (b->logical_bs_shift - 9);
	if (!b->dev_sectors)
		return -EINVAL;
	if (!opts->read_only)
		params_discard(p, cluster);
	return 0;
}

/* The queue whose thread is running, to catch callbacks on another one. */
static __thread struct ublk_queue *running_queue;

/*
 * User copy: a WRITE's data is read from the char device before the
 * engine writes it; a READ's is written there after the engine read it.
 * Both go out on the queue's ring (UD_COPY), never as blocking calls.
 */
static void copy_start(struct ublk_queue *q, struct ublk_io *io)
{
	struct io_uring_sqe *sqe = ublk_queue_sqe(q);
	uint64_t pos = UBLK_USER_COPY_POS(q->q_id, io->tag) + io->copied;
	uint8_t *buf = io->buf + io->copied;
	unsigned int len = io->len - io->copied;

	if (io->op == QCOW_OP_WRITE)
		io_uring_prep_read(sqe, q->dev->cdev_fd, buf, len, pos);
	else
		io_uring_prep_write(sqe, q->dev->cdev_fd, buf, len, pos);
	io_uring_sqe_set_data64(sqe, QCOW_USER_DATA_FOREIGN | UD_COPY |
				io->tag);
}

static void target_done(struct qcow_req *req, int res)
{
	struct ublk_io *io = (struct ublk_io *)((char *)req -
			offsetof(struct ublk_io, req));
	struct ublk_queue *q = io->q;

	if (q != running_queue) {
		fprintf(stderr, "ublk-qcow: engine completed tag %u of queue %u "
			"on another thread\n", io->tag, q->q_id);
		abort();
	}
	if (res >= 0 && q->user_copy && io->op == QCOW_OP_READ) {
		io->copied = 0;
		copy_start(q, io);
		return;
	}
	if (res >= 0 && io->op == QCOW_OP_FLUSH)
		ublk_dev_flushed(q->dev);
	ublk_queue_commit(io, res < 0 ? res : io->result);
}

/* The engine operation for a ublk opcode and flags; -EOPNOTSUPP if none. */
static int target_op(struct ublk_io *io, const struct ublksrv_io_desc *iod)
{
	uint32_t flags = iod->op_flags;

	io->req.flags = 0;
	io->result = 0;
	switch (iod->op_flags & 0xff) {
	case UBLK_IO_OP_READ:
		io->op = QCOW_OP_READ;
		io->result = iod->nr_sectors << 9;
		return 0;
	case UBLK_IO_OP_WRITE:
		io->op = QCOW_OP_WRITE;
		io->result = iod->nr_sectors << 9;
		if (flags & UBLK_IO_F_FUA)
			io->req.flags |= QCOW_REQ_FUA;
		return 0;
	case UBLK_IO_OP_FLUSH:
		io->op = QCOW_OP_FLUSH;
		return 0;
	case UBLK_IO_OP_DISCARD:
		io->op = QCOW_OP_DISCARD;
		return 0;
	case UBLK_IO_OP_WRITE_ZEROES:
		io->op = QCOW_OP_WRITE_ZEROES;
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

static void target_submit(struct ublk_queue *q, struct ublk_io *io)
{
	int ret;

	io->req.done = target_done;
	io->req.priv = io;
	if (q->zero_copy && (io->op == QCOW_OP_READ || io->op == QCOW_OP_WRITE))
		ret = qcow_submit_fixed(q->qctx, q->dev->img, &io->req, io->op,
					&io->fx, 0, io->off, io->len);
	else
		ret = qcow_submit(q->qctx, q->dev->img, &io->req, io->op,
				  io->buf, io->off, io->len);
	if (ret < 0)
		ublk_queue_commit(io, ret);
}

void target_queue_io(struct ublk_queue *q, struct ublk_io *io,
		     const struct ublksrv_io_desc *iod)
{
	int ret;

	ret = target_op(io, iod);
	if (ret < 0) {
		ublk_queue_commit(io, ret);
		return;
	}
	io->off = iod->start_sector << 9;
	io->len = (uint64_t)iod->nr_sectors << 9;
	if (io->op == QCOW_OP_FLUSH)
		io->off = io->len = 0;
	if (q->user_copy && io->op == QCOW_OP_WRITE) {
		io->copied = 0;
		copy_start(q, io);
		return;
	}
	target_submit(q, io);
}

void target_copy_done(struct ublk_queue *q, uint16_t tag, int res)
{
	struct ublk_io *io = &q->ios[tag];

	if (res <= 0) {
		ublk_queue_commit(io, res < 0 ? res : -EIO);
		return;
	}
	io->copied += res;
	if (io->copied < io->len)
		copy_start(q, io);
	else if (io->op == QCOW_OP_WRITE)
		target_submit(q, io);
	else
		ublk_queue_commit(io, io->result);
}
