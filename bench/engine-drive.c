// SPDX-License-Identifier: MIT
/*
 * The engine driven by T threads on one image, each with its own
 * io_uring and context (as ublk queues are), for the scaling and cost
 * measurements of bench/engine-scaling.sh and bench/alloc-*.sh:
 *
 *   engine-drive [-c count] [-d depth] [-s size] [-S step] [-o offset]
 *                [-w] [-r] [-u] [-t none|writeback] [-T threads]
 *                [-F flush_interval] IMAGE
 *
 * count requests in all, depth in flight per thread; -r random offsets
 * (aligned to size) instead of steps; -u writes with FUA.  Each thread
 * takes count / T requests, sequential ones from its own part of the
 * range.  Prints qemu-img bench's "Run completed in N seconds."
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include <liburing.h>
#include "qcow.h"

#define POLL_TAG	(QCOW_USER_DATA_FOREIGN | 1)

struct opts {
	uint64_t count, size, step, offset, flush_interval;
	unsigned int depth, threads;
	bool write, random, fua, direct;
};

struct worker {
	const struct opts *o;
	struct qcow_image *img;
	uint64_t count, issued, done, next, seed, image_size;
	int errors;
	struct io_uring ring;
	struct qcow_ctx *ctx;
	int efd;
	pthread_t thread;
};

struct slot {
	struct qcow_req req;
	struct worker *w;
	void *buf;
};

static uint64_t parse_size(const char *s)
{
	char *end;
	uint64_t v = strtoull(s, &end, 0);

	switch (*end) {
	case 'k': case 'K': return v << 10;
	case 'm': case 'M': return v << 20;
	case 'g': case 'G': return v << 30;
	default: return v;
	}
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void submit_one(struct worker *w, struct slot *s);

static void slot_done(struct qcow_req *req, int res)
{
	struct slot *s = req->priv;
	struct worker *w = s->w;

	if (res < 0)
		w->errors++;
	w->done++;
	if (w->issued < w->count)
		submit_one(w, s);
}

static void submit_one(struct worker *w, struct slot *s)
{
	const struct opts *o = w->o;
	enum qcow_op op = o->write ? QCOW_OP_WRITE : QCOW_OP_READ;
	uint64_t off = w->next, slots = w->image_size / o->size;

	if (o->flush_interval && w->issued &&
	    w->issued % o->flush_interval == 0)
		op = QCOW_OP_FLUSH;
	if (o->random)
		off = (rnd(&w->seed) % slots) * o->size;
	else if (off + o->size > w->image_size)
		off = o->offset;
	s->req.done = slot_done;
	s->req.priv = s;
	s->req.flags = op == QCOW_OP_WRITE && o->fua ? QCOW_REQ_FUA : 0;
	if (qcow_submit(w->ctx, w->img, &s->req, op, s->buf,
			op == QCOW_OP_FLUSH ? 0 : off,
			op == QCOW_OP_FLUSH ? 0 : o->size) < 0) {
		w->errors++;
		w->done++;
	}
	if (op != QCOW_OP_FLUSH && !o->random)
		w->next = off + o->step;
	w->issued++;
}

static void arm_poll(struct worker *w)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);

	if (!sqe) {	/* the engine may leave the ring full */
		io_uring_submit(&w->ring);
		sqe = io_uring_get_sqe(&w->ring);
	}
	io_uring_prep_poll_add(sqe, w->efd, POLLIN);
	io_uring_sqe_set_data64(sqe, POLL_TAG);
}

static void reap(struct worker *w)
{
	struct io_uring_cqe *cqe;
	unsigned int head, n = 0;
	eventfd_t v;

	/* what it ran may have been the last work: come back first */
	io_uring_submit_and_wait(&w->ring,
				 qcow_ctx_run_deferred(w->ctx) ? 0 : 1);
	io_uring_for_each_cqe(&w->ring, head, cqe) {
		if (cqe->user_data == POLL_TAG) {
			eventfd_read(w->efd, &v);
			arm_poll(w);
		} else {
			qcow_ctx_complete(w->ctx, cqe);
		}
		n++;
	}
	io_uring_cq_advance(&w->ring, n);
}

static void *run(void *arg)
{
	struct worker *w = arg;
	struct slot *slots = calloc(w->o->depth, sizeof(*slots));
	unsigned int i;

	if (!slots)
		return NULL;
	arm_poll(w);
	for (i = 0; i < w->o->depth && w->issued < w->count; i++) {
		slots[i].w = w;
		if (posix_memalign(&slots[i].buf, 4096, w->o->size))
			abort();
		memset(slots[i].buf, 0xa5, w->o->size);
		submit_one(w, &slots[i]);
	}
	while (w->done < w->count || qcow_ctx_inflight(w->ctx))
		reap(w);
	for (i = 0; i < w->o->depth; i++)
		free(slots[i].buf);
	free(slots);
	return NULL;
}

static int usage(void)
{
	fprintf(stderr, "usage: engine-drive [-c count] [-d depth] [-s size] "
		"[-S step] [-o offset] [-w] [-r] [-u] [-t none|writeback] "
		"[-T threads] [-F flush_interval] IMAGE\n");
	return 1;
}

int main(int argc, char **argv)
{
	struct opts o = { .count = 75000, .depth = 64, .size = 4096,
			  .threads = 1 };
	struct qcow_open_opts oo = { 0 };
	struct qcow_image *img;
	struct worker *w;
	struct timespec t0, t1;
	unsigned int i;
	int c, errors = 0;

	while ((c = getopt(argc, argv, "c:d:s:S:o:wrut:T:F:")) != -1) {
		switch (c) {
		case 'c': o.count = parse_size(optarg); break;
		case 'd': o.depth = (unsigned int)parse_size(optarg); break;
		case 's': o.size = parse_size(optarg); break;
		case 'S': o.step = parse_size(optarg); break;
		case 'o': o.offset = parse_size(optarg); break;
		case 'w': o.write = true; break;
		case 'r': o.random = true; break;
		case 'u': o.fua = true; break;
		case 't': o.direct = !strcmp(optarg, "none"); break;
		case 'T': o.threads = (unsigned int)parse_size(optarg); break;
		case 'F': o.flush_interval = parse_size(optarg); break;
		default: return usage();
		}
	}
	if (optind != argc - 1 || !o.depth || !o.size || !o.threads)
		return usage();
	if (!o.step)
		o.step = o.size;
	oo.read_only = !o.write;
	oo.direct = o.direct;
	if (qcow_open(&img, argv[optind], &oo) < 0) {
		fprintf(stderr, "engine-drive: %s\n", qcow_strerror());
		return 1;
	}
	w = calloc(o.threads, sizeof(*w));
	for (i = 0; w && i < o.threads; i++) {
		w[i].o = &o;
		w[i].img = img;
		w[i].image_size = qcow_size(img);
		w[i].count = o.count / o.threads;
		w[i].next = o.offset + i * w[i].count * o.step;
		w[i].seed = 0x9e3779b97f4a7c15ULL * (i + 1);
		if (io_uring_queue_init(2 * o.depth + 16, &w[i].ring, 0) < 0 ||
		    qcow_ctx_new(&w[i].ctx, &w[i].ring) < 0 ||
		    (w[i].efd = qcow_ctx_event_fd(w[i].ctx)) < 0) {
			fprintf(stderr, "engine-drive: cannot set up a ring\n");
			return 1;
		}
	}
	if (!w)
		return 1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < o.threads; i++)
		pthread_create(&w[i].thread, NULL, run, &w[i]);
	for (i = 0; i < o.threads; i++)
		pthread_join(w[i].thread, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	for (i = 0; i < o.threads; i++) {
		errors += w[i].errors;
		qcow_ctx_free(w[i].ctx);
		io_uring_queue_exit(&w[i].ring);
	}
	qcow_close(img);
	free(w);
	if (errors) {
		fprintf(stderr, "engine-drive: %d requests failed\n", errors);
		return 1;
	}
	printf("Run completed in %.3f seconds.\n",
	       (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	return 0;
}
