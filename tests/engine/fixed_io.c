// SPDX-License-Identifier: MIT
/*
 * Requests whose data lives in an io_uring fixed buffer (qcow_submit_fixed,
 * the ublk zero-copy path).  The host stand-in for a ublk request buffer is
 * a memfd mapped MAP_SHARED and registered as fixed buffer 0; the same
 * memfd is the copy descriptor, so READ_FIXED/WRITE_FIXED and the engine's
 * pread/pwrite copies reach the same bytes.
 *
 * read/KIND: images with every kind of cluster (data, zero, unallocated
 * over a backing file shorter than the image, compressed, extended L2
 * subclusters, version 2, raw, raw with a partial last sector, legacy
 * qcow) are read whole, in concurrent chunks and in random ranges into
 * the fixed buffer.  The bytes must equal a byte model and qcow_pread(),
 * and the buffer outside each request must stay untouched.
 * write/KIND: fixed writes and reads in flight together, mixed with
 * normal-path writes, write-zeroes and compressed writes, against a byte
 * model, before and after a reopen; the source bytes must not change;
 * then qcow_check finds no corruption and no leak (qcow2; legacy qcow,
 * which has no check, is written too and compared with qemu-img's read).
 * Legacy qcow encrypted with AES (qcow1-aes*, its passphrase KEY) too:
 * every write goes through a copy that the crypto pool encrypts, whose
 * completions come back through the context's eventfd, polled on the
 * ring.
 * KIND/qemu-img: the model against qemu-img convert (and check).
 * Kinds named -direct open the image with O_DIRECT (built without).
 * refuse/...: what qcow_submit_fixed() must refuse, and how.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>
#include <liburing.h>
#include "qcow.h"
#include "testlib.h"
#include "tl_ring.h"
#include "model.h"

/* the fixed buffer: a whole image at [0, WHOLE_AREA), then the slots */
#define FIX_SIZE	(8u << 20)
#define WHOLE_AREA	(5u << 20)
#define NR_SLOTS	12
#define SLOT_SIZE	(256u << 10)
#define SLOT_PAD	4096u
#define NR_CHUNKS	32
#define CHUNK		200003u

/* qcow2 images: the last cluster is partial; backing files are shorter */
#define QSIZE		((4u << 20) + 3584)
#define BSIZE		((5u << 19) + 1536)
#define BRAW_LEN	(BSIZE - 836)	/* raw backing: partial sector */
#define RAW_SIZE	(4u << 20)
#define RAW_ODD		((4u << 20) + 1000)
#define MAX_LEN		(192u << 10)	/* fits a slot */
#define NR_RANDOM	480
#define WRITE_ROUNDS	40
#define STUCK_ROUNDS	100		/* 200 ms each */

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

struct env;

struct slot {
	struct qcow_req req;
	struct env *e;
	enum qcow_op op;
	uint64_t off;
	uint64_t len;
	uint64_t boff;		/* from the start of the fixed buffer */
	int res;
	int calls;
	uint8_t poison;
};

struct env {
	struct io_uring ring;
	struct qcow_ctx *ctx;
	struct qcow_fixed fx;
	uint8_t *base;
	uint8_t *scratch;
	int memfd;
	int outstanding;
	bool have_memfd;
	bool have_ring;
	struct slot sl[NR_CHUNKS];
};

enum { NO_BACKING, QCOW2_BACKING, RAW_BACKING };

struct model {
	char path[1024];
	char bpath[1100];
	struct tl_model exp;	/* its size: the image's */
	uint32_t cs;
	enum qcow_format fmt;
	const char *qfmt;	/* qemu's name of the format */
	bool read_only;
	bool direct;
	bool encrypted;		/* legacy AES with KEY */
	uint64_t seed;
};

struct kind {
	const char *name;
	int (*build)(const struct kind *k, struct model *m, char *why,
		     size_t n);
	int (*fill)(const struct kind *k, struct qcow_image *img,
		    struct model *m);
	uint32_t cs;
	int compat;
	bool extl2;
	int ctype;
	int backing;		/* NO_BACKING, QCOW2_BACKING, RAW_BACKING */
	bool compressed;	/* qcow_check must count compressed clusters */
	bool direct;		/* the case opens with O_DIRECT */
	bool encrypted;		/* legacy qcow AES (KEY) */
};

#define KEY		"fixed-io-pass"
#define EVENT_TAG	(QCOW_USER_DATA_FOREIGN | 1)
#define SECRET		"--object secret,id=s0,data=" KEY

/* one case: its ring, its image and what it should read */
struct tcase {
	struct env e;
	struct model m;
	struct qcow_image *img;
	char why[1024];
};

static unsigned long long ull(uint64_t v)
{
	return v;
}

/* ---- data ---- */

/* compressible, and still different at every offset of a cluster */
static void fill_comp(uint8_t *buf, uint64_t len, uint64_t seed)
{
	uint64_t i;

	for (i = 0; i < len; i++)
		buf[i] = (uint8_t)((i % 251) * 13 + seed * 29 + i / 1024);
}

/*
 * A random range of up to three clusters (MAX_LEN): 512-aligned, anywhere,
 * across a cluster boundary, or up to the end.
 */
static void pick_range(uint64_t *seed, uint64_t size, uint32_t cs,
		       uint64_t *off, uint64_t *len, bool *aligned)
{
	uint64_t max = 3ULL * cs > MAX_LEN ? MAX_LEN : 3ULL * cs, b, o, l;
	unsigned int mode = tl_rnd(seed) % 4;

	*aligned = mode == 0;
	switch (mode) {
	case 0:
		l = (1 + tl_rnd(seed) % (max / 512)) * 512;
		o = tl_rnd(seed) % (size / 512) * 512;
		break;
	case 1:
		l = 1 + tl_rnd(seed) % max;
		o = tl_rnd(seed) % size;
		break;
	case 2:
		b = (1 + tl_rnd(seed) % ((size - 1) / cs)) * cs;
		o = b - 1 - tl_rnd(seed) % cs;
		l = b - o + 1 + tl_rnd(seed) % cs;
		break;
	default:
		l = 1 + tl_rnd(seed) % max;
		o = size > l ? size - l : 0;
		break;
	}
	if (o >= size)
		o = size - 1;
	if (l > size - o)
		l = size - o;
	*off = o;
	*len = l;
}

/* ---- the ring and the fixed buffer ---- */

static void env_free(struct env *e);
static int drain(struct env *e, bool idle_too);
static void arm_event(struct env *e);

/* 0, 1 (skip: something the host lacks) or -1; the reason in why */
static int env_init(struct env *e, char *why, size_t n)
{
	struct iovec iov;
	int ret;

	memset(e, 0, sizeof(*e));
	e->memfd = memfd_create("fixed_io", MFD_CLOEXEC);
	if (e->memfd < 0) {
		snprintf(why, n, "memfd_create: %s", strerror(errno));
		return 1;
	}
	e->have_memfd = true;
	if (ftruncate(e->memfd, FIX_SIZE) < 0) {
		snprintf(why, n, "ftruncate memfd: %s", strerror(errno));
		return -1;
	}
	e->base = mmap(NULL, FIX_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		       e->memfd, 0);
	if (e->base == MAP_FAILED) {
		e->base = NULL;
		snprintf(why, n, "mmap memfd: %s", strerror(errno));
		return -1;
	}
	ret = io_uring_queue_init(256, &e->ring, 0);
	if (ret < 0) {
		snprintf(why, n, "io_uring is not available: %s",
			 strerror(-ret));
		return 1;
	}
	e->have_ring = true;
	iov.iov_base = e->base;
	iov.iov_len = FIX_SIZE;
	ret = io_uring_register_buffers(&e->ring, &iov, 1);
	if (ret < 0) {
		snprintf(why, n, "io_uring_register_buffers of a memfd "
			 "mapping: %s", strerror(-ret));
		return 1;
	}
	ret = qcow_ctx_new(&e->ctx, &e->ring);
	if (ret < 0) {
		e->ctx = NULL;
		snprintf(why, n, "qcow_ctx_new: %d", ret);
		return -1;
	}
	arm_event(e);
	e->scratch = malloc(NR_SLOTS * SLOT_SIZE);
	e->fx.index = 0;
	e->fx.addr0 = (uint64_t)(uintptr_t)e->base;
	e->fx.copy_fd = e->memfd;
	e->fx.copy_off = 0;
	return e->scratch ? 0 : -1;
}

static void env_free(struct env *e)
{
	if (e->ctx) {
		if (drain(e, true) < 0)
			fprintf(stderr, "    context still busy at the end\n");
		qcow_ctx_free(e->ctx);
	}
	if (e->have_ring)
		io_uring_queue_exit(&e->ring);
	if (e->base)
		munmap(e->base, FIX_SIZE);
	if (e->have_memfd)
		close(e->memfd);
	free(e->scratch);
	memset(e, 0, sizeof(*e));
}

static uint64_t fix_addr(const struct env *e, uint64_t boff)
{
	return (uint64_t)(uintptr_t)(e->base + boff);
}

/* The context's eventfd (the crypto pool's completions), polled once. */
static void arm_event(struct env *e)
{
	struct io_uring_sqe *sqe = tl_get_sqe(&e->ring);

	io_uring_prep_poll_add(sqe, qcow_ctx_event_fd(e->ctx), POLLIN);
	io_uring_sqe_set_data64(sqe, EVENT_TAG);
}

/* Runs deferred work and completions; how many things happened. */
static int reap(struct env *e, bool wait)
{
	struct __kernel_timespec ts = { .tv_sec = 0, .tv_nsec = 200000000 };
	struct io_uring_cqe *cqe;
	unsigned int head, n = 0;
	bool rearm = false;
	eventfd_t v;
	int ran;

	ran = qcow_ctx_run_deferred(e->ctx);
	if (wait && !ran)
		io_uring_submit_and_wait_timeout(&e->ring, &cqe, 1, &ts, NULL);
	else
		io_uring_submit(&e->ring);
	io_uring_for_each_cqe(&e->ring, head, cqe) {
		if (cqe->user_data == EVENT_TAG)
			rearm = true;
		else if (!(cqe->user_data & QCOW_USER_DATA_FOREIGN))
			qcow_ctx_complete(e->ctx, cqe);
		n++;
	}
	io_uring_cq_advance(&e->ring, n);
	if (rearm) {
		eventfd_read(qcow_ctx_event_fd(e->ctx), &v);
		arm_event(e);
	}
	return ran + (int)n + qcow_ctx_run_deferred(e->ctx);
}

/* Until our requests (and, idle_too, all the engine's work) are done. */
static int drain(struct env *e, bool idle_too)
{
	int quiet = 0;

	while (e->outstanding > 0 ||
	       (idle_too && qcow_ctx_inflight(e->ctx))) {
		if (reap(e, true) > 0)
			quiet = 0;
		else if (++quiet > STUCK_ROUNDS)
			return -ETIMEDOUT;
	}
	return e->outstanding < 0 ? -EPROTO : 0;
}

static void slot_done(struct qcow_req *req, int res)
{
	struct slot *s = req->priv;

	s->res = res;
	s->calls++;
	s->e->outstanding--;
}

static void slot_prep(struct env *e, struct slot *s)
{
	memset(&s->req, 0, sizeof(s->req));
	s->req.done = slot_done;
	s->req.priv = s;
	s->e = e;
	s->res = 1;
	s->calls = 0;
	e->outstanding++;
}

static int slot_submit(struct env *e, struct qcow_image *img, struct slot *s)
{
	int ret;

	slot_prep(e, s);
	ret = qcow_submit_fixed(e->ctx, img, &s->req, s->op, &e->fx,
				fix_addr(e, s->boff), s->off, s->len);
	if (ret < 0 && !s->calls)
		e->outstanding--;
	return ret;
}

static const char *op_name(enum qcow_op op)
{
	return op == QCOW_OP_READ ? "READ" : op == QCOW_OP_WRITE ? "WRITE" :
	       "op";
}

/* The request completed once, without error. */
static bool slot_ok(const struct slot *s, char *why, size_t n)
{
	if (s->calls == 1 && !s->res)
		return true;
	snprintf(why, n, "fixed %s %llu+%llu (buffer +%llu): done() ran %d "
		 "times, result %d", op_name(s->op), ull(s->off), ull(s->len),
		 ull(s->boff), s->calls, s->res);
	return false;
}

/* ---- comparisons ---- */

static bool differs(const uint8_t *got, const uint8_t *want, uint64_t len,
		    uint64_t img_off, const char *what, char *why, size_t n)
{
	uint64_t i, first = len, last = 0, cnt = 0;

	if (!memcmp(got, want, len))
		return false;
	for (i = 0; i < len; i++) {
		if (got[i] == want[i])
			continue;
		if (first == len)
			first = i;
		last = i;
		cnt++;
	}
	snprintf(why, n, "%s: %llu of %llu bytes differ, image offsets "
		 "%llu..%llu; first: got 0x%02x, want 0x%02x", what, ull(cnt),
		 ull(len), ull(img_off + first), ull(img_off + last),
		 got[first], want[first]);
	return true;
}

/* Bytes [from, to) of the buffer, which the request must not touch. */
static bool guard_bad(const struct env *e, uint64_t from, uint64_t to,
		      uint8_t poison, const char *what, char *why, size_t n)
{
	uint64_t i;

	for (i = from; i < to; i++) {
		if (e->base[i] == poison)
			continue;
		snprintf(why, n, "%s: buffer byte +%llu, outside the request, "
			 "changed (0x%02x, was 0x%02x)", what, ull(i),
			 e->base[i], poison);
		return true;
	}
	return false;
}

/* A finished fixed read into the buffer, against want. */
static bool read_bad(const struct env *e, const struct slot *s,
		     const uint8_t *want, uint64_t lo, uint64_t hi,
		     const char *what, char *why, size_t n)
{
	char w[160];

	snprintf(w, sizeof(w), "%s %llu+%llu (buffer +%llu)", what,
		 ull(s->off), ull(s->len), ull(s->boff));
	if (!slot_ok(s, why, n))
		return true;
	if (differs(e->base + s->boff, want + s->off, s->len, s->off, w, why,
		    n))
		return true;
	if (guard_bad(e, lo, s->boff, s->poison, w, why, n))
		return true;
	return guard_bad(e, s->boff + s->len, hi, s->poison, w, why, n);
}

/* ---- building images through the normal path ---- */

/* (O_DIRECT images take writes from page-aligned memory only) */
static int put(struct qcow_image *img, struct model *m, uint64_t off,
	       uint64_t len)
{
	void *mem = NULL;
	uint8_t *buf;
	int ret;

	if (posix_memalign(&mem, 4096, len))
		return -ENOMEM;
	buf = mem;
	tl_fill_rand(buf, len, tl_rnd(&m->seed));
	ret = qcow_pwrite(img, buf, len, off);
	if (!ret)
		tl_model_put(&m->exp, off, buf, len);
	free(buf);
	return ret;
}

static int zero(struct qcow_image *img, struct model *m, uint64_t off,
		uint64_t len, unsigned int flags)
{
	int ret = qcow_pwrite_zeroes(img, len, off, flags);

	if (!ret)
		tl_model_set(&m->exp, off, 0, len);
	return ret;
}

/* A compressed write of cluster c: 1 if refused (allocated). */
static int compress(struct qcow_image *img, struct model *m, uint64_t c)
{
	void *mem = NULL;
	uint8_t *buf;
	int ret;

	if (posix_memalign(&mem, 4096, m->cs))
		return -ENOMEM;
	buf = mem;
	fill_comp(buf, m->cs, tl_rnd(&m->seed));
	ret = qcow_pwrite_compressed(img, buf, m->cs, c * m->cs);
	if (!ret)
		tl_model_put(&m->exp, c * m->cs, buf, m->cs);
	free(buf);
	return ret < 0 ? 1 : 0;
}

static int scatter(struct qcow_image *img, struct model *m, int count)
{
	uint64_t off, len;
	bool aligned;
	int i, ret = 0;

	for (i = 0; i < count && !ret; i++) {
		pick_range(&m->seed, m->exp.size, m->cs, &off, &len, &aligned);
		ret = put(img, m, off, len);
	}
	return ret;
}

static int zero_some(struct qcow_image *img, struct model *m, int count)
{
	uint64_t off, len;
	bool aligned;
	int i, ret = 0;

	for (i = 0; i < count && !ret; i++) {
		if (tl_rnd(&m->seed) % 2) {
			pick_range(&m->seed, m->exp.size, m->cs, &off, &len,
				   &aligned);
		} else {
			off = tl_rnd(&m->seed) % (m->exp.size / m->cs) * m->cs;
			len = (1 + tl_rnd(&m->seed) % 3) * m->cs;
			if (len > m->exp.size - off)
				len = m->exp.size - off;
		}
		ret = zero(img, m, off, len,
			   tl_rnd(&m->seed) % 2 ? QCOW_REQ_UNMAP : 0);
	}
	return ret;
}

static int fill_data(const struct kind *k, struct qcow_image *img,
		     struct model *m)
{
	int ret = scatter(img, m, 40);

	return ret ? ret : zero_some(img, m, 6);
}

static int fill_zero(const struct kind *k, struct qcow_image *img,
		     struct model *m)
{
	int ret;

	if (k->backing)
		ret = scatter(img, m, 20);
	else
		ret = put(img, m, 0, m->exp.size);
	return ret ? ret : zero_some(img, m, 30);
}

static int fill_compressed(const struct kind *k, struct qcow_image *img,
			   struct model *m)
{
	uint64_t c;
	int ret = 0;

	for (c = 0; c < m->exp.size / m->cs && ret >= 0; c++)
		if (tl_rnd(&m->seed) % 2)
			ret = compress(img, m, c) ? -EIO : 0;
	if (!ret)
		ret = scatter(img, m, 10);
	return ret ? ret : zero_some(img, m, 10);
}

/* Extended L2: runs of subclusters, some partial, some zeroed. */
static int fill_subclusters(const struct kind *k, struct qcow_image *img,
			    struct model *m)
{
	uint64_t sc = m->cs / 32, off, len;
	int i, ret = 0;

	for (i = 0; i < 60 && !ret; i++) {
		off = tl_rnd(&m->seed) % (m->exp.size / sc) * sc;
		len = (1 + tl_rnd(&m->seed) % 5) * sc;
		if (i % 3 == 2) {
			off += tl_rnd(&m->seed) % sc;
			len -= tl_rnd(&m->seed) % sc;
		}
		if (len > m->exp.size - off)
			len = m->exp.size - off;
		if (i % 4 == 3)
			ret = zero(img, m, off, len,
				   i % 8 == 7 ? QCOW_REQ_UNMAP : 0);
		else
			ret = put(img, m, off, len);
	}
	return ret;
}

/* A backing file shorter than the image, with data at every offset. */
static int make_backing(struct model *m, bool raw)
{
	struct qcow_create_opts co = {
		.format = QCOW_FMT_QCOW2, .size = BSIZE, .cluster_size = 65536,
	};
	struct qcow_open_opts oo = { .format = QCOW_FMT_QCOW2 };
	struct qcow_image *b;
	int ret;

	tl_fill_rand(m->exp.bytes, BSIZE, tl_rnd(&m->seed));
	if (raw) {
		tl_model_set(&m->exp, BRAW_LEN, 0, BSIZE - BRAW_LEN);
		return tl_write_file(m->bpath, m->exp.bytes, BRAW_LEN);
	}
	ret = qcow_create(m->bpath, &co);
	if (!ret)
		ret = qcow_open(&b, m->bpath, &oo);
	if (ret)
		return ret;
	ret = qcow_pwrite(b, m->exp.bytes, BSIZE, 0);
	qcow_close(b);
	return ret;
}

static int open_model(struct model *m, struct qcow_image **img)
{
	struct qcow_open_opts oo = {
		.format = m->fmt, .read_only = m->read_only,
		.direct = m->direct,
	};

	if (m->encrypted) {
		oo.key = KEY;
		oo.key_len = strlen(KEY);
	}
	return qcow_open(img, m->path, &oo);
}

/* qcow_check of the closed image: clean, and compressed if it must be. */
static int check_image(struct model *m, bool compressed, char *why,
		       size_t n)
{
	struct qcow_open_opts oo = { .format = m->fmt, .read_only = true };
	struct qcow_check_result res;
	struct qcow_image *img;
	int ret;

	ret = qcow_open(&img, m->path, &oo);
	if (ret < 0) {
		snprintf(why, n, "open for check: %s", qcow_strerror());
		return -1;
	}
	ret = qcow_check(img, &res, NULL, NULL);
	qcow_close(img);
	if (ret < 0 || res.corruptions || res.leaks || res.check_errors) {
		snprintf(why, n, "qcow_check: %d, %llu corruptions, %llu "
			 "leaks, %llu errors", ret, ull(res.corruptions),
			 ull(res.leaks), ull(res.check_errors));
		return -1;
	}
	if (compressed && !res.compressed_clusters) {
		snprintf(why, n, "setup: no cluster was stored compressed");
		return -1;
	}
	return 0;
}

static int build_qcow2(const struct kind *k, struct model *m, char *why,
		       size_t n)
{
	struct qcow_create_opts co = {
		.format = QCOW_FMT_QCOW2, .size = QSIZE,
		.cluster_size = k->cs, .compat = k->compat,
		.extended_l2 = k->extl2, .compression_type = k->ctype,
	};
	struct qcow_image *img;
	int ret;

	m->exp.size = QSIZE;
	m->cs = k->cs;
	m->fmt = QCOW_FMT_QCOW2;
	m->qfmt = "qcow2";
	if (k->backing) {
		ret = make_backing(m, k->backing == RAW_BACKING);
		if (ret < 0) {
			snprintf(why, n, "backing file: %d", ret);
			return -1;
		}
		co.backing_file = m->bpath;
		co.backing_format = k->backing == RAW_BACKING ? "raw" :
				    "qcow2";
	}
	if (qcow_create(m->path, &co) < 0 || open_model(m, &img) < 0) {
		snprintf(why, n, "create: %s", qcow_strerror());
		return -1;
	}
	ret = k->fill ? k->fill(k, img, m) : 0;
	if (!ret)
		ret = qcow_flush(img);
	qcow_close(img);
	if (ret < 0) {
		snprintf(why, n, "setup (normal path) failed: %d", ret);
		return -1;
	}
	return check_image(m, k->compressed, why, n);
}

static int build_raw(const struct kind *k, struct model *m, char *why,
		     size_t n)
{
	struct qcow_create_opts co = {
		.format = QCOW_FMT_RAW, .size = RAW_SIZE,
	};
	struct qcow_image *img;
	int ret;

	m->exp.size = RAW_SIZE;
	m->cs = 65536;
	m->fmt = QCOW_FMT_RAW;
	m->qfmt = "raw";
	if (qcow_create(m->path, &co) < 0 || open_model(m, &img) < 0) {
		snprintf(why, n, "create: %s", qcow_strerror());
		return -1;
	}
	ret = scatter(img, m, 30);
	qcow_close(img);
	if (ret < 0)
		snprintf(why, n, "setup (normal path) failed: %d", ret);
	return ret < 0 ? -1 : 0;
}

/* A raw file of RAW_ODD bytes: the image's last sector is partial. */
static int build_raw_odd(const struct kind *k, struct model *m, char *why,
			 size_t n)
{
	int ret;

	m->exp.size = (RAW_ODD + 511) / 512 * 512;
	m->cs = 65536;
	m->fmt = QCOW_FMT_RAW;
	m->qfmt = "raw";
	tl_fill_rand(m->exp.bytes, RAW_ODD, tl_rnd(&m->seed));
	ret = tl_write_file(m->path, m->exp.bytes, RAW_ODD);
	if (ret < 0)
		snprintf(why, n, "writing %s: %s", m->path, strerror(-ret));
	return ret < 0 ? -1 : 0;
}

/* qemu-io commands: pattern writes anywhere, as the model gets them. */
static size_t qcow1_writes(struct model *m, char *cmd, size_t size,
			   size_t used, int count)
{
	uint64_t off, len;
	bool aligned;
	int i;

	for (i = 0; i < count && used < size; i++) {
		uint8_t pat = (uint8_t)(1 + i * 10);

		pick_range(&m->seed, m->exp.size, m->cs, &off, &len, &aligned);
		tl_model_set(&m->exp, off, pat, len);
		used += (size_t)snprintf(cmd + used, size - used,
					 " -c 'write -q -P %u %llu %llu'", pat,
					 ull(off), ull(len));
	}
	return used;
}

/*
 * qemu-io commands: compressed writes of distinct clusters from files
 * p0..p3 of compressible data in the scratch directory.
 */
static size_t qcow1_compressed(struct model *m, char *cmd, size_t size,
			       size_t used)
{
	uint8_t pat[4][4096];
	char name[1100];
	uint64_t c;
	int i;

	for (i = 0; i < 4; i++) {
		fill_comp(pat[i], sizeof(pat[i]), 100 + i);
		snprintf(name, sizeof(name), "%s/p%d", tl_tmpdir(), i);
		if (tl_write_file(name, pat[i], sizeof(pat[i])) < 0)
			return size;
	}
	for (i = 0; i < 40 && used < size; i++) {
		c = (uint64_t)i * 25 + tl_rnd(&m->seed) % 20;
		tl_model_put(&m->exp, c * 4096, pat[i % 4], 4096);
		used += (size_t)snprintf(cmd + used, size - used,
					 " -c 'write -q -c -s p%d %llu 4096'",
					 i % 4, ull(c * 4096));
	}
	return used;
}

/* Legacy qcow, made by qemu: written with qemu-io, compressed or not. */
static int build_qcow1(const struct kind *k, struct model *m, char *why,
		       size_t n)
{
	char cmd[3072];
	size_t used;
	int ret;

	m->exp.size = QSIZE;
	m->cs = 4096;
	m->fmt = QCOW_FMT_QCOW;
	m->qfmt = "qcow";
	m->read_only = true;
	m->encrypted = k->encrypted;
	if (!tl_have_prog("qemu-img") || !tl_have_prog("qemu-io")) {
		snprintf(why, n, "qemu-img/qemu-io are not installed: no way "
			 "to make a legacy qcow image");
		return 1;
	}
	ret = tl_run("qemu-img create -q -f qcow %s '%s' %llu >&2",
		     m->encrypted ? SECRET " -o encrypt.format=aes,"
		     "encrypt.key-secret=s0" : "", m->path, ull(m->exp.size));
	if (ret) {
		snprintf(why, n, "qemu-img create -f qcow: exit %d", ret);
		return 1;
	}
	used = (size_t)snprintf(cmd, sizeof(cmd), "qemu-io %s",
				m->encrypted ? SECRET " --image-opts" :
				"-f qcow");
	if (k->compressed)
		used = qcow1_compressed(m, cmd, sizeof(cmd), used);
	used = qcow1_writes(m, cmd, sizeof(cmd), used,
			    k->compressed ? 6 : 24);
	if (used >= sizeof(cmd)) {
		snprintf(why, n, "qemu-io command too long");
		return -1;
	}
	ret = tl_run("cd '%s' && %s '%s%s%s' >&2", tl_tmpdir(), cmd,
		     m->encrypted ? "driver=qcow,file.filename=" : "", m->path,
		     m->encrypted ? ",encrypt.key-secret=s0" : "");
	if (ret)
		snprintf(why, n, "qemu-io writes on legacy qcow: exit %d",
			 ret);
	return ret ? 1 : 0;
}

/* The same, to be written (legacy qcow is written since issue #17). */
static int build_qcow1_rw(const struct kind *k, struct model *m, char *why,
			  size_t n)
{
	int ret = build_qcow1(k, m, why, n);

	m->read_only = false;
	return ret;
}

/* ---- reads ---- */

/* One fixed read of the whole image at buffer offset boff. */
static bool read_whole(struct tcase *t, uint64_t boff, uint8_t poison,
		       const char *what)
{
	struct env *e = &t->e;
	struct slot *s = &e->sl[0];
	int ret;

	memset(e->base, poison, WHOLE_AREA);
	s->op = QCOW_OP_READ;
	s->off = 0;
	s->len = t->m.exp.size;
	s->boff = boff;
	s->poison = poison;
	ret = slot_submit(e, t->img, s);
	if (!ret)
		ret = drain(e, false);
	if (ret < 0) {
		snprintf(t->why, sizeof(t->why), "%s: %d", what, ret);
		return false;
	}
	return !read_bad(e, s, t->m.exp.bytes, 0, WHOLE_AREA, what, t->why,
			 sizeof(t->why));
}

/* The whole image in CHUNK pieces, all in flight at once. */
static bool read_chunks(struct tcase *t)
{
	struct env *e = &t->e;
	uint64_t size = t->m.exp.size, off;
	int i, nr = 0, ret = 0;

	memset(e->base, 0xc3, WHOLE_AREA);
	for (off = 0; off < size && nr < NR_CHUNKS && !ret; off += CHUNK) {
		struct slot *s = &e->sl[nr++];

		s->op = QCOW_OP_READ;
		s->off = off;
		s->len = size - off < CHUNK ? size - off : CHUNK;
		s->boff = off;
		s->poison = 0xc3;
		ret = slot_submit(e, t->img, s);
	}
	if (!ret)
		ret = drain(e, false);
	if (ret < 0) {
		drain(e, false);
		snprintf(t->why, sizeof(t->why), "chunked read: %d", ret);
		return false;
	}
	for (i = 0; i < nr; i++)
		if (!slot_ok(&e->sl[i], t->why, sizeof(t->why)))
			return false;
	if (differs(e->base, t->m.exp.bytes, size, 0, "chunked read", t->why,
		    sizeof(t->why)))
		return false;
	return !guard_bad(e, size, WHOLE_AREA, 0xc3, "chunked read", t->why,
			  sizeof(t->why));
}

static uint64_t slot_start(int k)
{
	return WHOLE_AREA + (uint64_t)k * SLOT_SIZE;
}

/* Where in slot k the data goes: page aligned or anywhere. */
static uint64_t slot_boff(int k, bool aligned, uint64_t *seed)
{
	if (aligned || tl_rnd(seed) % 4 == 0)	/* SLOT_PAD: a page */
		return slot_start(k) + SLOT_PAD;
	return slot_start(k) + 1 + tl_rnd(seed) % (SLOT_PAD - 1);
}

static void prep_read(struct env *e, int k, struct slot *s, uint8_t poison)
{
	s->op = QCOW_OP_READ;
	s->poison = poison;
	memset(e->base + slot_start(k), poison, SLOT_SIZE);
}

/* One batch of NR_SLOTS random reads in flight together. */
static bool read_batch(struct tcase *t, uint64_t *seed, int batch)
{
	struct env *e = &t->e;
	bool aligned;
	int k, ret = 0, nr = 0;

	for (k = 0; k < NR_SLOTS && !ret; k++, nr++) {
		struct slot *s = &e->sl[k];

		pick_range(seed, t->m.exp.size, t->m.cs, &s->off, &s->len,
			   &aligned);
		s->boff = slot_boff(k, aligned, seed);
		prep_read(e, k, s, (uint8_t)(0x5a + 37 * (batch + k)));
		ret = slot_submit(e, t->img, s);
	}
	if (!ret)
		ret = drain(e, false);
	if (ret < 0) {
		drain(e, false);
		snprintf(t->why, sizeof(t->why), "random read batch %d: %d",
			 batch, ret);
		return false;
	}
	for (k = 0; k < nr; k++)
		if (read_bad(e, &e->sl[k], t->m.exp.bytes, slot_start(k),
			     slot_start(k) + SLOT_SIZE, "random read", t->why,
			     sizeof(t->why)))
			return false;
	return true;
}

/* The normal path must agree with the model before anything else. */
static bool normal_matches(struct tcase *t, const char *when)
{
	uint8_t *ref = malloc(t->m.exp.size);
	char what[96];
	int ret;

	if (!ref)
		return false;
	ret = qcow_pread(t->img, ref, t->m.exp.size, 0);
	snprintf(what, sizeof(what), "qcow_pread (normal path) %s", when);
	if (ret < 0)
		snprintf(t->why, sizeof(t->why), "%s: %d", what, ret);
	else if (!differs(ref, t->m.exp.bytes, t->m.exp.size, 0, what, t->why,
			  sizeof(t->why)))
		ret = 1;
	free(ref);
	return ret == 1;
}

static bool read_all_ways(struct tcase *t, uint64_t seed)
{
	int b;

	if (qcow_size(t->img) != t->m.exp.size) {
		snprintf(t->why, sizeof(t->why), "size %llu, expected %llu",
			 ull(qcow_size(t->img)), ull(t->m.exp.size));
		return false;
	}
	if (!normal_matches(t, "after setup"))
		return false;
	if (!read_whole(t, 0, 0xa5, "whole-image read") ||
	    !read_whole(t, 777, 0x5a, "whole-image read at buffer +777") ||
	    !read_chunks(t))
		return false;
	for (b = 0; b < NR_RANDOM / NR_SLOTS; b++)
		if (!read_batch(t, &seed, b))
			return false;
	return true;
}

/* ---- case scaffolding ---- */

/* 0 ready, else the case was reported (skip or fail). */
static int case_setup(struct tcase *t, const struct kind *k, uint64_t seed,
		      const char *dir)
{
	int ret;

	memset(t, 0, sizeof(*t));
	t->m.seed = seed;
	snprintf(t->m.path, sizeof(t->m.path), "%s/%s-%s.img", tl_tmpdir(),
		 dir, k->name);
	snprintf(t->m.bpath, sizeof(t->m.bpath), "%s.base", t->m.path);
	/* room for every kind; its build sets the size */
	tl_model_init(&t->m.exp, QSIZE + 65536, 0);
	ret = env_init(&t->e, t->why, sizeof(t->why));
	if (!ret && !t->m.exp.bytes)
		ret = -1;
	if (!ret)
		ret = k->build(k, &t->m, t->why, sizeof(t->why));
	if (ret > 0) {
		tl_skip("%s", t->why);
		return -1;
	}
	if (ret < 0) {
		tl_fail("setup: %s", t->why);
		return -1;
	}
	/* built through the normal path; the case itself may use O_DIRECT */
	t->m.direct = k->direct;
	if (open_model(&t->m, &t->img) < 0) {
		tl_fail("open: %s", qcow_strerror());
		return -1;
	}
	return 0;
}

/* Everything in flight ends before the image closes. */
static void case_close(struct tcase *t)
{
	if (t->e.ctx && drain(&t->e, true) < 0)
		fprintf(stderr, "    requests never completed\n");
	if (t->img)
		qcow_close(t->img);
	t->img = NULL;
}

static void case_free(struct tcase *t)
{
	case_close(t);
	env_free(&t->e);
	tl_model_free(&t->m.exp);
}

/* The file qemu-img convert made, against the model. */
static bool conv_bad(const struct model *m, const char *conv, char *why,
		     size_t n)
{
	uint8_t *got;
	size_t len = 0, i, common;
	bool bad;

	got = tl_read_file(conv, &len);
	if (!got) {
		snprintf(why, n, "cannot read %.200s", conv);
		return true;
	}
	common = len < m->exp.size ? len : m->exp.size;
	bad = differs(got, m->exp.bytes, common, 0, "qemu-img convert", why, n);
	for (i = common; !bad && i < len; i++) {
		bad = got[i] != 0;
		if (bad)
			snprintf(why, n, "qemu-img convert: byte %zu past "
				 "the size is 0x%02x", i, got[i]);
	}
	if (!bad && (len + 512 <= m->exp.size || len >= m->exp.size + 512)) {
		bad = true;
		snprintf(why, n, "qemu-img convert: %zu bytes, expected %llu",
			 len, ull(m->exp.size));
	}
	free(got);
	return bad;
}

/* The model against what qemu-img reads (and, for qcow2, its check). */
static void qemu_case(const char *what, const char *name,
		      const struct model *m)
{
	char conv[1200], why[512];
	int ret;

	tl_begin("fixed_io/%s/%s/qemu-img", what, name);
	if (!tl_have_prog("qemu-img"))
		return tl_skip("qemu-img is not installed");
	if (m->fmt == QCOW_FMT_QCOW2 &&
	    (ret = tl_run("qemu-img check -q '%s' >&2", m->path)))
		return tl_fail("qemu-img check exit %d", ret);
	snprintf(conv, sizeof(conv), "%s.conv", m->path);
	if (m->encrypted)
		ret = tl_run("qemu-img convert " SECRET " --image-opts "
			     "'driver=qcow,file.filename=%s,encrypt.key-secret="
			     "s0' -O raw '%s' >&2", m->path, conv);
	else
		ret = tl_run("qemu-img convert -f %s -O raw '%s' '%s' >&2",
			     m->qfmt, m->path, conv);
	if (ret)
		return tl_fail("qemu-img convert exit %d", ret);
	if (conv_bad(m, conv, why, sizeof(why)))
		tl_fail("%s", why);
	else
		tl_pass();
	unlink(conv);
}

static void read_kind(const struct kind *k, uint64_t seed)
{
	static struct tcase t;

	tl_begin("fixed_io/read/%s", k->name);
	if (case_setup(&t, k, seed, "read")) {
		case_free(&t);
		return;
	}
	if (read_all_ways(&t, seed * 7 + 1)) {
		case_close(&t);
		tl_pass();
	} else {
		tl_fail("%s", t.why);
	}
	case_close(&t);
	env_free(&t.e);
	qemu_case("read", k->name, &t.m);
	case_free(&t);
}

/* ---- writes ---- */

static bool overlaps(const struct env *e, int nr, uint64_t off,
		     uint64_t len)
{
	int i;

	for (i = 0; i < nr; i++)
		if (off < e->sl[i].off + e->sl[i].len &&
		    e->sl[i].off < off + len)
			return true;
	return false;
}

/*
 * With O_DIRECT, writes are whole 4 KiB blocks (fixed ones at 4 KiB
 * aligned buffer addresses), as ublk-qcow --direct's devices send them
 * (4 KiB logical blocks): the engine has no read-modify-write for
 * unaligned writes under O_DIRECT yet (docs/design.md, "Not yet").
 * Reads go anywhere.
 */
static bool direct_block(uint64_t size, uint64_t *off, uint64_t *len)
{
	*off &= ~4095ULL;
	*len = (*len + 4095) & ~4095ULL;
	if (*len > size - *off)
		*len = (size - *off) & ~4095ULL;
	return *len != 0;
}

/* Slot k: a fixed read or write of a range no other slot has. */
static bool prep_slot(struct tcase *t, int k, uint64_t *seed)
{
	struct env *e = &t->e;
	struct slot *s = &e->sl[k];
	bool aligned, blocks;
	int tries;

	s->op = tl_rnd(seed) % 4 ? QCOW_OP_WRITE : QCOW_OP_READ;
	blocks = t->m.direct && s->op == QCOW_OP_WRITE;
	for (tries = 0; tries < 8; tries++) {
		pick_range(seed, t->m.exp.size, t->m.cs, &s->off, &s->len,
			   &aligned);
		if (blocks && !direct_block(t->m.exp.size, &s->off, &s->len))
			continue;
		if (!overlaps(e, k, s->off, s->len))
			break;
	}
	if (tries == 8)
		return false;
	s->boff = slot_boff(k, aligned || blocks, seed);
	if (s->op == QCOW_OP_READ) {
		prep_read(e, k, s, (uint8_t)(0x3c + 11 * k));
		return true;
	}
	tl_fill_rand(e->base + s->boff, s->len, tl_rnd(seed));
	memcpy(e->scratch + (uint64_t)k * SLOT_SIZE, e->base + s->boff,
	       s->len);
	tl_model_put(&t->m.exp, s->off, e->base + s->boff, s->len);
	return true;
}

static bool check_slot(struct tcase *t, int k)
{
	struct env *e = &t->e;
	struct slot *s = &e->sl[k];

	if (s->op == QCOW_OP_READ)
		return !read_bad(e, s, t->m.exp.bytes, slot_start(k),
				 slot_start(k) + SLOT_SIZE, "fixed read",
				 t->why, sizeof(t->why));
	if (!slot_ok(s, t->why, sizeof(t->why)))
		return false;
	return !differs(e->base + s->boff, e->scratch + (uint64_t)k *
			SLOT_SIZE, s->len, s->off,
			"source of a fixed write changed", t->why,
			sizeof(t->why));
}

/* Up to NR_SLOTS fixed reads and writes in flight together. */
static bool fixed_round(struct tcase *t, uint64_t *seed, int round)
{
	struct env *e = &t->e;
	int k, nr = 0, want = 1 + (int)(tl_rnd(seed) % NR_SLOTS), ret = 0;

	for (k = 0; k < want && !ret; k++) {
		if (!prep_slot(t, nr, seed))
			continue;
		ret = slot_submit(e, t->img, &e->sl[nr++]);
	}
	if (!ret)
		ret = drain(e, false);
	if (ret < 0) {
		drain(e, false);
		snprintf(t->why, sizeof(t->why), "round %d: %s %llu+%llu: "
			 "%d", round, op_name(e->sl[nr - 1].op),
			 ull(e->sl[nr - 1].off), ull(e->sl[nr - 1].len), ret);
		return false;
	}
	for (k = 0; k < nr; k++)
		if (!check_slot(t, k))
			return false;
	return true;
}

/* Between rounds: a write, write-zeroes or compressed write, normally. */
static int normal_op(struct tcase *t, uint64_t *seed, char *what, size_t n)
{
	struct model *m = &t->m;
	uint64_t off, len, c;
	unsigned int flags;
	bool aligned;

	pick_range(seed, m->exp.size, m->cs, &off, &len, &aligned);
	if (m->direct && !direct_block(m->exp.size, &off, &len))
		return 0;
	/*
	 * Under O_DIRECT compressed writes are refused (-EINVAL, nothing
	 * allocated): the model keeps the old bytes, the final check finds
	 * no leak.
	 */
	switch (tl_rnd(seed) % 4) {
	case 0:
		flags = tl_rnd(seed) % 2 ? QCOW_REQ_UNMAP : 0;
		snprintf(what, n, "qcow_pwrite_zeroes %llu+%llu%s", ull(off),
			 ull(len), flags ? " (unmap)" : "");
		return zero(t->img, m, off, len, flags);
	case 1:
		if (m->fmt != QCOW_FMT_QCOW2)
			break;
		c = tl_rnd(seed) % (m->exp.size / m->cs);
		snprintf(what, n, "qcow_pwrite_compressed of cluster %llu",
			 ull(c));
		return compress(t->img, m, c) < 0 ? -ENOMEM : 0;
	}
	snprintf(what, n, "qcow_pwrite %llu+%llu", ull(off), ull(len));
	return put(t->img, m, off, len);
}

static bool verify_now(struct tcase *t, const char *when)
{
	char what[96];

	if (!normal_matches(t, when))
		return false;
	snprintf(what, sizeof(what), "whole-image fixed read %s", when);
	return read_whole(t, 4095, 0x96, what);
}

static bool reopen(struct tcase *t)
{
	case_close(t);
	if (open_model(&t->m, &t->img) == 0)
		return true;
	t->img = NULL;
	snprintf(t->why, sizeof(t->why), "reopen: %s", qcow_strerror());
	return false;
}

static bool write_rounds(struct tcase *t, const struct kind *k,
			 uint64_t seed)
{
	char when[64], what[96];
	int r, ret;

	for (r = 0; r < WRITE_ROUNDS; r++) {
		if (!fixed_round(t, &seed, r))
			return false;
		while (tl_rnd(&seed) % 3 == 0) {
			what[0] = 0;
			ret = drain(&t->e, true);
			if (!ret)
				ret = normal_op(t, &seed, what, sizeof(what));
			if (ret < 0) {
				snprintf(t->why, sizeof(t->why), "round %d: "
					 "normal path: %s: %d", r, what, ret);
				return false;
			}
		}
		snprintf(when, sizeof(when), "after round %d", r);
		if (r % 10 == 9 && !verify_now(t, when))
			return false;
		if (r == WRITE_ROUNDS / 2 && !reopen(t))
			return false;
	}
	if (!reopen(t) || !verify_now(t, "after reopen"))
		return false;
	if (t->m.fmt != QCOW_FMT_QCOW2)
		return true;
	case_close(t);
	return check_image(&t->m, false, t->why, sizeof(t->why)) == 0;
}

static void write_kind(const struct kind *k, uint64_t seed)
{
	static struct tcase t;
	bool ok;

	tl_begin("fixed_io/write/%s", k->name);
	if (case_setup(&t, k, seed, "write")) {
		case_free(&t);
		return;
	}
	ok = write_rounds(&t, k, seed * 13 + 5);
	case_close(&t);
	if (ok)
		tl_pass();
	else
		tl_fail("%s", t.why);
	env_free(&t.e);
	if (ok)
		qemu_case("write", k->name, &t.m);
	case_free(&t);
}

/* ---- refusals ---- */

/* The outcome of one request: the submit error, or done()'s result. */
static int one_request(struct env *e, struct qcow_image *img, bool fixed,
		       enum qcow_op op, void *buf, uint64_t off, uint64_t len,
		       char *why, size_t n)
{
	struct slot *s = &e->sl[0];
	int ret;

	s->op = op;
	s->off = off;
	s->len = len;
	s->boff = slot_start(0);
	if (fixed) {
		ret = slot_submit(e, img, s);
	} else {
		slot_prep(e, s);
		ret = qcow_submit(e->ctx, img, &s->req, op, buf, off, len);
		if (ret < 0 && !s->calls)
			e->outstanding--;
	}
	if (ret < 0 && !s->calls)
		return ret;
	if (drain(e, true) < 0 || s->calls != 1 || ret < 0) {
		snprintf(why, n, "%s %s %llu+%llu: submit %d, done() ran %d "
			 "times (result %d)", fixed ? "fixed" : "normal",
			 op_name(op), ull(off), ull(len), ret, s->calls,
			 s->res);
		return INT_MIN;
	}
	return s->res;
}

static int small_image(struct tcase *t, const char *name, bool read_only,
		       bool direct)
{
	static const struct kind k = {
		.name = "small", .build = build_qcow2, .fill = fill_data,
		.cs = 65536,
	};
	int ret;

	memset(t, 0, sizeof(*t));
	t->m.seed = 99;
	snprintf(t->m.path, sizeof(t->m.path), "%s/refuse-%s.img",
		 tl_tmpdir(), name);
	/* room for every kind; its build sets the size */
	tl_model_init(&t->m.exp, QSIZE + 65536, 0);
	ret = env_init(&t->e, t->why, sizeof(t->why));
	if (!ret && t->m.exp.bytes)
		ret = k.build(&k, &t->m, t->why, sizeof(t->why));
	t->m.read_only = read_only;
	t->m.direct = direct;
	if (!ret && open_model(&t->m, &t->img) < 0) {
		snprintf(t->why, sizeof(t->why), "open: %s", qcow_strerror());
		ret = -1;
	}
	if (ret > 0)
		tl_skip("%s", t->why);
	else if (ret < 0 || !t->m.exp.bytes)
		tl_fail("setup: %s", t->why);
	return ret || !t->m.exp.bytes ? -1 : 0;
}

/* A context without a ring cannot take fixed requests. */
static void refuse_no_ring(void)
{
	static struct tcase t;
	struct qcow_ctx *ctx;
	struct slot s = { .e = &t.e };
	enum qcow_op ops[] = { QCOW_OP_READ, QCOW_OP_WRITE };
	int i, ret;

	tl_begin("fixed_io/refuse/no-ring");
	if (small_image(&t, "no-ring", false, false))
		return case_free(&t);
	if (qcow_ctx_new(&ctx, NULL) < 0) {
		tl_fail("qcow_ctx_new without a ring failed");
		return case_free(&t);
	}
	for (i = 0; i < 2; i++) {
		memset(t.e.base + slot_start(0), 0x77, SLOT_SIZE);
		s.req.done = slot_done;
		s.req.priv = &s;
		ret = qcow_submit_fixed(ctx, t.img, &s.req, ops[i], &t.e.fx,
					fix_addr(&t.e, slot_start(0)), 0,
					65536);
		qcow_ctx_run_deferred(ctx);
		if (ret != -EINVAL || s.calls)
			break;
	}
	qcow_ctx_free(ctx);
	if (i < 2)
		tl_fail("%s: returned %d (want %d), done() ran %d times",
			op_name(ops[i]), ret, -EINVAL, s.calls);
	else if (guard_bad(&t.e, slot_start(0), slot_start(1), 0x77,
			   "refused READ", t.why, sizeof(t.why)))
		tl_fail("%s", t.why);
	else if (!normal_matches(&t, "after the refusals"))
		tl_fail("%s", t.why);
	else
		tl_pass();
	case_free(&t);
}

/* Only READ and WRITE have data to put in a fixed buffer. */
static void refuse_ops(void)
{
	static const enum qcow_op ops[] = {
		QCOW_OP_FLUSH, QCOW_OP_DISCARD, QCOW_OP_WRITE_ZEROES,
		QCOW_OP_STATUS, QCOW_OP_WRITE_COMPRESSED, (enum qcow_op)99,
	};
	static struct tcase t;
	struct slot *s;
	unsigned int i;
	int ret = 0;

	tl_begin("fixed_io/refuse/ops");
	if (small_image(&t, "ops", false, false))
		return case_free(&t);
	s = &t.e.sl[0];
	for (i = 0; i < ARRAY_SIZE(ops); i++) {
		tl_fill_rand(t.e.base + slot_start(0), 65536, i);
		s->op = ops[i];
		s->off = 0;
		s->len = 65536;
		s->boff = slot_start(0);
		ret = slot_submit(&t.e, t.img, s);
		drain(&t.e, true);
		if (ret != -EINVAL || s->calls)
			break;
	}
	if (i < ARRAY_SIZE(ops))
		tl_fail("op %d: returned %d (want %d), done() ran %d times",
			(int)ops[i], ret, -EINVAL, s->calls);
	else if (!normal_matches(&t, "after the refusals"))
		tl_fail("%s", t.why);
	else
		tl_pass();
	case_free(&t);
}

/* A read-only image refuses a fixed WRITE as it refuses a normal one. */
static void refuse_read_only(void)
{
	static struct tcase t;
	uint8_t *buf = calloc(1, 65536);
	int normal, fixed;

	tl_begin("fixed_io/refuse/read-only");
	if (small_image(&t, "read-only", true, false) || !buf) {
		free(buf);
		return case_free(&t);
	}
	tl_fill_rand(buf, 65536, 5);
	memcpy(t.e.base + slot_start(0), buf, 65536);
	normal = one_request(&t.e, t.img, false, QCOW_OP_WRITE, buf, 4096,
			     65536, t.why, sizeof(t.why));
	fixed = one_request(&t.e, t.img, true, QCOW_OP_WRITE, NULL, 4096,
			    65536, t.why, sizeof(t.why));
	free(buf);
	if (normal == INT_MIN || fixed == INT_MIN)
		tl_fail("%s", t.why);
	else if (normal >= 0)
		tl_fail("the normal WRITE was not refused (%d)", normal);
	else if (fixed != normal)
		tl_fail("fixed WRITE: %d, normal WRITE: %d", fixed, normal);
	else if (!read_whole(&t, 0, 0x11, "fixed read, read-only image") ||
		 !reopen(&t) || !normal_matches(&t, "after the refusals"))
		tl_fail("%s", t.why);
	else
		tl_pass();
	case_free(&t);
}

/* Out-of-range and empty requests end as their normal counterparts. */
static void refuse_range(void)
{
	static const uint64_t r[][2] = {
		{ QSIZE, 512 }, { QSIZE - 512, 1024 }, { QSIZE + 4096, 1 },
		{ 0, QSIZE + 1 }, { QSIZE, 0 }, { 12345, 0 },
	};
	static struct tcase t;
	uint8_t *buf = calloc(1, QSIZE + 4096);
	int i, j, normal = 0, fixed = 0;
	enum qcow_op op = QCOW_OP_READ;

	tl_begin("fixed_io/refuse/range");
	if (small_image(&t, "range", false, false) || !buf) {
		free(buf);
		return case_free(&t);
	}
	for (i = 0; i < 6; i++) {
		for (j = 0; j < 2; j++) {
			op = j ? QCOW_OP_WRITE : QCOW_OP_READ;
			normal = one_request(&t.e, t.img, false, op, buf,
					     r[i][0], r[i][1], t.why,
					     sizeof(t.why));
			fixed = one_request(&t.e, t.img, true, op, NULL,
					    r[i][0], r[i][1], t.why,
					    sizeof(t.why));
			if (normal != fixed || normal == INT_MIN)
				goto out;
		}
	}
out:
	free(buf);
	if (i < 6 && (normal == INT_MIN || fixed == INT_MIN))
		tl_fail("%s", t.why);
	else if (i < 6)
		tl_fail("%s %llu+%llu: fixed %d, normal %d", op_name(op),
			ull(r[i][0]), ull(r[i][1]), fixed, normal);
	else if (!normal_matches(&t, "after the refusals"))
		tl_fail("%s", t.why);
	else
		tl_pass();
	case_free(&t);
}

/* ---- the kinds ---- */

/* a qcow2 kind: its name, how it is filled, its cluster size */
#define QCOW2(n, f, c)	.name = (n), .build = build_qcow2, .fill = (f), \
			.cs = (c)
#define OTHER(n, b)	.name = (n), .build = (b), .fill = NULL, .cs = 0

static const struct kind read_kinds[] = {
	{ QCOW2("data-64k", fill_data, 65536) },
	{ QCOW2("data-4k", fill_data, 4096) },
	{ QCOW2("data-512", fill_data, 512) },
	{ QCOW2("zero-64k", fill_zero, 65536) },
	{ QCOW2("zero-4k-backing", fill_zero, 4096),
	  .backing = QCOW2_BACKING },
	{ QCOW2("backing-64k", fill_data, 65536), .backing = QCOW2_BACKING },
	{ QCOW2("backing-raw-4k", fill_data, 4096), .backing = RAW_BACKING },
	{ QCOW2("compressed-64k", fill_compressed, 65536),
	  .compressed = true },
	{ QCOW2("compressed-zstd-4k-backing", fill_compressed, 4096),
	  .ctype = 1, .backing = QCOW2_BACKING, .compressed = true },
	{ QCOW2("extl2-64k-backing", fill_subclusters, 65536),
	  .extl2 = true, .backing = RAW_BACKING },
	{ QCOW2("extl2-16k", fill_subclusters, 16384), .extl2 = true },
	{ QCOW2("v2-64k-backing", fill_data, 65536), .compat = 2,
	  .backing = QCOW2_BACKING },
	{ QCOW2("v2-4k-compressed", fill_compressed, 4096), .compat = 2,
	  .compressed = true },
	{ OTHER("raw", build_raw) },
	{ OTHER("raw-odd-size", build_raw_odd) },
	{ OTHER("raw-odd-size-direct", build_raw_odd), .direct = true },
	{ QCOW2("data-4k-direct", fill_data, 4096), .direct = true },
	{ QCOW2("backing-raw-4k-direct", fill_zero, 4096),
	  .backing = RAW_BACKING, .direct = true },
	{ QCOW2("compressed-64k-direct", fill_compressed, 65536),
	  .compressed = true, .direct = true },
	/* read-write O_DIRECT opens need subclusters of a whole block */
	{ QCOW2("extl2-128k-backing-direct", fill_subclusters, 131072),
	  .extl2 = true, .backing = RAW_BACKING, .direct = true },
	{ OTHER("qcow1", build_qcow1) },
	{ OTHER("qcow1-compressed", build_qcow1), .compressed = true },
	{ OTHER("qcow1-aes", build_qcow1), .encrypted = true },
	{ OTHER("qcow1-aes-compressed", build_qcow1), .compressed = true,
	  .encrypted = true },
};

static const struct kind write_kinds[] = {
	{ QCOW2("empty-64k", NULL, 65536) },
	{ QCOW2("empty-4k", NULL, 4096) },
	{ QCOW2("empty-512", NULL, 512) },
	{ QCOW2("backing-64k", NULL, 65536), .backing = QCOW2_BACKING },
	{ QCOW2("backing-raw-4k", fill_data, 4096), .backing = RAW_BACKING },
	{ QCOW2("zero-64k-backing", fill_zero, 65536),
	  .backing = QCOW2_BACKING },
	{ QCOW2("compressed-zero-64k", fill_compressed, 65536),
	  .compressed = true },
	{ QCOW2("compressed-zstd-4k-backing", fill_compressed, 4096),
	  .ctype = 1, .backing = QCOW2_BACKING, .compressed = true },
	{ QCOW2("extl2-64k-backing", fill_subclusters, 65536),
	  .extl2 = true, .backing = RAW_BACKING },
	{ QCOW2("extl2-16k", fill_subclusters, 16384), .extl2 = true },
	{ QCOW2("v2-64k-backing", fill_data, 65536), .compat = 2,
	  .backing = QCOW2_BACKING },
	{ OTHER("raw", build_raw) },
	{ OTHER("raw-odd-size", build_raw_odd) },
	{ QCOW2("empty-4k-direct", NULL, 4096), .direct = true },
	{ QCOW2("backing-raw-4k-direct", fill_zero, 4096),
	  .backing = RAW_BACKING, .direct = true },
	{ QCOW2("compressed-zero-64k-direct", fill_compressed, 65536),
	  .compressed = true, .direct = true },
	{ QCOW2("extl2-128k-backing-direct", fill_subclusters, 131072),
	  .extl2 = true, .backing = RAW_BACKING, .direct = true },
	{ OTHER("raw-odd-size-direct", build_raw_odd), .direct = true },
	{ OTHER("qcow1", build_qcow1_rw) },
	{ OTHER("qcow1-compressed", build_qcow1_rw), .compressed = true },
	{ OTHER("qcow1-direct", build_qcow1_rw), .direct = true },
	{ OTHER("qcow1-aes", build_qcow1_rw), .encrypted = true },
	{ OTHER("qcow1-aes-compressed", build_qcow1_rw), .compressed = true,
	  .encrypted = true },
	{ OTHER("qcow1-aes-direct", build_qcow1_rw), .direct = true,
	  .encrypted = true },
};

/* The four writes of probed_raw_guard(), from the fixed buffer. */
static int guard_writes(struct env *e, struct qcow_image *img, int *r,
			char *why, size_t n)
{
	static const uint8_t magic[8] = { 'Q', 'F', 'I', 0xfb, 0, 0, 0, 3 };
	uint8_t *p = e->base + slot_start(0);

	/* the qcow2 magic and version in a whole block */
	memset(p, 0, 4096);
	memcpy(p, magic, sizeof(magic));
	r[0] = one_request(e, img, true, QCOW_OP_WRITE, NULL, 0, 4096, why, n);
	/* its first half alone is no magic; the rest completes it */
	memcpy(p, magic, 2);
	r[1] = one_request(e, img, true, QCOW_OP_WRITE, NULL, 0, 2, why, n);
	memcpy(p, magic + 2, 6);
	r[2] = one_request(e, img, true, QCOW_OP_WRITE, NULL, 2, 6, why, n);
	memset(p, 0x51, 512);
	r[3] = one_request(e, img, true, QCOW_OP_WRITE, NULL, 0, 512, why, n);
	return r[0] == INT_MIN || r[1] == INT_MIN || r[2] == INT_MIN ||
	       r[3] == INT_MIN ? -1 : 0;
}

/*
 * A probed raw image refuses a write after which it would probe as
 * qcow2, its data in the fixed buffer (ublk zero copy) as in memory:
 * -EPERM, nothing written; other writes to the first sector go through.
 */
static void probed_raw_guard(void)
{
	static struct env e;
	struct qcow_open_opts oo = { .format = QCOW_FMT_NONE };
	struct qcow_image *img = NULL;
	uint8_t *zeros = calloc(1, 65536), *got = NULL;
	char path[1024], why[512] = "";
	size_t len = 0, i;
	int ret, r[4];

	tl_begin("fixed_io/probed-raw-guard");
	snprintf(path, sizeof(path), "%s/probed.raw", tl_tmpdir());
	ret = env_init(&e, why, sizeof(why));
	if (ret > 0) {
		tl_skip("%s", why);
		goto out;
	}
	if (ret < 0 || !zeros || tl_write_file(path, zeros, 65536) < 0 ||
	    qcow_open(&img, path, &oo) < 0) {
		tl_fail("setup: %s %s", why, qcow_strerror());
		goto out;
	}
	ret = guard_writes(&e, img, r, why, sizeof(why));
	qcow_close(img);
	got = tl_read_file(path, &len);
	for (i = 512; got && i < len && !got[i]; i++)
		;
	if (ret < 0)
		tl_fail("%s", why);
	else if (r[0] != -EPERM || r[1] || r[2] != -EPERM || r[3])
		tl_fail("results %d %d %d %d, expected %d 0 %d 0", r[0], r[1],
			r[2], r[3], -EPERM, -EPERM);
	else if (!got || len != 65536 || got[0] != 0x51 || got[511] != 0x51 ||
		 i != len)
		tl_fail("the file is not 512 bytes 0x51 then zeros");
	else
		tl_pass();
out:
	free(got);
	free(zeros);
	env_free(&e);
}

int main(int argc, char **argv)
{
	unsigned int i;

	tl_init(argc, argv);
	for (i = 0; i < ARRAY_SIZE(read_kinds); i++)
		read_kind(&read_kinds[i], 100 + i);
	for (i = 0; i < ARRAY_SIZE(write_kinds); i++)
		write_kind(&write_kinds[i], 200 + i);
	refuse_no_ring();
	refuse_ops();
	refuse_read_only();
	refuse_range();
	probed_raw_guard();
	return tl_finish();
}
