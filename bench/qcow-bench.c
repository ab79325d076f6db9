// SPDX-License-Identifier: MIT
/*
 * The engine alone over io_uring, driven the way `qemu-img bench` drives
 * QEMU's block layer (same options, same request pattern), so the two can
 * be run side by side on one image:
 *
 *   qcow-bench [-c count] [-d depth] [-s size] [-S step] [-o offset]
 *              [-w] [-t none|writeback] [--flush-interval N] IMAGE
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <liburing.h>
#include "qcow.h"

struct bench {
	uint64_t count;
	unsigned int depth;
	uint64_t size;
	uint64_t step;
	uint64_t offset;
	bool write;
	bool direct;
	uint64_t flush_interval;
	uint64_t issued;
	uint64_t done;
	uint64_t next_off;
	uint64_t image_size;
	int errors;
	struct qcow_image *img;
	struct qcow_ctx *ctx;
};

struct slot {
	struct qcow_req req;
	struct bench *b;
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

static void submit_one(struct bench *b, struct slot *s);

static void slot_done(struct qcow_req *req, int res)
{
	struct slot *s = req->priv;
	struct bench *b = s->b;

	if (res < 0)
		b->errors++;
	b->done++;
	if (b->issued < b->count)
		submit_one(b, s);
}

static void submit_one(struct bench *b, struct slot *s)
{
	enum qcow_op op = b->write ? QCOW_OP_WRITE : QCOW_OP_READ;

	if (b->flush_interval && b->issued && b->write &&
	    b->issued % b->flush_interval == 0)
		op = QCOW_OP_FLUSH;
	s->req.done = slot_done;
	s->req.priv = s;
	s->req.flags = 0;
	if (b->next_off + b->size > b->image_size)
		b->next_off = b->offset;
	if (qcow_submit(b->ctx, b->img, &s->req, op, s->buf,
			op == QCOW_OP_FLUSH ? 0 : b->next_off,
			op == QCOW_OP_FLUSH ? 0 : b->size) < 0) {
		b->errors++;
		b->done++;
	}
	if (op != QCOW_OP_FLUSH)
		b->next_off += b->step;
	b->issued++;
}

static int run(struct bench *b, struct io_uring *ring)
{
	struct slot *slots = calloc(b->depth, sizeof(*slots));
	unsigned int i;

	if (!slots)
		return -ENOMEM;
	for (i = 0; i < b->depth && b->issued < b->count; i++) {
		slots[i].b = b;
		if (posix_memalign(&slots[i].buf, 4096, b->size))
			return -ENOMEM;
		memset(slots[i].buf, 0xa5, b->size);
		submit_one(b, &slots[i]);
	}
	while (b->done < b->count) {
		struct io_uring_cqe *cqe;
		unsigned int head, n = 0;

		qcow_ctx_run_deferred(b->ctx);
		if (b->done >= b->count)
			break;
		io_uring_submit_and_wait(ring, 1);
		io_uring_for_each_cqe(ring, head, cqe) {
			qcow_ctx_complete(b->ctx, cqe);
			n++;
		}
		io_uring_cq_advance(ring, n);
	}
	for (i = 0; i < b->depth; i++)
		free(slots[i].buf);
	free(slots);
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: qcow-bench [-c count] [-d depth] [-s size] "
		"[-S step] [-o offset] [-w] [-t none|writeback] "
		"[--flush-interval N] IMAGE\n");
	return 1;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "flush-interval", required_argument, NULL, 'F' },
		{ NULL, 0, NULL, 0 },
	};
	struct bench b = { .count = 75000, .depth = 64, .size = 4096 };
	struct qcow_open_opts oo = { 0 };
	struct timespec t0, t1;
	struct io_uring ring;
	int c, ret;

	while ((c = getopt_long(argc, argv, "c:d:s:S:o:wt:", lopts,
				NULL)) != -1) {
		switch (c) {
		case 'c': b.count = parse_size(optarg); break;
		case 'd': b.depth = (unsigned int)parse_size(optarg); break;
		case 's': b.size = parse_size(optarg); break;
		case 'S': b.step = parse_size(optarg); break;
		case 'o': b.offset = parse_size(optarg); break;
		case 'w': b.write = true; break;
		case 't': b.direct = !strcmp(optarg, "none"); break;
		case 'F': b.flush_interval = parse_size(optarg); break;
		default: return usage();
		}
	}
	if (optind != argc - 1 || !b.depth || !b.size)
		return usage();
	if (!b.step)
		b.step = b.size;
	oo.read_only = !b.write;
	oo.direct = b.direct;
	if (qcow_open(&b.img, argv[optind], &oo) < 0) {
		fprintf(stderr, "qcow-bench: %s\n", qcow_strerror());
		return 1;
	}
	b.image_size = qcow_size(b.img);
	b.next_off = b.offset;
	ret = io_uring_queue_init(2 * b.depth + 16, &ring, 0);
	if (ret < 0 || qcow_ctx_new(&b.ctx, &ring) < 0) {
		fprintf(stderr, "qcow-bench: io_uring: %s\n", strerror(-ret));
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = run(&b, &ring);
	while (qcow_ctx_inflight(b.ctx)) {
		struct io_uring_cqe *cqe;

		qcow_ctx_run_deferred(b.ctx);
		if (!qcow_ctx_inflight(b.ctx) ||
		    io_uring_wait_cqe(&ring, &cqe) < 0)
			break;
		qcow_ctx_complete(b.ctx, cqe);
		io_uring_cqe_seen(&ring, cqe);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	qcow_ctx_free(b.ctx);
	io_uring_queue_exit(&ring);
	qcow_close(b.img);
	if (ret < 0 || b.errors) {
		fprintf(stderr, "qcow-bench: %d requests failed\n", b.errors);
		return 1;
	}
	printf("Run completed in %.3f seconds.\n",
	       (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	return 0;
}
