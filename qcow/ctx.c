// SPDX-License-Identifier: MIT
/*
 * The concurrency model.  Contexts (one per thread, each with its ring or
 * none) may share images.  Each open chain (an image and its backing
 * files) has one recursive lock, held inside every entry point that
 * touches it (submit, the completion of an op, the resumption of a
 * waiter, open, close, the image-wide operations): two chains never
 * contend.  Chain state is only touched under its lock, so the drivers
 * are written as if single-threaded.  Nothing under it waits: an op that
 * would block (I/O without a ring, the reads of an O_DIRECT
 * read-modify-write, a ring with no free entry) goes on its context's
 * deferred list, and qcow_ctx_run_deferred() does the blocking part
 * without the lock, then takes it to go on.
 *
 * What runs where: an op completes on the context that submitted it
 * (qcow_ctx_complete() on its ring's thread, or from the deferred list).
 * A waiter (a request parked on a metadata load or an allocation) belongs
 * to the context that parked it: a wake-up found by another thread goes
 * to the owner's mailbox (under a mutex of the context's own) and
 * eventfd, with the waker's chain lock (for a pool worker, which holds
 * none, the job's submitter's), and the owner resumes it under that lock
 * in qcow_ctx_run_deferred(), so every SQE of a request goes on its own
 * thread's ring.  An inflate queued for the worker pool that no worker
 * has started is run there too, on the owner's thread.
 *
 * A thread holds one chain's lock at a time, except when a callback
 * (done) submits to another chain; callers that do that from several
 * threads must nest the chains in one order.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <liburing.h>
#include "internal.h"
#include "crypt_pool.h"

void qctx_defer(struct qcow_ctx *ctx, struct qio_op *op)
{
	op->defer = QIO_DEF_FINISH;
	qio_list_append(&ctx->defer_head, &ctx->defer_tail, op);
}

void qctx_defer_work(struct qcow_ctx *ctx, struct qio_op *op,
		     enum qio_defer what)
{
	op->defer = what;
	qio_list_append(&ctx->defer_head, &ctx->defer_tail, op);
}

/* Ops made with no lock held (none should be) finish under this one. */
static struct qlock fallback_lock = {
	.rw = PTHREAD_RWLOCK_INITIALIZER,
};
static __thread struct qcow_ctx *current_ctx;
static __thread struct qlock *current_lock;
static __thread bool current_shared;
/* requests done while this thread held a lock (qcow_done_later()) */
static __thread struct qcow_req *later_head, *later_tail;

void qcow_done_later(struct qcow_req *req)
{
	req->done_next = NULL;
	if (later_tail)
		later_tail->done_next = req;
	else
		later_head = req;
	later_tail = req;
}

static void run_later(void)
{
	struct qcow_req *req;

	while (!current_lock && (req = later_head)) {
		later_head = req->done_next;
		if (!later_head)
			later_tail = NULL;
		qreq_done(req);
	}
}

/*
 * Writers first: the fast path's readers never hold it long, and must not
 * keep a completion or an allocating write waiting.
 */
struct qlock *qlock_new(void)
{
	struct qlock *lk = calloc(1, sizeof(*lk));
	pthread_rwlockattr_t a;

	if (!lk)
		return NULL;
	pthread_rwlockattr_init(&a);
	pthread_rwlockattr_setkind_np(&a,
			PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	if (pthread_rwlock_init(&lk->rw, &a)) {
		free(lk);
		lk = NULL;
	}
	pthread_rwlockattr_destroy(&a);
	return lk;
}

void qlock_free(struct qlock *lk)
{
	if (!lk)
		return;
	qpool_drain(lk);
	pthread_rwlock_destroy(&lk->rw);
	free(lk);
}

static bool held_by_me(struct qlock *lk)
{
	return __atomic_load_n(&lk->owner, __ATOMIC_RELAXED) ==
	       (unsigned long)pthread_self();
}

struct qlock_save qcow_lock(struct qcow_ctx *ctx, struct qlock *lk)
{
	struct qlock_save prev = { current_ctx, current_lock, current_shared };

	if (!lk)
		lk = &fallback_lock;
	if (held_by_me(lk)) {
		lk->depth++;
	} else {
		pthread_rwlock_wrlock(&lk->rw);
		__atomic_store_n(&lk->owner, (unsigned long)pthread_self(),
				 __ATOMIC_RELAXED);
		lk->depth = 1;
	}
	current_lock = lk;
	current_shared = false;
	if (ctx)
		current_ctx = ctx;
	return prev;
}

bool qcow_lock_shared(struct qcow_ctx *ctx, struct qlock *lk,
		      struct qlock_save *prev)
{
	if (held_by_me(lk) || (current_lock == lk && current_shared))
		return false;
	prev->ctx = current_ctx;
	prev->lock = current_lock;
	prev->shared = current_shared;
	pthread_rwlock_rdlock(&lk->rw);
	current_lock = lk;
	current_shared = true;
	current_ctx = ctx;
	return true;
}

void qcow_unlock(struct qlock_save prev)
{
	struct qlock *lk = current_lock;
	bool shared = current_shared;

	current_ctx = prev.ctx;
	current_lock = prev.lock;
	current_shared = prev.shared;
	if (!shared && --lk->depth)
		return;
	if (!shared)
		__atomic_store_n(&lk->owner, 0UL, __ATOMIC_RELAXED);
	pthread_rwlock_unlock(&lk->rw);
	run_later();
}

bool qcow_lock_is_shared(void)
{
	return current_shared;
}

struct qcow_ctx *qcow_current_ctx(void)
{
	return current_ctx;
}

struct qlock *qcow_current_lock(void)
{
	return current_lock;
}

void qwaiter_wake(struct qwaiter *w, int err)
{
	struct qcow_ctx *ctx = w->ctx;

	if (!ctx || ctx == current_ctx) {
		w->resume(w, err);
		return;
	}
	qwaiter_post(w, err, current_lock);
}

/* Wakes the owner's poll, under mail_mu; EFD_NONBLOCK: never a wait. */
static void kick_locked(struct qcow_ctx *ctx)
{
	if (ctx->event_fd >= 0)
		eventfd_write(ctx->event_fd, 1);
}

/* One owned unit less, under mail_mu; true if none is left. */
static bool disown_locked(struct qcow_ctx *ctx)
{
	return !__atomic_sub_fetch(&ctx->owned, 1, __ATOMIC_RELEASE);
}

/* Queues w to its context's mailbox, under mail_mu; true if it was empty. */
static bool post_locked(struct qwaiter *w, int err, struct qlock *lk)
{
	struct qcow_ctx *ctx = w->ctx;
	bool was_empty = !ctx->mail_head;

	w->err = err;
	w->lock = lk;
	w->next = NULL;
	if (ctx->mail_tail)
		ctx->mail_tail->next = w;
	else
		__atomic_store_n(&ctx->mail_head, w, __ATOMIC_RELEASE);
	ctx->mail_tail = w;
	return was_empty;
}

void qwaiter_post(struct qwaiter *w, int err, struct qlock *lk)
{
	struct qcow_ctx *ctx = w->ctx;

	pthread_mutex_lock(&ctx->mail_mu);
	if (post_locked(w, err, lk))
		kick_locked(ctx);
	pthread_mutex_unlock(&ctx->mail_mu);
}

/*
 * qwaiter_post() and qctx_disown() in one hold of mail_mu: once the owner
 * has run the mail it may free the context, so a worker must not touch it
 * after the post (qcow_ctx_free() waits for mail_mu to be free).
 */
void qwaiter_post_disown(struct qwaiter *w, int err, struct qlock *lk)
{
	struct qcow_ctx *ctx = w->ctx;
	bool was_empty, idle;

	pthread_mutex_lock(&ctx->mail_mu);
	was_empty = post_locked(w, err, lk);
	idle = disown_locked(ctx);
	if (was_empty || idle)
		kick_locked(ctx);
	pthread_mutex_unlock(&ctx->mail_mu);
}

void qctx_disown(struct qcow_ctx *ctx)
{
	if (ctx == current_ctx) {
		qctx_own(ctx, -1);
		return;
	}
	/* under mail_mu: qcow_ctx_free() waits for us to leave */
	pthread_mutex_lock(&ctx->mail_mu);
	if (disown_locked(ctx))
		kick_locked(ctx);
	pthread_mutex_unlock(&ctx->mail_mu);
}

bool qctx_has_mail(struct qcow_ctx *ctx)
{
	return __atomic_load_n(&ctx->mail_head, __ATOMIC_ACQUIRE) != NULL;
}

static int run_mail(struct qcow_ctx *ctx)
{
	struct qwaiter *w, *next;
	struct qlock_save prev;
	eventfd_t v;
	int n = 0;

	if (!qctx_has_mail(ctx))
		return 0;
	if (ctx->event_fd >= 0)
		eventfd_read(ctx->event_fd, &v);
	pthread_mutex_lock(&ctx->mail_mu);
	w = ctx->mail_head;
	__atomic_store_n(&ctx->mail_head, NULL, __ATOMIC_RELAXED);
	ctx->mail_tail = NULL;
	pthread_mutex_unlock(&ctx->mail_mu);
	for (; w; w = next) {
		next = w->next;
		w->next = NULL;
		prev = qcow_lock(ctx, w->lock);
		w->resume(w, w->err);
		qcow_unlock(prev);
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
	pthread_mutex_init(&ctx->mail_mu, NULL);
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
	/* a waker still inside qwaiter_wake() leaves first */
	pthread_mutex_lock(&ctx->mail_mu);
	pthread_mutex_unlock(&ctx->mail_mu);
	pthread_mutex_destroy(&ctx->mail_mu);
	close(ctx->event_fd);
	while (ctx->fast_free) {
		void *p = ctx->fast_free;

		ctx->fast_free = *(void **)p;
		free(p);
	}
	free(ctx);
}

unsigned int qcow_ctx_inflight(const struct qcow_ctx *ctx)
{
	/* the owned count first: work ending posts its mail before it */
	unsigned int n = qctx_owned(ctx);

	return n + ctx->inflight + (ctx->defer_head != NULL) +
	       qctx_has_mail((struct qcow_ctx *)ctx);
}

/* An SQE for an op that found the ring full, submitting without a lock. */
static void run_sqe(struct qcow_ctx *ctx, struct qio_op *op)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ctx->ring);
	struct qlock_save prev;

	if (!sqe) {
		io_uring_submit(ctx->ring);
		sqe = io_uring_get_sqe(ctx->ring);
	}
	if (sqe) {
		qio_prep(sqe, op);
		return;
	}
	ctx->inflight--;
	if (!op->fixed && op->file)
		op->res = qio_sync(op);
	else
		op->res = -EIO;
	prev = qcow_lock(ctx, op->lock);
	qio_finish(op, op->res);
	qcow_unlock(prev);
}

static void run_op(struct qcow_ctx *ctx, struct qio_op *op)
{
	struct qlock_save prev;
	int res = op->res;

	switch (op->defer) {
	case QIO_DEF_SQE:
		run_sqe(ctx, op);
		return;
	case QIO_DEF_SYNC:
		res = qio_sync(op);
		if (op->lockless) {
			/* the read fast path's: as in qcow_ctx_complete() */
			qio_finish(op, res);
			return;
		}
		break;
	case QIO_DEF_RMW:
		res = qdirect_rmw_fill(op);
		break;
	default:
		break;
	}
	prev = qcow_lock(ctx, op->lock);
	if (op->defer == QIO_DEF_RMW && !res)
		qio_start(op);
	else
		qio_finish(op, res);
	qcow_unlock(prev);
}

int qcow_ctx_run_deferred(struct qcow_ctx *ctx)
{
	struct qlock_save prev = { current_ctx, current_lock, current_shared };
	struct qio_op *op;
	int n = run_mail(ctx), m;

	current_ctx = ctx;
	for (;;) {
		op = ctx->defer_head;
		if (!op && qctx_has_mail(ctx)) {
			n += run_mail(ctx);
			continue;
		}
		if (!op) {
			/* a worker's job of ours still queued: ours to run */
			m = qcrypt_run_own(ctx);
			if (!m)
				break;
			n += m;
			continue;
		}
		ctx->defer_head = op->next;
		if (!ctx->defer_head)
			ctx->defer_tail = NULL;
		op->next = NULL;
		run_op(ctx, op);
		n++;
	}
	current_ctx = prev.ctx;
	current_lock = prev.lock;
	current_shared = prev.shared;
	run_later();
	return n;
}
