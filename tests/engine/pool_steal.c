// SPDX-License-Identifier: MIT
/*
 * A job of the worker pool marked submitter_may_run (an inflate) that no
 * worker has taken is run by its own context's thread in
 * qcow_ctx_run_deferred(), and resumed there at once; a cipher's job
 * (not so marked) is only ever run by a worker.  The workers (at most
 * QCRYPT_POOL_MAX) are kept busy by cipher jobs that wait for the test, queued
 * before the inflate: no worker can reach it, so only the submitter can
 * run it, and must not run the ciphers' jobs meanwhile.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <liburing.h>
#include "qcow/internal.h"
#include "qcow/crypt_pool.h"
#include "testlib.h"

#define NR_BLOCKERS QCRYPT_POOL_MAX

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static bool released;
static pthread_t main_thread;
static bool blocker_on_main, own_on_worker, all_back;
static int blockers_resumed, own_resumed, own_result;

static int blocker_run(struct qcrypt_job *j)
{
	(void)j;
	if (pthread_equal(pthread_self(), main_thread))
		blocker_on_main = true;
	pthread_mutex_lock(&mu);
	while (!released)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	return 0;
}

static void blocker_resume(struct qwaiter *w, int err)
{
	(void)w;
	(void)err;
	all_back = ++blockers_resumed == NR_BLOCKERS;
}

static int own_run(struct qcrypt_job *j)
{
	(void)j;
	if (!pthread_equal(pthread_self(), main_thread))
		own_on_worker = true;
	return 11;
}

static void own_resume(struct qwaiter *w, int err)
{
	(void)w;
	own_resumed++;
	own_result = err;
}

static void check(struct qcow_ctx *ctx, struct qcrypt_job *blockers)
{
	struct qcrypt_job own;
	int i, ret;

	memset(&own, 0, sizeof(own));
	own.run = own_run;
	own.w.resume = own_resume;
	own.submitter_may_run = true;
	for (i = 0; i < NR_BLOCKERS; i++) {
		blockers[i].run = blocker_run;
		blockers[i].w.resume = blocker_resume;
		qcrypt_submit(ctx, &blockers[i]);
	}
	qcrypt_submit(ctx, &own);
	qcow_ctx_run_deferred(ctx);
	if (own_resumed != 1 || own_result != 11 || own_on_worker) {
		tl_fail("the queued inflate: resumed %d times (result %d)%s",
			own_resumed, own_result,
			own_on_worker ? ", run by a worker" : "");
	} else if (blockers_resumed) {
		tl_fail("a cipher's job ended before it was let go");
	} else {
		tl_pass();
	}
	pthread_mutex_lock(&mu);
	released = true;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	ret = qcow_sync_drive(ctx, &all_back);
	tl_begin("pool_steal/ciphers-to-workers");
	if (ret < 0)
		tl_fail("qcow_sync_drive: %s", strerror(-ret));
	else if (blockers_resumed != NR_BLOCKERS)
		tl_fail("%d of %d cipher jobs resumed", blockers_resumed,
			NR_BLOCKERS);
	else if (blocker_on_main)
		tl_fail("the submitter ran a cipher's job");
	else if (qcow_ctx_inflight(ctx))
		tl_fail("%u still counted in flight", qcow_ctx_inflight(ctx));
	else
		tl_pass();
}

int main(int argc, char **argv)
{
	struct qcrypt_job blockers[NR_BLOCKERS];
	struct qcow_ctx *ctx;
	struct io_uring ring;
	int ret;

	tl_init(argc, argv);
	main_thread = pthread_self();
	memset(blockers, 0, sizeof(blockers));
	tl_begin("pool_steal/inflate-on-submitter");
	if (io_uring_queue_init(8, &ring, 0) < 0) {
		tl_skip("io_uring_queue_init failed: no ring to drive");
		return tl_finish();
	}
	ret = qcow_ctx_new(&ctx, &ring);
	if (ret < 0) {
		tl_fail("qcow_ctx_new: %s", strerror(-ret));
	} else {
		check(ctx, blockers);
		qcow_ctx_free(ctx);
	}
	io_uring_queue_exit(&ring);
	return tl_finish();
}
