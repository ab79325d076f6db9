// SPDX-License-Identifier: MIT
/*
 * Compressed reads under concurrency: two threads, each with its own
 * io_uring and context, keep many reads in flight on one image made by
 * `qemu-img convert -c` (zlib, and zstd where qemu-img has it), so that
 * clusters are decompressed in the worker pool while the rings run.  The
 * reads are whole clusters, parts of one, and runs over several; every
 * one is compared with `qemu-img convert -O raw` of the same image.  With
 * zstd, the number of decompression contexts made (one per thread that
 * decompressed) shows the pool took part.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <liburing.h>
#include "qcow.h"
#include "testlib.h"

#define CS		65536u
#define SIZE		(8u << 20)
#define THREADS		2
#define DEPTH		32
#define READS		1500
#define UD_EVENT	(QCOW_USER_DATA_FOREIGN | 1)

unsigned long qcow_zstd_contexts(void);

static uint8_t *ref;		/* qemu-img's raw conversion */

struct reader;

struct slot {
	struct qcow_req req;
	struct reader *r;
	uint64_t off, len;
	uint8_t *buf;
	bool busy;
};

struct reader {
	struct qcow_image *img;
	struct qcow_ctx *ctx;
	struct io_uring ring;
	struct slot slots[DEPTH];
	uint64_t seed;
	int issued, done, bad, failed;
	int err;
};

#define MAX_LEN		(256u << 10)

/* Low-entropy text: compresses to about half, unlike random bytes. */
static void make_src(uint8_t *p, uint64_t seed)
{
	uint64_t i;

	for (i = 0; i < SIZE; i++)
		p[i] = 'a' + tl_rnd(&seed) % 16;
}

static void read_done(struct qcow_req *req, int res)
{
	struct slot *s = req->priv;
	struct reader *r = s->r;

	if (res < 0)
		r->failed++;
	else if (memcmp(s->buf, ref + s->off, s->len))
		r->bad++;
	r->done++;
	s->busy = false;
}

static void arm_event(struct reader *r)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);

	if (!sqe) {
		io_uring_submit(&r->ring);
		sqe = io_uring_get_sqe(&r->ring);
	}
	if (sqe) {
		io_uring_prep_poll_add(sqe, qcow_ctx_event_fd(r->ctx), POLLIN);
		io_uring_sqe_set_data64(sqe, UD_EVENT);
	}
}

/* A whole cluster, a part of one, or a run over several. */
static void pick(struct reader *r, struct slot *s)
{
	uint64_t k = tl_rnd(&r->seed) % 3, c = tl_rnd(&r->seed) % (SIZE / CS);
	uint64_t in;

	if (k == 0) {
		s->off = c * CS;
		s->len = CS;
	} else if (k == 1) {
		in = (tl_rnd(&r->seed) % (CS / 512)) * 512;
		s->off = c * CS + in;
		s->len = 512 * (1 + tl_rnd(&r->seed) % ((CS - in) / 512));
	} else {
		s->off = (tl_rnd(&r->seed) % (SIZE / 512)) * 512;
		s->len = 512 * (1 + tl_rnd(&r->seed) % (MAX_LEN / 512));
		if (s->len > SIZE - s->off)
			s->len = SIZE - s->off;
	}
}

static void issue(struct reader *r)
{
	struct slot *s;
	int i, ret;

	for (i = 0; i < DEPTH && r->issued < READS; i++) {
		s = &r->slots[i];
		if (s->busy)
			continue;
		pick(r, s);
		s->busy = true;
		s->req.done = read_done;
		s->req.priv = s;
		s->req.flags = 0;
		r->issued++;
		ret = qcow_submit(r->ctx, r->img, &s->req, QCOW_OP_READ,
				  s->buf, s->off, s->len);
		if (ret < 0) {
			s->busy = false;
			r->failed++;
			r->done++;
		}
	}
}

static void reap(struct reader *r)
{
	struct io_uring_cqe *cqe;
	unsigned int head, n = 0;
	eventfd_t v;

	io_uring_submit_and_wait(&r->ring, 1);
	io_uring_for_each_cqe(&r->ring, head, cqe) {
		if (cqe->user_data == UD_EVENT) {
			eventfd_read(qcow_ctx_event_fd(r->ctx), &v);
			arm_event(r);
		} else {
			qcow_ctx_complete(r->ctx, cqe);
		}
		n++;
	}
	io_uring_cq_advance(&r->ring, n);
}

static void *run_reader(void *arg)
{
	struct reader *r = arg;

	r->err = io_uring_queue_init(2 * DEPTH + 8, &r->ring, 0);
	if (r->err < 0)
		return NULL;
	r->err = qcow_ctx_new(&r->ctx, &r->ring);
	if (r->err < 0) {
		io_uring_queue_exit(&r->ring);
		return NULL;
	}
	arm_event(r);
	while (r->done < READS) {
		issue(r);
		if (qcow_ctx_run_deferred(r->ctx) > 0)
			continue;	/* it may have ended them all */
		if (r->done >= READS)
			break;
		reap(r);
		qcow_ctx_run_deferred(r->ctx);
	}
	qcow_ctx_free(r->ctx);
	io_uring_queue_exit(&r->ring);
	return NULL;
}

static int alloc_bufs(struct reader *r)
{
	void *p;
	int i;

	for (i = 0; i < DEPTH; i++) {
		if (posix_memalign(&p, 4096, MAX_LEN))
			return -ENOMEM;
		r->slots[i].buf = p;
		r->slots[i].r = r;
	}
	return 0;
}

static void free_bufs(struct reader *r)
{
	int i;

	for (i = 0; i < DEPTH; i++)
		free(r->slots[i].buf);
}

static void check_counts(struct reader *rd, unsigned long contexts,
			 bool zstd)
{
	int i, bad = 0, failed = 0;

	for (i = 0; i < THREADS; i++) {
		if (rd[i].err < 0)
			return tl_fail("thread %d: ring or context: %d", i,
				       rd[i].err);
		bad += rd[i].bad;
		failed += rd[i].failed;
	}
	if (failed || bad)
		return tl_fail("%d reads failed, %d differ from qemu-img's "
			       "conversion", failed, bad);
	if (zstd && contexts <= THREADS)
		return tl_fail("%lu decompression contexts for %d reading "
			       "threads: the worker pool never decompressed",
			       contexts, THREADS);
	tl_pass();
}

static void concurrent(const char *type, const char *path)
{
	struct qcow_open_opts oo = { .read_only = true };
	struct reader rd[THREADS];
	pthread_t t[THREADS];
	unsigned long before;
	int i, started = 0;

	tl_begin("compress_concurrent/%s", type);
	memset(rd, 0, sizeof(rd));
	if (qcow_open(&rd[0].img, path, &oo) < 0)
		return tl_fail("open: %s", qcow_strerror());
	before = qcow_zstd_contexts();
	for (i = 0; i < THREADS; i++) {
		rd[i].img = rd[0].img;
		rd[i].seed = 1000 + i;
		if (alloc_bufs(&rd[i]) < 0)
			rd[i].err = -ENOMEM;
		else if (pthread_create(&t[i], NULL, run_reader, &rd[i]) == 0)
			started |= 1 << i;
		else
			rd[i].err = -EAGAIN;
	}
	for (i = 0; i < THREADS; i++)
		if (started & (1 << i))
			pthread_join(t[i], NULL);
	qcow_close(rd[0].img);
	check_counts(rd, qcow_zstd_contexts() - before,
		     !strcmp(type, "zstd"));
	for (i = 0; i < THREADS; i++)
		free_bufs(&rd[i]);
}

/* The image, qemu-img's raw conversion of it read into ref. */
static int make_image(const char *type, const char *raw, const char *img,
		      const char *back)
{
	size_t len = 0;

	free(ref);
	ref = NULL;
	if (tl_run("qemu-img convert -q -c -O qcow2 -o compression_type=%s "
		   "'%s' '%s' 2>/dev/null", type, raw, img))
		return -ENOTSUP;
	if (tl_run("qemu-img convert -q -O raw '%s' '%s'", img, back))
		return -EIO;
	/* a conversion that stored the clusters plainly tests nothing */
	if (tl_run("qemu-img check '%s' | grep -q ' [1-9][0-9.]*%% compressed'",
		   img))
		return -EINVAL;
	ref = tl_read_file(back, &len);
	return ref && len == SIZE ? 0 : -EIO;
}

int main(int argc, char **argv)
{
	static const char *const types[] = { "zlib", "zstd" };
	char raw[1024], img[1024], back[1024];
	uint8_t *src = malloc(SIZE);
	unsigned int i;
	int ret;

	tl_init(argc, argv);
	tl_path(raw, sizeof(raw), "src.raw");
	tl_path(img, sizeof(img), "c.qcow2");
	tl_path(back, sizeof(back), "back.raw");
	if (!tl_have_prog("qemu-img")) {
		tl_begin("compress_concurrent");
		tl_skip("no qemu-img");
		return tl_finish();
	}
	if (!src)
		return 1;
	make_src(src, 42);
	ret = tl_write_file(raw, src, SIZE);
	free(src);
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if (!ret)
			ret = make_image(types[i], raw, img, back);
		if (ret == -ENOTSUP && i > 0) {
			tl_begin("compress_concurrent/%s", types[i]);
			tl_skip("qemu-img has no compression_type=%s", types[i]);
			ret = 0;
			continue;
		}
		if (ret < 0) {
			tl_begin("compress_concurrent/%s/setup", types[i]);
			tl_fail("making the image: %d", ret);
			break;
		}
		concurrent(types[i], img);
	}
	free(ref);
	return tl_finish();
}
