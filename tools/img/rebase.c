// SPDX-License-Identifier: MIT
/*
 * qcow-img rebase: give an image another backing file.  Safe mode first
 * copies into the image every range it does not allocate where the old and
 * the new backing chains read differently; -u only rewrites the header.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tools/common/msg.h"
#include "tools/common/open.h"
#include "tools/common/progress.h"
#include "tools/common/util.h"
#include "tools/img/img.h"

#define REBASE_BUF_SIZE (2u << 20)
#define SECTOR 512

struct rebase {
	const char *fmt;
	const char *file;
	const char *backing;	/* "" removes it */
	const char *backing_fmt;
	bool unsafe;
	bool quiet;
	bool show_progress;
	bool force_share;	/* -U: the new backing file */
	struct qcow_image *img;
	struct qcow_image *new_base;	/* NULL: zeros */
	uint8_t *old_buf;
	uint8_t *new_buf;
	struct progress progress;
};

static int parse_args(int argc, char **argv, struct rebase *r)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "force-share", no_argument, NULL, 'U' },
		TRUST_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	static const char optstring[] = "hf:F:b:upqt:T:U";
	int ch;

	while ((ch = getopt_long(argc, argv, optstring, longopts,
				 NULL)) != -1) {
		switch (ch) {
		case 'h':
			exit(img_usage(true));
		case 'f':
			r->fmt = optarg;
			break;
		case 'F':
			r->backing_fmt = optarg;
			break;
		case 'b':
			r->backing = optarg;
			break;
		case 'u':
			r->unsafe = true;
			break;
		case 'p':
			r->show_progress = true;
			break;
		case 'q':
			r->quiet = true;
			break;
		case 't':
		case 'T':
			break;
		case 'U':
			r->force_share = true;
			break;
		case OPT_TRUST_FIRST ... OPT_TRUST_LAST:
			if (tool_trust_option(ch, optarg) < 0)
				return -ENOMEM;
			break;
		default:
			tool_bad_option("rebase", optstring, argv);
			return -EINVAL;
		}
	}
	if (optind != argc - 1) {
		tool_usage_error("rebase: expects exactly one image file name");
		return -EINVAL;
	}
	if (!r->backing && !r->unsafe) {
		tool_usage_error("rebase: name the new backing file with -b, or -b \"\" to drop it, or use -u");
		return -EINVAL;
	}
	r->file = argv[optind];
	return 0;
}

static int open_new_base(struct rebase *r)
{
	struct qcow_open_opts opts = {
		.read_only = true,
		.force_share = r->force_share,
	};
	char *path;
	int ret;

	if (!*r->backing)
		return 0;
	if (format_from_name(r->backing_fmt, &opts.format) < 0) {
		tool_error("%s: unknown backing file format '%s' (-F qcow2, qcow or raw)",
			   r->file, r->backing_fmt);
		return -EINVAL;
	}
	path = backing_path_fmt(r->file, r->backing, r->backing_fmt);
	if (!path)
		return -EINVAL;
	tool_trust_apply(&opts);
	ret = qcow_open(&r->new_base, path, &opts);
	if (ret < 0)
		tool_error("%s: cannot open the new backing file '%s': %s",
			   r->file, r->backing, open_error_text(path, ret));
	free(path);
	return ret;
}

/* [off, off + len) of a backing image; zeros past its end or without one. */
static int read_base(struct qcow_image *base, uint8_t *buf, uint64_t len,
		     uint64_t off)
{
	uint64_t size = base ? qcow_size(base) : 0, n;

	n = off < size ? min_u64(len, size - off) : 0;
	memset(buf + n, 0, len - n);
	return n ? qcow_pread(base, buf, n, off) : 0;
}

/* Writes the old content of the sectors where old and new differ. */
static int copy_differences(struct rebase *r, uint64_t off, uint64_t len)
{
	uint64_t pos = 0, start, n;
	int ret;

	while (pos < len) {
		n = min_u64(SECTOR, len - pos);
		if (!memcmp(r->old_buf + pos, r->new_buf + pos, n)) {
			pos += n;
			continue;
		}
		start = pos;
		while (pos < len && memcmp(r->old_buf + pos, r->new_buf + pos,
					   min_u64(SECTOR, len - pos)))
			pos += min_u64(SECTOR, len - pos);
		ret = qcow_pwrite(r->img, r->old_buf + start, pos - start,
				  off + start);
		if (ret < 0) {
			tool_error("%s: write failed at offset %" PRIu64 ": %s",
				   r->file, off + start,
				   tool_reason(r->file, ret));
			return ret;
		}
	}
	return 0;
}

static int rebase_range(struct rebase *r, uint64_t off, uint64_t len)
{
	struct qcow_image *old_base = qcow_backing(r->img);
	uint64_t n;
	int ret;

	for (; len; off += n, len -= n) {
		n = min_u64(len, REBASE_BUF_SIZE);
		ret = read_base(old_base, r->old_buf, n, off);
		if (ret < 0) {
			tool_error("%s: read of the old backing file failed at offset %" PRIu64 ": %s",
				   r->file, off, strerror(-ret));
			return ret;
		}
		ret = read_base(r->new_base, r->new_buf, n, off);
		if (ret < 0) {
			tool_error("%s: read of the new backing file failed at offset %" PRIu64 ": %s",
				   r->file, off, strerror(-ret));
			return ret;
		}
		ret = copy_differences(r, off, n);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* A step ends where a backing file does, as qemu-img's do. */
static uint64_t stop_at_end(struct qcow_image *base, uint64_t off,
			    uint64_t len)
{
	uint64_t end = base ? qcow_size(base) : 0;

	return off < end && off + len > end ? end - off : len;
}

/*
 * Every range the image does not allocate itself, in steps of at most
 * REBASE_BUF_SIZE as qemu-img's; its progress counts the steps that copy.
 */
static int copy_unallocated(struct rebase *r)
{
	uint64_t size = qcow_size(r->img), off, len;
	double step = size ? 100.0 / (double)(size /
			min_u64(size, REBASE_BUF_SIZE)) : 100.0;
	struct qcow_status st;
	int ret;

	for (off = 0; off < size; off += len) {
		ret = qcow_block_status(r->img, off,
					min_u64(size - off, REBASE_BUF_SIZE),
					&st);
		if (ret < 0 || !st.length) {
			tool_error("%s: cannot get block status at offset %" PRIu64 ": %s",
				   r->file, off, strerror(ret < 0 ? -ret : EIO));
			return ret < 0 ? ret : -EIO;
		}
		len = min_u64(st.length, size - off);
		len = stop_at_end(qcow_backing(r->img), off, len);
		len = stop_at_end(r->new_base, off, len);
		if (!(st.flags & QCOW_ST_ALLOCATED)) {
			ret = rebase_range(r, off, len);
			if (ret < 0)
				return ret;
			progress_add_pct(&r->progress, step);
		}
	}
	return 0;
}

static int safe_rebase(struct rebase *r)
{
	int ret;

	if (*r->backing && !r->backing_fmt) {
		tool_error("%s: the format of the new backing file '%s' must be given with -F",
			   r->file, r->backing);
		return -EINVAL;
	}
	ret = open_new_base(r);
	if (ret < 0)
		return ret;
	r->old_buf = malloc(REBASE_BUF_SIZE);
	r->new_buf = malloc(REBASE_BUF_SIZE);
	if (!r->old_buf || !r->new_buf) {
		tool_error("rebase: out of memory");
		return -ENOMEM;
	}
	progress_start(&r->progress, r->show_progress && !r->quiet,
		       qcow_size(r->img), 1.0);
	ret = copy_unallocated(r);
	if (!ret)
		ret = qcow_flush(r->img);
	if (!ret)
		progress_complete(&r->progress);
	progress_end(&r->progress);
	return ret;
}

static int rebase(struct rebase *r)
{
	struct qcow_open_opts opts = { .no_backing = r->unsafe };
	const char *name = r->backing && *r->backing ? r->backing : NULL;
	int ret;

	if (tool_open(&r->img, r->file, r->fmt, &opts) < 0)
		return -EINVAL;
	if (!r->unsafe) {
		ret = safe_rebase(r);
		if (ret < 0)
			return ret;
	}
	ret = qcow_set_backing(r->img, name, name ? r->backing_fmt : NULL);
	if (ret < 0)
		tool_error("%s: cannot set the backing file to '%s': %s",
			   r->file, name ? name : "", tool_reason(r->file, ret));
	return ret;
}

int img_rebase(int argc, char **argv)
{
	struct rebase r = { 0 };
	int ret;

	if (parse_args(argc, argv, &r) < 0)
		return img_usage(false);
	ret = rebase(&r);
	free(r.old_buf);
	free(r.new_buf);
	qcow_close(r.new_base);
	qcow_close(r.img);
	return ret < 0 ? 1 : 0;
}
