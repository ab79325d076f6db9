// SPDX-License-Identifier: MIT
/*
 * The worker pool's threads start at the first job, on the thread that
 * submits it.  In ublk-qcow that is a queue's thread, pinned to some of
 * the CPUs: the workers must not inherit that pin (every cipher and
 * inflate of the daemon would then share the queue's CPUs) but run where
 * the process's main thread may.  A thread pinned to one CPU submits the
 * process's first job; the job, run by a worker, reads its own CPU mask.
 * SKIP where the main thread may run on one CPU only.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <liburing.h>
#include "qcow/internal.h"
#include "qcow/crypt_pool.h"
#include "testlib.h"

struct probe {
	cpu_set_t main_set, worker_set;
	pthread_t worker;
	bool done, ran;
	int err;
};

static struct probe probe;

static int job_run(struct qcrypt_job *j)
{
	(void)j;
	probe.worker = pthread_self();
	probe.ran = true;
	return sched_getaffinity(0, sizeof(probe.worker_set),
				 &probe.worker_set) ? -errno : 0;
}

static void job_resume(struct qwaiter *w, int err)
{
	(void)w;
	probe.err = err;
	probe.done = true;
}

static void *pinned_submitter(void *arg)
{
	struct qcrypt_job job;
	struct qcow_ctx *ctx;
	struct io_uring ring;
	cpu_set_t one;
	int cpu, ret;

	(void)arg;
	for (cpu = 0; !CPU_ISSET(cpu, &probe.main_set); cpu++)
		;
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	if (sched_setaffinity(0, sizeof(one), &one)) {
		probe.err = -errno;
		return NULL;
	}
	if (io_uring_queue_init(8, &ring, 0) < 0) {
		probe.err = -ENOSYS;
		return NULL;
	}
	ret = qcow_ctx_new(&ctx, &ring);
	if (ret < 0) {
		probe.err = ret;
		io_uring_queue_exit(&ring);
		return NULL;
	}
	memset(&job, 0, sizeof(job));
	job.run = job_run;
	job.w.resume = job_resume;
	qcrypt_submit(ctx, &job);
	ret = qcow_sync_drive(ctx, &probe.done);
	if (ret < 0)
		probe.err = ret;
	qcow_ctx_free(ctx);
	io_uring_queue_exit(&ring);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t t;

	tl_init(argc, argv);
	tl_begin("pool_affinity/workers-not-pinned");
	if (sched_getaffinity(getpid(), sizeof(probe.main_set),
			      &probe.main_set) ||
	    CPU_COUNT(&probe.main_set) < 2) {
		tl_skip("this process may run on one CPU only");
		return tl_finish();
	}
	if (pthread_create(&t, NULL, pinned_submitter, NULL)) {
		tl_fail("pthread_create");
		return tl_finish();
	}
	pthread_join(t, NULL);
	if (probe.err == -ENOSYS)
		tl_skip("io_uring_queue_init failed: no ring to drive");
	else if (probe.err < 0)
		tl_fail("the job: %s", strerror(-probe.err));
	else if (!probe.ran || !probe.done)
		tl_fail("the job did not run and come back");
	else if (pthread_equal(probe.worker, t))
		tl_fail("the job ran on the submitting thread, not a worker");
	else if (!CPU_EQUAL(&probe.worker_set, &probe.main_set))
		tl_fail("the worker may run on %d CPUs, the process on %d: "
			"it inherited the submitter's pin",
			CPU_COUNT(&probe.worker_set),
			CPU_COUNT(&probe.main_set));
	else
		tl_pass();
	return tl_finish();
}
