// SPDX-License-Identifier: MIT
/*
 * qcow-img commit: write what the layers above a base image allocate into
 * the base, then (without -d or -b) empty the top image as qemu-img does.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tools/common/chain.h"
#include "tools/common/msg.h"
#include "tools/common/open.h"
#include "tools/common/progress.h"
#include "tools/common/secret.h"
#include "tools/common/util.h"
#include "tools/img/img.h"

#define COMMIT_BUF_SIZE (2u << 20)
#define COMMIT_STEP (1u << 20)

struct commit {
	const char *fmt;
	const char *file;
	const char *base_name;	/* -b */
	bool keep;		/* -d */
	bool quiet;
	bool show_progress;
	struct qcow_image *top;
	struct qcow_image *base;	/* the chain's read-only copy */
	int base_depth;
	struct qcow_image *out;		/* the base, opened read-write */
	uint8_t *buf;
	struct progress progress;
	uint64_t unit;		/* -p: what qemu-img counts in */
	uint64_t to_copy;
	uint64_t done;
	uint64_t covered;
};

static int parse_args(int argc, char **argv, struct commit *c)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		TRUST_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	static const char optstring[] = "hf:b:dpqt:";
	int ch;

	while ((ch = getopt_long(argc, argv, optstring, longopts,
				 NULL)) != -1) {
		switch (ch) {
		case 'h':
			exit(img_usage(true));
		case 'f':
			c->fmt = optarg;
			break;
		case 'b':
			c->base_name = optarg;
			c->keep = true;	/* qemu-img: -b implies -d */
			break;
		case 'd':
			c->keep = true;
			break;
		case 'p':
			c->show_progress = true;
			break;
		case 'q':
			c->quiet = true;
			break;
		case 't':
			break;
		case OPT_TRUST_FIRST ... OPT_TRUST_LAST:
			if (tool_trust_option(ch, optarg) < 0)
				return -ENOMEM;
			break;
		default:
			tool_bad_option("commit", optstring, argv);
			return -EINVAL;
		}
	}
	if (optind != argc - 1) {
		tool_usage_error("commit: expects exactly one image file name");
		return -EINVAL;
	}
	c->file = argv[optind];
	return 0;
}

static bool same_file(const char *a, const char *b)
{
	char ra[PATH_MAX], rb[PATH_MAX];

	if (!strcmp(a, b))
		return true;
	return realpath(a, ra) && realpath(b, rb) && !strcmp(ra, rb);
}

/* The base: the backing file, or the layer named by -b. */
static int find_base(struct commit *c)
{
	struct qcow_image *img = qcow_backing(c->top);
	int depth = 1;

	if (!img) {
		tool_error("%s: has no backing file to commit into", c->file);
		return -EINVAL;
	}
	for (; c->base_name && img; img = qcow_backing(img), depth++)
		if (same_file(qcow_filename(img), c->base_name))
			break;
	if (!img) {
		tool_error("%s: '%s' (-b) is not one of its backing files",
			   c->file, c->base_name);
		return -ENOENT;
	}
	c->base = img;
	c->base_depth = depth;
	return 0;
}

/* The chain's copy of the base holds the locks of a writer for c->out. */
static int open_base(struct commit *c)
{
	struct qcow_open_opts opts = {
		.format = qcow_format(c->base),
		.format_probed = qcow_format_probed(c->base),
		.no_backing = true,
		.no_lock = true,
		.crypto_backend = tool_crypto_backend(),
	};
	struct qcow_key key;
	int ret;

	/* an encrypted base: its backing.[backing.]encrypt.key-secret */
	ret = tool_chain_key(c->file, (unsigned int)c->base_depth, &key);
	if (ret < 0)
		return ret;
	opts.key = key.data;
	opts.key_len = key.len;
	ret = qcow_lock_for_write(c->base);
	if (!ret)
		ret = qcow_open(&c->out, qcow_filename(c->base), &opts);
	if (ret < 0) {
		tool_error("%s: cannot open the base for writing: %s",
			   qcow_filename(c->base),
			   open_error_text(qcow_filename(c->base), ret));
		return ret;
	}
	if (qcow_size(c->out) < qcow_size(c->top)) {
		ret = qcow_resize(c->out, qcow_size(c->top), false);
		if (ret < 0) {
			tool_error("%s: cannot grow the base image: %s",
				   qcow_filename(c->base),
				   tool_reason(qcow_filename(c->base), ret));
			return ret;
		}
	}
	return 0;
}

/* Copies [off, off + len), allocated above the base, into the base. */
static int copy_range(struct commit *c, uint64_t off, uint64_t len,
		      bool zero)
{
	uint64_t n;
	int ret = 0;

	if (zero) {
		ret = qcow_pwrite_zeroes(c->out, len, off, QCOW_REQ_UNMAP);
		goto out;
	}
	for (; len; off += n, len -= n) {
		n = min_u64(len, COMMIT_BUF_SIZE);
		ret = qcow_pread(c->top, c->buf, n, off);
		if (ret < 0) {
			tool_error("%s: read failed at offset %" PRIu64 ": %s",
				   c->file, off, strerror(-ret));
			return ret;
		}
		ret = qcow_pwrite(c->out, c->buf, n, off);
		if (ret < 0)
			break;
	}
out:
	if (ret < 0)
		tool_error("%s: write failed at offset %" PRIu64 ": %s",
			   qcow_filename(c->base), off,
			   tool_reason(qcow_filename(c->base), ret));
	return ret;
}

/*
 * -p as qemu-img's commit job counts: the bytes to copy (allocated above
 * the base, in units of the base's cluster size between 4 and 64 KiB),
 * one step per MiB of data copied, one per zeroed run.
 */
static uint64_t progress_unit(const struct commit *c)
{
	struct qcow_info info;
	uint64_t unit = 4096;

	if (qcow_get_info(c->out, &info) == 0 && info.cluster_size > unit)
		unit = min_u64(info.cluster_size, 65536);
	return unit;
}

/* [off, off + len) in whole units, less what *covered already counts. */
static uint64_t units_of(const struct commit *c, uint64_t off, uint64_t len,
			 uint64_t *covered)
{
	uint64_t start = off - off % c->unit;
	uint64_t end = off + len + (c->unit - 1);

	end -= end % c->unit;
	if (start < *covered)
		start = *covered;
	if (end <= start)
		return 0;
	*covered = end;
	return end - start;
}

static void progress_steps(struct commit *c, uint64_t bytes, bool zero)
{
	uint64_t i, k;

	for (i = 0; i < bytes; i += k) {
		k = zero ? bytes : min_u64(COMMIT_STEP, bytes - i);
		c->done += k;
		progress_print_f(&c->progress,
				 (float)c->done / (float)c->to_copy * 100.f);
	}
}

/* The runs of the top to copy, to fn (copy or count). */
static int for_each_above(struct commit *c,
			  int (*fn)(struct commit *c, uint64_t off,
				    uint64_t len, bool zero))
{
	uint64_t size = qcow_size(c->top), off, len;
	struct qcow_status st;
	int ret;

	for (off = 0; off < size; off += len) {
		ret = chain_status(c->top, off, size - off, true, &st);
		if (ret < 0) {
			tool_error("%s: cannot get block status at offset %" PRIu64 ": %s",
				   c->file, off, strerror(-ret));
			return ret;
		}
		len = st.length;
		if (!(st.flags & QCOW_ST_ALLOCATED) || st.depth >= c->base_depth)
			continue;
		ret = fn(c, off, len, st.flags & QCOW_ST_ZERO);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int count_range(struct commit *c, uint64_t off, uint64_t len,
		       bool zero)
{
	c->to_copy += units_of(c, off, len, &c->covered);
	return 0;
}

static int commit_range(struct commit *c, uint64_t off, uint64_t len,
			bool zero)
{
	int ret = copy_range(c, off, len, zero);

	if (!ret && c->progress.enabled)
		progress_steps(c, units_of(c, off, len, &c->covered), zero);
	return ret;
}

static int commit_data(struct commit *c)
{
	int ret = 0;

	c->unit = progress_unit(c);
	if (c->progress.enabled)
		ret = for_each_above(c, count_range);
	c->covered = 0;
	if (!ret)
		ret = for_each_above(c, commit_range);
	if (ret < 0)
		return ret;
	ret = qcow_flush(c->out);
	if (ret < 0)
		tool_error("%s: flush failed: %s", qcow_filename(c->base),
			   strerror(-ret));
	return ret;
}

/* Every cluster of the top image unmapped: it reads its backing again. */
static int empty_top(struct commit *c)
{
	int ret = qcow_make_empty(c->top);

	if (ret < 0)
		tool_error("%s: cannot empty the image: %s", c->file,
			   tool_reason(c->file, ret));
	return ret;
}

static int commit(struct commit *c)
{
	struct qcow_open_opts opts = { .read_only = c->keep };
	int ret;

	if (tool_open(&c->top, c->file, c->fmt, &opts) < 0)
		return -EINVAL;
	ret = find_base(c);
	if (!ret)
		ret = open_base(c);
	if (ret < 0)
		return ret;
	c->buf = malloc(COMMIT_BUF_SIZE);
	if (!c->buf) {
		tool_error("commit: out of memory");
		return -ENOMEM;
	}
	progress_start(&c->progress, c->show_progress && !c->quiet,
		       qcow_size(c->top), 1.0);
	ret = commit_data(c);
	if (!ret && !c->keep)
		ret = empty_top(c);
	if (!ret)
		progress_complete(&c->progress);
	progress_end(&c->progress);
	return ret;
}

int img_commit(int argc, char **argv)
{
	struct commit c = { 0 };
	int ret;

	if (parse_args(argc, argv, &c) < 0)
		return img_usage(false);
	ret = commit(&c);
	if (!ret && !c.quiet)
		printf("Image committed.\n");
	free(c.buf);
	qcow_close(c.out);
	qcow_close(c.top);
	return ret < 0 ? 1 : 0;
}
