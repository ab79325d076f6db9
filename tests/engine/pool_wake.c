// SPDX-License-Identifier: MIT
/*
 * A job of the worker pool (a cipher, an inflate) hands its waiter back
 * to the submitting context through the mailbox.  The context's drive
 * loop must not go to sleep on its ring in the moment between the
 * worker's end and the mail's arrival: nothing on the ring would wake
 * it.  A helper thread holds the mailbox's mutex so that moment lasts,
 * and the loop (qcow_sync_drive) must still finish once the mail lands.
 * CI hung here for 240 s in write_random, on 2 busy cores.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <liburing.h>
#include "qcow/internal.h"
#include "qcow/crypt_pool.h"
#include "testlib.h"

struct holder {
	struct qcow_ctx *ctx;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool locked;
	unsigned int hold_ms;
};

static bool job_done;

static int job_run(struct qcrypt_job *j)
{
	(void)j;
	return 7;
}

static void job_resume(struct qwaiter *w, int err)
{
	(void)w;
	job_done = err == 7;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Holds ctx's mailbox for hold_ms: a worker's wake-up waits that long. */
static void *hold_mail(void *arg)
{
	struct holder *h = arg;

	pthread_mutex_lock(&h->ctx->mail_mu);
	pthread_mutex_lock(&h->mu);
	h->locked = true;
	pthread_cond_signal(&h->cv);
	pthread_mutex_unlock(&h->mu);
	sleep_ms(h->hold_ms);
	pthread_mutex_unlock(&h->ctx->mail_mu);
	return NULL;
}

/* The worker has run the job and waits for the mailbox (or 200 ms). */
static void wait_worker(struct qcow_ctx *ctx)
{
	int i;

	for (i = 0; i < 200; i++) {
		if (!__atomic_load_n(&ctx->owned, __ATOMIC_ACQUIRE))
			return;
		sleep_ms(1);
	}
}

static void run_case(unsigned int hold_ms)
{
	struct holder h = { .hold_ms = hold_ms };
	struct qcrypt_job job;
	struct qcow_ctx *ctx;
	struct io_uring ring;
	pthread_t t;
	int ret;

	tl_begin("pool_wake/hold-%ums", hold_ms);
	if (io_uring_queue_init(8, &ring, 0) < 0) {
		tl_skip("io_uring_queue_init failed: no ring to drive");
		return;
	}
	ret = qcow_ctx_new(&ctx, &ring);
	if (ret < 0) {
		io_uring_queue_exit(&ring);
		tl_fail("qcow_ctx_new: %s", strerror(-ret));
		return;
	}
	pthread_mutex_init(&h.mu, NULL);
	pthread_cond_init(&h.cv, NULL);
	h.ctx = ctx;
	if (pthread_create(&t, NULL, hold_mail, &h)) {
		tl_fail("pthread_create");
		goto out;
	}
	pthread_mutex_lock(&h.mu);
	while (!h.locked)
		pthread_cond_wait(&h.cv, &h.mu);
	pthread_mutex_unlock(&h.mu);

	memset(&job, 0, sizeof(job));
	job.run = job_run;
	job.w.resume = job_resume;
	job_done = false;
	qcrypt_submit(ctx, &job);
	wait_worker(ctx);
	ret = qcow_sync_drive(ctx, &job_done);
	pthread_join(t, NULL);
	if (ret < 0)
		tl_fail("qcow_sync_drive: %s", strerror(-ret));
	else if (!job_done)
		tl_fail("the job's waiter did not resume with its result");
	else if (qcow_ctx_inflight(ctx))
		tl_fail("%u still counted in flight", qcow_ctx_inflight(ctx));
	else
		tl_pass();
out:
	qcow_ctx_free(ctx);
	io_uring_queue_exit(&ring);
	pthread_mutex_destroy(&h.mu);
	pthread_cond_destroy(&h.cv);
}

int main(int argc, char **argv)
{
	tl_init(argc, argv);
	run_case(0);
	run_case(50);
	run_case(300);
	return tl_finish();
}
