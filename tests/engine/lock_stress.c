// SPDX-License-Identifier: MIT
/*
 * Threads with a ring and a context each drive one image, or two chains
 * at once, with reads, writes, zero writes, discards and flushes mixed
 * over clusters they share.  Every cluster is cut in four stripes, each
 * stripe owned by one thread, and one cluster in four belongs whole to
 * one thread (only those are discarded, whole); a thread keeps at most
 * one request per stripe in flight, so each read must return exactly its
 * thread's model.  After the run the image equals the model (read
 * through the engine, and qemu-img compare against it as a raw file) and
 * qemu-img check is clean.  Built with `make TSAN=1` it is the
 * ThreadSanitizer run (`make check-tsan`).
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

#define CLUSTER		65536u
#define STRIPES		4u
#define STRIPE		(CLUSTER / STRIPES)
#define CLUSTERS	64u
#define SIZE		((uint64_t)CLUSTER * CLUSTERS)
#define DEPTH		16
#define MAX_THREADS	4

struct chain {
	struct qcow_image *img;
	uint8_t *model;		/* SIZE bytes: what the image must read */
	int nr_threads;
	char path[1024];
	char base[1024];
};

struct sreq {
	struct qcow_req req;
	struct worker *wk;
	enum qcow_op op;
	uint64_t off, len;
	unsigned int unit;	/* stripe index (cluster * STRIPES + s) */
	bool busy;
	uint8_t *buf;
};

struct worker {
	pthread_t tid;
	int idx;		/* in its chain */
	struct chain *ch;
	struct tl_ring r;
	struct sreq reqs[DEPTH];
	bool busy_unit[CLUSTERS * STRIPES];
	uint64_t seed;
	unsigned int ops;
	int errors;		/* failed submits and requests */
	int bad_reads;
};

static bool whole_cluster(unsigned int c)
{
	return c % 4 == 3;
}

static int unit_owner(const struct chain *ch, unsigned int unit)
{
	unsigned int c = unit / STRIPES, s = unit % STRIPES;

	if (whole_cluster(c))
		return (int)((c / 4) % ch->nr_threads);
	return (int)((c + s) % ch->nr_threads);
}

static void set_units(struct worker *wk, const struct sreq *r, bool busy)
{
	unsigned int i, n = r->op == QCOW_OP_DISCARD ? STRIPES : 1;

	for (i = 0; i < n; i++)
		wk->busy_unit[r->unit + i] = busy;
}

static void req_done(struct qcow_req *req, int res)
{
	struct sreq *r = req->priv;
	struct worker *wk = r->wk;
	uint8_t *m = wk->ch->model;

	if (res < 0)
		wk->errors++;
	else if (r->op == QCOW_OP_READ &&
		 memcmp(r->buf, m + r->off, r->len))
		wk->bad_reads++;
	else if (r->op == QCOW_OP_WRITE)
		memcpy(m + r->off, r->buf, r->len);
	else if (r->op == QCOW_OP_WRITE_ZEROES || r->op == QCOW_OP_DISCARD)
		memset(m + r->off, 0, r->len);
	if (r->op != QCOW_OP_FLUSH)
		set_units(wk, r, false);
	r->busy = false;
}

static struct sreq *free_req(struct worker *wk)
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

/* A free stripe of this thread's; for a discard, a whole cluster. */
static bool pick_unit(struct worker *wk, bool whole, unsigned int *unit)
{
	unsigned int tries, u, s;

	for (tries = 0; tries < 64; tries++) {
		u = tl_rnd(&wk->seed) % (CLUSTERS * STRIPES);
		if (whole)
			u -= u % STRIPES;
		if (unit_owner(wk->ch, u) != wk->idx ||
		    (whole && !whole_cluster(u / STRIPES)))
			continue;
		for (s = 0; s < (whole ? STRIPES : 1); s++)
			if (wk->busy_unit[u + s])
				break;
		if (s == (whole ? STRIPES : 1)) {
			*unit = u;
			return true;
		}
	}
	return false;
}

static void start_one(struct worker *wk, struct sreq *r)
{
	unsigned int k = tl_rnd(&wk->seed) % 100;
	uint64_t start, len;
	void *buf = NULL;

	r->op = k < 40 ? QCOW_OP_WRITE : k < 75 ? QCOW_OP_READ :
		k < 87 ? QCOW_OP_WRITE_ZEROES : k < 94 ? QCOW_OP_DISCARD :
		QCOW_OP_FLUSH;
	r->req.flags = (r->op == QCOW_OP_WRITE && k % 9 == 0) ?
		       QCOW_REQ_FUA : 0;
	if (r->op == QCOW_OP_FLUSH) {
		r->off = r->len = 0;
	} else if (!pick_unit(wk, r->op == QCOW_OP_DISCARD, &r->unit)) {
		return;		/* all busy: try again later */
	} else if (r->op == QCOW_OP_DISCARD) {
		r->off = (uint64_t)(r->unit / STRIPES) * CLUSTER;
		r->len = CLUSTER;
	} else {
		start = tl_rnd(&wk->seed) % STRIPE;
		len = 1 + tl_rnd(&wk->seed) % (STRIPE - start);
		r->off = (uint64_t)r->unit * STRIPE + start;
		r->len = len;
	}
	if (r->op == QCOW_OP_WRITE)
		tl_fill_rand(r->buf, r->len, tl_rnd(&wk->seed));
	if (r->op == QCOW_OP_WRITE || r->op == QCOW_OP_READ)
		buf = r->buf;
	r->busy = true;
	if (r->op != QCOW_OP_FLUSH)
		set_units(wk, r, true);
	wk->ops++;
	if (qcow_submit(wk->r.ctx, wk->ch->img, &r->req, r->op, buf, r->off,
			r->len) < 0) {
		wk->errors++;
		req_done(&r->req, 0);
	}
}

static void *worker_main(void *arg)
{
	struct worker *wk = arg;
	unsigned int target = wk->ops;
	struct sreq *r;

	wk->ops = 0;
	tl_arm_event(&wk->r);
	while (wk->ops < target) {
		r = free_req(wk);
		if (!r) {
			tl_reap(&wk->r, true);
			continue;
		}
		start_one(wk, r);
		tl_reap(&wk->r, false);
	}
	while (!all_idle(wk) || qcow_ctx_inflight(wk->r.ctx))
		tl_reap(&wk->r, true);
	return NULL;
}

static int worker_init(struct worker *wk, struct chain *ch, int idx,
		       uint64_t seed, unsigned int ops)
{
	int i;

	memset(wk, 0, sizeof(*wk));
	wk->ch = ch;
	wk->idx = idx;
	wk->seed = seed;
	wk->ops = ops;
	for (i = 0; i < DEPTH; i++) {
		wk->reqs[i].wk = wk;
		wk->reqs[i].req.priv = &wk->reqs[i];
		wk->reqs[i].req.done = req_done;
		wk->reqs[i].buf = malloc(STRIPE);
		if (!wk->reqs[i].buf)
			return -1;
	}
	if (io_uring_queue_init(64, &wk->r.ring, 0) < 0)
		return -1;
	if (qcow_ctx_new(&wk->r.ctx, &wk->r.ring) < 0) {
		io_uring_queue_exit(&wk->r.ring);
		return -1;
	}
	return 0;
}

static void worker_exit(struct worker *wk)
{
	int i;

	qcow_ctx_free(wk->r.ctx);
	io_uring_queue_exit(&wk->r.ring);
	for (i = 0; i < DEPTH; i++)
		free(wk->reqs[i].buf);
}

/* A chain: a qcow2 image, over a raw backing of known data if asked. */
static int chain_make(struct chain *ch, const char *name, int threads,
		      bool backing, bool extl2)
{
	struct qcow_create_opts co = { .format = QCOW_FMT_QCOW2,
				       .size = SIZE, .cluster_size = CLUSTER,
				       .extended_l2 = extl2 };

	memset(ch->base, 0, sizeof(ch->base));
	ch->nr_threads = threads;
	ch->model = calloc(1, SIZE);
	if (!ch->model)
		return -1;
	snprintf(ch->path, sizeof(ch->path), "%s/%s.qcow2", tl_tmpdir(),
		 name);
	if (backing) {
		snprintf(ch->base, sizeof(ch->base), "%s/%s-base.raw",
			 tl_tmpdir(), name);
		tl_fill_rand(ch->model, SIZE, 77);
		if (tl_write_file(ch->base, ch->model, SIZE) < 0)
			return -1;
		co.backing_file = ch->base;
		co.backing_format = "raw";
	}
	return qcow_create(ch->path, &co);
}

/* The chain read back, compared by us and by qemu-img: "" or what failed. */
static const char *chain_verify(struct chain *ch, char *why, size_t len)
{
	struct qcow_open_opts oo = { .read_only = true };
	struct qcow_image *img;
	char raw[1100];
	uint8_t *got = malloc(SIZE);
	int ret = -1;

	why[0] = 0;
	if (got && qcow_open(&img, ch->path, &oo) == 0) {
		ret = qcow_pread(img, got, SIZE, 0);
		qcow_close(img);
	}
	if (ret || memcmp(got, ch->model, SIZE))
		snprintf(why, len, "%s: data read back differs from the model",
			 ch->path);
	free(got);
	if (why[0] || !tl_have_prog("qemu-img"))
		return why;
	snprintf(raw, sizeof(raw), "%s.model", ch->path);
	if (tl_write_file(raw, ch->model, SIZE) < 0)
		snprintf(why, len, "cannot write %s", raw);
	else if (tl_run("qemu-img compare -q -f raw -F qcow2 '%s' '%s'", raw,
			ch->path))
		snprintf(why, len, "qemu-img compare: %s differs", ch->path);
	else if (tl_run("qemu-img check -q '%s'", ch->path))
		snprintf(why, len, "qemu-img check: %s has problems",
			 ch->path);
	return why;
}

/*
 * nr_chains chains of threads[i] threads each, all running at once;
 * chain 1 (if any) sits on a raw backing file with extended L2.
 */
static void run(const char *name, int nr_chains, const int *threads,
		bool direct, unsigned int ops)
{
	struct qcow_open_opts oo = { .direct = direct };
	struct worker wk[MAX_THREADS];
	struct chain ch[2];
	char cname[64], why[1200];
	int c, t, n = 0, errors = 0, bad = 0;

	tl_begin("lock_stress/%s", name);
	if (direct && tl_direct_block() != 4096)
		return tl_skip("%s has no O_DIRECT with 4 KiB blocks",
			       tl_tmpdir());
	for (c = 0; c < nr_chains; c++) {
		snprintf(cname, sizeof(cname), "%s-%d", name, c);
		if (chain_make(&ch[c], cname, threads[c], c == 1, c == 1) < 0 ||
		    qcow_open(&ch[c].img, ch[c].path, &oo) < 0)
			return tl_fail("%s", qcow_strerror());
		for (t = 0; t < threads[c]; t++, n++)
			if (worker_init(&wk[n], &ch[c], t, 1000 + n, ops) < 0)
				return tl_skip("io_uring is not available");
	}
	for (t = 0; t < n; t++)
		pthread_create(&wk[t].tid, NULL, worker_main, &wk[t]);
	for (t = 0; t < n; t++) {
		pthread_join(wk[t].tid, NULL);
		errors += wk[t].errors;
		bad += wk[t].bad_reads;
		worker_exit(&wk[t]);
	}
	why[0] = 0;
	for (c = 0; c < nr_chains; c++) {
		qcow_close(ch[c].img);
		if (!why[0] && !errors && !bad)
			chain_verify(&ch[c], why, sizeof(why));
		free(ch[c].model);
	}
	if (errors || bad)
		return tl_fail("%d requests failed, %d reads differ from the "
			       "model", errors, bad);
	if (why[0])
		return tl_fail("%s", why);
	if (!tl_have_prog("qemu-img"))
		return tl_skip("qemu-img is not installed: data checked only");
	tl_pass();
}

int main(int argc, char **argv)
{
	const char *o = getenv("LOCK_STRESS_OPS");
	unsigned int ops = o && atoi(o) > 0 ? (unsigned int)atoi(o) : 3000;
	static const int three[] = { 3 };
	static const int two_two[] = { 2, 2 };
	static const int two[] = { 2 };

	tl_init(argc, argv);
	run("one-image-3-threads", 1, three, false, ops);
	run("two-chains-2x2-threads", 2, two_two, false, ops);
	run("direct-2-threads", 1, two, true, ops / 2);
	return tl_finish();
}
