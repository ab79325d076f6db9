// SPDX-License-Identifier: MIT
/*
 * Several threads, each with its own io_uring and context, write to one
 * image at once, as the ublk server's queues do.  Their byte ranges are
 * disjoint but interleaved, so they allocate the same clusters and wait on
 * each other's allocations and metadata loads; the engine hands such
 * wake-ups to the owning thread through its eventfd.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <liburing.h>
#include "qcow.h"
#include "testlib.h"
#include "tl_ring.h"

#define THREADS		4
#define DEPTH		32
#define STRIPE		3000u
#define STRIPES		600u

struct wreq {
	struct qcow_req req;
	uint8_t buf[STRIPE];
	bool busy;
};

struct worker {
	pthread_t tid;
	int idx;
	struct qcow_image *img;
	struct tl_ring r;
	struct wreq reqs[DEPTH];
	int errors;
};

static struct wreq *free_req(struct worker *wk)
{
	int i;

	for (i = 0; i < DEPTH; i++)
		if (!wk->reqs[i].busy)
			return &wk->reqs[i];
	return NULL;
}

static bool all_idle(const struct worker *wk)
{
	int i;

	for (i = 0; i < DEPTH; i++)
		if (wk->reqs[i].busy)
			return false;
	return true;
}

static int counted_done;

static void req_done(struct qcow_req *req, int res)
{
	struct wreq *w = req->priv;

	if (res < 0)
		__atomic_add_fetch(&counted_done, 1000000, __ATOMIC_RELAXED);
	w->busy = false;
}

static void *worker_main(void *arg)
{
	struct worker *wk = arg;
	unsigned int k = 0;
	struct wreq *w;

	tl_arm_event(&wk->r);
	while (k < STRIPES) {
		w = free_req(wk);
		if (!w) {
			tl_reap(&wk->r, true);
			continue;
		}
		memset(w->buf, wk->idx * 50 + (k % 50) + 1, STRIPE);
		w->busy = true;
		w->req.done = req_done;
		w->req.priv = w;
		w->req.flags = (k % 97 == 0) ? QCOW_REQ_FUA : 0;
		if (qcow_submit(wk->r.ctx, wk->img, &w->req, QCOW_OP_WRITE,
				w->buf, ((uint64_t)k * THREADS + wk->idx) *
				STRIPE, STRIPE) < 0) {
			wk->errors++;
			w->busy = false;
		}
		k++;
		tl_reap(&wk->r, false);
	}
	while (!all_idle(wk) || qcow_ctx_inflight(wk->r.ctx))
		tl_reap(&wk->r, true);
	return NULL;
}

static void run(const char *name, struct qcow_create_opts *co, bool direct)
{
	struct worker wk[THREADS];
	struct qcow_open_opts oo = { .direct = direct };
	uint64_t size = (uint64_t)STRIPE * STRIPES * THREADS;
	struct qcow_image *img;
	uint8_t *got, want;
	char path[1024];
	uint64_t i;
	int t, bad = 0;

	tl_begin("write_multiqueue/%s", name);
	if (direct && tl_direct_block() != 4096)
		return tl_skip("%s has no O_DIRECT with 4 KiB blocks",
			       tl_tmpdir());
	snprintf(path, sizeof(path), "%s/%s.qcow2", tl_tmpdir(), name);
	co->format = QCOW_FMT_QCOW2;
	co->size = (size + 511) & ~511ULL;
	if (qcow_create(path, co) < 0 || qcow_open(&img, path, &oo) < 0)
		return tl_fail("%s", qcow_strerror());
	counted_done = 0;
	memset(wk, 0, sizeof(wk));
	for (t = 0; t < THREADS; t++) {
		wk[t].idx = t;
		wk[t].img = img;
		if (io_uring_queue_init(64, &wk[t].r.ring, 0) < 0 ||
		    qcow_ctx_new(&wk[t].r.ctx, &wk[t].r.ring) < 0)
			return tl_skip("io_uring is not available");
	}
	for (t = 0; t < THREADS; t++)
		pthread_create(&wk[t].tid, NULL, worker_main, &wk[t]);
	for (t = 0; t < THREADS; t++) {
		pthread_join(wk[t].tid, NULL);
		bad += wk[t].errors;
	}
	for (t = 0; t < THREADS; t++) {
		qcow_ctx_free(wk[t].r.ctx);
		io_uring_queue_exit(&wk[t].r.ring);
	}
	qcow_close(img);
	if (bad || counted_done)
		return tl_fail("%d submits and %d writes failed", bad,
			       counted_done / 1000000);
	oo.read_only = true;
	if (qcow_open(&img, path, &oo) < 0)
		return tl_fail("%s", qcow_strerror());
	got = malloc(size);
	bad = qcow_pread(img, got, size, 0);
	qcow_close(img);
	for (i = 0; i < size && !bad; i++) {
		uint64_t stripe = i / STRIPE;

		want = (stripe % THREADS) * 50 + (stripe / THREADS) % 50 + 1;
		if (got[i] != want)
			bad = -1;
	}
	free(got);
	if (bad)
		return tl_fail("data read back differs");
	if (!tl_have_prog("qemu-img"))
		return tl_skip("qemu-img is not installed: data checked only");
	if (tl_run("qemu-img check -q '%s'", path))
		return tl_fail("qemu-img check found problems");
	tl_pass();
}

int main(int argc, char **argv)
{
	struct qcow_create_opts co = { .cluster_size = 65536 };

	tl_init(argc, argv);
	run("64k", &co, false);
	co = (struct qcow_create_opts){ .cluster_size = 65536 };
	run("64k-direct", &co, true);
	co = (struct qcow_create_opts){ .cluster_size = 4096 };
	run("4k", &co, false);
	co = (struct qcow_create_opts){ .cluster_size = 4096 };
	run("4k-direct", &co, true);
	co = (struct qcow_create_opts){ .cluster_size = 65536,
					.extended_l2 = true };
	run("64k-extl2", &co, false);
	co = (struct qcow_create_opts){ .cluster_size = 512,
					.lazy_refcounts = true };
	run("512-lazy", &co, false);
	return tl_finish();
}
