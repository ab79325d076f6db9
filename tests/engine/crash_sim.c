// SPDX-License-Identifier: MIT
/*
 * Simulated power loss at every write point of a workload.
 *
 * The engine runs a workload on a real file while a recorder (the file
 * backend's event hook, file_backend.h) logs every
 * write, punch and fsync it submits and completes.  For each point of that
 * log a crash image is rebuilt from the initial file: writes that completed
 * before an fsync that completed before the point are on disk; any other
 * write submitted before the point may be there or not, or be torn.  Each
 * crash image is then opened read-write (a dirty lazy image is repaired),
 * checked (our check; qemu-img check when installed) and read back: every
 * byte must hold what was written before the last completed flush, or what
 * a later request wrote (or zeros, for write-zeroes and discard).
 *
 * Bitmap workloads add two persistent dirty bitmaps before recording:
 * at every crash point each must be in use (inconsistent, as QEMU leaves
 * it) or hold exactly the ranges written (or none, before the first
 * request); all may be gone only before the first request (a crash while
 * the open marks them in use leaves a stale extension, dropped as QEMU
 * does).  qemu-img check of the crash image as it is must pass; leaked
 * clusters are allowed (exit 3), as QEMU leaks the new bitmap clusters of
 * a store the crash interrupted.
 *
 * Snapshot workloads create, delete and apply internal snapshots (named
 * "s<pattern>"): each call is a barrier like a flush, an apply under way
 * may show either content, and the crash image must check clean after
 * the open's repair of the dirty bit the calls hold while they work.
 *
 * Legacy qcow workloads (qcow1-*, also encrypted: qcow1-aes*) are
 * verified by their data only: there is no check for that format, ours
 * or qemu-img's.
 *
 * Repair workloads damage the refcount structure of the image they set up
 * and record `check -r all`: a crash image must still hold the data, and a
 * repair run again on it must leave it clean.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "qcow/internal.h"
#include "testlib.h"
#include "io_rec.h"

#define MAX_OPS 64

enum wl_kind { WL_WRITE, WL_FUA, WL_ZERO, WL_DISCARD, WL_FLUSH, WL_COMPRESSED,
	       WL_RESIZE, WL_SNAP_CREATE, WL_SNAP_DELETE, WL_SNAP_APPLY };

/* Snapshot workloads name their snapshots "s<pattern>". */
#define MAX_SNAPS 4

static bool is_barrier(enum wl_kind k)
{
	/* the snapshot calls write everything back first and last */
	return k == WL_FLUSH || k == WL_SNAP_CREATE || k == WL_SNAP_DELETE ||
	       k == WL_SNAP_APPLY;
}

struct wl_op {
	enum wl_kind kind;
	uint64_t off;
	uint64_t len;
	uint8_t pattern;
	unsigned long first_event;	/* events before it started */
	unsigned long last_event;	/* events when it completed */
};

/* ---- rebuilding a crash image ---- */

struct file_img {
	uint8_t *buf;
	uint64_t size;
};

static int read_file(const char *path, struct file_img *f)
{
	int fd = open(path, O_RDONLY);
	off_t n;

	if (fd < 0)
		return -errno;
	n = lseek(fd, 0, SEEK_END);
	f->size = n;
	f->buf = malloc(n + 1);
	if (pread(fd, f->buf, n, 0) != n) {
		close(fd);
		return -EIO;
	}
	close(fd);
	return 0;
}

static void apply(struct file_img *f, const struct io_rec *r, uint64_t len)
{
	if (r->off + len > f->size) {
		f->buf = realloc(f->buf, r->off + len);
		memset(f->buf + f->size, 0, r->off + len - f->size);
		f->size = r->off + len;
	}
	if (r->is_punch)
		memset(f->buf + r->off, 0, MIN(len, f->size - r->off));
	else
		memcpy(f->buf + r->off, r->data, len);
}

/* Was write i made durable by an fsync completed at or before point p? */
static bool durable(size_t i, unsigned long p)
{
	const struct io_rec *w = &rec.v[i];
	size_t j;

	if (!w->done || w->done > p)
		return false;
	for (j = i + 1; j < rec.n; j++) {
		const struct io_rec *s = &rec.v[j];

		if (s->is_sync && s->file == w->file && s->submit > w->done &&
		    s->done && s->done <= p)
			return true;
	}
	return false;
}

/*
 * Which of the writes that may or may not be on disk are: none, all, two
 * random subsets, all with the newest one torn, and only the newest one
 * (the one an ordering mistake would let overtake the others).
 */
enum variant { V_NONE, V_ALL, V_RANDOM1, V_RANDOM2, V_TORN, V_NEWEST,
	       V_COUNT };

static const char *const variant_names[] = {
	"none", "all", "random1", "random2", "torn", "newest",
};

static void build(struct file_img out[2], const struct file_img init[2],
		  unsigned long p, enum variant v, uint64_t seed)
{
	size_t i, last_maybe = SIZE_MAX;
	int k;

	for (k = 0; k < 2; k++) {
		out[k].size = init[k].size;
		out[k].buf = malloc(init[k].size + 1);
		if (init[k].size)
			memcpy(out[k].buf, init[k].buf, init[k].size);
	}
	for (i = 0; i < rec.n; i++)
		if (!rec.v[i].is_sync && rec.v[i].submit <= p &&
		    !durable(i, p))
			last_maybe = i;
	for (i = 0; i < rec.n; i++) {
		const struct io_rec *r = &rec.v[i];
		bool take;

		if (r->is_sync || r->submit > p)
			continue;
		if (durable(i, p)) {
			apply(&out[r->file], r, r->len);
			continue;
		}
		switch (v) {
		case V_ALL:
			take = true;
			break;
		case V_RANDOM1:
		case V_RANDOM2:
			take = tl_rnd(&seed) & 1;
			break;
		case V_NEWEST:
			take = i == last_maybe;
			break;
		case V_TORN:
			take = true;
			if (i == last_maybe && r->len > 512 && !r->is_punch) {
				apply(&out[r->file], r,
				      ALIGN_DOWN(r->len / 2, 512));
				continue;
			}
			break;
		default:
			take = false;
			break;
		}
		if (take)
			apply(&out[r->file], r, r->len);
	}
}

static int write_out(const char *path, const struct file_img *f)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	int ret = 0;

	if (fd < 0)
		return -errno;
	if (pwrite(fd, f->buf, f->size, 0) != (ssize_t)f->size)
		ret = -EIO;
	close(fd);
	return ret;
}

/* ---- the model of guest content ---- */

/*
 * A workload: optionally a backing image filled with BACKING_BYTE, setup
 * operations done before recording starts (compressed clusters, data to
 * copy on write), then the recorded operations.
 */
#define BACKING_BYTE 0xb5

enum damage {
	DAMAGE_NONE,
	DAMAGE_REFBLOCK_UNALIGNED,	/* refcount table entry 0 + 512 */
	DAMAGE_REFBLOCK_OVER_L1,	/* entry 1 names the L1 table */
};

struct workload {
	const char *name;
	struct qcow_create_opts co;
	enum damage damage;
	bool backing;
	struct wl_op setup[8];
	int nsetup;
	struct wl_op ops[MAX_OPS];
	int nops;
	uint64_t size;
	int nbitmaps;		/* "b0" (4 KiB granularity), "b1" (64 KiB) */
};

/* Encrypted workloads: the passphrase every open of the image gets. */
static const char *wl_key;

static int wl_open(struct qcow_image **img, const char *path,
		   struct qcow_open_opts *oo)
{
	oo->key = wl_key;
	oo->key_len = wl_key ? strlen(wl_key) : 0;
	return qcow_open(img, path, oo);
}

/* qemu-img check -q of a crash image (with the secret): its exit status */
static int qemu_check(const char *path)
{
	if (!wl_key)
		return tl_run("qemu-img check -q '%s' >/dev/null 2>&1", path);
	return tl_run("qemu-img check -q --object secret,id=s0,data=%s "
		      "--image-opts 'driver=qcow2,file.filename=%s,"
		      "encrypt.key-secret=s0' >/dev/null 2>&1", wl_key, path);
}

static const char *const bm_names[2] = { "b0", "b1" };
static const uint64_t bm_gran[2] = { 4096, 65536 };

/* One bitmap of a crash image against the granules the ops wrote. */
static bool bitmap_matches(const struct workload *w, struct qcow_image *img,
			   int k, bool empty, char *why, size_t why_len)
{
	uint64_t g = bm_gran[k], off = 0, len;
	bool dirty, want;
	int i;

	while (off < w->size) {
		if (qcow_bitmap_range(img, bm_names[k], off, &len, &dirty) < 0
		    || !len) {
			snprintf(why, why_len, "%s: range: %s", bm_names[k],
				 qcow_strerror());
			return false;
		}
		for (; len; off += g, len -= MIN(len, g)) {
			want = false;
			for (i = 0; i < w->nops && !empty; i++) {
				const struct wl_op *o = &w->ops[i];

				if (o->kind != WL_FLUSH && o->len &&
				    off < ALIGN_UP(o->off + o->len, g) &&
				    off + g > ALIGN_DOWN(o->off, g))
					want = true;
			}
			if (want != dirty) {
				snprintf(why, why_len, "%s: granule at %lu is "
					 "%s", bm_names[k], (unsigned long)off,
					 dirty ? "dirty" : "clean");
				return false;
			}
		}
	}
	return true;
}

static bool image_dirty(const char *path)
{
	uint8_t b[8] = { 0 };
	int fd = open(path, O_RDONLY);
	bool dirty;

	dirty = fd >= 0 && pread(fd, b, 8, 72) == 8 && (b[7] & 1);
	if (fd >= 0)
		close(fd);
	return dirty;
}

static bool check_bitmaps(const struct workload *w, const char *path,
			  unsigned long p, char *why, size_t why_len)
{
	struct qcow_open_opts oo = { .read_only = true };
	const struct qcow_bitmap_info *inf;
	bool before = w->nops && p <= w->ops[0].first_event;
	bool ok = true;
	struct qcow_image *img;
	int n, k;

	if (wl_open(&img, path, &oo) < 0) {
		snprintf(why, why_len, "open ro: %s", qcow_strerror());
		return false;
	}
	n = qcow_bitmap_list(img, &inf);
	if (n != w->nbitmaps && !(n == 0 && before)) {
		snprintf(why, why_len, "%d bitmaps", n);
		ok = false;
	}
	for (k = 0; k < n && ok; k++) {
		if (strcmp(inf[k].name, bm_names[k]) || inf[k].broken) {
			snprintf(why, why_len, "bitmap %d: %s broken %s", k,
				 inf[k].name, inf[k].broken ? inf[k].broken :
				 "no");
			ok = false;
		} else if (!inf[k].in_use) {
			ok = bitmap_matches(w, img, k, false, why, why_len) ||
			     (before && bitmap_matches(w, img, k, true, why,
						       why_len));
		}
	}
	qcow_close(img);
	/* a dirty image (lazy refcounts) is repaired at open, not checked */
	if (ok && tl_have_prog("qemu-img") && !image_dirty(path)) {
		int ret = qemu_check(path);

		if (ret != 0 && ret != 3) {
			snprintf(why, why_len, "qemu-img check (as crashed) "
				 "exit %d", ret);
			ok = false;
		}
	}
	return ok;
}

static void apply_op(const struct wl_op *o, uint8_t *buf, uint64_t size)
{
	uint64_t end = MIN(o->off + o->len, size);

	if (o->off >= size)
		return;
	if (o->kind == WL_WRITE || o->kind == WL_FUA ||
	    o->kind == WL_COMPRESSED)
		memset(buf + o->off, o->pattern, end - o->off);
	else if (o->kind == WL_ZERO || o->kind == WL_DISCARD)
		memset(buf + o->off, 0, end - o->off);
}

static void model_op(const struct wl_op *o, uint8_t *buf, uint64_t size,
		     uint8_t **saved)
{
	if (o->kind == WL_SNAP_CREATE && o->pattern < MAX_SNAPS) {
		if (!saved[o->pattern])
			saved[o->pattern] = malloc(size);
		memcpy(saved[o->pattern], buf, size);
	} else if (o->kind == WL_SNAP_APPLY && o->pattern < MAX_SNAPS &&
		   saved[o->pattern]) {
		memcpy(buf, saved[o->pattern], size);
	} else {
		apply_op(o, buf, size);
	}
}

static void content_after(const struct workload *w, int upto, uint8_t *buf)
{
	uint8_t *saved[MAX_SNAPS] = { NULL };
	int i;

	memset(buf, w->backing ? BACKING_BYTE : 0, w->size);
	for (i = 0; i < w->nsetup; i++)
		model_op(&w->setup[i], buf, w->size, saved);
	for (i = 0; i < upto; i++)
		model_op(&w->ops[i], buf, w->size, saved);
	for (i = 0; i < MAX_SNAPS; i++)
		free(saved[i]);
}

/* Could op o have left byte value v at b? */
static bool writes(const struct wl_op *o, uint64_t b, uint8_t v, bool backing)
{
	if (b < o->off || b >= o->off + o->len)
		return false;
	if ((o->kind == WL_WRITE || o->kind == WL_FUA) && v == o->pattern)
		return true;
	if ((o->kind == WL_ZERO || o->kind == WL_DISCARD) && !v)
		return true;
	/* a version 2 discard shows the backing file again */
	return o->kind == WL_DISCARD && backing && v == BACKING_BYTE;
}

/*
 * A FUA write completed before p is durable: its bytes, or what a request
 * started after it wrote there.
 */
static bool fua_kept(const struct workload *w, int flushed, unsigned long p,
		     uint64_t b, uint8_t v)
{
	int i, j, last = -1;

	for (i = flushed; i < w->nops; i++) {
		const struct wl_op *o = &w->ops[i];

		if (o->kind == WL_FUA && o->last_event <= p &&
		    b >= o->off && b < o->off + o->len)
			last = i;
	}
	if (last < 0 || v == w->ops[last].pattern)
		return true;
	for (j = last + 1; j < w->nops; j++)
		if (w->ops[j].first_event < p &&
		    writes(&w->ops[j], b, v, w->backing))
			return true;
	return false;
}

/*
 * Every byte must be what was there at the last flush completed before p,
 * or what a request started before p put there.
 */
static bool verify(const struct workload *w, unsigned long p,
		   const uint8_t *got, char *why, size_t why_len)
{
	uint8_t *base = malloc(w->size), *applied = NULL;
	int flushed = 0, i;
	uint64_t b;
	bool ok = true;

	for (i = 0; i < w->nops; i++)
		if (is_barrier(w->ops[i].kind) && w->ops[i].last_event <= p)
			flushed = i + 1;
	content_after(w, flushed, base);
	/* an apply under way: the image may hold either content */
	if (flushed < w->nops && w->ops[flushed].kind == WL_SNAP_APPLY &&
	    w->ops[flushed].first_event < p) {
		applied = malloc(w->size);
		content_after(w, flushed + 1, applied);
	}
	for (b = 0; b < w->size && ok; b++) {
		if (!fua_kept(w, flushed, p, b, got[b])) {
			ok = false;
			snprintf(why, why_len, "byte %lu is %#x: a FUA write "
				 "completed there", (unsigned long)b, got[b]);
			break;
		}
		if (got[b] == base[b] || (applied && got[b] == applied[b]))
			continue;
		ok = false;
		for (i = flushed; i < w->nops && !ok; i++) {
			const struct wl_op *o = &w->ops[i];

			if (o->first_event >= p || b < o->off ||
			    b >= o->off + o->len)
				continue;
			if (writes(o, b, got[b], w->backing))
				ok = true;
		}
		if (!ok)
			snprintf(why, why_len, "byte %lu is %#x, flushed %#x",
				 (unsigned long)b, got[b], base[b]);
	}
	free(base);
	free(applied);
	return ok;
}

/* ---- one crash image ---- */

struct stats {
	unsigned long images;
	unsigned long same;		/* as another variant of the point */
	unsigned long qemu_checks;
};

#define REPAIR_ALL (QCOW_REPAIR_LEAKS | QCOW_REPAIR_ERRORS)

/* check -r all, as the tool runs it on a damaged image. */
static int repair_image(const char *path)
{
	struct qcow_open_opts oo = { .repair = true };
	struct qcow_check_result res;
	struct qcow_image *img;
	int ret = wl_open(&img, path, &oo);

	if (ret < 0)
		return ret;
	ret = qcow_repair(img, REPAIR_ALL | QCOW_REPAIR_REBUILD, &res, NULL,
			  NULL);
	qcow_close(img);
	return ret;
}

static bool check_image(const struct workload *w, const char *path,
			unsigned long p, bool qemu, struct stats *st,
			char *why, size_t why_len)
{
	struct qcow_open_opts oo = { 0 };
	struct qcow_check_result res;
	struct qcow_image *img;
	uint8_t *got;
	int ret;

	st->images++;
	if (w->nbitmaps && !check_bitmaps(w, path, p, why, why_len))
		return false;
	if (w->damage && (ret = repair_image(path)) < 0) {
		snprintf(why, why_len, "repair again: %s", qcow_strerror());
		return false;
	}
	if (wl_open(&img, path, &oo) < 0) {
		snprintf(why, why_len, "open: %s", qcow_strerror());
		return false;
	}
	got = malloc(w->size);
	ret = qcow_size(img) < w->size ? -ERANGE :
	      qcow_pread(img, got, w->size, 0);
	qcow_close(img);
	if (ret < 0 || !verify(w, p, got, why, why_len)) {
		if (ret < 0)
			snprintf(why, why_len, "read: %d", ret);
		free(got);
		return false;
	}
	free(got);
	/* legacy qcow has nothing to check (nor has qemu-img for it) */
	if (w->co.format == QCOW_FMT_QCOW)
		return true;
	oo.read_only = true;
	if (wl_open(&img, path, &oo) < 0) {
		snprintf(why, why_len, "reopen: %s", qcow_strerror());
		return false;
	}
	ret = qcow_check(img, &res, NULL, NULL);
	qcow_close(img);
	if (ret < 0 || res.corruptions || res.check_errors) {
		snprintf(why, why_len, "check: %d, %lu corruptions", ret,
			 (unsigned long)res.corruptions);
		return false;
	}
	if (!qemu)
		return true;
	st->qemu_checks++;
	ret = qemu_check(path);
	if (ret != 0 && ret != 3) {
		snprintf(why, why_len, "qemu-img check exit %d", ret);
		return false;
	}
	return true;
}

/*
 * Which crash images qemu-img checks too.  The sanitizer build makes the
 * same images as the plain one, which checks them: it checks one crash
 * point in four (its own job is the engine's memory errors).
 */
static bool qemu_checks(bool qemu, unsigned long p, int v)
{
#ifdef TL_LSAN
	if (p % 4)
		return false;
#endif
	return qemu && (v <= V_ALL || p % 7 == 0);
}

static bool same_files(const struct file_img a[2], const struct file_img b[2])
{
	int k;

	for (k = 0; k < 2; k++)
		if (a[k].size != b[k].size ||
		    memcmp(a[k].buf, b[k].buf, a[k].size))
			return false;
	return true;
}

/*
 * Is variant v of a point the same files as an earlier variant of that
 * point?  Then it was checked already: the checks depend only on the
 * files and the point, and an earlier variant gets qemu-img check
 * whenever a later one would (qemu_checks).
 */
static bool seen_before(struct file_img out[V_COUNT][2], int v)
{
	int u;

	for (u = 0; u < v; u++)
		if (same_files(out[u], out[v]))
			return true;
	return false;
}

static void free_variants(struct file_img out[V_COUNT][2], int n)
{
	int v;

	for (v = 0; v < n; v++) {
		free(out[v][0].buf);
		free(out[v][1].buf);
	}
}

/*
 * Under ASan every third crash point (and the last), for make check's
 * time: the build without it checks them all, on the same events.
 * CRASH_STRIDE=N sets it (1: all).
 */
#ifdef __SANITIZE_ADDRESS__
#define CRASH_STRIDE_DEFAULT 3
#else
#define CRASH_STRIDE_DEFAULT 1
#endif

static unsigned long crash_stride(void)
{
	const char *s = getenv("CRASH_STRIDE");
	unsigned long n = s ? strtoul(s, NULL, 10) : CRASH_STRIDE_DEFAULT;

	return n ? n : 1;
}

static void crash_all(const struct workload *w, const char *path,
		      const char *data_path, const struct file_img init[2])
{
	unsigned long stride = crash_stride();
	char crash[1100], crash_data[1100], why[256] = "";
	bool qemu = tl_have_prog("qemu-img");
	struct file_img out[V_COUNT][2];
	struct stats st = { 0 };
	unsigned long p;
	int v;

	snprintf(crash, sizeof(crash), "%s.crash", path);
	snprintf(crash_data, sizeof(crash_data), "%s", data_path ?
		 data_path : "");
	for (p = 0; p <= rec.events; p++) {
		if (p % stride && p != rec.events)
			continue;
		for (v = 0; v < V_COUNT; v++) {
			bool ok;

			build(out[v], init, p, v, p * 31 + v);
			if (seen_before(out, v)) {
				st.same++;
				continue;
			}
			write_out(crash, &out[v][0]);
			if (data_path)
				write_out(crash_data, &out[v][1]);
			ok = check_image(w, crash, p, qemu_checks(qemu, p, v),
					 &st, why, sizeof(why));
			if (!ok) {
				if (getenv("CRASH_KEEP"))
					rename(crash, getenv("CRASH_KEEP"));
				tl_fail("crash after event %lu of %lu (%s): %s",
					p, rec.events, variant_names[v], why);
				free_variants(out, v + 1);
				return;
			}
		}
		free_variants(out, V_COUNT);
	}
	printf("# %s: %lu crash points (1 in %lu checked), %lu images (%lu "
	       "more the same as another of their point), %lu qemu-img "
	       "checks\n", w->name, rec.events + 1, stride, st.images,
	       st.same, st.qemu_checks);
	if (!qemu)
		tl_skip("qemu-img is not installed: %lu crash images checked "
			"by our check only", st.images);
	else
		tl_pass();
}

static int run_snapshot_op(const struct wl_op *o, struct qcow_image *img)
{
	struct qcow_snapshot_create_opts co = { .icount = UINT64_MAX };
	char name[8];

	snprintf(name, sizeof(name), "s%u", o->pattern);
	co.name = name;
	if (o->kind == WL_SNAP_CREATE)
		return qcow_snapshot_create(img, &co, NULL, 0);
	if (o->kind == WL_SNAP_DELETE)
		return qcow_snapshot_delete(img, name);
	return qcow_snapshot_apply(img, name);
}

static void fua_done(struct qcow_req *req, int res)
{
	*(int *)req->priv = res;
}

/* A write with FUA, on a context without a ring. */
static int fua_write(struct qcow_image *img, const struct wl_op *o)
{
	struct qcow_req req = { .done = fua_done, .flags = QCOW_REQ_FUA };
	struct qcow_ctx *ctx;
	int ret, res = 1;
	uint8_t *buf = malloc(o->len);

	ret = buf ? qcow_ctx_new(&ctx, NULL) : -ENOMEM;
	if (ret < 0) {
		free(buf);
		return ret;
	}
	memset(buf, o->pattern, o->len);
	req.priv = &res;
	ret = qcow_submit(ctx, img, &req, QCOW_OP_WRITE, buf, o->off, o->len);
	while (!ret && res == 1)
		qcow_ctx_run_deferred(ctx);
	qcow_ctx_free(ctx);
	free(buf);
	return ret ? ret : res;
}

static int run_ops(struct wl_op *ops, int nops, struct qcow_image *img)
{
	uint8_t *buf;
	int i, ret = 0;

	for (i = 0; i < nops && !ret; i++) {
		struct wl_op *o = &ops[i];

		o->first_event = rec.events;
		switch (o->kind) {
		case WL_WRITE:
			buf = malloc(o->len);
			memset(buf, o->pattern, o->len);
			ret = qcow_pwrite(img, buf, o->len, o->off);
			free(buf);
			break;
		case WL_FUA:
			ret = fua_write(img, o);
			break;
		case WL_ZERO:
			ret = qcow_pwrite_zeroes(img, o->len, o->off, 0);
			break;
		case WL_DISCARD:
			ret = qcow_pdiscard(img, o->len, o->off);
			break;
		case WL_FLUSH:
			ret = qcow_flush(img);
			break;
		case WL_COMPRESSED:
			buf = malloc(o->len);
			memset(buf, o->pattern, o->len);
			ret = qcow_pwrite_compressed(img, buf, o->len, o->off);
			free(buf);
			break;
		case WL_RESIZE:
			ret = qcow_resize(img, o->len, false);
			break;
		case WL_SNAP_CREATE:
		case WL_SNAP_DELETE:
		case WL_SNAP_APPLY:
			ret = run_snapshot_op(o, img);
			break;
		}
		o->last_event = rec.events;
	}
	return ret;
}

static char backing_path[1100];

static int make_backing(struct workload *w, const char *path)
{
	struct qcow_create_opts bo = {
		.format = QCOW_FMT_QCOW2, .size = w->size,
		.cluster_size = 4096,
	};
	struct qcow_open_opts oo = { 0 };
	struct qcow_image *img;
	uint8_t *buf;
	int ret;

	snprintf(backing_path, sizeof(backing_path), "%s.base", path);
	ret = qcow_create(backing_path, &bo);
	if (!ret)
		ret = qcow_open(&img, backing_path, &oo);
	if (ret < 0)
		return ret;
	buf = malloc(w->size);
	memset(buf, BACKING_BYTE, w->size);
	ret = qcow_pwrite(img, buf, w->size, 0);
	free(buf);
	qcow_close(img);
	w->co.backing_file = backing_path;
	w->co.backing_format = "qcow2";
	return ret;
}

static int setup(struct workload *w, const char *path)
{
	struct qcow_open_opts oo = { 0 };
	struct qcow_image *img;
	int ret = wl_open(&img, path, &oo), k;

	if (ret < 0)
		return ret;
	ret = run_ops(w->setup, w->nsetup, img);
	for (k = 0; k < w->nbitmaps && !ret; k++)
		ret = qcow_bitmap_add(img, bm_names[k], bm_gran[k], false);
	qcow_close(img);
	return ret;
}

static int poke_be64(int fd, uint64_t off, uint64_t v)
{
	uint8_t b[8];
	int i;

	for (i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (56 - 8 * i));
	return pwrite(fd, b, 8, (off_t)off) == 8 ? 0 : -EIO;
}

static uint64_t peek_be64(int fd, uint64_t off)
{
	uint8_t b[8] = { 0 };
	uint64_t v = 0;
	int i;

	if (pread(fd, b, 8, (off_t)off) != 8)
		return 0;
	for (i = 0; i < 8; i++)
		v = v << 8 | b[i];
	return v;
}

/* Header: L1 table offset at 40, refcount table offset at 48. */
static int damage(const struct workload *w, const char *path)
{
	int fd = open(path, O_RDWR), ret = -EINVAL;
	uint64_t rt;

	if (fd < 0)
		return -errno;
	rt = peek_be64(fd, 48);
	if (w->damage == DAMAGE_REFBLOCK_UNALIGNED)
		ret = poke_be64(fd, rt, peek_be64(fd, rt) + 512);
	else if (w->damage == DAMAGE_REFBLOCK_OVER_L1)
		ret = poke_be64(fd, rt + 8, peek_be64(fd, 40));
	close(fd);
	return ret;
}

/* The recorded run: the workload's requests, or the repair. */
static int run_recorded(struct workload *w, const char *path)
{
	struct qcow_open_opts oo = { .repair = w->damage != DAMAGE_NONE };
	struct qcow_check_result res;
	struct qcow_image *img;
	int ret = wl_open(&img, path, &oo);

	if (ret < 0)
		return ret;
	if (w->damage)
		ret = qcow_repair(img, REPAIR_ALL | QCOW_REPAIR_REBUILD, &res,
				  NULL, NULL);
	if (!ret && w->damage && (res.corruptions || res.leaks))
		ret = -EUCLEAN;
	if (!ret)
		ret = run_ops(w->ops, w->nops, img);
	qcow_close(img);
	return ret;
}

static void run_workload(struct workload *w)
{
	char path[1024], data_path[1024];
	struct file_img init[2] = { { 0 } };
	int ret;

	tl_begin("crash/%s", w->name);
	snprintf(path, sizeof(path), "%s/%s.qcow2", tl_tmpdir(), w->name);
	snprintf(data_path, sizeof(data_path), "%s/%s.data", tl_tmpdir(),
		 w->name);
	if (!w->co.format)
		w->co.format = QCOW_FMT_QCOW2;
	w->co.size = w->size;
	wl_key = w->co.key;
	w->co.key_len = wl_key ? strlen(wl_key) : 0;
	if (w->co.data_file)
		w->co.data_file = data_path;
	if (w->backing && make_backing(w, path) < 0)
		return tl_fail("backing: %s", qcow_strerror());
	if (qcow_create(path, &w->co) < 0)
		return tl_fail("create: %s", qcow_strerror());
	if ((w->nsetup || w->nbitmaps) && setup(w, path) < 0)
		return tl_fail("setup: %s", qcow_strerror());
	if (w->damage && damage(w, path) < 0)
		return tl_fail("damage: cannot poke %s", path);
	read_file(path, &init[0]);
	if (w->co.data_file)
		read_file(data_path, &init[1]);
	rec_reset();
	rec.names[0] = path;
	rec.names[1] = w->co.data_file ? data_path : NULL;
	qfile_set_backend(&recorder);
	ret = run_recorded(w, path);
	qfile_set_backend(NULL);
	if (ret < 0)
		tl_fail("workload failed: %d (%s)", ret, qcow_strerror());
	else
		crash_all(w, path, w->co.data_file ? data_path : NULL, init);
	free(init[0].buf);
	free(init[1].buf);
	rec_reset();
}

#define W(o, l, p) { .kind = WL_WRITE, .off = (o), .len = (l), .pattern = (p) }
#define U(o, l, p) { .kind = WL_FUA, .off = (o), .len = (l), .pattern = (p) }
#define Z(o, l) { .kind = WL_ZERO, .off = (o), .len = (l) }
#define D(o, l) { .kind = WL_DISCARD, .off = (o), .len = (l) }
#define F { .kind = WL_FLUSH }
#define C(o, l, p) { .kind = WL_COMPRESSED, .off = (o), .len = (l), \
		     .pattern = (p) }
#define R(size) { .kind = WL_RESIZE, .len = (size) }
#define SC(n) { .kind = WL_SNAP_CREATE, .pattern = (n) }
#define SD(n) { .kind = WL_SNAP_DELETE, .pattern = (n) }
#define SA(n) { .kind = WL_SNAP_APPLY, .pattern = (n) }

static struct workload workloads[] = {
	{
		.name = "alloc-64k", .size = 4 << 20,
		.co = { .cluster_size = 65536 },
		.ops = { W(0, 4096, 1), W(70000, 100000, 2), F,
			 W(1 << 20, 65536, 3), W(2000, 10, 4), F,
			 W(3 << 20, 300000, 5) },
		.nops = 7,
	},
	{
		/* FUA in place: one fdatasync, durable at completion */
		.name = "fua", .size = 1 << 20,
		.co = { .cluster_size = 65536 },
		.ops = { W(0, 262144, 1), F, U(4096, 4096, 2),
			 W(300000, 5000, 3), U(8192, 4096, 4), F,
			 U(600000, 4096, 5), U(0, 512, 6), U(70000, 3000, 7),
			 W(800000, 1000, 8), U(801000, 1000, 9) },
		.nops = 11,
	},
	{
		/* freed clusters reused: zeroed before the guest bytes land */
		.name = "alloc-reuse", .size = 1 << 20,
		.co = { .cluster_size = 65536 },
		.ops = { W(0, 262144, 1), F, D(0, 262144), F, F,
			 W(1000, 100, 2), W(70000, 3000, 3), F,
			 W(200000, 4096, 4) },
		.nops = 9,
	},
	{
		/* 512-byte clusters: many L2 tables, refcount blocks of 64
		 * entries and a refcount table that has to grow */
		.name = "l2-refblock-reftable-growth", .size = 4 << 20,
		.co = { .cluster_size = 512, .refcount_bits = 64 },
		.ops = { W(0, 40000, 1), F, W(100000, 300000, 2), F,
			 W(1 << 20, 600000, 3), F, W(3 << 20, 1000, 4) },
		.nops = 7,
	},
	{
		.name = "zero-discard", .size = 2 << 20,
		.co = { .cluster_size = 4096 },
		.ops = { W(0, 1 << 20, 1), F, Z(8192, 20000), D(65536, 65536),
			 F, W(70000, 5000, 2), D(0, 8192), Z(500000, 3000),
			 F, W(4096, 4096, 3) },
		.nops = 10,
	},
	{
		.name = "extended-l2", .size = 2 << 20,
		.co = { .cluster_size = 65536, .extended_l2 = true },
		.ops = { W(1000, 3000, 1), W(5000, 70000, 2), F,
			 Z(2048, 2048), D(131072, 65536), W(140000, 100, 3),
			 F, W(600000, 200000, 4) },
		.nops = 8,
	},
	{
		.name = "lazy-refcounts", .size = 2 << 20,
		.co = { .cluster_size = 4096, .lazy_refcounts = true },
		.ops = { W(0, 10000, 1), F, W(50000, 200000, 2), D(0, 4096),
			 F, W(1 << 20, 8192, 3) },
		.nops = 6,
	},
	{
		.name = "version2", .size = 2 << 20,
		.co = { .cluster_size = 4096, .compat = 2 },
		.ops = { W(0, 10000, 1), F, Z(4096, 8192), W(300000, 5000, 2),
			 F, D(0, 4096), W(1 << 20, 100, 3) },
		.nops = 7,
	},
	{
		/* partial writes copy the rest from the backing file */
		.name = "cow-backing", .size = 2 << 20, .backing = true,
		.co = { .cluster_size = 65536 },
		.ops = { W(1000, 3000, 1), F, W(70000, 100000, 2),
			 Z(200000, 70000), F, D(0, 65536), W(600000, 10, 3) },
		.nops = 7,
	},
	{
		.name = "cow-backing-extl2", .size = 2 << 20, .backing = true,
		.co = { .cluster_size = 65536, .extended_l2 = true },
		.ops = { W(1000, 3000, 1), F, W(70000, 100000, 2), F,
			 D(131072, 65536), W(300000, 5, 3) },
		.nops = 6,
	},
	{
		/* version 2: a discard shows the backing file again */
		.name = "cow-backing-v2", .size = 1 << 20, .backing = true,
		.co = { .cluster_size = 4096, .compat = 2 },
		.ops = { W(1000, 3000, 1), F, W(7000, 10000, 2), F,
			 D(8192, 4096), Z(20000, 9000), W(300000, 5, 3) },
		.nops = 7,
	},
	{
		/* writes into compressed clusters copy them */
		.name = "cow-compressed", .size = 1 << 20,
		.co = { .cluster_size = 4096 },
		.setup = { C(0, 1 << 20, 0x44) },
		.nsetup = 1,
		.ops = { W(100, 10, 1), W(4096, 8192, 2), F, D(65536, 4096),
			 W(70000, 5000, 3), F, W(500000, 1, 4) },
		.nops = 7,
	},
	{
		/* legacy qcow: clusters and L2 tables appended, 2M per table */
		.name = "qcow1-alloc", .size = 6 << 20,
		.co = { .format = QCOW_FMT_QCOW },
		.ops = { W(0, 4096, 1), W(5000, 100, 2), F,
			 W(2093000, 10000, 3), W(4 << 20, 65536, 4),
			 Z(1000, 2000), F, W(5000000, 300000, 5),
			 Z(4 << 20, 4096), W(100, 1, 6) },
		.nops = 10,
	},
	{
		/* legacy qcow: the 8th dirty L2 table starts a write-back */
		.name = "qcow1-writeback", .size = 20 << 20,
		.co = { .format = QCOW_FMT_QCOW },
		.ops = { W(0, 100, 1), W(2 << 20, 100, 2), W(4 << 20, 100, 3),
			 W(6 << 20, 100, 4), W(8 << 20, 100, 5),
			 W(10 << 20, 100, 6), W(12 << 20, 100, 7),
			 W(14 << 20, 100, 8), W(16 << 20, 5000, 9),
			 W(18 << 20, 100, 10), W(50, 100, 11), F },
		.nops = 12,
	},
	{
		/* legacy qcow: writes into compressed clusters copy them */
		.name = "qcow1-compressed", .size = 1 << 20,
		.co = { .format = QCOW_FMT_QCOW },
		.setup = { C(0, 1 << 20, 0x44) },
		.nsetup = 1,
		.ops = { W(100, 10, 1), W(4096, 8192, 2), F, Z(65536, 4096),
			 W(70000, 5000, 3), F, W(500000, 1, 4) },
		.nops = 7,
	},
	{
		/* legacy qcow over a backing file: 512-byte clusters */
		.name = "qcow1-backing", .size = 1 << 20, .backing = true,
		.co = { .format = QCOW_FMT_QCOW },
		.ops = { W(100, 50, 1), F, W(70000, 100000, 2),
			 Z(3000, 600), F, W(600000, 10, 3), D(0, 4096) },
		.nops = 7,
	},
	{
		/* legacy qcow AES: new clusters encrypted whole, sectors rewritten */
		.name = "qcow1-aes", .size = 3 << 20,
		.co = { .format = QCOW_FMT_QCOW, .crypt_method = 1,
			.key = "crash-pw" },
		.ops = { W(1000, 3000, 1), F, W(7000, 10000, 2), W(1500, 100, 3),
			 F, Z(20000, 9000), W(2093000, 10000, 4),
			 W(1001, 1, 5) },
		.nops = 8,
	},
	{
		/* legacy qcow AES over a backing file: 512-byte clusters */
		.name = "qcow1-aes-backing", .size = 1 << 20, .backing = true,
		.co = { .format = QCOW_FMT_QCOW, .crypt_method = 1,
			.key = "crash-pw" },
		.ops = { W(100, 50, 1), F, W(70000, 10000, 2), W(120, 10, 3),
			 Z(3000, 600), F, W(600000, 10, 4) },
		.nops = 7,
	},
	{
		/* a grown L1 table is written before the header names it */
		.name = "resize", .size = 1 << 20,
		.co = { .cluster_size = 512 },
		.ops = { W(0, 5000, 1), F, R(64 << 20), W(100000, 3000, 2), F,
			 R(100 << 20), W(512, 512, 3) },
		.nops = 7,
	},
	{
		/* check -r all rebuilds the refcount table and blocks */
		.name = "repair-refblock-unaligned", .size = 1 << 20,
		.co = { .cluster_size = 4096 },
		.setup = { W(0, 300000, 1), W(600000, 5000, 2) },
		.nsetup = 2,
		.damage = DAMAGE_REFBLOCK_UNALIGNED,
	},
	{
		.name = "repair-refblock-over-l1", .size = 1 << 20,
		.co = { .cluster_size = 16384, .extended_l2 = true },
		.setup = { W(0, 300000, 1), C(393216, 16384, 3) },
		.nsetup = 2,
		.damage = DAMAGE_REFBLOCK_OVER_L1,
	},
	{
		.name = "bitmaps", .size = 2 << 20, .nbitmaps = 2,
		.co = { .cluster_size = 4096 },
		.setup = { W(0, 8192, 9) },
		.nsetup = 1,
		.ops = { W(0, 10000, 1), F, W(300000, 70000, 2), Z(4096, 8192),
			 F, D(1 << 20, 65536), W((2 << 20) - 512, 512, 3) },
		.nops = 7,
	},
	{
		.name = "bitmaps-lazy-64k", .size = 2 << 20, .nbitmaps = 2,
		.co = { .cluster_size = 65536, .lazy_refcounts = true },
		.ops = { W(70000, 1000, 1), F, D(0, 65536), W(600000, 5, 2) },
		.nops = 4,
	},
	{
		/* writes after a snapshot copy shared L2 tables and data */
		.name = "snapshot-create", .size = 1 << 20,
		.co = { .cluster_size = 4096 },
		.setup = { W(0, 65536, 1), C(204800, 8192, 9) },
		.nsetup = 2,
		.ops = { SC(0), W(4096, 8192, 3), W(204800, 100, 4) },
		.nops = 3,
	},
	{
		/* frees what only s1 held: a compressed and a data cluster */
		.name = "snapshot-delete", .size = 1 << 20,
		.co = { .cluster_size = 4096 },
		.setup = { W(0, 65536, 1), SC(0), W(0, 8192, 2),
			   C(299008, 4096, 9), SC(1), W(299008, 100, 3),
			   W(0, 4096, 5) },
		.nsetup = 7,
		.ops = { SD(1), W(8192, 4096, 4) },
		.nops = 2,
	},
	{
		.name = "snapshot-apply", .size = 1 << 20,
		.co = { .cluster_size = 4096, .lazy_refcounts = true },
		.setup = { W(0, 65536, 1), SC(0), W(0, 8192, 2) },
		.nsetup = 3,
		.ops = { SA(0), W(4096, 4096, 3) },
		.nops = 2,
	},
	{
		/* legacy AES: every write bounced, COW re-encrypted in place */
		.name = "encrypted-aes", .size = 2 << 20, .backing = true,
		.co = { .cluster_size = 4096, .crypt_method = 1,
			.key = "crash-pw" },
		.ops = { W(1000, 3000, 1), F, W(7000, 10000, 2), W(1500, 100, 3),
			 F, Z(20000, 9000), D(8192, 4096), W(300000, 5, 4) },
		.nops = 8,
	},
	{
		/* LUKS: copied sectors re-encrypted for their new host sector */
		.name = "encrypted-luks", .size = 2 << 20, .backing = true,
		.co = { .cluster_size = 65536, .crypt_method = 2,
			.key = "crash-pw", .luks_iter_time_ms = 10 },
		.ops = { W(1000, 3000, 1), F, W(70000, 100000, 2),
			 W(1100, 700, 3), F, Z(200000, 70000), D(0, 65536),
			 W(600000, 10, 4) },
		.nops = 8,
	},
	{
		.name = "data-file", .size = 2 << 20,
		.co = { .cluster_size = 4096, .data_file = "x" },
		.ops = { W(0, 10000, 1), F, W(50000, 200000, 2), Z(0, 4096),
			 F, W(1 << 20, 8192, 3) },
		.nops = 6,
	},
};

int main(int argc, char **argv)
{
	size_t i;

	setenv("QCOW_SYNC_IO", "1", 1);	/* one deterministic order */
	/*
	 * Every crash image allocates and frees buffers of the image's
	 * size: from the heap, not a fresh mmap whose pages fault in each
	 * time (half the CPU of a run went to those faults)
	 */
	mallopt(M_MMAP_THRESHOLD, 256 << 20);
	mallopt(M_TRIM_THRESHOLD, 1 << 30);
	/*
	 * What reaches the disk is simulated (the recorder), not the file
	 * system's: in memory, the engine's fsyncs of thousands of crash
	 * images do not wait for a disk
	 */
	if (!getenv("TMPDIR") && !access("/dev/shm", W_OK))
		setenv("TMPDIR", "/dev/shm", 1);
	/* thousands of crash images a case: more than the default minute */
	setenv("TL_TIMEOUT", "900", 0);
	tl_init(argc, argv);
	/* CRASH_ONLY=bitmaps: the workloads whose name contains it */
	for (i = 0; i < ARRAY_SIZE(workloads); i++)
		if (!getenv("CRASH_ONLY") ||
		    strstr(workloads[i].name, getenv("CRASH_ONLY")))
			run_workload(&workloads[i]);
	return tl_finish();
}
