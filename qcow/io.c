// SPDX-License-Identifier: MIT
/*
 * The engine's only way to the disk: reads, writes and fsyncs of a file,
 * submitted on the context's io_uring, or done at once and completed later
 * from the deferred list when the context has no ring or the file is in
 * memory without non-blocking reads (file.c); O_DIRECT bounce
 * buffers; READ_FIXED/WRITE_FIXED on registered buffers and copies through
 * a caller's descriptor.
 */
#include <errno.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <unistd.h>
#include <liburing.h>
#include "internal.h"
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#else
#define VALGRIND_MAKE_MEM_DEFINED(addr, len) ((void)(addr), (void)(len))
#endif

static bool qio_by_punch(const struct qfile *f)
{
	return __atomic_load_n(&f->zero_by_punch, __ATOMIC_RELAXED);
}

static int qio_zero_mode(const struct qfile *f)
{
	return qio_by_punch(f) ? FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE :
				  FALLOC_FL_ZERO_RANGE;
}

/* Without the lock: the op's own fields and the file's constant ones. */
int qio_sync(struct qio_op *op)
{
	uint8_t *p = op->io_buf;
	uint64_t len = op->io_len, off = op->io_off, done = 0;
	ssize_t n;

	if (op->kind == QIO_FSYNC)
		return fdatasync(op->file->fd) < 0 ? -errno : 0;
	if (op->kind == QIO_PUNCH)
		return fallocate(op->file->fd, FALLOC_FL_PUNCH_HOLE |
				 FALLOC_FL_KEEP_SIZE, off, len) < 0 ? -errno : 0;
	if (op->kind == QIO_FALLOC)
		return fallocate(op->file->fd, 0, off, len) < 0 ? -errno : 0;
	if (op->kind == QIO_ZERO)
		return fallocate(op->file->fd, qio_zero_mode(op->file), off,
				 len) < 0 ? -errno : 0;
	while (done < len) {
		if (op->kind == QIO_READ)
			n = pread(op->file->fd, p + done, len - done,
				  off + done);
		else
			n = pwrite(op->file->fd, p + done, len - done,
				   off + done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		done += n;
	}
	return (int)done;
}

static bool qio_needs_bounce(struct qfile *f, void *buf, uint64_t len,
			     uint64_t off)
{
	uint64_t a = f->align;

	if (a <= 1)
		return false;
	return !IS_ALIGNED((uintptr_t)buf, QIO_DIRECT_ALIGN) ||
	       !IS_ALIGNED(len, a) || !IS_ALIGNED(off, a);
}

/* A file system without a zero range (tmpfs): the op again, as a punch. */
static bool qio_zero_retry(struct qio_op *op, int res)
{
	if (op->kind != QIO_ZERO || qio_by_punch(op->file) ||
	    (res != -EOPNOTSUPP && res != -EINVAL))
		return false;
	__atomic_store_n(&op->file->zero_by_punch, true, __ATOMIC_RELAXED);
	qio_record(QIO_EV_DONE, op, res);
	qio_start(op);
	return true;
}

void qio_finish(struct qio_op *op, int res)
{
	uint64_t got;

	if (qio_zero_retry(op, res))
		return;

	if (res >= 0 && (!op->file || op->fixed)) {
		/* copies and fixed buffers: nothing to zero-fill */
		res = (uint64_t)res == op->io_len ? 0 : -EIO;
		if (!res && op->file && op->kind == QIO_WRITE &&
		    op->io_off + op->io_len > op->file->size)
			op->file->size = op->io_off + op->io_len;
	} else if (res >= 0 && op->kind == QIO_READ) {
		if (op->bounce) {
			uint64_t skip = op->off - op->io_off;

			got = (uint64_t)res > skip ? res - skip : 0;
			got = MIN(got, op->len);
			memcpy(op->buf, op->bounce + skip, got);
		} else {
			got = MIN((uint64_t)res, op->len);
		}
		/* short read: past the end of the file reads as zeros */
		if (got < op->len)
			memset(op->buf + got, 0, op->len - got);
		res = 0;
	} else if (res >= 0 && op->kind == QIO_WRITE) {
		res = (uint64_t)res == op->io_len ? 0 : -EIO;
		if (!res && op->io_off + op->io_len > op->file->size)
			op->file->size = op->io_off + op->io_len;
	} else if (res > 0 || ((op->kind == QIO_PUNCH ||
				op->kind == QIO_FALLOC) && res == -EOPNOTSUPP)) {
		res = 0;	/* space not punched or reserved is only space */
	}
	if (!res && (op->kind == QIO_FALLOC ||
		     (op->kind == QIO_ZERO && !qio_by_punch(op->file))) &&
	    op->off + op->len > op->file->size)
		op->file->size = op->off + op->len;
	free(op->bounce);
	op->bounce = NULL;
	op->res = res;
	qio_record(QIO_EV_DONE, op, res);
	if (op->tracked)
		qdirect_write_done(op);
	op->cb(op, res);
}

void qio_prep(struct io_uring_sqe *sqe, struct qio_op *op)
{
	int fd = op->fd;
	uint8_t *buf = op->io_buf ? op->io_buf + op->io_done : NULL;
	uint64_t len = op->io_len - op->io_done;
	uint64_t off = op->io_off + op->io_done;
	void *fixed = (void *)(uintptr_t)(op->fixed_addr + op->io_done);

	switch (op->kind) {
	case QIO_READ:
		if (op->fixed)
			io_uring_prep_read_fixed(sqe, fd, fixed, len, off,
						 op->buf_index);
		else
			io_uring_prep_read(sqe, fd, buf, len, off);
		break;
	case QIO_WRITE:
		if (op->fixed)
			io_uring_prep_write_fixed(sqe, fd, fixed, len, off,
						  op->buf_index);
		else
			io_uring_prep_write(sqe, fd, buf, len, off);
		break;
	case QIO_PUNCH:
		io_uring_prep_fallocate(sqe, fd, FALLOC_FL_PUNCH_HOLE |
					FALLOC_FL_KEEP_SIZE, off, len);
		break;
	case QIO_FALLOC:
		io_uring_prep_fallocate(sqe, fd, 0, off, len);
		break;
	case QIO_ZERO:
		io_uring_prep_fallocate(sqe, fd, qio_zero_mode(op->file), off,
					len);
		break;
	default:
		io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
		break;
	}
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)op);
}

/*
 * An SQE of the context's ring, or none when it is full: then the op
 * waits on the deferred list, and qcow_ctx_run_deferred() submits the
 * ring without the lock to make room.
 */
static bool qio_queue(struct qcow_ctx *ctx, struct qio_op *op)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ctx->ring);

	if (!sqe) {
		qctx_defer_work(ctx, op, QIO_DEF_SQE);
		return false;
	}
	qio_prep(sqe, op);
	return true;
}

/*
 * Reads and writes of an O_DIRECT file go to the device at once, not at
 * the caller's next submit: the device would otherwise wait while the
 * caller works through the rest of its completions.  Page-cache I/O
 * completes inside the submission: batching it saves system calls.
 */
static void qio_kick(struct io_uring *ring, const struct qio_op *op)
{
	if (op->file && op->file->align > 1 &&
	    (op->kind == QIO_READ || op->kind == QIO_WRITE))
		io_uring_submit(ring);
}

static void qio_init(struct qio_op *op, struct qcow_ctx *ctx,
		     struct qfile *f, int fd, enum qio_kind kind, void *buf,
		     uint64_t len, uint64_t off)
{
	op->ctx = ctx;
	op->lock = qcow_current_lock();
	op->lockless = qcow_lock_is_shared();
	op->file = f;
	op->fd = fd;
	op->fixed = false;
	op->kind = kind;
	op->ev = kind == QIO_FSYNC ? QBD_FLUSH_TO_DISK : QBD_NONE_TAG;
	op->buf = buf;
	op->len = len;
	op->off = off;
	op->rmw = false;
	op->tracked = false;
	op->held = false;
}

/*
 * A read-modify-write may not make a raw image longer than the write
 * itself does: the last block of one whose length is not a multiple of
 * the block size stays unwritable under O_DIRECT (EINVAL).  In an image
 * format's file the blocks past the end belong to the cluster written.
 */
static bool rmw_keeps_size(const struct qio_op *op)
{
	uint64_t end = op->io_off + op->io_len;

	return !op->file->keep_size || end <= op->file->size ||
	       end == op->off + op->len;
}

static bool direct_write(const struct qio_op *op)
{
	return op->kind == QIO_WRITE && op->file && op->file->align > 1;
}

void qfile_submit(struct qcow_ctx *ctx, struct qfile *f, struct qio_op *op,
		  enum qio_kind kind, void *buf, uint64_t len, uint64_t off)
{
	qfile_submit_ev(ctx, f, op, kind, buf, len, off, QBD_NONE_TAG);
}

void qfile_event(struct qfile *f, int ev)
{
	if (__builtin_expect(!!f->dbg, 0))
		qbd_event(f->dbg, ev);
}

void qfile_submit_ev(struct qcow_ctx *ctx, struct qfile *f,
		     struct qio_op *op, enum qio_kind kind, void *buf,
		     uint64_t len, uint64_t off, int ev)
{
	qio_init(op, ctx, f, f->fd, kind, buf, len, off);
	if (ev != QBD_NONE_TAG)
		op->ev = ev;
	op->bounce = NULL;
	op->io_buf = buf;
	op->io_len = len;
	op->io_off = off;
	op->io_done = 0;
	if ((kind == QIO_READ || kind == QIO_WRITE) &&
	    qio_needs_bounce(f, buf, len, off)) {
		op->io_off = ALIGN_DOWN(off, f->align);
		op->io_len = ALIGN_UP(off + len, f->align) - op->io_off;
		/* blocks written in part: read, merged, written (io_direct.c) */
		op->rmw = kind == QIO_WRITE &&
			  (op->io_off != off || op->io_len != len);
		if (op->rmw && !rmw_keeps_size(op)) {
			op->res = -EINVAL;
			qctx_defer(ctx, op);
			return;
		}
		op->bounce = qalloc_aligned(op->io_len);
		if (!op->bounce) {
			op->res = -ENOMEM;
			qctx_defer(ctx, op);
			return;
		}
		if (kind == QIO_WRITE && !op->rmw)
			memcpy(op->bounce, buf, len);	/* memory misaligned */
		op->io_buf = op->bounce;
	}
	if (direct_write(op))
		qdirect_write(op);
	else
		qio_start(op);
}

static void qio_start_mem(struct qio_op *op)
{
	struct qcow_ctx *ctx = op->ctx;

	if (__builtin_expect(!!(op->file && op->file->dbg), 0) &&
	    qbd_filter(op->file->dbg, op))
		return;
	op->res = qio_injected_error(op);
	if (op->res) {
		qctx_defer(ctx, op);
		return;
	}
	if (qio_held(op))
		return;
	qio_record(QIO_EV_SUBMIT, op, 0);
	if (!ctx->ring || (op->file && op->file->sync_io)) {
		/* done at once, later, without the lock */
		qctx_defer_work(ctx, op, QIO_DEF_SYNC);
		return;
	}
	ctx->inflight++;
	if (qio_queue(ctx, op))
		qio_kick(ctx->ring, op);
}

/* Ops with no sync fallback: the ring always has room after a submit. */
static void qio_submit_ring(struct qcow_ctx *ctx, struct qio_op *op)
{
	op->bounce = NULL;
	op->io_buf = op->buf;
	op->io_len = op->len;
	op->io_off = op->off;
	op->io_done = 0;
	if (__builtin_expect(!!(op->file && op->file->dbg), 0) &&
	    qbd_filter(op->file->dbg, op))
		return;
	op->res = ctx->ring ? qio_injected_error(op) : -EIO;
	if (op->res) {
		qctx_defer(ctx, op);
		return;
	}
	if (qio_held(op))
		return;
	ctx->inflight++;
	qio_record(QIO_EV_SUBMIT, op, 0);
	if (qio_queue(ctx, op))
		qio_kick(ctx->ring, op);
}

static void qio_set_fixed(struct qio_op *op, int index, uint64_t addr)
{
	op->fixed = true;
	op->buf_index = index;
	op->fixed_addr = addr;
}

void qfile_submit_fixed(struct qcow_ctx *ctx, struct qfile *f,
			struct qio_op *op, enum qio_kind kind, int index,
			uint64_t addr, uint64_t len, uint64_t off, int ev)
{
	qio_init(op, ctx, f, f->fd, kind, NULL, len, off);
	if (ev != QBD_NONE_TAG)
		op->ev = ev;
	qio_set_fixed(op, index, addr);
	if (direct_write(op))
		qdirect_write(op);
	else
		qio_submit_ring(ctx, op);
}

void qio_start(struct qio_op *op)
{
	if (op->fixed)
		qio_submit_ring(op->ctx, op);
	else
		qio_start_mem(op);
}

void qfd_submit_fixed(struct qcow_ctx *ctx, int fd, struct qio_op *op,
		      enum qio_kind kind, int index, uint64_t addr,
		      uint64_t len, uint64_t off)
{
	qio_init(op, ctx, NULL, fd, kind, NULL, len, off);
	qio_set_fixed(op, index, addr);
	qio_submit_ring(ctx, op);
}

void qfd_submit(struct qcow_ctx *ctx, int fd, struct qio_op *op,
		enum qio_kind kind, void *buf, uint64_t len, uint64_t off)
{
	qio_init(op, ctx, NULL, fd, kind, buf, len, off);
	qio_submit_ring(ctx, op);
}

/*
 * A short read is continued; reads of an image file into memory end at
 * its EOF (the rest reads as zeros).
 */
static bool qio_continue_short_read(struct qio_op *op, int res)
{
	if (op->kind != QIO_READ || res <= 0)
		return false;
	op->io_done += res;
	if (op->io_done >= op->io_len)
		return false;
	/* (a lockless op reads on to the EOF the kernel reports) */
	if (op->file && !op->fixed && !op->lockless &&
	    op->io_off + op->io_done >= op->file->size)
		return false;
	qio_queue(op->ctx, op);
	return true;
}

/*
 * What the kernel wrote through the ring, valgrind's memcheck cannot see:
 * without this every byte read would count as uninitialised (a no-op
 * outside valgrind).
 */
static void qio_mark_read(struct qio_op *op, int res)
{
	if (op->kind == QIO_READ && res > 0 && op->io_buf && !op->fixed)
		VALGRIND_MAKE_MEM_DEFINED(op->io_buf + op->io_done, res);
}

void qcow_ctx_complete(struct qcow_ctx *ctx, struct io_uring_cqe *cqe)
{
	struct qio_op *op = (struct qio_op *)(uintptr_t)cqe->user_data;
	struct qlock_save prev;
	int res = cqe->res;

	if (!op)
		return;
	if (op->lockless) {
		/* the read fast path's: its callback takes what it needs */
		qio_mark_read(op, res);
		if (qio_continue_short_read(op, res))
			return;
		if (res >= 0)
			res = op->io_done;
		ctx->inflight--;
		qio_finish(op, res);
		return;
	}
	prev = qcow_lock(ctx, op->lock);
	qio_mark_read(op, res);
	if (qio_continue_short_read(op, res))
		goto out;
	if (op->kind == QIO_READ && res >= 0)
		res = op->io_done;
	ctx->inflight--;
	qio_finish(op, res);
out:
	qcow_unlock(prev);
}
