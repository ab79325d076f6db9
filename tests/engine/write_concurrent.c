// SPDX-License-Identifier: MIT
/*
 * Many allocating writes in flight at once on one io_uring, to the same
 * and to neighbouring clusters, with flushes mixed in.  In-flight writes
 * never overlap byte-wise, so the expected content is known; they do share
 * clusters, which is what must be serialised.  The result is read back,
 * and checked by qemu-img when it is installed.  The same with O_DIRECT
 * (where the scratch directory has it with 4 KiB blocks), on qcow2 and on
 * a raw image, where writes that cover a block in part are
 * read-modify-writes that must not lose their neighbours' bytes.
 * Legacy qcow too (4 KiB clusters and L2 tables, appended at the end of
 * the file): qemu-img compares it with the expected data, and the file
 * must have grown by one cluster per cluster written and one table per
 * 2 MiB touched, not more (no cluster allocated twice).
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <liburing.h>
#include "qcow.h"
#include "testlib.h"
#include "model.h"

#define DEPTH		96
#define NR_WRITES	3000
#define REGION		(3u << 20)
#define DIRECT_REGION	(256u << 10)

struct slot {
	struct qcow_req req;
	uint64_t off;
	uint64_t len;
	uint8_t *buf;
	bool busy;
};

static struct slot slots[DEPTH];
static int completed, failed;
/* legacy qcow: the 4 KiB clusters and the 2 MiB spans writes touched */
static bool q1_cluster[REGION / 4096], q1_span[REGION / (2u << 20) + 1];

static void write_done(struct qcow_req *req, int res)
{
	struct slot *s = req->priv;

	if (res < 0) {
		fprintf(stderr, "write at %lu+%lu failed: %d\n",
			(unsigned long)s->off, (unsigned long)s->len, res);
		failed++;
	}
	s->busy = false;
	completed++;
}

static bool overlaps_inflight(uint64_t off, uint64_t len)
{
	int i;

	for (i = 0; i < DEPTH; i++)
		if (slots[i].busy && off < slots[i].off + slots[i].len &&
		    slots[i].off < off + len)
			return true;
	return false;
}

static void reap(struct io_uring *ring, struct qcow_ctx *ctx, bool wait)
{
	struct io_uring_cqe *cqe;
	unsigned int head, n = 0;

	/* what it ran may have been the last work: come back first */
	if (qcow_ctx_run_deferred(ctx) > 0)
		wait = false;
	io_uring_submit_and_wait(ring, wait ? 1 : 0);
	io_uring_for_each_cqe(ring, head, cqe) {
		qcow_ctx_complete(ctx, cqe);
		n++;
	}
	io_uring_cq_advance(ring, n);
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

static void flag_done(struct qcow_req *req, int res)
{
	int *flag = req->priv;

	if (res < 0)
		failed++;
	*flag = 1;
}

/* The file's bytes, read without the engine (raw images). */
static int read_file(const char *path, uint8_t *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	ssize_t n = fd < 0 ? -1 : pread(fd, buf, len, 0);

	if (fd >= 0)
		close(fd);
	return n == (ssize_t)len ? 0 : -EIO;
}

/* Legacy qcow: the file's growth, then qemu-img compare with the model. */
static void verify_qcow1(const char *path, const struct tl_model *ref)
{
	uint64_t want = 4096, i;
	char raw[1100];
	struct stat st;
	int ret;

	for (i = 0; i < sizeof(q1_cluster); i++)
		want += q1_cluster[i] ? 4096 : 0;
	for (i = 0; i < sizeof(q1_span); i++)
		want += q1_span[i] ? 4096 : 0;
	if (stat(path, &st) < 0 || (uint64_t)st.st_size != want)
		return tl_fail("the file is %lu bytes, %lu expected: clusters "
			       "allocated twice?", (unsigned long)st.st_size,
			       (unsigned long)want);
	if (!tl_have_prog("qemu-img"))
		return tl_skip("qemu-img is not installed: data checked, "
			       "image not");
	snprintf(raw, sizeof(raw), "%s.raw", path);
	if (tl_write_file(raw, ref->bytes, ref->size) < 0)
		return tl_fail("cannot write %s", raw);
	ret = tl_run("qemu-img compare -q -f qcow -F raw '%s' '%s'", path, raw);
	if (ret)
		return tl_fail("qemu-img compare exit %d", ret);
	tl_pass();
}

/* After the run: the data, and the image (qemu-img check) or raw file. */
static void verify(const char *path, const struct qcow_create_opts *co,
		   struct qcow_open_opts oo, const struct tl_model *ref)
{
	struct qcow_image *img;
	uint8_t *back = malloc(REGION);
	int ret, bad;

	oo.read_only = true;
	ret = back ? qcow_open(&img, path, &oo) : -ENOMEM;
	if (!ret) {
		ret = tl_model_differs(ref, img, back);
		qcow_close(img);
	}
	bad = ret != 0;
	if (!bad && co->format == QCOW_FMT_RAW)
		bad = read_file(path, back, REGION) ||
		      memcmp(ref->bytes, back, REGION);
	free(back);
	if (bad)
		return tl_fail("data read back differs (%d)", ret);
	if (co->format == QCOW_FMT_RAW)
		return tl_pass();
	if (co->format == QCOW_FMT_QCOW)
		return verify_qcow1(path, ref);
	if (!tl_have_prog("qemu-img"))
		return tl_skip("qemu-img is not installed: data checked, "
			       "image not");
	ret = tl_run("qemu-img check -q '%s'", path);
	if (ret)
		return tl_fail("qemu-img check exit %d", ret);
	tl_pass();
}

static void run(const char *name, const struct qcow_create_opts *co,
		bool direct)
{
	char path[1024];
	struct qcow_open_opts oo = { .direct = direct };
	struct qcow_image *img;
	struct qcow_ctx *ctx;
	struct io_uring ring;
	struct tl_model ref;
	uint64_t seed = 12345, c;
	int i, issued = 0, ret, flush_done = 1;
	struct qcow_req flush_req;

	tl_begin("write_concurrent/%s", name);
	if (direct && tl_direct_block() != 4096)
		return tl_skip("%s has no O_DIRECT with 4 KiB blocks",
			       tl_tmpdir());
	snprintf(path, sizeof(path), "%s/%s.qcow2", tl_tmpdir(), name);
	if (qcow_create(path, co) < 0)
		return tl_fail("%s", qcow_strerror());
	if (qcow_open(&img, path, &oo) < 0)
		return tl_fail("%s", qcow_strerror());
	if (io_uring_queue_init(256, &ring, 0) < 0) {
		qcow_close(img);
		return tl_skip("io_uring is not available");
	}
	qcow_ctx_new(&ctx, &ring);
	tl_model_init(&ref, REGION, 0);
	completed = failed = 0;
	memset(q1_cluster, 0, sizeof(q1_cluster));
	memset(q1_span, 0, sizeof(q1_span));
	while (issued < NR_WRITES) {
		uint64_t off, len;
		int k = free_slot();

		if (k < 0) {
			reap(&ring, ctx, true);
			continue;
		}
		/* O_DIRECT: short writes, many of them sharing blocks */
		len = 1 + tl_rnd(&seed) % (direct ? 6000 :
					 (co->cluster_size ?: 65536) * 2);
		off = tl_rnd(&seed) % ((direct ? DIRECT_REGION : REGION) - len);
		if (overlaps_inflight(off, len)) {
			reap(&ring, ctx, false);
			continue;
		}
		for (c = off / 4096; c <= (off + len - 1) / 4096; c++)
			q1_cluster[c] = q1_span[c / 512] = true;
		slots[k].off = off;
		slots[k].len = len;
		slots[k].busy = true;
		slots[k].buf = realloc(slots[k].buf, len);
		memset(slots[k].buf, (issued % 251) + 1, len);
		tl_model_put(&ref, off, slots[k].buf, len);
		slots[k].req.done = write_done;
		slots[k].req.priv = &slots[k];
		slots[k].req.flags = 0;
		ret = qcow_submit(ctx, img, &slots[k].req, QCOW_OP_WRITE,
				  slots[k].buf, off, len);
		if (ret < 0)
			return tl_fail("submit failed: %d", ret);
		issued++;
		if (issued % 500 == 0 && flush_done) {
			flush_done = 0;
			flush_req.done = flag_done;
			flush_req.priv = &flush_done;
			flush_req.flags = 0;
			qcow_submit(ctx, img, &flush_req, QCOW_OP_FLUSH, NULL,
				    0, 0);
		}
		if (issued % 8 == 0)
			reap(&ring, ctx, false);
		if (issued % 700 == 0)
			qcow_writeback(ctx, img);	/* as an idle timer would */
	}
	while (completed < NR_WRITES || !flush_done ||
	       qcow_ctx_inflight(ctx))
		reap(&ring, ctx, true);
	qcow_ctx_free(ctx);
	io_uring_queue_exit(&ring);
	for (i = 0; i < DEPTH; i++)
		free(slots[i].buf), slots[i].buf = NULL;
	qcow_close(img);
	if (failed)
		tl_fail("%d writes failed", failed);
	else
		verify(path, co, oo, &ref);
	tl_model_free(&ref);
}

int main(int argc, char **argv)
{
	struct qcow_create_opts co = {
		.format = QCOW_FMT_QCOW2, .size = 8 << 20,
		.cluster_size = 65536,
	};

	tl_init(argc, argv);
	run("64k", &co, false);
	run("64k-direct", &co, true);
	co.cluster_size = 4096;
	run("4k", &co, false);
	run("4k-direct", &co, true);
	co.cluster_size = 512;
	run("512", &co, false);
	co.cluster_size = 65536;
	co.extended_l2 = true;
	run("64k-extl2", &co, false);
	run("64k-extl2-direct", &co, true);
	co.extended_l2 = false;
	co.lazy_refcounts = true;
	co.refcount_bits = 1;
	run("64k-lazy-r1", &co, false);
	co = (struct qcow_create_opts){ .format = QCOW_FMT_QCOW,
					.size = REGION };
	run("qcow1", &co, false);
	run("qcow1-direct", &co, true);
	co = (struct qcow_create_opts){ .format = QCOW_FMT_RAW,
					.size = 8 << 20 };
	run("raw-direct", &co, true);
	return tl_finish();
}
