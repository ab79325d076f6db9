// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: writes to a copy of the input image.
 *
 * Input: IMAGE [OPS "n" "QFZW"], where the trailer is optional (IMAGE may
 * end in a sparse-size trailer, see fz_put_image()): OPS is n
 * records (n <= 16) of 12 bytes,
 *     byte 0      kind (bits 0-2) and offset shift (bits 3-7)
 *     byte 1      pattern seed / flags: bit 7 runs the operation
 *                 concurrently with the next one (see below)
 *     bytes 2-7   offset (big endian), shifted left, modulo the size
 *     bytes 8-11  length (big endian), reduced per kind
 * kinds: 0 write, 1 write zeroes, 2 write zeroes with unmap, 3 discard,
 * 4 flush, 5 compressed write of whole clusters, 6 resize (seed bit 0:
 * shrink to the offset, else grow), 7 small unaligned write.  Without the
 * trailer the whole input is the image and a few operations are derived
 * from a hash of it.  At most 4 MiB are written per input.
 *
 * A run of operations whose seed has bit 7 set, with the one after it,
 * is a batch: writes, zeroes, discards, flushes and compressed writes of
 * a batch are submitted together with qcow_submit() on a context of our
 * own with its own io_uring (FUA when bit 6 is set) and run concurrently;
 * the others use the synchronous wrappers.  Where requests of a batch
 * overlap, the model below forgets what the range holds.
 *
 * The image is opened read-write (format probed), the operations run,
 * the image is closed, then reopened read-only: that must succeed or fail
 * cleanly.  When the image was consistent before (a raw image, or a qcow2
 * image on which qcow_check found no corruption and no error, with no
 * data file but data.raw, whose clusters are at host offset = guest
 * offset), two oracles apply as well: every range written
 * reads back as written (before closing and after reopening), and the
 * reopened image checks without corruption.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <liburing.h>
#include "fuzz_common.h"
#include "qcow/util.h"

#define MAGIC		"QFZW"
#define OP_SIZE		12
#define MAX_OPS		16
#define WRITE_BUDGET	(4u << 20)
#define MAX_IV		128

enum { K_WRITE, K_ZERO, K_ZERO_UNMAP, K_DISCARD, K_FLUSH, K_COMPRESSED,
       K_RESIZE, K_SMALL };

static const char *const kind_names[] = {
	"write", "write-zeroes", "write-zeroes-unmap", "discard", "flush",
	"write-compressed", "resize", "small-write",
};

struct op {
	uint8_t kind, shift, seed;
	uint64_t off_raw;
	uint32_t len_raw;
};

/* ---- what the written ranges must read as ---- */

struct iv {
	uint64_t start, end;
	int seed;		/* -1: zeros */
};

static struct iv ivs[MAX_IV];
static unsigned int nivs;

static uint8_t pat(uint64_t off, int seed)
{
	return (uint8_t)((off * 29) ^ (off >> 11) ^ ((unsigned int)seed * 97) ^
			 0xa5);
}

/* [a, b) is no longer known */
static void forget(uint64_t a, uint64_t b)
{
	struct iv out[MAX_IV * 2];
	unsigned int i, n = 0;

	for (i = 0; i < nivs; i++) {
		struct iv v = ivs[i];

		if (v.end <= a || v.start >= b) {
			out[n++] = v;
			continue;
		}
		if (v.start < a)
			out[n++] = (struct iv){ v.start, a, v.seed };
		if (v.end > b)
			out[n++] = (struct iv){ b, v.end, v.seed };
	}
	/* too many pieces: the oldest are forgotten, never wrongly kept */
	if (n > MAX_IV - 1) {
		memmove(out, out + (n - (MAX_IV - 1)),
			(MAX_IV - 1) * sizeof(*out));
		n = MAX_IV - 1;
	}
	memcpy(ivs, out, n * sizeof(*out));
	nivs = n;
}

static void know(uint64_t a, uint64_t b, int seed)
{
	forget(a, b);
	if (a < b)
		ivs[nivs++] = (struct iv){ a, b, seed };
}

static void verify(struct qcow_image *img, const char *when)
{
	uint8_t *buf = fz_buf();
	unsigned int i;
	uint64_t off, n, j;
	int ret;

	for (i = 0; i < nivs; i++) {
		for (off = ivs[i].start; off < ivs[i].end; off += n) {
			n = MIN(ivs[i].end - off, (uint64_t)FZ_IO_BUF);
			ret = qcow_pread(img, buf, n, off);
			if (ret < 0)
				fz_bug("%s: reading back %#" PRIx64 "+%#" PRIx64
				       " failed: %s", when, off, n,
				       strerror(-ret));
			for (j = 0; j < n; j++)
				if (buf[j] != (ivs[i].seed < 0 ? 0 :
					       pat(off + j, ivs[i].seed)))
					fz_bug("%s: byte at %#" PRIx64 " reads "
					       "%#x, written %#x", when, off + j,
					       buf[j], ivs[i].seed < 0 ? 0 :
					       pat(off + j, ivs[i].seed));
		}
	}
}

/* ---- the operations ---- */

static uint64_t fnv(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	while (n--)
		h = (h ^ *p++) * 0x100000001b3ULL;
	return h;
}

static size_t parse(const uint8_t *data, size_t size, struct op *ops,
		    unsigned int *nops)
{
	unsigned int n, i;
	uint64_t h;

	if (size >= 5 && !memcmp(data + size - 4, MAGIC, 4)) {
		n = data[size - 5] % (MAX_OPS + 1);
		if (size >= 5 + (size_t)n * OP_SIZE) {
			const uint8_t *p = data + size - 5 - n * OP_SIZE;

			for (i = 0; i < n; i++, p += OP_SIZE) {
				ops[i].kind = p[0] & 7;
				ops[i].shift = p[0] >> 3;
				ops[i].seed = p[1];
				ops[i].off_raw = fz_be(p + 2, 6);
				ops[i].len_raw = (uint32_t)fz_be(p + 8, 4);
			}
			*nops = n;
			return size - 5 - n * OP_SIZE;
		}
	}
	h = fnv(data, size);
	ops[0] = (struct op){ K_WRITE, 0, 1, h >> 8, 5000 };
	ops[1] = (struct op){ K_ZERO, 0, 2, h >> 20, 70000 };
	ops[2] = (struct op){ K_DISCARD, 0, 3, h >> 28, 65536 };
	ops[3] = (struct op){ K_SMALL, 0, 4, (h >> 3) + 700, 100 };
	ops[4] = (struct op){ K_FLUSH, 0, 5, 0, 0 };
	*nops = 5;
	return size;
}

static uint8_t *wbuf;

static void fill(uint64_t off, uint64_t len, int seed)
{
	uint64_t i;

	for (i = 0; i < len; i++)
		wbuf[i] = pat(off + i, seed);
}

/* What one operation does, worked out against the image's size now. */
struct plan {
	enum qcow_op op;	/* QCOW_OP_*, but for a resize */
	bool skip;
	uint64_t off, len;
	int seed;		/* of the pattern; -1: zeros; -2: unknown */
	unsigned int flags;
};

static struct plan plan_op(struct qcow_image *img, const struct op *o,
			   unsigned int idx, uint32_t cluster, uint64_t *budget)
{
	uint64_t size = qcow_size(img);
	struct plan p = { .op = QCOW_OP_READ };

	p.off = size ? (o->off_raw << o->shift) % size : 0;
	p.seed = (int)(o->seed ^ (idx << 8));
	switch (o->kind) {
	case K_WRITE:
	case K_SMALL:
		p.op = QCOW_OP_WRITE;
		p.len = o->kind == K_SMALL ? o->len_raw % 4097 :
			o->len_raw % (FZ_IO_BUF + 1);
		p.len = MIN(p.len, size - p.off);
		p.skip = p.len > *budget;
		if (o->seed & 0x40)
			p.flags = QCOW_REQ_FUA;
		break;
	case K_ZERO:
	case K_ZERO_UNMAP:
		p.op = QCOW_OP_WRITE_ZEROES;
		p.len = o->len_raw % ((o->seed & 1 ? 64u << 20 : 65536u) + 1);
		p.len = MIN(p.len, size - p.off);
		p.seed = -1;
		p.flags = o->kind == K_ZERO_UNMAP ? QCOW_REQ_UNMAP : 0;
		break;
	case K_DISCARD:
		p.op = QCOW_OP_DISCARD;
		p.len = o->len_raw % ((o->seed & 1 ? 64u << 20 : 65536u) + 1);
		p.len = MIN(p.len, size - p.off);
		p.seed = -2;
		break;
	case K_FLUSH:
		p.op = QCOW_OP_FLUSH;
		p.off = 0;
		p.seed = -2;
		break;
	case K_COMPRESSED:
		p.op = QCOW_OP_WRITE_COMPRESSED;
		p.skip = !cluster;
		if (p.skip)
			break;
		p.off = ALIGN_DOWN(p.off, cluster);
		p.len = (uint64_t)cluster * (1 + o->len_raw % 4);
		p.skip = p.len > FZ_IO_BUF || p.len > size - p.off ||
			 p.len > *budget;
		break;
	case K_RESIZE:
		p.seed = -2;
		if (o->seed & 1) {
			p.len = ALIGN_DOWN(p.off, 512);
		} else {
			p.len = ALIGN_UP(size + o->len_raw % (64u << 20), 512);
			p.skip = p.len > (1ULL << 62);
		}
		break;
	}
	if (!p.skip && p.seed >= 0)
		*budget -= p.len;
	return p;
}

static void log_op(unsigned int idx, const struct op *o, const struct plan *p,
		   int ret, const char *how)
{
	if (getenv("QCOW_FUZZ_VERBOSE"))
		fprintf(stderr, "op %u: %s%s %#" PRIx64 "+%#" PRIx64 "%s -> %d\n",
			idx, kind_names[o->kind], how, p->off, p->len,
			p->flags & QCOW_REQ_FUA ? " fua" : "", ret);
}

/* the model after a request ended with ret */
static void account(const struct plan *p, int ret)
{
	if (p->op == QCOW_OP_FLUSH)
		return;
	if (ret < 0 || p->seed == -2)
		forget(p->off, p->off + p->len);
	else
		know(p->off, p->off + p->len, p->seed);
}

static void run_op(struct qcow_image *img, const struct op *o, unsigned int idx,
		   uint32_t cluster, uint64_t *budget)
{
	struct plan p = plan_op(img, o, idx, cluster, budget);
	uint64_t size = qcow_size(img);
	int ret = 0;

	if (p.skip)
		return;
	if (p.seed >= 0)
		fill(p.off, p.len, p.seed);
	switch (p.op) {
	case QCOW_OP_WRITE:
		ret = qcow_pwrite(img, wbuf, p.len, p.off);
		break;
	case QCOW_OP_WRITE_ZEROES:
		ret = qcow_pwrite_zeroes(img, p.len, p.off, p.flags);
		break;
	case QCOW_OP_DISCARD:
		ret = qcow_pdiscard(img, p.len, p.off);
		break;
	case QCOW_OP_FLUSH:
		ret = qcow_flush(img);
		break;
	case QCOW_OP_WRITE_COMPRESSED:
		ret = qcow_pwrite_compressed(img, wbuf, p.len, p.off);
		break;
	default:
		break;
	}
	if (o->kind == K_RESIZE) {
		ret = qcow_resize(img, p.len, o->seed & 1);
		forget(MIN(p.len, size), UINT64_MAX);
	} else {
		account(&p, ret);
	}
	log_op(idx, o, &p, ret, "");
}

/* ---- batches: concurrent requests on a context of our own ---- */

static struct io_uring aring;
static struct qcow_ctx *actx;

struct areq {
	struct qcow_req req;
	struct plan plan;
	uint8_t *buf;
	bool done;
	int res;
};

static void areq_done(struct qcow_req *req, int res)
{
	struct areq *r = (struct areq *)req;

	r->done = true;
	r->res = res;
}

static void setup_actx(void)
{
	bool ring = io_uring_queue_init(64, &aring, 0) == 0;

	if (qcow_ctx_new(&actx, ring ? &aring : NULL) < 0)
		abort();
}

/* Runs the context until the requests and the engine's work on it end. */
static void drive(struct areq *r, unsigned int n)
{
	struct io_uring_cqe *cqe;
	struct __kernel_timespec ts = { .tv_nsec = 100 * 1000 * 1000 };
	unsigned int i, head, got, idle = 0;
	bool all;

	for (;;) {
		got = qcow_ctx_run_deferred(actx);
		for (all = true, i = 0; i < n; i++)
			all = all && r[i].done;
		if (all && !qcow_ctx_inflight(actx))
			return;
		if (!got) {
			io_uring_submit(&aring);
			if (io_uring_wait_cqe_timeout(&aring, &cqe, &ts) == 0)
				got = 1;
		}
		i = 0;
		io_uring_for_each_cqe(&aring, head, cqe) {
			qcow_ctx_complete(actx, cqe);
			i++;
		}
		io_uring_cq_advance(&aring, i);
		if (got || i) {
			idle = 0;
			continue;
		}
		/* engine work may wait on the synchronous wrappers' context */
		if (++idle % 10 == 0)
			(void)qcow_pread(r[0].req.img, fz_buf(), 1, 0);
		if (idle > 50)
			fz_bug("requests of a batch never complete (%u in "
			       "flight on their context)",
			       qcow_ctx_inflight(actx));
	}
}

static void run_batch(struct qcow_image *img, const struct op *ops,
		      unsigned int first, unsigned int n, uint32_t cluster,
		      uint64_t *budget)
{
	struct areq r[MAX_OPS];
	unsigned int i, j;
	uint64_t a, b;

	memset(r, 0, sizeof(r));
	for (i = 0; i < n; i++) {
		r[i].plan = plan_op(img, &ops[first + i], first + i, cluster,
				    budget);
		r[i].req.done = areq_done;
		r[i].req.flags = r[i].plan.flags;
		if (r[i].plan.skip) {
			r[i].done = true;
			r[i].res = -ECANCELED;
			continue;
		}
		if (r[i].plan.seed >= 0) {
			r[i].buf = malloc(r[i].plan.len ? r[i].plan.len : 1);
			if (!r[i].buf)
				abort();
			for (j = 0; j < r[i].plan.len; j++)
				r[i].buf[j] = pat(r[i].plan.off + j,
						  r[i].plan.seed);
		}
	}
	for (i = 0; i < n; i++) {
		int ret;

		if (r[i].done)
			continue;
		ret = qcow_submit(actx, img, &r[i].req, r[i].plan.op, r[i].buf,
				  r[i].plan.off, r[i].plan.len);
		if (ret < 0) {
			r[i].done = true;
			r[i].res = ret;
		}
	}
	drive(r, n);
	for (i = 0; i < n; i++) {
		if (r[i].res != -ECANCELED)
			account(&r[i].plan, r[i].res);
		log_op(first + i, &ops[first + i], &r[i].plan, r[i].res,
		       " (batch)");
	}
	/* concurrent requests on the same bytes: any order is right */
	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++) {
			if (r[i].plan.op == QCOW_OP_FLUSH ||
			    r[j].plan.op == QCOW_OP_FLUSH)
				continue;
			a = MAX(r[i].plan.off, r[j].plan.off);
			b = MIN(r[i].plan.off + r[i].plan.len,
				r[j].plan.off + r[j].plan.len);
			if (a < b)
				forget(a, b);
		}
	for (i = 0; i < n; i++)
		free(r[i].buf);
}

/* Operations from first on that run as one batch (1: run alone). */
static unsigned int batch_len(const struct op *ops, unsigned int first,
			      unsigned int nops)
{
	unsigned int n = 0;

	while (first + n < nops && ops[first + n].kind != K_RESIZE) {
		n++;
		if (!(ops[first + n - 1].seed & 0x80))
			break;
	}
	return MAX(n, 1u);
}

/* ---- the target ---- */

static size_t msg_bytes;

/* No external data file, or data.raw: not the image itself. */
static bool data_file_ok(const char *name)
{
	char path[PATH_MAX];

	if (!name)
		return true;
	if (name[0] == '/')
		snprintf(path, sizeof(path), "%s", name);
	else
		snprintf(path, sizeof(path), "%s/%s", fz_scratch_dir(), name);
	return fz_is_scratch_file(path, "data.raw");
}

/*
 * Clusters in an external data file have no refcounts: the check cannot
 * see two guest clusters on the same host cluster, and QEMU puts a new
 * cluster at host offset = guest offset.  Such an image is consistent
 * only when every mapped cluster is there already.
 */
static bool data_identity(struct qcow_image *img)
{
	uint64_t size = qcow_size(img), off = 0;
	struct qcow_status st;
	unsigned int steps = 0;

	while (off < size) {
		if (++steps > 4096 ||
		    qcow_block_status(img, off, size - off, &st) < 0 ||
		    !st.length)
			return false;
		if ((st.flags & QCOW_ST_OFFSET_VALID) && st.offset != off)
			return false;
		off += st.length;
	}
	return true;
}

/* A raw image, or a qcow2 image that checks clean, with no odd data file. */
static bool consistent(void)
{
	struct qcow_open_opts o = { .read_only = true };
	struct qcow_check_result res;
	struct qcow_image *img;
	struct qcow_info info;
	bool ok = false;

	if (qcow_open(&img, fz_image_path(), &o) < 0)
		return false;
	if (qcow_format(img) == QCOW_FMT_RAW) {
		ok = true;
	} else if (qcow_format(img) == QCOW_FMT_QCOW2 &&
		   qcow_get_info(img, &info) == 0 &&
		   data_file_ok(info.data_file) &&
		   qcow_check(img, &res, fz_report_sink, &msg_bytes) == 0) {
		ok = !res.corruptions && !res.check_errors &&
		     (!info.data_file || data_identity(img));
	}
	qcow_close(img);
	return ok;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fz_init();
	wbuf = malloc(FZ_IO_BUF);
	if (!wbuf)
		abort();
	setup_actx();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qcow_open_opts rw = { .read_only = false };
	struct qcow_open_opts ro = { .read_only = true };
	struct op ops[MAX_OPS];
	struct qcow_check_result res;
	struct qcow_image *img;
	struct qcow_info info;
	uint64_t budget = WRITE_BUDGET;
	unsigned int nops, i, n;
	size_t img_len;
	bool trusted;

	img_len = parse(data, size, ops, &nops);
	fz_put_image(data, img_len);
	trusted = consistent();
	if (getenv("QCOW_FUZZ_VERBOSE"))
		fprintf(stderr, "image %zu bytes, %u operations, %s\n", img_len,
			nops, trusted ? "consistent (oracles on)" :
			"not consistent (oracles off)");
	nivs = 0;
	if (qcow_open(&img, fz_image_path(), &rw) < 0) {
		fz_settle();
		return 0;
	}
	fz_touch_info(img);
	if (qcow_get_info(img, &info) < 0)
		info.cluster_size = 0;
	for (i = 0; i < nops; i += n) {
		n = batch_len(ops, i, nops);
		if (n > 1)
			run_batch(img, ops, i, n, info.cluster_size, &budget);
		else
			run_op(img, &ops[i], i, info.cluster_size, &budget);
	}
	if (trusted)
		verify(img, "before close");
	qcow_close(img);

	if (qcow_open(&img, fz_image_path(), &ro) < 0) {
		if (trusted)
			fz_bug("a consistent image no longer opens after the "
			       "writes: %s", qcow_strerror());
		fz_settle();
		return 0;
	}
	if (trusted)
		verify(img, "after reopen");
	fz_status_walk(img, 256);
	if (qcow_format(img) == QCOW_FMT_QCOW2 &&
	    qcow_check(img, &res, fz_report_sink, &msg_bytes) == 0 &&
	    trusted && (res.corruptions || res.check_errors))
		fz_bug("a consistent image checks with %" PRIu64 " corruptions"
		       " and %" PRIu64 " errors after the writes",
		       res.corruptions, res.check_errors);
	qcow_close(img);
	fz_settle();
	return 0;
}
