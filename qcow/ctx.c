// SPDX-License-Identifier: MIT
/*
 * The concurrency model.  Contexts (one per thread, each with its ring or
 * none) may share images.  One recursive engine lock is held inside every
 * entry point (submit, complete, run_deferred, open, close, the image-wide
 * operations); the work under it is short and never waits for I/O.
 * Engine state is only touched under it, so the rest of the engine is
 * written as if single-threaded.
 *
 * What runs where: an op completes on the context that submitted it
 * (qcow_ctx_complete() on its ring's thread, or from the deferred list
 * when it ran at once or failed before it started).  A waiter (a request
 * parked on a metadata load or an allocation) belongs to the context
 * that parked it: a wake-up found by another thread goes to the owner's
 * mailbox and eventfd, and the owner resumes it in
 * qcow_ctx_run_deferred(), so every SQE of a request goes on its own
 * thread's ring.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include "internal.h"

void qctx_defer(struct qcow_ctx *ctx, struct qio_op *op)
{
	qio_list_append(&ctx->defer_head, &ctx->defer_tail, op);
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
