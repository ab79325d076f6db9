// SPDX-License-Identifier: MIT
/*
 * Encrypted images under concurrent requests on one io_uring, as a ublk
 * queue drives them: the context's eventfd polled on the ring (the crypto
 * pool's jobs come back that way).  Unaligned writes of every size, some
 * sharing sectors and clusters with writes in flight, reads of what is
 * stable mixed in, flushes; then everything read back against the model,
 * the caller's buffers found unchanged (writes encrypt a bounce, never
 * them), and the image checked by qemu-img with the secret.  Legacy AES
 * (guest sector IVs) and LUKS (host sector IVs) over a backing file.
 * Then rounds of short writes side by side, sharing sectors, over data
 * already there (in-place rewrites).  Legacy qcow AES too (4 KiB clusters alone, 512-byte ones over the
 * backing file): qemu-img compares it, with the secret, with the model.
 * Then the backend asked for is the one info names (the kernel's
 * refused naming AF_ALG where it cannot run), and qcow_no_core_dumps()
 * leaves the process not dumpable with no core size.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <liburing.h>
#include "qcow.h"
#include "testlib.h"
#include "tl_ring.h"
#include "model.h"

#define DEPTH		64
#define NR_OPS		2000
#define SIZE		(4u << 20)
#define KEY		"encrypt-io-pass"
#define EVENT_TAG	(QCOW_USER_DATA_FOREIGN | 1)
#define BACKING_BYTE	0x6b

struct slot {
	struct qcow_req req;
	uint64_t off;
	uint64_t len;
	uint8_t *buf;
	uint8_t fill;
	bool busy;
	bool read;
};

static struct slot slots[DEPTH];
static int completed, failed, touched;

static void op_done(struct qcow_req *req, int res)
{
	struct slot *s = req->priv;
	uint64_t i;

	if (res < 0) {
		fprintf(stderr, "%s at %lu+%lu failed: %d\n",
			s->read ? "read" : "write", (unsigned long)s->off,
			(unsigned long)s->len, res);
		failed++;
	}
	/* a write's buffer must come back as it went; a read's as expected */
	for (i = 0; !s->read && i < s->len; i++)
		if (s->buf[i] != s->fill) {
			touched++;
			break;
		}
	s->busy = false;
	completed++;
}

static bool overlaps_inflight(uint64_t off, uint64_t len)
{
	int i;

	for (i = 0; i < DEPTH; i++)
		if (slots[i].busy && !slots[i].read &&
		    off < slots[i].off + slots[i].len &&
		    slots[i].off < off + len)
			return true;
	return false;
}

static void arm_event(struct io_uring *ring, struct qcow_ctx *ctx)
{
	struct io_uring_sqe *sqe = tl_get_sqe(ring);

	io_uring_prep_poll_add(sqe, qcow_ctx_event_fd(ctx), POLLIN);
	io_uring_sqe_set_data64(sqe, EVENT_TAG);
}

static void reap(struct io_uring *ring, struct qcow_ctx *ctx, bool wait)
{
	struct io_uring_cqe *cqe;
	unsigned int head, n = 0;
	bool rearm = false;
	eventfd_t v;

	/* what it ran may have been the last work: come back first */
	if (qcow_ctx_run_deferred(ctx) > 0)
		wait = false;
	io_uring_submit_and_wait(ring, wait ? 1 : 0);
	io_uring_for_each_cqe(ring, head, cqe) {
		if (cqe->user_data == EVENT_TAG)
			rearm = true;
		else
			qcow_ctx_complete(ctx, cqe);
		n++;
	}
	io_uring_cq_advance(ring, n);
	if (rearm) {
		eventfd_read(qcow_ctx_event_fd(ctx), &v);
		arm_event(ring, ctx);
	}
	qcow_ctx_run_deferred(ctx);
}

static int free_slot(void)
{
	int i;

	for (i = 0; i < DEPTH; i++)
		if (!slots[i].busy)
			return i;
	return -1;
}

static int make_backing(const char *path)
{
	struct qcow_create_opts co = {
		.format = QCOW_FMT_QCOW2, .size = SIZE, .cluster_size = 65536,
	};
	struct qcow_open_opts oo = { 0 };
	struct qcow_image *img;
	uint8_t *buf = malloc(SIZE);
	int ret = buf ? qcow_create(path, &co) : -ENOMEM;

	if (!ret)
		ret = qcow_open(&img, path, &oo);
	if (ret < 0) {
		free(buf);
		return ret;
	}
	memset(buf, BACKING_BYTE, SIZE);
	ret = qcow_pwrite(img, buf, SIZE, 0);
	qcow_close(img);
	free(buf);
	return ret;
}

/* false: its range overlaps a write in flight; try another later */
static bool submit_one(struct qcow_ctx *ctx, struct qcow_image *img,
		       struct tl_model *ref, uint64_t *seed, int k, int nr)
{
	struct slot *s = &slots[k];
	uint64_t len = 1 + tl_rnd(seed) % 140000;
	uint64_t off = tl_rnd(seed) % (SIZE - len);

	if (overlaps_inflight(off, len))
		return false;
	s->read = nr % 5 == 4;	/* decrypts under way; checked at the end */
	s->off = off;
	s->len = len;
	s->buf = realloc(s->buf, len);
	s->fill = (uint8_t)(nr % 251 + 1);
	memset(s->buf, s->fill, len);
	if (!s->read)
		tl_model_put(ref, off, s->buf, len);
	s->busy = true;
	s->req.done = op_done;
	s->req.priv = s;
	s->req.flags = 0;
	if (qcow_submit(ctx, img, &s->req, s->read ? QCOW_OP_READ :
			QCOW_OP_WRITE, s->buf, off, len) < 0) {
		s->busy = false;
		failed++;
		completed++;
	}
	return true;
}

/*
 * Rounds of DEPTH 100-byte writes side by side in flight at once, each
 * sharing its sectors with its neighbours', over data written before:
 * in-place rewrites of one sector must wait for each other.  Every third
 * round writes whole sectors instead (three each), sharing clusters.
 */
static void shared_sectors(struct qcow_ctx *ctx, struct io_uring *ring,
			   struct qcow_image *img, struct tl_model *ref)
{
	uint64_t start = 1 << 20;
	int r, k, n = 0;
	struct slot *s;

	for (r = 0; r < 60; r++) {
		for (k = 0; k < DEPTH; k++) {
			s = &slots[k];
			s->read = false;
			/* apart: whole sectors would hide lost updates */
			s->off = r % 3 == 2 ? start + (512 << 10) + k * 1536 :
				 start + r * 37 + k * 20;
			s->len = r % 3 == 2 ? 1536 : 20;
			s->buf = realloc(s->buf, s->len);
			s->fill = (uint8_t)(r * DEPTH + k) | 1;
			memset(s->buf, s->fill, s->len);
			tl_model_put(ref, s->off, s->buf, s->len);
			s->busy = true;
			s->req.done = op_done;
			s->req.priv = s;
			s->req.flags = 0;
			if (qcow_submit(ctx, img, &s->req, QCOW_OP_WRITE,
					s->buf, s->off, s->len) < 0) {
				s->busy = false;
				failed++;
				completed++;
			}
			n++;
		}
		while (completed < n)
			reap(ring, ctx, true);
	}
}

static void drive(struct qcow_image *img, struct tl_model *ref)
{
	struct io_uring ring;
	struct qcow_ctx *ctx;
	uint64_t seed = 777;
	int issued = 0, k, i;

	io_uring_queue_init(256, &ring, 0);
	qcow_ctx_new(&ctx, &ring);
	arm_event(&ring, ctx);
	completed = failed = touched = 0;
	while (issued < NR_OPS) {
		k = free_slot();
		if (k < 0) {
			reap(&ring, ctx, true);
			continue;
		}
		if (!submit_one(ctx, img, ref, &seed, k, issued)) {
			reap(&ring, ctx, false);
			continue;
		}
		issued++;
		if (issued % 8 == 0)
			reap(&ring, ctx, false);
	}
	while (completed < NR_OPS || qcow_ctx_inflight(ctx))
		reap(&ring, ctx, true);
	completed = 0;
	shared_sectors(ctx, &ring, img, ref);
	while (qcow_ctx_inflight(ctx))
		reap(&ring, ctx, true);
	qcow_ctx_free(ctx);
	io_uring_queue_exit(&ring);
	for (i = 0; i < DEPTH; i++)
		free(slots[i].buf), slots[i].buf = NULL;
}

/* Legacy qcow has no check: qemu-img compares it with the model. */
static int qemu_compare_q1(const char *path, const struct tl_model *ref)
{
	char raw[1100];

	snprintf(raw, sizeof(raw), "%s.raw", path);
	if (tl_write_file(raw, ref->bytes, ref->size) < 0)
		return -EIO;
	return tl_run("qemu-img compare -q --object secret,id=s0,data=%s "
		      "--image-opts 'driver=qcow,file.filename=%s,"
		      "encrypt.key-secret=s0' 'driver=raw,file.filename=%s'",
		      KEY, path, raw);
}

static int qemu_verify(enum qcow_format fmt, const char *path,
		       const struct tl_model *ref)
{
	if (fmt == QCOW_FMT_QCOW)
		return qemu_compare_q1(path, ref);
	return tl_run("qemu-img check -q --object secret,id=s0,data=%s "
		      "--image-opts 'driver=qcow2,file.filename=%s,"
		      "encrypt.key-secret=s0'", KEY, path);
}

/* cs 0: legacy qcow, over the backing file when with_backing */
static void run(const char *name, uint32_t crypt_method, uint32_t cs,
		bool with_backing)
{
	char path[1024], base[1040];
	struct qcow_create_opts co = {
		.format = cs ? QCOW_FMT_QCOW2 : QCOW_FMT_QCOW, .size = SIZE,
		.cluster_size = cs,
		.crypt_method = crypt_method, .key = KEY,
		.key_len = strlen(KEY), .luks_iter_time_ms = 10,
		.backing_format = "qcow2",
	};
	struct qcow_open_opts oo = { .key = KEY, .key_len = strlen(KEY) };
	struct qcow_image *img;
	struct tl_model ref;
	uint8_t *back;
	int ret;

	tl_begin("encrypt_io/%s", name);
	snprintf(path, sizeof(path), "%s/%s.qcow2", tl_tmpdir(), name);
	snprintf(base, sizeof(base), "%s.base", path);
	co.backing_file = with_backing ? base : NULL;
	if (!co.backing_file)
		co.backing_format = NULL;
	if ((with_backing && make_backing(base) < 0) ||
	    qcow_create(path, &co) < 0)
		return tl_fail("create: %s", qcow_strerror());
	if (qcow_open(&img, path, &oo) < 0)
		return tl_fail("open: %s", qcow_strerror());
	tl_model_init(&ref, SIZE, with_backing ? BACKING_BYTE : 0);
	drive(img, &ref);
	qcow_close(img);
	if (failed || touched) {
		tl_model_free(&ref);
		return tl_fail("%d requests failed, %d write buffers changed",
			       failed, touched);
	}
	back = malloc(SIZE);
	oo.read_only = true;
	ret = qcow_open(&img, path, &oo);
	if (!ret) {
		ret = tl_model_differs(&ref, img, back);
		qcow_close(img);
	}
	free(back);
	if (ret) {
		tl_model_free(&ref);
		return tl_fail("data read back differs (%d)", ret);
	}
	if (!tl_have_prog("qemu-img")) {
		tl_model_free(&ref);
		return tl_skip("qemu-img is not installed: data checked, "
			       "image not");
	}
	ret = qemu_verify(co.format, path, &ref);
	tl_model_free(&ref);
	if (ret)
		return tl_fail("qemu-img %s exit %d", cs ? "check" : "compare",
			       ret);
	tl_pass();
}

/* info names the backend the caller asked for; AUTO resolves to one */
static int open_backend(const char *path, enum qcow_crypto_backend be,
			enum qcow_crypto_backend *used)
{
	struct qcow_open_opts oo = { .key = KEY, .key_len = strlen(KEY),
				     .read_only = true, .crypto_backend = be };
	struct qcow_image *img;
	struct qcow_info info;
	int ret = qcow_open(&img, path, &oo);

	if (ret < 0)
		return ret;
	ret = qcow_get_info(img, &info);
	*used = info.crypto_backend;
	qcow_close(img);
	return ret;
}

static void run_backends(const char *name)
{
	enum qcow_crypto_backend used;
	char path[1024];
	int ret;

	tl_begin("encrypt_io/backend-%s", name);
	snprintf(path, sizeof(path), "%s/%s.qcow2", tl_tmpdir(), name);
	if (open_backend(path, QCOW_CRYPTO_OPENSSL, &used) < 0 ||
	    used != QCOW_CRYPTO_OPENSSL)
		return tl_fail("openssl asked, %s used: %s",
			       qcow_crypto_backend_name(used),
			       qcow_strerror());
	if (open_backend(path, QCOW_CRYPTO_AUTO, &used) < 0 ||
	    (used != QCOW_CRYPTO_OPENSSL && used != QCOW_CRYPTO_KERNEL))
		return tl_fail("auto asked, %s used",
			       qcow_crypto_backend_name(used));
	ret = open_backend(path, QCOW_CRYPTO_KERNEL, &used);
	if (qcow_crypto_backend_probe(QCOW_CRYPTO_KERNEL) == 0) {
		if (ret < 0 || used != QCOW_CRYPTO_KERNEL)
			return tl_fail("kernel asked, %s used: %s",
				       qcow_crypto_backend_name(used),
				       qcow_strerror());
	} else if (ret != -ENOTSUP || !strstr(qcow_strerror(), "AF_ALG")) {
		return tl_fail("kernel without AF_ALG: %d, %s", ret,
			       qcow_strerror());
	}
	tl_pass();
}

/* the process is left not dumpable, with no core size */
static void run_no_core_dumps(void)
{
	struct rlimit rl;

	tl_begin("encrypt_io/no-core-dumps");
	if (qcow_no_core_dumps() < 0)
		return tl_fail("qcow_no_core_dumps: %s", strerror(errno));
	if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0)
		return tl_fail("still dumpable");
	if (getrlimit(RLIMIT_CORE, &rl) < 0 || rl.rlim_cur || rl.rlim_max)
		return tl_fail("RLIMIT_CORE is not 0");
	tl_pass();
}

int main(int argc, char **argv)
{
	tl_init(argc, argv);
	run("aes-4k", 1, 4096, true);
	run("aes-64k", 1, 65536, true);
	run("luks-64k", 2, 65536, true);
	run("luks-4k", 2, 4096, true);
	run("qcow1-aes", 1, 0, false);
	run("qcow1-aes-backing", 1, 0, true);
	run_backends("aes-64k");
	run_backends("luks-64k");
	run_backends("qcow1-aes");
	run_no_core_dumps();
	return tl_finish();
}
