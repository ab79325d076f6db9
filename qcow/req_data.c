// SPDX-License-Identifier: MIT
/*
 * The data of a request: caller memory, or bytes of an io_uring fixed
 * buffer the CPU cannot touch (qcow_submit_fixed(), ublk zero copy).  In
 * a fixed buffer, file data moves with READ_FIXED and WRITE_FIXED; what
 * the engine computes itself (zeros, decompressed clusters, the guest
 * part of a copy-on-write) is copied through the caller's copy_fd.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>
#include "internal.h"

#define ZERO_SOURCE_LEN	QCOW_ZERO_SOURCE_LEN

struct child_read {
	struct qcow_req req;
	struct qcow_req *parent;
};

/* one piece of I/O for a request, with memory it frees when done */
struct data_io {
	struct qio_op op;
	struct qcow_req *req;
	void *owned;
	uint64_t pos;		/* bounce reads: where the data goes */
	struct qepoch *epoch;	/* the request's, counting this I/O */
	unsigned int slot;
};

static uint64_t fixed_pos(const struct qcow_req *req, uint64_t boff)
{
	return req->fixed_addr + boff;
}

static uint64_t copy_pos(const struct qcow_req *req, uint64_t boff)
{
	const struct qcow_fixed *fx = req->fixed;

	return fx->copy_off + (fixed_pos(req, boff) - fx->addr0);
}

static void data_io_done(struct qio_op *op, int res)
{
	struct data_io *d = (struct data_io *)op;
	struct qcow_req *req = d->req;
	struct qepoch *epoch = d->epoch;
	unsigned int slot = d->slot;

	if (res < 0)
		qreq_fail(req, res);
	free(d->owned);
	qpool_put(QPOOL_DATA_IO, d);
	if (epoch)
		qepoch_exit(epoch, slot);
	qreq_put(req);
}

static struct data_io *data_io_new(struct qcow_req *req, void *owned)
{
	struct data_io *d = qpool_get(QPOOL_DATA_IO, sizeof(*d));

	if (!d) {
		free(owned);
		qreq_fail(req, -ENOMEM);
		return NULL;
	}
	d->req = req;
	d->owned = owned;
	d->op.cb = data_io_done;
	d->epoch = req->epoch;
	if (d->epoch)
		d->slot = qepoch_enter(d->epoch);
	qreq_get(req);
	return d;
}

/* memory to or from a file */
static void file_io(struct qcow_req *req, struct qfile *f, enum qio_kind kind,
		    uint8_t *buf, uint64_t len, uint64_t host)
{
	struct data_io *d = data_io_new(req, NULL);

	if (d)
		qfile_submit_ev(req->ctx, f, &d->op, kind, buf, len, host,
				kind == QIO_READ ? QBD_READ_AIO :
				kind == QIO_WRITE ? QBD_WRITE_AIO :
				QBD_NONE_TAG);
}

/* write mem into the fixed buffer through the copy descriptor */
static void copy_in(struct qcow_req *req, uint64_t boff, const void *mem,
		    uint64_t len, void *owned)
{
	struct data_io *d = data_io_new(req, owned);

	if (d)
		qfd_submit(req->ctx, req->fixed->copy_fd, &d->op, QIO_WRITE,
			   (void *)mem, len, copy_pos(req, boff));
}

/* Made once for the process: chains on several threads ask for them. */
static pthread_once_t zero_once = PTHREAD_ONCE_INIT;
static int zero_dev_fd = -1;
static void *zero_pages;

static void zero_init(void)
{
	void *p;

	zero_dev_fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	p = mmap(NULL, ZERO_SOURCE_LEN, PROT_READ,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	zero_pages = p == MAP_FAILED ? NULL : p;
}

/* /dev/zero reads without blocking (FMODE_NOWAIT): no io-wq worker. */
static int zero_fd(void)
{
	pthread_once(&zero_once, zero_init);
	return zero_dev_fd;
}

/* Anonymous pages never written: reads as zeros, costs no memory. */
static const uint8_t *zero_source(void)
{
	pthread_once(&zero_once, zero_init);
	return zero_pages;
}

const uint8_t *qcow_zero_source(void)
{
	return zero_source();
}

void qreq_write_zeroes_file(struct qcow_req *req, struct qfile *f,
			    uint64_t len, uint64_t host)
{
	const uint8_t *zeros = zero_source();
	uint64_t n;

	if (!zeros) {
		qreq_fail(req, -ENOMEM);
		return;
	}
	for (; len; host += n, len -= n) {
		n = MIN(len, ZERO_SOURCE_LEN);
		file_io(req, f, QIO_WRITE, (uint8_t *)zeros, n, host);
	}
}

void qreq_data_zero(struct qcow_req *req, uint64_t boff, uint64_t len)
{
	const uint8_t *zeros;
	uint64_t n;

	if (!req->fixed) {
		memset(req->buf + boff, 0, len);
		return;
	}
	if (req->op == QCOW_OP_READ && zero_fd() >= 0) {
		struct data_io *d = data_io_new(req, NULL);

		if (d)
			qfd_submit_fixed(req->ctx, zero_fd(), &d->op, QIO_READ,
					 req->fixed->index, fixed_pos(req, boff),
					 len, 0);
		return;
	}
	zeros = zero_source();
	if (!zeros) {
		qreq_fail(req, -ENOMEM);
		return;
	}
	for (; len; boff += n, len -= n) {
		n = MIN(len, ZERO_SOURCE_LEN);
		copy_in(req, boff, zeros, n, NULL);
	}
}

void qreq_data_put_owned(struct qcow_req *req, uint64_t boff, void *mem,
			 uint64_t skip, uint64_t len)
{
	if (!req->fixed) {
		memcpy(req->buf + boff, (uint8_t *)mem + skip, len);
		free(mem);
		return;
	}
	copy_in(req, boff, (uint8_t *)mem + skip, len, mem);
}

bool qreq_data_get(struct qcow_req *req, struct qio_op *op, uint64_t boff,
		   void *dst, uint64_t len)
{
	if (!req->fixed) {
		memcpy(dst, req->buf + boff, len);
		return false;
	}
	qfd_submit(req->ctx, req->fixed->copy_fd, op, QIO_READ, dst, len,
		   copy_pos(req, boff));
	return true;
}

static void bounce_read_done(struct qio_op *op, int res)
{
	struct data_io *d = (struct data_io *)op;
	struct qcow_req *req = d->req;

	if (res < 0) {
		data_io_done(op, res);
		return;
	}
	/* the same piece of I/O goes on: memory into the fixed buffer */
	d->op.cb = data_io_done;
	qfd_submit(req->ctx, req->fixed->copy_fd, &d->op, QIO_WRITE, d->owned,
		   d->op.len, d->pos);
}

/* Through memory: reads past EOF or unaligned for O_DIRECT. */
static void bounce_read(struct qcow_req *req, struct qfile *f, uint64_t boff,
			uint64_t len, uint64_t host)
{
	void *mem = malloc(len);
	struct data_io *d;

	if (!mem) {
		qreq_fail(req, -ENOMEM);
		return;
	}
	d = data_io_new(req, mem);
	if (!d)
		return;
	d->pos = copy_pos(req, boff);
	d->op.cb = bounce_read_done;
	qfile_submit_ev(req->ctx, f, &d->op, QIO_READ, mem, len, host,
			QBD_READ_AIO);
}

static bool fixed_fits(const struct qcow_req *req, const struct qfile *f,
		       uint64_t boff, uint64_t len, uint64_t host)
{
	uint64_t a = f->align;

	return a <= 1 || (IS_ALIGNED(host, a) && IS_ALIGNED(len, a) &&
			  IS_ALIGNED(fixed_pos(req, boff), a));
}

void qreq_data_read_file(struct qcow_req *req, struct qfile *f, uint64_t boff,
			 uint64_t len, uint64_t host)
{
	struct data_io *d;

	if (!req->fixed) {
		file_io(req, f, QIO_READ, req->buf + boff, len, host);
		return;
	}
	/* a fixed read must not end short: the file ends inside */
	if (host + len > f->size || !fixed_fits(req, f, boff, len, host)) {
		bounce_read(req, f, boff, len, host);
		return;
	}
	d = data_io_new(req, NULL);
	if (d)
		qfile_submit_fixed(req->ctx, f, &d->op, QIO_READ,
				   req->fixed->index, fixed_pos(req, boff), len,
				   host, QBD_READ_AIO);
}

void qreq_data_submit_write(struct qcow_req *req, struct qio_op *op,
			    struct qfile *f, uint64_t boff, uint64_t len,
			    uint64_t host)
{
	if (req->fixed)
		qfile_submit_fixed(req->ctx, f, op, QIO_WRITE,
				   req->fixed->index, fixed_pos(req, boff), len,
				   host, QBD_WRITE_AIO);
	else
		qfile_submit_ev(req->ctx, f, op, QIO_WRITE, req->buf + boff,
				len, host, QBD_WRITE_AIO);
}

void qreq_data_write_file(struct qcow_req *req, struct qfile *f,
			  uint64_t boff, uint64_t len, uint64_t host)
{
	struct data_io *d = data_io_new(req, NULL);

	if (d)
		qreq_data_submit_write(req, &d->op, f, boff, len, host);
}

static void child_read_done(struct qcow_req *child, int res)
{
	struct child_read *c = (struct child_read *)child;
	struct qcow_req *parent = c->parent;

	if (res < 0)
		qreq_fail(parent, res);
	qpool_put(QPOOL_CHILD, c);
	qreq_put(parent);
}

void qreq_data_backing(struct qcow_req *req, uint64_t boff, uint64_t pos,
		       uint64_t len)
{
	struct qcow_image *b = req->img->backing;
	struct child_read *c;
	uint64_t n = 0;
	int ret;

	if (b && pos < b->size)
		n = MIN(len, b->size - pos);
	if (n < len)
		qreq_data_zero(req, boff + n, len - n);
	if (!n)
		return;
	c = qpool_get(QPOOL_CHILD, sizeof(*c));
	if (!c) {
		qreq_fail(req, -ENOMEM);
		return;
	}
	c->parent = req;
	c->req.done = child_read_done;
	qreq_get(req);
	if (req->fixed)
		ret = qcow_submit_fixed(req->ctx, b, &c->req, QCOW_OP_READ,
					req->fixed, fixed_pos(req, boff), pos,
					n);
	else
		ret = qcow_submit(req->ctx, b, &c->req, QCOW_OP_READ,
				  req->buf + boff, pos, n);
	if (ret < 0) {
		qreq_fail(req, ret);
		qpool_put(QPOOL_CHILD, c);
		qreq_put(req);
	}
}
