// SPDX-License-Identifier: MIT
/*
 * Random writes, zero writes, discards and compressed writes interleaved
 * with internal snapshot create, delete and apply, against a byte model
 * per snapshot.  The image must read back as the model after every few
 * operations and after a reopen, check clean (ours) after every snapshot
 * call, and at the end pass qemu-img check, with every snapshot left
 * exported by qemu-img convert -l as its model and, applied by us, read
 * back as its model.  Narrow refcounts (4 bits) overflow: the create or
 * apply is refused whole and the image checks clean.  SNAP_TRACE=1 prints the ops.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "qcow.h"
#include "testlib.h"
#include "model.h"

#define SIZE	(2u << 20)
#define OPS	240
#define SNAPS	6

struct snap {
	bool used;
	uint8_t *bytes;
	char name[16];
};

struct state {
	struct tl_model exp;
	struct snap sn[SNAPS];
	uint8_t *buf;
	uint32_t cs;
	bool v2;
	bool narrow;		/* refcounts may overflow */
	char path[1024];
	unsigned int made;
};

static int data_op(struct qcow_image *img, struct state *st, uint64_t *seed,
		   int kind)
{
	uint64_t len = 1 + tl_rnd(seed) % (3 * st->cs), off, c;
	uint8_t pat = (uint8_t)(1 + tl_rnd(seed) % 250);

	off = tl_rnd(seed) % (SIZE - len);
	switch (kind) {
	case 0:
		tl_model_set(&st->exp, off, 0, len);
		return qcow_pwrite_zeroes(img, len, off,
					  tl_rnd(seed) & 1 ? QCOW_REQ_UNMAP : 0);
	case 1:
		tl_model_discard(&st->exp, off, len, st->cs, 0);
		return qcow_pdiscard(img, len, off);
	case 2:
		c = (tl_rnd(seed) % (SIZE / st->cs)) * st->cs;
		memset(st->buf, pat, st->cs);
		if (qcow_pwrite_compressed(img, st->buf, st->cs, c) == 0)
			tl_model_set(&st->exp, c, pat, st->cs);
		return 0;
	default:
		memset(st->buf, pat, len);
		tl_model_put(&st->exp, off, st->buf, len);
		return qcow_pwrite(img, st->buf, len, off);
	}
}

static void say(void *arg, const char *msg)
{
	(void)arg;
	fprintf(stderr, "    | %s\n", msg);
}

static int check_clean(struct qcow_image *img, char *why, size_t n)
{
	struct qcow_check_result res;
	int ret = qcow_check(img, &res, say, NULL);

	if (ret < 0 || res.corruptions || res.leaks || res.check_errors) {
		snprintf(why, n, "check: %d, %" PRIu64 " corruptions, %" PRIu64
			 " leaks", ret, res.corruptions, res.leaks);
		return -1;
	}
	return 0;
}

static int pick(struct state *st, uint64_t *seed, bool used)
{
	int i, k = (int)(tl_rnd(seed) % SNAPS);

	for (i = 0; i < SNAPS; i++, k = (k + 1) % SNAPS)
		if (st->sn[k].used == used)
			return k;
	return -1;
}

static int snap_op(struct qcow_image *img, struct state *st, uint64_t *seed,
		   int kind)
{
	struct qcow_snapshot_create_opts o = { .icount = UINT64_MAX };
	int k, k2;

	if (kind == 0 && (k = pick(st, seed, false)) >= 0) {
		struct snap *s = &st->sn[k];

		snprintf(s->name, sizeof(s->name), "n%u", st->made++);
		o.name = s->name;
		memcpy(s->bytes, st->exp.bytes, SIZE);
		k = qcow_snapshot_create(img, &o, NULL, 0);
		/* narrow refcounts: refused whole, the image unchanged */
		if (k == -ERANGE && st->narrow)
			return 1;
		s->used = !k;
		return k ?: 1;
	}
	k = pick(st, seed, true);
	if (k < 0)
		return 0;
	if (kind == 1) {
		st->sn[k].used = false;
		return qcow_snapshot_delete(img, st->sn[k].name) ?: 1;
	}
	k2 = qcow_snapshot_apply(img, st->sn[k].name);
	/* so is an apply: a packed compressed cluster has many users */
	if (k2 == -ERANGE && st->narrow)
		return 1;
	if (!k2)
		memcpy(st->exp.bytes, st->sn[k].bytes, SIZE);
	return k2 ?: 1;
}

/* What is left: exported by qemu-img, then applied by us. */
static int check_snapshots(struct state *st, uint8_t *back, char *why,
			   size_t n)
{
	struct qcow_open_opts oo = { 0 };
	struct qcow_image *img;
	char raw[1100];
	int k, ret, fd;

	snprintf(raw, sizeof(raw), "%s.raw", st->path);
	for (k = 0; k < SNAPS; k++) {
		if (!st->sn[k].used)
			continue;
		if (tl_have_prog("qemu-img")) {
			ret = tl_run("qemu-img convert -l snapshot.name=%s -O "
				     "raw '%s' '%s'", st->sn[k].name,
				     st->path, raw);
			fd = ret ? -1 : open(raw, O_RDONLY);
			if (fd < 0 || pread(fd, back, SIZE, 0) != SIZE ||
			    memcmp(back, st->sn[k].bytes, SIZE)) {
				snprintf(why, n, "qemu-img export of %s "
					 "differs (exit %d)", st->sn[k].name,
					 ret);
				if (fd >= 0)
					close(fd);
				return -1;
			}
			close(fd);
		}
		ret = qcow_open(&img, st->path, &oo);
		if (!ret)
			ret = qcow_snapshot_apply(img, st->sn[k].name);
		if (!ret)
			ret = qcow_pread(img, back, SIZE, 0);
		if (ret < 0 || memcmp(back, st->sn[k].bytes, SIZE)) {
			snprintf(why, n, "applying %s: %d or content",
				 st->sn[k].name, ret);
			if (!ret)
				qcow_close(img);
			return -1;
		}
		ret = check_clean(img, why, n);
		qcow_close(img);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static void run(const char *name, struct qcow_create_opts co, uint64_t seed)
{
	struct state st = { .cs = co.cluster_size, .v2 = co.compat == 2,
			    .narrow = co.refcount_bits && co.refcount_bits < 16 };
	struct qcow_open_opts oo = { 0 };
	uint8_t *back = malloc(SIZE);
	struct qcow_image *img = NULL;
	char why[256] = "";
	int i, k, kind = 0, ret = 0;

	tl_begin("snapshot_random/%s", name);
	snprintf(st.path, sizeof(st.path), "%s/%s.qcow2", tl_tmpdir(), name);
	tl_model_init(&st.exp, SIZE, 0);
	st.buf = malloc(3 * st.cs + 1);
	for (k = 0; k < SNAPS; k++)
		st.sn[k].bytes = malloc(SIZE);
	co.format = QCOW_FMT_QCOW2;
	co.size = SIZE;
	if (qcow_create(st.path, &co) < 0 ||
	    qcow_open(&img, st.path, &oo) < 0) {
		tl_fail("%s", qcow_strerror());
		goto out;
	}
	for (i = 0; i < OPS && !ret; i++) {
		kind = (int)(tl_rnd(&seed) % 20);
		if (getenv("SNAP_TRACE"))
			fprintf(stderr, "op %d kind %d\n", i, kind);
		if (kind >= 17) {
			/* the calls write everything back: check then */
			ret = snap_op(img, &st, &seed, kind - 17);
			if (ret < 0)
				snprintf(why, sizeof(why), "snapshot op %d: %s",
					 kind - 17, qcow_strerror());
			else if (ret > 0)
				ret = check_clean(img, why, sizeof(why));
		} else {
			ret = data_op(img, &st, &seed, kind % 4);
			if (ret < 0)
				snprintf(why, sizeof(why), "write: %d", ret);
		}
		if (!ret && i % 60 == 59) {
			qcow_close(img);
			ret = qcow_open(&img, st.path, &oo);
			if (ret < 0) {
				img = NULL;
				snprintf(why, sizeof(why), "reopen: %s",
					 qcow_strerror());
			}
		}
		if (!ret && i % 8 == 7 &&
		    tl_model_differs(&st.exp, img, back)) {
			snprintf(why, sizeof(why), "content differs");
			ret = -1;
		}
	}
	if (img)
		qcow_close(img);
	if (ret < 0) {
		tl_fail("op %d (kind %d): %s", i - 1, kind, why);
		goto out;
	}
	if (tl_have_prog("qemu-img") &&
	    (ret = tl_run("qemu-img check -q '%s'", st.path))) {
		tl_fail("qemu-img check exit %d", ret);
		goto out;
	}
	if (check_snapshots(&st, back, why, sizeof(why)) < 0)
		tl_fail("%s", why);
	else if (!tl_have_prog("qemu-img"))
		tl_skip("qemu-img is not installed: checked by us only");
	else
		tl_pass();
out:
	tl_model_free(&st.exp);
	for (k = 0; k < SNAPS; k++)
		free(st.sn[k].bytes);
	free(st.buf);
	free(back);
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		struct qcow_create_opts co;
	} cfgs[] = {
		{ "4k", { .cluster_size = 4096 } },
		{ "64k-extl2", { .cluster_size = 65536, .extended_l2 = true } },
		{ "512-r64-lazy", { .cluster_size = 512, .refcount_bits = 64,
				    .lazy_refcounts = true } },
		{ "4k-v2", { .cluster_size = 4096, .compat = 2 } },
		{ "16k-r4-zstd", { .cluster_size = 16384, .refcount_bits = 4,
				   .compression_type = 1 } },
	};
	size_t i;

	tl_init(argc, argv);
	for (i = 0; i < sizeof(cfgs) / sizeof(cfgs[0]); i++)
		run(cfgs[i].name, cfgs[i].co, 7000 + i);
	return tl_finish();
}
