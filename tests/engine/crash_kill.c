// SPDX-License-Identifier: MIT
/*
 * The real I/O path killed at random moments: a child process writes to an
 * image through its own io_uring, many requests in flight, with flushes;
 * it reports every write it starts and every flush that completes through
 * a pipe.  The parent kills it with SIGKILL after a random delay, then
 * opens the image, checks it and reads it back: every byte must hold what
 * it held when the last reported flush completed, or what a write started
 * after it put there.  Then again on the same image, many times.
 *
 * The bitmap run keeps two persistent dirty bitmaps on the image (b0:
 * 512-byte granularity, two clusters of bitmap data; b1: 64 KiB), which
 * every flush writes in place while they are in use.  In every other round
 * the writer closes the image itself after some writes, unless the kill
 * comes first.  Before each verification, qemu-img check of the image as
 * left must pass (leaks allowed), and each bitmap must be either in use
 * (as QEMU leaves one after a crash: it is removed and added again) or
 * exact: dirty where a write recorded since it was added touched, clean
 * elsewhere.  All may be gone after a kill between the two header writes
 * of the in-use marking (a stale extension, dropped as QEMU drops it).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>
#include <liburing.h>
#include "qcow.h"
#include "testlib.h"

#define SIZE		(4u << 20)
#define DEPTH		16
#define MAX_LEN		(96u << 10)
#define ROUNDS		25
#define MAX_RECS	(1u << 16)

enum rec_type { REC_WRITE = 1, REC_FLUSHED = 2, REC_CLOSED = 3 };

#define NB_BITMAPS	2
static const char *const bm_names[NB_BITMAPS] = { "b0", "b1" };
static const uint64_t bm_gran[NB_BITMAPS] = { 512, 65536 };

struct rec {
	uint32_t type;
	uint32_t id;		/* write id; flushed: writes below it */
	uint64_t off;
	uint64_t len;
};

static uint8_t pattern(uint32_t id)
{
	return (uint8_t)(id % 251 + 1);
}

/* ---- the child ---- */

struct slot {
	struct qcow_req req;
	uint8_t *buf;
	bool busy;
	bool flush;
	uint32_t id;
	uint64_t off;
	uint64_t len;
};

/*
 * In-flight writes never overlap, so the order they complete in does not
 * matter; a flush covers the writes completed when it starts, which
 * includes every write below the oldest one still in flight.
 */
static bool overlaps(const struct slot *slots, uint64_t off, uint64_t len)
{
	int i;

	for (i = 0; i < DEPTH; i++)
		if (slots[i].busy && !slots[i].flush &&
		    off < slots[i].off + slots[i].len &&
		    slots[i].off < off + len)
			return true;
	return false;
}

static uint32_t oldest_inflight(const struct slot *slots, uint32_t next)
{
	uint32_t min = next;
	int i;

	for (i = 0; i < DEPTH; i++)
		if (slots[i].busy && !slots[i].flush && slots[i].id < min)
			min = slots[i].id;
	return min;
}

static int out_fd;

static void send_rec(uint32_t type, uint32_t id, uint64_t off, uint64_t len)
{
	struct rec r = { type, id, off, len };

	if (write(out_fd, &r, sizeof(r)) != sizeof(r))
		_exit(3);
}

static void slot_done(struct qcow_req *req, int res)
{
	struct slot *s = req->priv;

	if (res < 0)
		_exit(4);
	if (s->flush)
		send_rec(REC_FLUSHED, s->id, 0, 0);
	s->busy = false;
}

static bool all_idle(const struct slot *slots)
{
	int i;

	for (i = 0; i < DEPTH; i++)
		if (slots[i].busy)
			return false;
	return true;
}

/* close_after: writes to start before a clean close; 0: until killed */
static void child(const char *path, uint64_t seed, uint32_t close_after)
{
	struct qcow_open_opts oo = { 0 };
	struct slot slots[DEPTH] = { 0 };
	struct qcow_image *img;
	struct qcow_ctx *ctx;
	struct io_uring ring;
	uint32_t id = 0;
	int i;

	if (qcow_open(&img, path, &oo) < 0 ||
	    io_uring_queue_init(64, &ring, 0) < 0 ||
	    qcow_ctx_new(&ctx, &ring) < 0)
		_exit(2);
	for (i = 0; i < DEPTH; i++)
		slots[i].buf = malloc(MAX_LEN);
	for (;;) {
		struct io_uring_cqe *cqe;
		unsigned int head, n = 0;

		if (close_after && id >= close_after && all_idle(slots)) {
			qcow_close(img);
			send_rec(REC_CLOSED, id, 0, 0);
			_exit(0);
		}
		for (i = 0; i < DEPTH; i++) {
			struct slot *s = &slots[i];
			uint64_t off, len;

			if (s->busy || (close_after && id >= close_after))
				continue;
			s->req.priv = s;
			s->req.done = slot_done;
			s->req.flags = 0;
			s->flush = tl_rnd(&seed) % 8 == 0;
			if (s->flush) {
				s->id = oldest_inflight(slots, id);
				s->busy = true;
				qcow_submit(ctx, img, &s->req, QCOW_OP_FLUSH,
					    NULL, 0, 0);
				continue;
			}
			len = 1 + tl_rnd(&seed) % MAX_LEN;
			off = tl_rnd(&seed) % (SIZE - len);
			if (overlaps(slots, off, len))
				continue;
			s->busy = true;
			s->off = off;
			s->len = len;
			s->id = id++;
			memset(s->buf, pattern(s->id), len);
			send_rec(REC_WRITE, s->id, off, len);
			qcow_submit(ctx, img, &s->req, QCOW_OP_WRITE, s->buf,
				    off, len);
		}
		io_uring_submit_and_wait(&ring,
					 qcow_ctx_run_deferred(ctx) ? 0 : 1);
		io_uring_for_each_cqe(&ring, head, cqe) {
			qcow_ctx_complete(ctx, cqe);
			n++;
		}
		io_uring_cq_advance(&ring, n);
		qcow_ctx_run_deferred(ctx);
	}
}

/* ---- the parent ---- */

struct history {
	struct rec *v;
	size_t n;
};

static void read_recs(int fd, struct history *h)
{
	struct rec r;

	while (read(fd, &r, sizeof(r)) == sizeof(r))
		if (h->n < MAX_RECS)
			h->v[h->n++] = r;
}

/* The flushed content: base plus the writes below the last flush. */
static uint32_t flushed_content(const struct history *h, uint8_t *img)
{
	uint32_t upto = 0;
	size_t i;

	for (i = 0; i < h->n; i++)
		if (h->v[i].type == REC_FLUSHED && h->v[i].id > upto)
			upto = h->v[i].id;
	for (i = 0; i < h->n; i++)
		if (h->v[i].type == REC_WRITE && h->v[i].id < upto)
			memset(img + h->v[i].off, pattern(h->v[i].id),
			       h->v[i].len);
	return upto;
}

/* Bytes that hold the pattern of a write started after the last flush. */
static void mark_later(const struct history *h, uint32_t upto,
		       const uint8_t *got, uint8_t *ok)
{
	uint64_t b;
	size_t i;

	for (i = 0; i < h->n; i++) {
		const struct rec *r = &h->v[i];

		if (r->type != REC_WRITE || r->id < upto)
			continue;
		for (b = r->off; b < r->off + r->len; b++)
			ok[b] |= got[b] == pattern(r->id);
	}
}

/*
 * The killed writer's requests in flight on its io_uring keep the image
 * file, and so its locks, for a moment after the process is gone.
 */
static int open_after_kill_opts(struct qcow_image **img, const char *path,
				struct qcow_open_opts *oo)
{
	struct timespec ts = { 0, 10 * 1000000L };
	int ret, tries = 0;

	while ((ret = qcow_open(img, path, oo)) == -EBUSY && ++tries < 1000)
		nanosleep(&ts, NULL);
	return ret;
}

static int open_after_kill(struct qcow_image **img, const char *path)
{
	struct qcow_open_opts oo = { 0 };

	return open_after_kill_opts(img, path, &oo);
}

static int verify(const char *path, uint8_t *base, const struct history *h,
		  char *why, size_t why_len)
{
	struct qcow_check_result res;
	struct qcow_image *img;
	uint8_t *got = malloc(SIZE), *ok = calloc(1, SIZE);
	uint32_t upto = flushed_content(h, base);
	uint64_t b;
	int ret;

	ret = open_after_kill(&img, path);
	if (ret < 0) {
		snprintf(why, why_len, "open: %s", qcow_strerror());
		goto out;
	}
	ret = qcow_pread(img, got, SIZE, 0);
	if (!ret)
		ret = qcow_check(img, &res, NULL, NULL);
	qcow_close(img);
	if (ret < 0 || res.corruptions) {
		snprintf(why, why_len, "read/check: %d, %lu corruptions", ret,
			 (unsigned long)res.corruptions);
		ret = -1;
		goto out;
	}
	mark_later(h, upto, got, ok);
	for (b = 0; b < SIZE; b++) {
		if (got[b] == base[b] || ok[b])
			continue;
		snprintf(why, why_len, "byte %lu is %#x, flushed %#x",
			 (unsigned long)b, got[b], base[b]);
		ret = -1;
		goto out;
	}
	/* what the image holds now is the next round's starting point */
	memcpy(base, got, SIZE);
out:
	free(got);
	free(ok);
	return ret;
}

/* ---- bitmaps ---- */

struct bm_model {
	uint8_t *want[NB_BITMAPS];	/* granules written since added */
	bool closed;			/* the round ended in a clean close */
	int exact, in_use, gone;	/* rounds that left them so */
};

static void model_writes(struct bm_model *m, const struct history *h)
{
	size_t i;
	int k;

	for (i = 0; i < h->n; i++) {
		const struct rec *r = &h->v[i];
		uint64_t g;

		if (r->type != REC_WRITE)
			continue;
		for (k = 0; k < NB_BITMAPS; k++)
			for (g = r->off / bm_gran[k];
			     g <= (r->off + r->len - 1) / bm_gran[k]; g++)
				m->want[k][g] = 1;
	}
}

static bool bitmap_exact(struct qcow_image *img, int k,
			 const struct bm_model *m, char *why, size_t why_len)
{
	uint64_t off = 0, len, g = bm_gran[k];
	bool dirty;

	while (off < SIZE) {
		if (qcow_bitmap_range(img, bm_names[k], off, &len, &dirty) < 0
		    || !len) {
			snprintf(why, why_len, "%s: range: %s", bm_names[k],
				 qcow_strerror());
			return false;
		}
		for (; len; off += g, len -= g) {
			if (m->want[k][off / g] == dirty)
				continue;
			snprintf(why, why_len, "%s: granule at %lu is %s",
				 bm_names[k], (unsigned long)off,
				 dirty ? "dirty" : "clean");
			return false;
		}
	}
	return true;
}

/* The bitmaps as the round left them: *redo when in use or gone. */
static int check_bitmaps(const char *path, struct bm_model *m,
			 bool *redo, char *why, size_t why_len)
{
	struct qcow_open_opts oo = { .read_only = true };
	const struct qcow_bitmap_info *inf;
	struct qcow_image *img;
	int n, k, ret = 0;

	*redo = false;
	if (open_after_kill_opts(&img, path, &oo) < 0) {
		snprintf(why, why_len, "open ro: %s", qcow_strerror());
		return -1;
	}
	n = qcow_bitmap_list(img, &inf);
	if (n == 0 && !m->closed) {
		*redo = true;
		m->gone++;
	} else if (n != NB_BITMAPS) {
		snprintf(why, why_len, "%d bitmaps", n);
		ret = -1;
	}
	for (k = 0; k < n && !ret; k++) {
		if (strcmp(inf[k].name, bm_names[k]) || inf[k].broken) {
			snprintf(why, why_len, "bitmap %d: %s broken: %s", k,
				 inf[k].name, inf[k].broken ? inf[k].broken :
				 "no");
			ret = -1;
		} else if (inf[k].in_use && m->closed) {
			snprintf(why, why_len, "%s in use after a clean close",
				 bm_names[k]);
			ret = -1;
		} else if (inf[k].in_use) {
			*redo = true;
		} else if (!bitmap_exact(img, k, m, why, why_len)) {
			ret = -1;
		}
	}
	if (n && !ret)
		*redo ? m->in_use++ : m->exact++;
	qcow_close(img);
	return ret;
}

/* New bitmaps in place of those in use (as after a full backup). */
static int add_bitmaps(const char *path, struct bm_model *m)
{
	struct qcow_open_opts oo = { 0 };
	struct qcow_image *img;
	int ret = qcow_open(&img, path, &oo), k;

	if (ret < 0)
		return ret;
	for (k = 0; k < NB_BITMAPS && !ret; k++) {
		qcow_bitmap_remove(img, bm_names[k]);
		ret = qcow_bitmap_add(img, bm_names[k], bm_gran[k], false);
		memset(m->want[k], 0, SIZE / bm_gran[k]);
	}
	qcow_close(img);
	return ret;
}

static int bitmap_round(const char *path, struct bm_model *m,
			const struct history *h, char *why, size_t why_len)
{
	bool redo;
	int st;

	m->closed = false;
	for (size_t i = 0; i < h->n; i++)
		m->closed |= h->v[i].type == REC_CLOSED;
	model_writes(m, h);
	if (tl_have_prog("qemu-img")) {
		st = tl_run("qemu-img check -q '%s' 2>/dev/null", path);
		if (st != 0 && st != 3) {
			snprintf(why, why_len, "qemu-img check (as left) exit "
				 "%d", st);
			return -1;
		}
	}
	if (check_bitmaps(path, m, &redo, why, why_len) < 0)
		return -1;
	if (redo && add_bitmaps(path, m) < 0) {
		snprintf(why, why_len, "add bitmaps: %s", qcow_strerror());
		return -1;
	}
	return 0;
}

static int repair_leaks(const char *path)
{
	struct qcow_open_opts oo = { 0 };
	struct qcow_check_result res;
	struct qcow_image *img;
	int ret = qcow_open(&img, path, &oo);

	if (ret < 0)
		return ret;
	ret = qcow_repair(img, QCOW_REPAIR_LEAKS, &res, NULL, NULL);
	qcow_close(img);
	return ret < 0 ? ret : (res.leaks || res.corruptions ? -EUCLEAN : 0);
}

/*
 * A killed writer's io_uring is torn down after the process is reaped,
 * and holds the image's file, so its locks, until then.
 */
static void wait_unlocked(const char *path)
{
	int fd = open(path, O_RDONLY), i;

	for (i = 0; fd >= 0 && i < 400; i++) {
		struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };

		if (fcntl(fd, F_OFD_GETLK, &fl) < 0 || fl.l_type == F_UNLCK)
			break;
		usleep(25000);
	}
	if (fd >= 0)
		close(fd);
}

static void run(const char *name, struct qcow_create_opts *co, bool bitmaps)
{
	struct history h = { .v = calloc(MAX_RECS, sizeof(struct rec)) };
	uint8_t *base = calloc(1, SIZE);
	struct bm_model m = { .closed = false };
	uint64_t seed = 777;
	char path[1024], why[256];
	int round, fds[2], st, k;
	pid_t pid;

	for (k = 0; k < NB_BITMAPS; k++)
		m.want[k] = calloc(1, SIZE / bm_gran[k]);

	tl_begin("crash_kill/%s", name);
	snprintf(path, sizeof(path), "%s/%s.qcow2", tl_tmpdir(), name);
	co->format = QCOW_FMT_QCOW2;
	co->size = SIZE;
	if (qcow_create(path, co) < 0) {
		tl_fail("%s", qcow_strerror());
		goto out;
	}
	if (bitmaps && add_bitmaps(path, &m) < 0) {
		tl_fail("add bitmaps: %s", qcow_strerror());
		goto out;
	}
	for (round = 0; round < ROUNDS; round++) {
		/* a closing round has time to reach its close about half the time */
		bool closing = bitmaps && round % 2;
		struct timespec ts = { 0, (long)(1 + tl_rnd(&seed) %
						 (closing ? 300 : 60)) *
				       1000000L };

		if (pipe(fds) < 0)
			break;
		fcntl(fds[0], F_SETPIPE_SZ, 1 << 20);
		fflush(stdout);
		pid = fork();
		if (!pid) {
			close(fds[0]);
			out_fd = fds[1];
			child(path, seed + round, closing ?
			      (uint32_t)(5 + tl_rnd(&seed) % 60) : 0);
		}
		close(fds[1]);
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		h.n = 0;
		read_recs(fds[0], &h);
		close(fds[0]);
		waitpid(pid, &st, 0);
		wait_unlocked(path);
		if (WIFEXITED(st) && !(WEXITSTATUS(st) == 0 && h.n &&
					h.v[h.n - 1].type == REC_CLOSED)) {
			tl_fail("round %d: the writer exited %d", round,
				WEXITSTATUS(st));
			goto out;
		}
		if (bitmaps && bitmap_round(path, &m, &h, why,
					    sizeof(why)) < 0) {
			tl_fail("round %d (%zu records): %s", round, h.n, why);
			goto out;
		}
		if (verify(path, base, &h, why, sizeof(why)) < 0) {
			tl_fail("round %d (%zu records): %s", round, h.n, why);
			goto out;
		}
	}
	if (round < ROUNDS)
		goto out;
	if (bitmaps)
		printf("NOTE: crash_kill/%s: bitmaps exact after %d rounds, "
		       "in use after %d, gone after %d\n", name, m.exact,
		       m.in_use, m.gone);
	/* a kill may leak clusters; leaks are allowed and repairable */
	if (!tl_have_prog("qemu-img")) {
		tl_skip("qemu-img is not installed: checked by ours only");
		goto out;
	}
	st = tl_run("qemu-img check -q '%s' 2>/dev/null", path);
	if (st != 0 && st != 3) {
		tl_fail("qemu-img check exit %d", st);
		goto out;
	}
	if (repair_leaks(path) < 0)
		tl_fail("repair: %s", qcow_strerror());
	else if ((st = tl_run("qemu-img check -q '%s'", path)))
		tl_fail("qemu-img check exit %d after repair", st);
	else
		tl_pass();
out:
	free(h.v);
	free(base);
	for (k = 0; k < NB_BITMAPS; k++)
		free(m.want[k]);
}

int main(int argc, char **argv)
{
	struct qcow_create_opts co = { .cluster_size = 65536 };

	tl_init(argc, argv);
	run("64k", &co, false);
	co = (struct qcow_create_opts){ .cluster_size = 4096,
					.lazy_refcounts = true };
	run("4k-lazy", &co, false);
	co = (struct qcow_create_opts){ .cluster_size = 65536,
					.extended_l2 = true };
	run("64k-extl2", &co, false);
	/* b0 has two clusters of bitmap data */
	co = (struct qcow_create_opts){ .cluster_size = 512 };
	run("bitmaps-512", &co, true);
	return tl_finish();
}
