// SPDX-License-Identifier: MIT
/*
 * The engine's only way to the disk: reads, writes and fsyncs of a file,
 * submitted on the context's io_uring, or done at once and completed later
 * from the deferred list when the context has no ring.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/stat.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <liburing.h>
#include "internal.h"
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#else
#define VALGRIND_MAKE_MEM_DEFINED(addr, len) ((void)(addr), (void)(len))
#endif

#define QIO_DIRECT_ALIGN 4096

void *qalloc_aligned(size_t size)
{
	void *p;

	if (posix_memalign(&p, QIO_DIRECT_ALIGN, size ? size : 1))
		return NULL;
	return p;
}

int qfile_open(struct qfile **out, const char *name, bool read_only,
	       bool direct)
{
	struct qfile *f;
	struct stat st;
	int flags = (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	int ret;

	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->name = strdup(name);
	if (!f->name) {
		ret = -ENOMEM;
		goto err;
	}
	f->align = 1;
	f->fd = open(name, flags | (direct ? O_DIRECT : 0));
	if (f->fd < 0 && direct && errno == EINVAL)
		f->fd = open(name, flags);	/* tmpfs: no O_DIRECT */
	else if (direct)
		f->align = 512;
	if (f->fd < 0) {
		ret = -errno;
		goto err;
	}
	if (fstat(f->fd, &st) < 0) {
		ret = -errno;
		goto err_close;
	}
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		ret = -EINVAL;
		goto err_close;
	}
	f->size = st.st_size;
	if (S_ISBLK(st.st_mode)) {
		off_t end = lseek(f->fd, 0, SEEK_END);

		f->size = end < 0 ? 0 : (uint64_t)end;
	}
	if (direct && f->align > 1 && st.st_blksize > (blksize_t)f->align &&
	    st.st_blksize <= QIO_DIRECT_ALIGN)
		f->align = st.st_blksize;
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	*out = f;
	return 0;
err_close:
	close(f->fd);
err:
	free(f->name);
	free(f);
	return ret;
}

void qfile_close(struct qfile *f)
{
	if (!f)
		return;
	close(f->fd);
	free(f->name);
	free(f);
}

static int pread_aligned(struct qfile *f, void *buf, uint64_t len,
			 uint64_t off);

/* O_DIRECT wants aligned buffers, offsets and lengths: bounce the rest. */
int qfile_pread_sync(struct qfile *f, void *buf, uint64_t len, uint64_t off)
{
	uint64_t a = f->align, start, span;
	uint8_t *bounce;
	int ret;

	if (a <= 1 || (IS_ALIGNED((uintptr_t)buf, QIO_DIRECT_ALIGN) &&
		       IS_ALIGNED(len, a) && IS_ALIGNED(off, a)))
		return pread_aligned(f, buf, len, off);
	start = ALIGN_DOWN(off, a);
	span = ALIGN_UP(off + len, a) - start;
	bounce = qalloc_aligned(span);
	if (!bounce)
		return -ENOMEM;
	ret = pread_aligned(f, bounce, span, start);
	if (!ret)
		memcpy(buf, bounce + (off - start), len);
	free(bounce);
	return ret;
}

static int pread_aligned(struct qfile *f, void *buf, uint64_t len,
			 uint64_t off)
{
	uint8_t *p = buf;
	uint64_t done = 0;

	while (done < len) {
		ssize_t n = pread(f->fd, p + done, len - done, off + done);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0) {
			memset(p + done, 0, len - done);
			break;
		}
		done += n;
	}
	return 0;
}

int qfile_seek_status(struct qfile *f, uint64_t off, uint64_t *len,
		      bool *zero, bool *eof)
{
	off_t data, hole;

	*eof = false;
	if (off >= f->size) {
		*zero = true;
		*len = 0;
		*eof = true;
		return 0;
	}
	data = lseek(f->fd, off, SEEK_DATA);
	if (data < 0 && errno == ENXIO) {
		*zero = true;
		*len = f->size - off;
		*eof = true;
		return 0;
	}
	if (data < 0)
		return -errno;
	if ((uint64_t)data > off) {
		*zero = true;
		*len = data - off;
		return 0;
	}
	hole = lseek(f->fd, off, SEEK_HOLE);
	if (hole < 0)
		return -errno;
	*zero = false;
	*len = hole - off;
	*eof = (uint64_t)hole >= f->size;
	return 0;
}

uint64_t qfile_allocated_size(struct qfile *f)
{
	struct stat st;

	if (fstat(f->fd, &st) < 0)
		return 0;
	return (uint64_t)st.st_blocks * 512;
}

static const struct qio_recorder *recorder;

void qio_set_recorder(const struct qio_recorder *rec)
{
	recorder = rec;
}

/* A write the recorder wants to fail does not reach the file. */
static int injected_error(const struct qio_op *op)
{
	if (!recorder || !recorder->fail || op->kind != QIO_WRITE ||
	    !op->file)
		return 0;
	return recorder->fail(recorder->arg, op);
}

static void record(enum qio_event ev, const struct qio_op *op, int res)
{
	if (recorder && recorder->event && op->kind != QIO_READ &&
	    op->kind != QIO_FALLOC &&
	    op->file && !op->fixed)
		recorder->event(recorder->arg, ev, op, res);
}

/* Synchronous writes (open, close, header updates) are recorded too. */
int qfile_pwrite_sync(struct qfile *f, const void *buf, uint64_t len,
		      uint64_t off)
{
	struct qio_op op = {
		.file = f, .kind = QIO_WRITE, .buf = (uint8_t *)buf,
		.len = len, .off = off,
	};
	const uint8_t *p = buf;
	uint64_t done = 0;
	int ret = 0;

	record(QIO_EV_SUBMIT, &op, 0);
	while (done < len) {
		ssize_t n = pwrite(f->fd, p + done, len - done, off + done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = n < 0 ? -errno : -EIO;
			break;
		}
		done += n;
	}
	if (!ret && off + len > f->size)
		f->size = off + len;
	record(QIO_EV_DONE, &op, ret);
	return ret;
}

int qfile_fsync_sync(struct qfile *f)
{
	struct qio_op op = { .file = f, .kind = QIO_FSYNC };
	int ret;

	record(QIO_EV_SUBMIT, &op, 0);
	ret = fdatasync(f->fd) < 0 ? -errno : 0;
	record(QIO_EV_DONE, &op, ret);
	return ret;
}

void qctx_defer(struct qcow_ctx *ctx, struct qio_op *op)
{
	qio_list_append(&ctx->defer_head, &ctx->defer_tail, op);
}

static int qio_sync(struct qio_op *op, void *buf, uint64_t len, uint64_t off)
{
	uint8_t *p = buf;
	uint64_t done = 0;
	ssize_t n;

	if (op->kind == QIO_FSYNC)
		return fdatasync(op->file->fd) < 0 ? -errno : 0;
	if (op->kind == QIO_PUNCH)
		return fallocate(op->file->fd, FALLOC_FL_PUNCH_HOLE |
				 FALLOC_FL_KEEP_SIZE, off, len) < 0 ? -errno : 0;
	if (op->kind == QIO_FALLOC)
		return fallocate(op->file->fd, 0, off, len) < 0 ? -errno : 0;
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

static void qio_finish(struct qio_op *op, int res)
{
	uint64_t got;

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
	if (!res && op->kind == QIO_FALLOC && op->off + op->len > op->file->size)
		op->file->size = op->off + op->len;
	free(op->bounce);
	op->bounce = NULL;
	op->res = res;
	record(QIO_EV_DONE, op, res);
	if (op->tracked)
		qdirect_write_done(op);
	op->cb(op, res);
}

static void qio_prep(struct io_uring_sqe *sqe, struct qio_op *op)
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
	default:
		io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
		break;
	}
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)op);
}

static struct io_uring_sqe *qio_get_sqe(struct io_uring *ring)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	if (!sqe) {
		io_uring_submit(ring);
		sqe = io_uring_get_sqe(ring);
	}
	return sqe;
}

static void qio_init(struct qio_op *op, struct qcow_ctx *ctx,
		     struct qfile *f, int fd, enum qio_kind kind, void *buf,
		     uint64_t len, uint64_t off)
{
	op->ctx = ctx;
	op->file = f;
	op->fd = fd;
	op->fixed = false;
	op->kind = kind;
	op->buf = buf;
	op->len = len;
	op->off = off;
	op->rmw = false;
	op->tracked = false;
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
	qio_init(op, ctx, f, f->fd, kind, buf, len, off);
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
	struct io_uring_sqe *sqe;

	op->res = injected_error(op);
	if (op->res) {
		qctx_defer(ctx, op);
		return;
	}
	ctx->inflight++;
	record(QIO_EV_SUBMIT, op, 0);
	sqe = ctx->ring ? qio_get_sqe(ctx->ring) : NULL;
	if (!sqe) {
		op->res = qio_sync(op, op->io_buf, op->io_len, op->io_off);
		ctx->inflight--;
		qctx_defer(ctx, op);
		return;
	}
	qio_prep(sqe, op);
}

/* Ops with no sync fallback: the ring always has room after a submit. */
static void qio_submit_ring(struct qcow_ctx *ctx, struct qio_op *op)
{
	struct io_uring_sqe *sqe = ctx->ring ? qio_get_sqe(ctx->ring) : NULL;

	op->bounce = NULL;
	op->io_buf = op->buf;
	op->io_len = op->len;
	op->io_off = op->off;
	op->io_done = 0;
	op->res = sqe ? injected_error(op) : -EIO;
	if (op->res) {
		qctx_defer(ctx, op);
		return;
	}
	ctx->inflight++;
	record(QIO_EV_SUBMIT, op, 0);
	qio_prep(sqe, op);
}

static void qio_set_fixed(struct qio_op *op, int index, uint64_t addr)
{
	op->fixed = true;
	op->buf_index = index;
	op->fixed_addr = addr;
}

void qfile_submit_fixed(struct qcow_ctx *ctx, struct qfile *f,
			struct qio_op *op, enum qio_kind kind, int index,
			uint64_t addr, uint64_t len, uint64_t off)
{
	qio_init(op, ctx, f, f->fd, kind, NULL, len, off);
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

static pthread_mutex_t engine_lock = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
static __thread struct qcow_ctx *current_ctx;

struct qcow_ctx *qcow_lock(struct qcow_ctx *ctx)
{
	struct qcow_ctx *prev;

	pthread_mutex_lock(&engine_lock);
	prev = current_ctx;
	if (ctx)
		current_ctx = ctx;
	return prev;
}

void qcow_unlock(struct qcow_ctx *prev)
{
	current_ctx = prev;
	pthread_mutex_unlock(&engine_lock);
}

struct qcow_ctx *qcow_current_ctx(void)
{
	return current_ctx;
}

void qwaiter_wake(struct qwaiter *w, int err)
{
	struct qcow_ctx *ctx = w->ctx;
	bool was_empty;

	if (!ctx || ctx == current_ctx) {
		w->resume(w, err);
		return;
	}
	w->err = err;
	w->next = NULL;
	was_empty = !ctx->mail_head;
	if (ctx->mail_tail)
		ctx->mail_tail->next = w;
	else
		ctx->mail_head = w;
	ctx->mail_tail = w;
	if (was_empty && ctx->event_fd >= 0)
		eventfd_write(ctx->event_fd, 1);
}

static int run_mail(struct qcow_ctx *ctx)
{
	struct qwaiter *w;
	eventfd_t v;
	int n = 0;

	if (!ctx->mail_head)
		return 0;
	if (ctx->event_fd >= 0)
		eventfd_read(ctx->event_fd, &v);
	while ((w = ctx->mail_head)) {
		ctx->mail_head = w->next;
		if (!ctx->mail_head)
			ctx->mail_tail = NULL;
		w->next = NULL;
		w->resume(w, w->err);
		n++;
	}
	return n;
}

int qcow_ctx_new(struct qcow_ctx **out, struct io_uring *ring)
{
	struct qcow_ctx *ctx = calloc(1, sizeof(*ctx));

	if (!ctx)
		return -ENOMEM;
	ctx->ring = ring;
	ctx->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (ctx->event_fd < 0) {
		free(ctx);
		return -errno;
	}
	*out = ctx;
	return 0;
}

int qcow_ctx_event_fd(struct qcow_ctx *ctx)
{
	return ctx->event_fd;
}

void qcow_ctx_free(struct qcow_ctx *ctx)
{
	if (!ctx)
		return;
	close(ctx->event_fd);
	free(ctx);
}

unsigned int qcow_ctx_inflight(const struct qcow_ctx *ctx)
{
	return ctx->inflight + ctx->owned + (ctx->defer_head != NULL) +
	       (ctx->mail_head != NULL);
}

/*
 * A short read is continued; reads of an image file into memory end at
 * its EOF (the rest reads as zeros).
 */
static bool qio_continue_short_read(struct qio_op *op, int res)
{
	struct io_uring_sqe *sqe;

	if (op->kind != QIO_READ || res <= 0)
		return false;
	op->io_done += res;
	if (op->io_done >= op->io_len)
		return false;
	if (op->file && !op->fixed &&
	    op->io_off + op->io_done >= op->file->size)
		return false;
	sqe = qio_get_sqe(op->ctx->ring);
	if (!sqe)
		return false;
	qio_prep(sqe, op);
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
	struct qcow_ctx *prev;
	int res = cqe->res;

	if (!op)
		return;
	prev = qcow_lock(ctx);
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

int qcow_ctx_run_deferred(struct qcow_ctx *ctx)
{
	struct qcow_ctx *prev = qcow_lock(ctx);
	struct qio_op *op;
	int n = run_mail(ctx);

	while ((op = ctx->defer_head) || ctx->mail_head) {
		if (!op) {
			n += run_mail(ctx);
			continue;
		}
		ctx->defer_head = op->next;
		if (!ctx->defer_head)
			ctx->defer_tail = NULL;
		qio_finish(op, op->res);
		n++;
	}
	qcow_unlock(prev);
	return n;
}
