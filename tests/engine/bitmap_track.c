// SPDX-License-Identifier: MIT
/*
 * Persistent dirty bitmaps tracked by the engine: random write, write
 * zeroes and discard streams against a shadow bitmap per granularity
 * (512 B to 2 GiB), the dirty ranges read back with qcow_bitmap_range()
 * before close, after a reopen read-only (stored) and read-write (loaded);
 * qemu-img check clean and qemu-img info listing the bitmaps as stored.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "qcow.h"
#include "testlib.h"

#define DISK (8ULL << 30)
#define NGRAN 6

static const unsigned int gran_bits[NGRAN] = { 9, 12, 16, 20, 27, 31 };

struct shadow {
	uint8_t *bits;		/* one byte a granule */
	uint64_t n;
	unsigned int gb;
	char name[16];
	bool disabled;
};

static struct shadow sh[NGRAN + 1];

static void shadow_mark(struct shadow *s, uint64_t off, uint64_t len)
{
	uint64_t end = off + len > DISK ? DISK : off + len, i;

	if (s->disabled || !len || off >= DISK)
		return;
	for (i = off >> s->gb; i <= (end - 1) >> s->gb; i++)
		s->bits[i] = 1;
}

/* Every range qcow_bitmap_range() gives must match the shadow. */
static int compare(struct qcow_image *img, struct shadow *s, char *why,
		   size_t why_len)
{
	uint64_t off = 0, len, i;
	bool dirty;
	int ret;

	while (off < DISK) {
		ret = qcow_bitmap_range(img, s->name, off, &len, &dirty);
		if (ret < 0 || !len) {
			snprintf(why, why_len, "%s: range at %llu: %d %s",
				 s->name, (unsigned long long)off, ret,
				 qcow_strerror());
			return -1;
		}
		for (i = off >> s->gb; i <= (off + len - 1) >> s->gb; i++) {
			if (s->bits[i] != dirty) {
				snprintf(why, why_len, "%s: granule %llu is "
					 "%s, shadow says %s", s->name,
					 (unsigned long long)i,
					 dirty ? "dirty" : "clean",
					 s->bits[i] ? "dirty" : "clean");
				return -1;
			}
		}
		off += len;
		if (off < DISK && (off & ((1ULL << s->gb) - 1)) &&
		    off != DISK) {
			snprintf(why, why_len, "%s: range ends at %llu, not on "
				 "a granule", s->name,
				 (unsigned long long)off);
			return -1;
		}
	}
	return 0;
}

static int compare_all(struct qcow_image *img, int n, char *why,
		       size_t why_len)
{
	int i;

	for (i = 0; i < n; i++)
		if (compare(img, &sh[i], why, why_len) < 0)
			return -1;
	return 0;
}

static int random_ops(struct qcow_image *img, uint64_t seed, int nops,
		      int nbm)
{
	uint8_t *buf = malloc(1 << 20);
	int i, k, ret = 0;

	for (i = 0; i < nops && !ret; i++) {
		uint64_t r = tl_rnd(&seed), kind = r % 3;
		uint64_t len = 1 + tl_rnd(&seed) % (300 * 1024);
		uint64_t off = tl_rnd(&seed) % DISK;

		if (i % 4 == 0)	/* near granule edges and the end */
			off = ((tl_rnd(&seed) % DISK) & ~((1ULL << 20) - 1))
			      - (tl_rnd(&seed) % 2);
		if (off >= DISK)
			off = DISK - 1;
		if (off + len > DISK)
			len = DISK - off;
		if (kind == 0) {
			memset(buf, (int)(i + 1), len);
			ret = qcow_pwrite(img, buf, len, off);
		} else if (kind == 1) {
			ret = qcow_pwrite_zeroes(img, len, off, 0);
		} else {
			ret = qcow_pdiscard(img, len, off);
		}
		for (k = 0; k < nbm; k++)
			shadow_mark(&sh[k], off, len);
	}
	free(buf);
	return ret;
}

static void shadows_init(int n)
{
	int i;

	for (i = 0; i < n; i++) {
		sh[i].gb = gran_bits[i];
		sh[i].n = (DISK + (1ULL << sh[i].gb) - 1) >> sh[i].gb;
		free(sh[i].bits);
		sh[i].bits = calloc(sh[i].n, 1);
		snprintf(sh[i].name, sizeof(sh[i].name), "g%u", sh[i].gb);
		sh[i].disabled = false;
	}
}

static int add_all(struct qcow_image *img, int n)
{
	int i, ret = 0;

	for (i = 0; i < n && !ret; i++)
		ret = qcow_bitmap_add(img, sh[i].name, 1ULL << sh[i].gb,
				      false);
	return ret;
}

static int open_img(struct qcow_image **img, const char *path, bool ro)
{
	struct qcow_open_opts oo = { .read_only = ro };

	return qcow_open(img, path, &oo);
}

static void case_stream(uint64_t seed)
{
	struct qcow_create_opts co = {
		.format = QCOW_FMT_QCOW2, .size = DISK, .cluster_size = 65536,
	};
	struct qcow_image *img;
	char path[1024], why[512] = "";
	const struct qcow_bitmap_info *inf;
	int n, i;

	tl_begin("bitmap/stream-seed%llu", (unsigned long long)seed);
	tl_path(path, sizeof(path), "stream.qcow2");
	shadows_init(NGRAN);
	if (qcow_create(path, &co) < 0 || open_img(&img, path, false) < 0)
		return tl_fail("create/open: %s", qcow_strerror());
	if (add_all(img, NGRAN) < 0) {
		qcow_close(img);
		return tl_fail("add: %s", qcow_strerror());
	}
	if (random_ops(img, seed, 150, NGRAN) < 0 ||
	    compare_all(img, NGRAN, why, sizeof(why)) < 0) {
		qcow_close(img);
		return tl_fail("before close: %s %s", why, qcow_strerror());
	}
	qcow_close(img);
	if (open_img(&img, path, true) < 0)
		return tl_fail("reopen ro: %s", qcow_strerror());
	n = qcow_bitmap_list(img, &inf);
	for (i = 0; i < n && !why[0]; i++)
		if (inf[i].in_use || inf[i].broken || !inf[i].enabled)
			snprintf(why, sizeof(why), "%s: in_use %d broken %s",
				 inf[i].name, inf[i].in_use,
				 inf[i].broken ? inf[i].broken : "-");
	if (n != NGRAN && !why[0])
		snprintf(why, sizeof(why), "%d bitmaps listed", n);
	if (!why[0])
		compare_all(img, NGRAN, why, sizeof(why));
	qcow_close(img);
	if (why[0])
		return tl_fail("read-only reopen: %s", why);
	if (open_img(&img, path, false) < 0)
		return tl_fail("reopen rw: %s", qcow_strerror());
	if (random_ops(img, seed * 7 + 1, 40, NGRAN) < 0 ||
	    compare_all(img, NGRAN, why, sizeof(why)) < 0) {
		qcow_close(img);
		return tl_fail("second session: %s %s", why, qcow_strerror());
	}
	qcow_close(img);
	if (open_img(&img, path, true) < 0)
		return tl_fail("reopen: %s", qcow_strerror());
	compare_all(img, NGRAN, why, sizeof(why));
	qcow_close(img);
	tl_verdict_checked(why, path);
}

/* clear, disable, enable, mark, remove; then qemu-img sees the result */
static void case_ops(void)
{
	struct qcow_create_opts co = {
		.format = QCOW_FMT_QCOW2, .size = DISK, .cluster_size = 65536,
	};
	struct qcow_image *img;
	char path[1024], why[512] = "", cmd[1400];
	uint8_t buf[4096] = { 1 };
	int ret;

	tl_begin("bitmap/ops");
	tl_path(path, sizeof(path), "ops.qcow2");
	shadows_init(3);
	if (qcow_create(path, &co) < 0 || open_img(&img, path, false) < 0)
		return tl_fail("create/open: %s", qcow_strerror());
	ret = add_all(img, 3);
	if (!ret && qcow_bitmap_add(img, "g9", 0, false) != -EEXIST)
		snprintf(why, sizeof(why), "second add of g9 did not fail");
	if (!ret && !why[0] && !strstr(qcow_strerror(),
					"Bitmap already exists: g9"))
		snprintf(why, sizeof(why), "message: %s", qcow_strerror());
	if (!ret)
		ret = qcow_pwrite(img, buf, sizeof(buf), 1 << 20);
	shadow_mark(&sh[0], 1 << 20, 4096);
	shadow_mark(&sh[1], 1 << 20, 4096);
	shadow_mark(&sh[2], 1 << 20, 4096);
	if (!ret)
		ret = qcow_bitmap_clear(img, "g12");
	memset(sh[1].bits, 0, sh[1].n);
	if (!ret)
		ret = qcow_bitmap_enable(img, "g16", false);
	sh[2].disabled = true;
	if (!ret)
		ret = qcow_bitmap_mark(img, "g12", 5000, 10);
	shadow_mark(&sh[1], 5000, 10);
	if (!ret)
		ret = qcow_pwrite(img, buf, sizeof(buf), 3 << 20);
	shadow_mark(&sh[0], 3 << 20, 4096);
	shadow_mark(&sh[1], 3 << 20, 4096);
	if (!ret)
		ret = qcow_bitmap_remove(img, "g9");
	if (!ret && qcow_bitmap_remove(img, "g9") != -ENOENT)
		snprintf(why, sizeof(why), "second remove did not fail");
	if (ret < 0)
		snprintf(why, sizeof(why), "op: %s", qcow_strerror());
	if (!why[0] && compare(img, &sh[1], why, sizeof(why)) == 0)
		compare(img, &sh[2], why, sizeof(why));
	qcow_close(img);
	if (!why[0] && open_img(&img, path, true) == 0) {
		if (compare(img, &sh[1], why, sizeof(why)) == 0)
			compare(img, &sh[2], why, sizeof(why));
		qcow_close(img);
	}
	snprintf(cmd, sizeof(cmd), "qemu-img info --output=json '%s' | "
		 "python3 -c 'import json,sys; b=json.load(sys.stdin)"
		 "[\"format-specific\"][\"data\"][\"bitmaps\"]; "
		 "sys.exit(0 if [(x[\"name\"],x[\"flags\"],x[\"granularity\"])"
		 " for x in b]==[(\"g12\",[\"auto\"],4096),(\"g16\",[],65536)]"
		 " else 1)'", path);
	if (!why[0] && tl_have_prog("qemu-img") && tl_run("%s", cmd))
		snprintf(why, sizeof(why), "qemu-img info does not list g12 "
			 "(auto) and g16 (disabled)");
	tl_verdict_checked(why, path);
}

/* An image made by qemu-img and qemu-io survives our writes and close. */
static void case_qemu_made(void)
{
	struct qcow_image *img;
	char path[1024], why[512] = "";
	uint8_t buf[8192];
	uint64_t len;
	bool dirty;
	int ret;

	tl_begin("bitmap/qemu-made");
	if (!tl_have_prog("qemu-img") || !tl_have_prog("qemu-io"))
		return tl_skip("qemu-img or qemu-io is not installed");
	tl_path(path, sizeof(path), "qemu.qcow2");
	if (tl_run("qemu-img create -q -f qcow2 '%s' 64M && qemu-img bitmap "
		   "--add '%s' b0 && qemu-img bitmap --add -g 4096 --disable "
		   "'%s' b1 && qemu-io -c 'write 0 64k' '%s' >/dev/null",
		   path, path, path, path))
		return tl_fail("qemu-img/qemu-io setup failed");
	if (open_img(&img, path, false) < 0)
		return tl_fail("open: %s", qcow_strerror());
	memset(buf, 7, sizeof(buf));
	ret = qcow_pwrite(img, buf, sizeof(buf), 10 << 20);
	qcow_close(img);
	if (ret < 0)
		return tl_fail("write: %d", ret);
	if (open_img(&img, path, true) < 0)
		return tl_fail("reopen: %s", qcow_strerror());
	ret = qcow_bitmap_range(img, "b0", 0, &len, &dirty);
	if (ret < 0 || !dirty || len != 65536)
		snprintf(why, sizeof(why), "b0 at 0: %d dirty %d len %llu",
			 ret, dirty, (unsigned long long)len);
	ret = qcow_bitmap_range(img, "b0", 65536, &len, &dirty);
	if (!why[0] && (ret < 0 || dirty || len != (10 << 20) - 65536))
		snprintf(why, sizeof(why), "b0 at 64k: %d dirty %d len %llu",
			 ret, dirty, (unsigned long long)len);
	ret = qcow_bitmap_range(img, "b0", 10 << 20, &len, &dirty);
	if (!why[0] && (ret < 0 || !dirty || len != 65536))
		snprintf(why, sizeof(why), "b0 at 10M: %d", ret);
	ret = qcow_bitmap_range(img, "b1", 0, &len, &dirty);
	if (!why[0] && (ret < 0 || dirty || len != 64 << 20))
		snprintf(why, sizeof(why), "b1 (disabled) not clean: %d",
			 ret);
	qcow_close(img);
	if (!why[0] && tl_run("qemu-img info --output=json '%s' | grep -q "
			      "in-use", path) == 0)
		snprintf(why, sizeof(why), "qemu-img info shows in-use");
	if (!why[0] && tl_run("qemu-img info '%s' 2>&1 | grep -qi 'lacking'",
			      path) == 0)
		snprintf(why, sizeof(why), "qemu-img warns about the bitmaps");
	tl_verdict_checked(why, path);
}

static bool in_use_on_disk(const char *path)
{
	struct qcow_open_opts oo = { .read_only = true, .force_share = true };
	const struct qcow_bitmap_info *inf;
	struct qcow_image *img;
	bool in_use;

	if (qcow_open(&img, path, &oo) < 0)
		return true;
	in_use = qcow_bitmap_list(img, &inf) != 1 || inf[0].in_use;
	qcow_close(img);
	return in_use;
}

/*
 * qcow_bitmaps_store() while open: consistent on disk at once, in use
 * again from the next write, and that write kept at close.
 */
static void case_store_open(void)
{
	struct qcow_create_opts co = {
		.format = QCOW_FMT_QCOW2, .size = 64 << 20,
		.cluster_size = 65536,
	};
	struct qcow_image *img;
	char path[1024], why[512] = "";
	uint8_t buf[4096] = { 9 };
	uint64_t len;
	bool dirty;

	tl_begin("bitmap/store-while-open");
	tl_path(path, sizeof(path), "store.qcow2");
	if (qcow_create(path, &co) < 0 || open_img(&img, path, false) < 0)
		return tl_fail("create/open: %s", qcow_strerror());
	if (qcow_bitmap_add(img, "s", 65536, false) < 0 ||
	    qcow_pwrite(img, buf, sizeof(buf), 0) < 0 ||
	    qcow_bitmaps_store(img) < 0)
		snprintf(why, sizeof(why), "store: %s", qcow_strerror());
	if (!why[0] && in_use_on_disk(path))
		snprintf(why, sizeof(why), "in use after the store");
	if (!why[0] && qcow_pwrite(img, buf, sizeof(buf), 1 << 20) < 0)
		snprintf(why, sizeof(why), "write: %s", qcow_strerror());
	if (!why[0] && !in_use_on_disk(path))
		snprintf(why, sizeof(why), "not in use after the next write");
	qcow_close(img);
	if (!why[0] && open_img(&img, path, true) == 0) {
		if (qcow_bitmap_range(img, "s", 65536, &len, &dirty) < 0 ||
		    dirty || len != (1 << 20) - 65536 ||
		    qcow_bitmap_range(img, "s", 1 << 20, &len, &dirty) < 0 ||
		    !dirty || len != 65536)
			snprintf(why, sizeof(why), "ranges after close");
		qcow_close(img);
	}
	tl_verdict_checked(why, path);
}

/* Default granularity: the cluster size within 4-64 KiB; v2 refuses. */
static void case_add_rules(void)
{
	static const struct { uint32_t cs; uint64_t g; int compat; } t[] = {
		{ 512, 4096, 3 }, { 65536, 65536, 3 }, { 2 << 20, 65536, 3 },
		{ 65536, 0, 2 },
	};
	const struct qcow_bitmap_info *inf;
	struct qcow_image *img;
	char path[1024], why[512] = "";
	size_t i;
	int ret;

	tl_begin("bitmap/add-rules");
	tl_path(path, sizeof(path), "rules.qcow2");
	for (i = 0; i < sizeof(t) / sizeof(t[0]) && !why[0]; i++) {
		struct qcow_create_opts co = {
			.format = QCOW_FMT_QCOW2, .size = 1 << 20,
			.cluster_size = t[i].cs, .compat = t[i].compat,
		};

		if (qcow_create(path, &co) < 0 ||
		    open_img(&img, path, false) < 0)
			return tl_fail("create: %s", qcow_strerror());
		ret = qcow_bitmap_add(img, "d", 0, false);
		if (t[i].compat == 2 && (ret >= 0 || !strstr(qcow_strerror(),
			"Cannot store dirty bitmaps in qcow2 v2 files")))
			snprintf(why, sizeof(why), "v2: %d %s", ret,
				 qcow_strerror());
		if (t[i].compat == 3 && (ret < 0 ||
					 qcow_bitmap_list(img, &inf) != 1 ||
					 inf[0].granularity != t[i].g))
			snprintf(why, sizeof(why), "cluster %u: %d", t[i].cs,
				 ret);
		if (!why[0] && t[i].compat == 3 &&
		    qcow_bitmap_add(img, "e", 256, false) != -EINVAL)
			snprintf(why, sizeof(why), "granularity 256 taken");
		if (!why[0] && t[i].compat == 3 &&
		    qcow_bitmap_add(img, "", 0, false) != -EINVAL)
			snprintf(why, sizeof(why), "empty name taken");
		qcow_close(img);
	}
	tl_verdict_checked(why, path);
}

int main(int argc, char **argv)
{
	uint64_t seeds[] = { 1, 2, 3 };
	size_t i;

	setenv("TL_TIMEOUT", "600", 0);
	tl_init(argc, argv);
	for (i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++)
		case_stream(seeds[i]);
	case_ops();
	case_add_rules();
	case_store_open();
	case_qemu_made();
	return tl_finish();
}
