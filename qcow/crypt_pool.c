// SPDX-License-Identifier: MIT
/*
 * The crypto worker pool: the device's queues never wait for a cipher.
 * Jobs queue under a mutex of their own; a worker runs the cipher without
 * the chain lock and hands the job back to its context's mailbox, never
 * taking the lock: its context resumes the job under it.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>
#include "crypt_pool.h"

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_cond = PTHREAD_COND_INITIALIZER;
static struct qcrypt_job *pool_head, *pool_tail;
static int pool_threads;	/* -1: could not start one */

static int run_job(struct qcrypt_job *j)
{
	if (j->run)
		return j->run(j);
	return j->encrypt ? qcrypto_encrypt(j->cipher, j->sector, j->buf,
					    j->len) :
			    qcrypto_decrypt(j->cipher, j->sector, j->buf,
					    j->len);
}

static void *worker(void *arg)
{
	struct qcrypt_job *j;
	int ret;

	for (;;) {
		pthread_mutex_lock(&pool_lock);
		while (!pool_head)
			pthread_cond_wait(&pool_cond, &pool_lock);
		j = pool_head;
		pool_head = j->next;
		if (!pool_head)
			pool_tail = NULL;
		pthread_mutex_unlock(&pool_lock);
		ret = run_job(j);
		qwaiter_post_disown(&j->w, ret, j->lock);
	}
	return arg;
}

/*
 * A child of fork() has none of the workers (ublk-qcow's daemon forks):
 * it starts its own at its first job.
 */
static void pool_forked(void)
{
	pthread_mutex_init(&pool_lock, NULL);
	pthread_cond_init(&pool_cond, NULL);
	pool_head = pool_tail = NULL;
	pool_threads = 0;
}

/*
 * The workers run where the process's main thread may, not where the
 * thread that submits the first job is pinned (a ublk queue's thread).
 */
static void pool_affinity(pthread_attr_t *attr)
{
	cpu_set_t set;

	if (sched_getaffinity(getpid(), sizeof(set), &set) == 0)
		pthread_attr_setaffinity_np(attr, sizeof(set), &set);
}

/* Under pool_lock: the workers, started at the first job. */
static bool pool_ready(void)
{
	static bool registered;
	long cpus;
	int want, i;
	pthread_attr_t attr;
	pthread_t t;

	if (pool_threads)
		return pool_threads > 0;
	cpus = sysconf(_SC_NPROCESSORS_ONLN);
	want = (int)(cpus > 1 ? cpus / 2 : 1);
	if (!registered && pthread_atfork(NULL, NULL, pool_forked) == 0)
		registered = true;
	want = want > QCRYPT_POOL_MAX ? QCRYPT_POOL_MAX : want;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pool_affinity(&attr);
	for (i = 0; i < want; i++)
		if (pthread_create(&t, &attr, worker, NULL) == 0)
			pool_threads++;
	pthread_attr_destroy(&attr);
	if (!pool_threads)
		pool_threads = -1;
	return pool_threads > 0;
}

void qcrypt_submit(struct qcow_ctx *ctx, struct qcrypt_job *job)
{
	bool queued = false;

	job->w.ctx = ctx;
	job->lock = qcow_current_lock();
	job->next = NULL;
	if (ctx && ctx->ring) {
		pthread_mutex_lock(&pool_lock);
		if (pool_ready()) {
			qctx_own(ctx, 1);
			if (pool_tail)
				pool_tail->next = job;
			else
				pool_head = job;
			pool_tail = job;
			queued = true;
			pthread_cond_signal(&pool_cond);
		}
		pthread_mutex_unlock(&pool_lock);
	}
	if (!queued)
		job->w.resume(&job->w, run_job(job));
}

/* Under pool_lock: the first job of ctx that it may run itself, unqueued. */
static struct qcrypt_job *pool_take_own(struct qcow_ctx *ctx)
{
	struct qcrypt_job *j, *prev = NULL;

	for (j = pool_head; j; prev = j, j = j->next) {
		if (j->w.ctx != ctx || !j->submitter_may_run)
			continue;
		if (prev)
			prev->next = j->next;
		else
			pool_head = j->next;
		if (pool_tail == j)
			pool_tail = prev;
		return j;
	}
	return NULL;
}

int qcrypt_run_own(struct qcow_ctx *ctx)
{
	struct qcrypt_job *j;
	struct qlock_save prev;
	int n = 0, ret;

	if (!qctx_owned(ctx))
		return 0;
	for (;;) {
		pthread_mutex_lock(&pool_lock);
		j = pool_take_own(ctx);
		pthread_mutex_unlock(&pool_lock);
		if (!j)
			return n;
		ret = run_job(j);
		prev = qcow_lock(ctx, j->lock);
		j->w.resume(&j->w, ret);
		qcow_unlock(prev);
		qctx_own(ctx, -1);
		n++;
	}
}

int qcrypt_start(struct qcow_ctx *ctx, struct qcrypt_job *job,
		 struct qcrypto_cipher *cipher, bool encrypt, uint64_t sector,
		 uint64_t offs, void *buf, uint64_t len)
{
	if (!cipher)
		return -EACCES;
	if (!IS_ALIGNED(offs | len, QCRYPTO_SECTOR_SIZE))
		return -EINVAL;
	job->run = NULL;
	job->submitter_may_run = false;
	job->cipher = cipher;
	job->encrypt = encrypt;
	job->sector = sector;
	job->buf = buf;
	job->len = len;
	qcrypt_submit(ctx, job);
	return 0;
}
