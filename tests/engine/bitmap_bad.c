// SPDX-License-Identifier: MIT
/*
 * Broken bitmap metadata, a case per validation rule: a read-only open
 * works and names the rule, a read-write open refuses writing nothing,
 * allow_broken_bitmaps opens, check names bitmap and field, check -r all
 * removes only the broken bitmap and leaves an image qemu-img finds clean.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "qcow.h"
#include "testlib.h"

#define EXT_BITMAPS 0x23852875u

struct layout {
	uint64_t ext;		/* offset of the extension header */
	uint64_t dir;
	uint64_t e0, e1;	/* the two entries */
	uint64_t t0;		/* b0's table */
};

static int find_layout(const uint8_t *f, struct layout *l)
{
	uint64_t off = tl_get_be32(f + 100);

	for (;;) {
		uint32_t type = tl_get_be32(f + off);
		uint32_t len = tl_get_be32(f + off + 4);

		if (!type)
			return -1;
		if (type == EXT_BITMAPS) {
			l->ext = off;
			l->dir = tl_get_be64(f + off + 8 + 16);
			l->e0 = l->dir;
			l->e1 = l->dir + ((24 + tl_get_be16(f + l->dir + 18) +
					   7) & ~7ULL);
			l->t0 = tl_get_be64(f + l->e0);
			return 0;
		}
		off += 8 + ((len + 7) & ~7u);
	}
}

enum poke { P8, P16, P32, P64 };

struct bad_case {
	const char *name;
	const char *want;	/* in the reason */
	bool dir_level;		/* the directory as a whole */
	int where;		/* 0 ext, 1 e0, 2 e1, 3 t0, 4 header */
	uint64_t at;
	enum poke size;
	uint64_t val;
	bool add;		/* val added to what is there */
	int idx;		/* the broken entry */
	const char *survivor;	/* left by check -r all, not dir_level */
};

static const struct bad_case cases[] = {
	{ "granularity-8", "granularity_bits 8 out of range (9-31)", false,
	  1, 17, P8, 8, false, 0, NULL },
	{ "granularity-32", "granularity_bits 32", false, 1, 17, P8, 32,
	  false, 0, NULL },
	{ "flags-reserved", "flags", false, 1, 12, P32, 1u << 3, true, 0, NULL },
	{ "type-2", "type 2", false, 1, 16, P8, 2, false, 0, NULL },
	{ "name-empty", "bitmap_directory_size", true, 1, 18, P16, 0, false, 0, NULL },
	{ "table-unaligned", "bitmap_table_offset", false, 1, 0, P64, 512,
	  true, 0, NULL },
	{ "table-size", "bitmap_table_size", false, 1, 8, P32, 1, true, 0, NULL },
	{ "table-past-eof", "past the end", false, 1, 0, P64, 1ULL << 40,
	  true, 0, NULL },
	{ "entry-reserved", "reserved bits", false, 3, 0, P64, 2, true, 0, NULL },
	{ "entry-all-ones-offset", "all-ones", false, 3, 0, P64, 1, true, 0, NULL },
	{ "entry-unaligned", "unaligned", false, 3, 0, P64, 512, true, 0, NULL },
	{ "name-duplicate", "not unique", false, 2, 25, P8, '0', false, 1,
	  "b0" },
	{ "padding", "padding", false, 1, 26, P8, 0xaa, false, 0, NULL },
	{ "nb-bitmaps-3", "runs past", true, 0, 8, P32, 3, false, 0, NULL },
	{ "nb-bitmaps-0", "nb_bitmaps 0", true, 0, 8, P32, 0, false, 0, NULL },
	{ "dir-unaligned", "bitmap_directory_offset", true, 0, 24, P64, 8,
	  true, 0, NULL },
	{ "dir-too-large", "too large", true, 0, 16, P64, 65ULL << 20,
	  false, 0, NULL },
	{ "no-extension", "without a bitmaps extension", true, 0, 0, P32,
	  0x12345678, false, 0, NULL },
};

static void poke(uint8_t *f, uint64_t off, enum poke sz, uint64_t val,
		 bool add)
{
	switch (sz) {
	case P8:
		f[off] = (uint8_t)(add ? f[off] + val : val);
		break;
	case P16:
		tl_put_be16(f + off, (uint16_t)(add ? tl_get_be16(f + off) +
						val : val));
		break;
	case P32:
		tl_put_be32(f + off, (uint32_t)(add ? tl_get_be32(f + off) +
						val : val));
		break;
	case P64:
		tl_put_be64(f + off, add ? tl_get_be64(f + off) + val : val);
		break;
	}
}

static int make_base(const char *path)
{
	struct qcow_create_opts co = {
		.format = QCOW_FMT_QCOW2, .size = 16 << 20,
		.cluster_size = 65536,
	};
	struct qcow_open_opts oo = { 0 };
	struct qcow_image *img;
	uint8_t buf[4096];
	int ret = qcow_create(path, &co);

	if (!ret)
		ret = qcow_open(&img, path, &oo);
	if (ret < 0)
		return ret;
	ret = qcow_bitmap_add(img, "b0", 65536, false);
	if (!ret)
		ret = qcow_bitmap_add(img, "b1", 4096, false);
	memset(buf, 3, sizeof(buf));
	if (!ret)
		ret = qcow_pwrite(img, buf, sizeof(buf), 0);
	qcow_close(img);
	return ret;
}

static bool reason_ok(struct qcow_image *img, const struct bad_case *c,
		      char *why, size_t n)
{
	const struct qcow_bitmap_info *inf;
	int k = qcow_bitmap_list(img, &inf);

	if (c->dir_level) {
		if (k != 0)
			snprintf(why, n, "%d bitmaps listed", k);
		return k == 0;
	}
	if (k != 2 || !inf[c->idx].broken || inf[!c->idx].broken) {
		snprintf(why, n, "list: %d, b0 broken %s, b1 broken %s", k,
			 k > 0 && inf[0].broken ? inf[0].broken : "-",
			 k > 1 && inf[1].broken ? inf[1].broken : "-");
		return false;
	}
	if (!strstr(inf[c->idx].broken, c->want)) {
		snprintf(why, n, "reason '%s' lacks '%s'", inf[c->idx].broken,
			 c->want);
		return false;
	}
	return true;
}

static void report_collect(void *arg, const char *msg)
{
	char *acc = arg;

	if (strlen(acc) + strlen(msg) + 2 < 4096) {
		strcat(acc, msg);
		strcat(acc, "\n");
	}
}

static void run_case(const struct bad_case *c, const uint8_t *base,
		     size_t len, const struct layout *l)
{
	uint64_t where[] = { l->ext, l->e0, l->e1, l->t0, 0 };
	struct qcow_open_opts ro = { .read_only = true }, rw = { 0 };
	struct qcow_open_opts fix = { .repair = true };
	struct qcow_check_result res;
	struct qcow_image *img;
	char path[1024], why[1200] = "", *acc = calloc(1, 4096);
	uint8_t *f = malloc(len);
	int ret;

	tl_begin("bitmap-bad/%s", c->name);
	tl_path(path, sizeof(path), "bad.qcow2");
	memcpy(f, base, len);
	poke(f, where[c->where] + c->at, c->size, c->val, c->add);
	tl_write_file(path, f, len);
	if (qcow_open(&img, path, &ro) < 0) {
		snprintf(why, sizeof(why), "read-only open: %s",
			 qcow_strerror());
		goto out;
	}
	reason_ok(img, c, why, sizeof(why));
	if (!why[0] && (qcow_check(img, &res, report_collect, acc) < 0 ||
			!res.corruptions || !strstr(acc, c->want)))
		snprintf(why, sizeof(why), "check: %lu corruptions, said %s",
			 (unsigned long)res.corruptions, acc);
	qcow_close(img);
	if (why[0])
		goto out;
	ret = qcow_open(&img, path, &rw);
	if (ret == 0) {
		qcow_close(img);
		snprintf(why, sizeof(why), "read-write open did not refuse");
		goto out;
	}
	if (!strstr(qcow_strerror(), c->want) ||
	    !strstr(qcow_strerror(), "qcow-img check -r all") ||
	    (!c->dir_level && !strstr(qcow_strerror(), "bitmap 'b0': "))) {
		snprintf(why, sizeof(why), "refusal: %s", qcow_strerror());
		goto out;
	}
	if (!tl_file_equals(path, f, len, why, sizeof(why)))
		goto out;
	rw.allow_broken_bitmaps = true;
	if (qcow_open(&img, path, &rw) < 0) {
		snprintf(why, sizeof(why), "allow_broken_bitmaps: %s",
			 qcow_strerror());
		goto out;
	}
	qcow_close(img);
	if (qcow_open(&img, path, &fix) < 0) {
		snprintf(why, sizeof(why), "repair open: %s", qcow_strerror());
		goto out;
	}
	acc[0] = 0;
	ret = qcow_repair(img, QCOW_REPAIR_LEAKS | QCOW_REPAIR_ERRORS, &res,
			  report_collect, acc);
	if (ret < 0 || res.corruptions || res.leaks)
		snprintf(why, sizeof(why), "repair: %d, %lu corruptions, %lu "
			 "leaks left: %s", ret, (unsigned long)res.corruptions,
			 (unsigned long)res.leaks, qcow_strerror());
	else if (!strstr(acc, "Removing"))
		snprintf(why, sizeof(why), "repair said: %s", acc);
	qcow_close(img);
	if (why[0])
		goto out;
	if (qcow_open(&img, path, &ro) < 0) {
		snprintf(why, sizeof(why), "after repair: %s", qcow_strerror());
		goto out;
	}
	{
		const struct qcow_bitmap_info *inf;
		int k = qcow_bitmap_list(img, &inf);
		int want = c->dir_level ? 0 : 1;

		if (k != want || (k && (strcmp(inf[0].name, c->survivor ?
						c->survivor : "b1") ||
					 inf[0].broken)))
			snprintf(why, sizeof(why), "after repair %d bitmaps",
				 k);
	}
	qcow_close(img);
out:
	free(f);
	free(acc);
	tl_verdict_checked(why, path);
}

/*
 * An in-use bitmap (a crash while it was tracked): not broken, the image
 * opens read-write, the bitmap refuses every use but removal, and both
 * survive a close unchanged.
 */
static void case_in_use(const uint8_t *base, size_t len,
			const struct layout *l)
{
	struct qcow_open_opts rw = { 0 };
	const struct qcow_bitmap_info *inf;
	struct qcow_image *img;
	char path[1024], why[512] = "";
	uint8_t *f = malloc(len), buf[512] = { 5 };
	uint64_t rlen;
	bool dirty;
	int k, ret;

	tl_begin("bitmap-bad/in-use");
	tl_path(path, sizeof(path), "inuse.qcow2");
	memcpy(f, base, len);
	poke(f, l->e0 + 12, P32, 1, true);
	poke(f, l->e0 + 8, P32, 5, true);	/* no size rule when in use */
	tl_write_file(path, f, len);
	free(f);
	if (qcow_open(&img, path, &rw) < 0)
		return tl_fail("open: %s", qcow_strerror());
	k = qcow_bitmap_list(img, &inf);
	if (k != 2 || !inf[0].in_use || inf[0].broken || inf[1].in_use)
		snprintf(why, sizeof(why), "list: %d", k);
	ret = qcow_bitmap_clear(img, "b0");
	if (!why[0] && (ret != -EINVAL || !strstr(qcow_strerror(),
		"Bitmap 'b0' is inconsistent and cannot be used")))
		snprintf(why, sizeof(why), "clear: %d %s", ret,
			 qcow_strerror());
	ret = qcow_bitmap_range(img, "b0", 0, &rlen, &dirty);
	if (!why[0] && ret != -EINVAL)
		snprintf(why, sizeof(why), "range of an in-use bitmap: %d",
			 ret);
	if (!why[0] && qcow_pwrite(img, buf, sizeof(buf), 1 << 20) < 0)
		snprintf(why, sizeof(why), "write failed");
	qcow_close(img);
	if (!why[0] && tl_have_prog("qemu-img") &&
	    tl_run("qemu-img info --output=json '%s' | grep -q in-use",
		   path))
		snprintf(why, sizeof(why), "qemu-img info: b0 not in-use");
	if (!why[0] && qcow_open(&img, path, &rw) == 0) {
		if (qcow_bitmap_remove(img, "b0") < 0)
			snprintf(why, sizeof(why), "remove: %s",
				 qcow_strerror());
		qcow_close(img);
	}
	tl_verdict_checked(why, path);
}

/*
 * A broken bitmap whose table names a data cluster of the disk: removing
 * it must not free that cluster (only what nothing references goes).  The
 * bitmap's own data cluster, no longer named, may stay leaked: qemu-img
 * check may find leaks, never a corruption, and the data reads back.
 */
static void case_remove_shared(const uint8_t *base, size_t len,
			       const struct layout *l)
{
	struct qcow_open_opts ro = { .read_only = true };
	struct qcow_open_opts rw = { .allow_broken_bitmaps = true };
	struct qcow_status st;
	struct qcow_image *img;
	char path[1024], why[512] = "";
	uint8_t *f = malloc(len), buf[4096], want[4096];
	int ret;

	tl_begin("bitmap-bad/remove-shared");
	tl_path(path, sizeof(path), "shared.qcow2");
	tl_write_file(path, base, len);
	if (qcow_open(&img, path, &ro) < 0) {
		free(f);
		return tl_fail("open: %s", qcow_strerror());
	}
	ret = qcow_block_status(img, 0, 65536, &st);
	qcow_close(img);
	if (ret < 0 || !(st.flags & QCOW_ST_OFFSET_VALID)) {
		free(f);
		return tl_fail("no host offset for guest 0: %d", ret);
	}
	memcpy(f, base, len);
	poke(f, l->e0 + 17, P8, 8, false);
	poke(f, l->t0, P64, st.offset, false);
	tl_write_file(path, f, len);
	free(f);
	if (qcow_open(&img, path, &rw) < 0)
		return tl_fail("open: %s", qcow_strerror());
	if (qcow_bitmap_remove(img, "b0") < 0)
		snprintf(why, sizeof(why), "remove: %s", qcow_strerror());
	qcow_close(img);
	memset(want, 3, sizeof(want));
	if (!why[0] && (qcow_open(&img, path, &ro) < 0 ||
			qcow_pread(img, buf, sizeof(buf), 0) < 0 ||
			memcmp(buf, want, sizeof(buf))))
		snprintf(why, sizeof(why), "guest data at 0 lost");
	else if (!why[0])
		qcow_close(img);
	if (why[0])
		return tl_fail("%s", why);
	if (!tl_have_prog("qemu-img"))
		return tl_skip("qemu-img is not installed: data checked, "
			       "image not");
	ret = tl_run("qemu-img check -q '%s'", path);
	if (ret != 0 && ret != 3)
		return tl_fail("qemu-img check exit %d (corruption)", ret);
	tl_pass();
}

int main(int argc, char **argv)
{
	char path[1024];
	struct layout l;
	uint8_t *base;
	size_t len, i;

	tl_init(argc, argv);
	tl_path(path, sizeof(path), "base.qcow2");
	if (make_base(path) < 0 || !(base = tl_read_file(path, &len)) ||
	    find_layout(base, &l) < 0) {
		tl_begin("bitmap-bad/setup");
		tl_fail("base image: %s", qcow_strerror());
		return tl_finish();
	}
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i], base, len, &l);
	case_in_use(base, len, &l);
	case_remove_shared(base, len, &l);
	free(base);
	return tl_finish();
}
