// SPDX-License-Identifier: MIT
/*
 * The metadata caches' options (QEMU's l2-cache-size, cache-size,
 * l2-cache-entry-size, cache-clean-interval...).  A 256 GiB image with
 * one cluster written every 512 MiB (all 512 L2 tables exist) is read
 * at one place in every 4 KiB L2 slice (8192 slices, 32 MiB of L2),
 * twice: with a small cap the cache's entries and memory stay within
 * it and the second pass misses again; with a cap that covers the image
 * everything stays cached and the second pass never misses; the data
 * read is the pattern written, zeros elsewhere.  qcow_cache_clean()
 * twice empties the cache and frees its memory.  Bad values and
 * combinations are refused with qemu's words, and qemu-io refuses the
 * same ones.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "qcow.h"
#include "testlib.h"

#define MIB		(1ull << 20)
#define IMG_SIZE	(256ull << 30)
#define TABLE_SPAN	(512 * MIB)	/* what one 64 KiB L2 table maps */
#define SLICE_SPAN	(32 * MIB)	/* what one 4 KiB slice maps */
#define SLAB		(256ull << 10)	/* meta_cache.c's slab */
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#ifndef MAX
#define MAX(a, b)	((a) > (b) ? (a) : (b))
#endif

static char img_path[1024];

static uint8_t pattern(uint64_t off, unsigned int i)
{
	return (uint8_t)(off / TABLE_SPAN * 31 + i * 7 + 1);
}

static int make_image(void)
{
	struct qcow_create_opts co = {
		.format = QCOW_FMT_QCOW2, .size = IMG_SIZE,
	};
	struct qcow_open_opts oo = { 0 };
	struct qcow_image *img;
	uint8_t buf[4096];
	uint64_t off;
	unsigned int i;
	int ret;

	tl_path(img_path, sizeof(img_path), "big.qcow2");
	ret = qcow_create(img_path, &co);
	if (!ret)
		ret = qcow_open(&img, img_path, &oo);
	if (ret < 0)
		return ret;
	for (off = 0; off < IMG_SIZE && ret >= 0; off += TABLE_SPAN) {
		for (i = 0; i < sizeof(buf); i++)
			buf[i] = pattern(off, i);
		ret = qcow_pwrite(img, buf, sizeof(buf), off);
	}
	qcow_close(img);
	return ret < 0 ? ret : 0;
}

/* One read in every slice's range; the first wrong byte's offset, or -1. */
static int64_t read_all(struct qcow_image *img, int *err)
{
	uint8_t buf[4096];
	uint64_t off;
	unsigned int i;

	for (off = 0; off < IMG_SIZE; off += SLICE_SPAN) {
		*err = qcow_pread(img, buf, sizeof(buf), off);
		if (*err < 0)
			return (int64_t)off;
		for (i = 0; i < sizeof(buf); i++)
			if (buf[i] != (off % TABLE_SPAN ? 0 : pattern(off, i)))
				return (int64_t)(off + i);
	}
	return -1;
}

static int open_with(struct qcow_image **img, const char *const *kv)
{
	struct qcow_open_opts oo = { .read_only = true };
	int ret;

	for (; kv && kv[0]; kv += 2) {
		ret = qcow_cache_opt(&oo, kv[0], kv[1]);
		if (ret < 0)
			return ret;
	}
	return qcow_open(img, img_path, &oo);
}

static void run_cap(const char *name, const char *const *kv,
		    uint64_t want_max, uint64_t entry, bool covers)
{
	struct qcow_cache_stats st, st2;
	struct qcow_image *img;
	uint64_t misses;
	int64_t bad;
	int err = 0;

	tl_begin("cache_opts/%s", name);
	if (open_with(&img, kv) < 0)
		return tl_fail("open: %s", qcow_strerror());
	bad = read_all(img, &err);
	qcow_cache_stats(img, &st);
	misses = st.misses;
	if (bad < 0)
		bad = read_all(img, &err);
	qcow_cache_stats(img, &st2);
	if (bad >= 0) {
		qcow_close(img);
		return tl_fail("wrong data at %#llx (%d)",
			       (unsigned long long)bad, err);
	}
	fprintf(stderr, "    cap %llu, entry %llu: %u entries, %llu bytes, "
		"misses %llu then %llu\n", (unsigned long long)st.l2_max,
		(unsigned long long)st.l2_entry_size, st2.l2_entries,
		(unsigned long long)st2.l2_bytes, (unsigned long long)misses,
		(unsigned long long)(st2.misses - misses));
	if (st.l2_max != want_max || st.l2_entry_size != entry)
		tl_fail("cap %llu entry %llu, want %llu and %llu",
			(unsigned long long)st.l2_max,
			(unsigned long long)st.l2_entry_size,
			(unsigned long long)want_max,
			(unsigned long long)entry);
	else if ((uint64_t)st2.l2_entries * entry > want_max ||
		 st.l2_bytes > want_max + SLAB ||
		 st2.l2_bytes > want_max + SLAB)
		tl_fail("cache over its cap: %u entries, %llu bytes",
			st2.l2_entries, (unsigned long long)st2.l2_bytes);
	else if (covers && st2.misses != misses)
		tl_fail("a cache covering the image missed %llu times",
			(unsigned long long)(st2.misses - misses));
	else if (!covers && st2.misses - misses <
		 IMG_SIZE / MAX(SLICE_SPAN, entry * 8192) / 2)
		tl_fail("a small cache missed only %llu times",
			(unsigned long long)(st2.misses - misses));
	else if (qcow_cache_clean(img) != 0)
		tl_fail("the first clean dropped entries used since open");
	else if (qcow_cache_clean(img) != st2.l2_entries)
		tl_fail("the second clean left entries");
	else if (qcow_cache_stats(img, &st) || st.l2_entries || st.l2_bytes)
		tl_fail("after the clean: %u entries, %llu bytes",
			st.l2_entries, (unsigned long long)st.l2_bytes);
	else if ((bad = read_all(img, &err)) >= 0)
		tl_fail("wrong data after the clean at %#llx",
			(unsigned long long)bad);
	else
		tl_pass();
	qcow_close(img);
}

struct bad {
	const char *opts[7];
	const char *msg;
	const char *qemu;	/* the same for qemu-io --image-opts */
};

static void run_bad(const struct bad *b)
{
	struct qcow_image *img;
	int ret;

	tl_begin("cache_opts/refuse %s", b->qemu);
	ret = open_with(&img, b->opts);
	if (!ret) {
		qcow_close(img);
		return tl_fail("accepted");
	}
	if (!strstr(qcow_strerror(), b->msg) || strchr(qcow_strerror(), '\n'))
		return tl_fail("message: %s", qcow_strerror());
	if (tl_have_prog("qemu-io") &&
	    !tl_run("qemu-io --image-opts driver=qcow2,file.filename=%s,%s "
		    "-c 'read 0 512' >/dev/null 2>&1", img_path, b->qemu))
		return tl_fail("qemu-io accepts it");
	tl_pass();
}

static void run_keys(void)
{
	struct qcow_open_opts oo = { 0 };

	tl_begin("cache_opts/keys");
	if (qcow_cache_opt(&oo, "lazy-refcounts", "on") != -ENOENT)
		return tl_fail("another key was taken");
	if (qcow_cache_clean_interval(&oo) != 600)
		return tl_fail("default interval %u",
			       qcow_cache_clean_interval(&oo));
	if (qcow_cache_opt(&oo, "l2-cache-size", "1.5M") ||
	    oo.l2_cache_size != 3 * MIB / 2 ||
	    qcow_cache_opt(&oo, "cache-size", "2G") ||
	    oo.cache_size != 2048 * MIB ||
	    qcow_cache_opt(&oo, "refcount-cache-size", "65536") ||
	    oo.refcount_cache_size != 65536 ||
	    qcow_cache_opt(&oo, "cache-clean-interval", "0") ||
	    qcow_cache_clean_interval(&oo) != 0)
		return tl_fail("values: %s", qcow_strerror());
	if (oo.cache_set != (QCOW_CACHE_L2 | QCOW_CACHE_SIZE |
			     QCOW_CACHE_REFCOUNT | QCOW_CACHE_CLEAN))
		return tl_fail("cache_set %#x", oo.cache_set);
	tl_pass();
}

int main(int argc, char **argv)
{
	static const char *const small[] = { "l2-cache-size", "1M", NULL };
	static const char *const large[] = { "l2-cache-size", "1G", NULL };
	static const char *const entry[] = {
		"l2-cache-size", "2M", "l2-cache-entry-size", "64k", NULL };
	static const char *const total[] = { "cache-size", "1G", NULL };
	static const struct bad bad[] = {
		{ { "l2-cache-size", "abc" }, "Parameter 'l2-cache-size' "
		  "expects a non-negative number below 2^64",
		  "l2-cache-size=abc" },
		{ { "l2-cache-size", "1M", "refcount-cache-size", "1M",
		    "cache-size", "4M" }, "cache-size, l2-cache-size and "
		  "refcount-cache-size may not be set at the same time",
		  "l2-cache-size=1M,refcount-cache-size=1M,cache-size=4M" },
		{ { "l2-cache-size", "2M", "cache-size", "1M" },
		  "l2-cache-size may not exceed cache-size",
		  "l2-cache-size=2M,cache-size=1M" },
		{ { "refcount-cache-size", "2M", "cache-size", "1M" },
		  "refcount-cache-size may not exceed cache-size",
		  "refcount-cache-size=2M,cache-size=1M" },
		{ { "l2-cache-entry-size", "1000" }, "L2 cache entry size "
		  "must be a power of two between 512 and the cluster size "
		  "(65536)", "l2-cache-entry-size=1000" },
		{ { "l2-cache-entry-size", "128k" }, "L2 cache entry size "
		  "must be a power of two", "l2-cache-entry-size=128k" },
		{ { "cache-clean-interval", "x" }, "Parameter "
		  "'cache-clean-interval' expects a number",
		  "cache-clean-interval=x" },
		{ { "cache-clean-interval", "-1" }, "Cache clean interval "
		  "too big", "cache-clean-interval=-1" },
	};
	size_t i;

	tl_init(argc, argv);
	run_keys();
	tl_begin("cache_opts/make-image");
	if (make_image() < 0) {
		tl_fail("%s", qcow_strerror());
		return tl_finish();
	}
	tl_pass();
	run_cap("l2-cache-size=1M", small, MIB, 4096, false);
	run_cap("l2-cache-size=1G", large, 32 * MIB, 4096, true);
	run_cap("l2-cache-entry-size=64k", entry, 2 * MIB, 65536, false);
	run_cap("cache-size=1G", total, 32 * MIB, 4096, true);
	for (i = 0; i < ARRAY_SIZE(bad); i++)
		run_bad(&bad[i]);
	return tl_finish();
}
