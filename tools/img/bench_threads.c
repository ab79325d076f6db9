// SPDX-License-Identifier: MIT
/*
 * qcow-img bench on several threads (--threads N): each runs a queue of
 * its own (tools/img/bench_run.c) on its share of the requests, as the
 * queues of a ublk device share one image; they start together once
 * every ring is set up.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include "tools/img/bench.h"

/* The threads set up their rings, then start together. */
struct start_gate {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned int ready;
	bool go;
};

static void gate_wait(struct start_gate *g)
{
	pthread_mutex_lock(&g->lock);
	g->ready++;
	pthread_cond_broadcast(&g->cond);
	while (!g->go)
		pthread_cond_wait(&g->cond, &g->lock);
	pthread_mutex_unlock(&g->lock);
}

static void gate_open(struct start_gate *g, unsigned int n)
{
	pthread_mutex_lock(&g->lock);
	while (g->ready < n)
		pthread_cond_wait(&g->cond, &g->lock);
	g->go = true;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
}

/* One thread's share: its own ring and context, as one ublk queue. */
struct bench_thread {
	pthread_t tid;
	struct bench_cfg cfg;
	struct qcow_image *img;
	struct start_gate *gate;
	double t_end;
	int ret;
};

static void thread_ready(void *arg)
{
	gate_wait(arg);
}

static void *bench_thread_main(void *arg)
{
	struct bench_thread *t = arg;

	t->ret = bench_queue_run(t->img, &t->cfg, thread_ready, t->gate,
				 &t->t_end);
	return NULL;
}

/*
 * Thread i of n takes requests i, i + n, i + 2n... of the single-thread
 * sequence: it starts i steps on (wrapped as each step wraps) and strides
 * n steps.
 */
static void split_cfg(const struct bench_cfg *cfg, unsigned int n,
		      unsigned int i, uint64_t size, struct bench_cfg *out)
{
	*out = *cfg;
	out->count = cfg->count / n + (i < cfg->count % n);
	out->step = cfg->step * n;
	if (i)
		out->offset = size ? (cfg->offset + i * cfg->step) % size : 0;
}

int bench_run(struct qcow_image *img, const struct bench_cfg *cfg,
	      unsigned int threads, double *secs)
{
	struct bench_thread *t = calloc(threads, sizeof(*t));
	struct start_gate gate = {
		.lock = PTHREAD_MUTEX_INITIALIZER,
		.cond = PTHREAD_COND_INITIALIZER,
	};
	unsigned int i, started = 0;
	double t0, end = 0;
	int ret = 0;

	if (!t)
		return -ENOMEM;
	for (i = 0; i < threads; i++) {
		t[i].img = img;
		t[i].gate = &gate;
		split_cfg(cfg, threads, i, qcow_size(img), &t[i].cfg);
		ret = -pthread_create(&t[i].tid, NULL, bench_thread_main, &t[i]);
		if (ret < 0)
			break;
		started++;
	}
	gate_open(&gate, started);
	t0 = bench_now();
	for (i = 0; i < started; i++) {
		pthread_join(t[i].tid, NULL);
		if (t[i].t_end > end)
			end = t[i].t_end;
		if (!ret)
			ret = t[i].ret;
	}
	*secs = end > t0 ? end - t0 : 0;
	free(t);
	return ret;
}
