// SPDX-License-Identifier: MIT
/*
 * qcow-img compare: do two images read the same?  Exit codes as qemu-img:
 * 0 identical, 1 different, 2 cannot open, 3 block status failed,
 * 4 read failed.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tools/common/chain.h"
#include "tools/common/msg.h"
#include "tools/common/open.h"
#include "tools/common/progress.h"
#include "tools/common/util.h"
#include "tools/img/img.h"

#define CMP_BUF_SIZE (2u << 20)	/* qemu-img's step (its -p lines) */
#define SECTOR 512

enum { CMP_SAME, CMP_DIFFER, CMP_OPEN_ERR, CMP_STATUS_ERR, CMP_READ_ERR };

/* what qemu-img compare -s compares of two block statuses */
#define STRICT_FLAGS (QCOW_ST_DATA | QCOW_ST_ZERO | QCOW_ST_OFFSET_VALID | \
		      QCOW_ST_ALLOCATED)

struct cmp {
	const char *fmt[2];
	const char *name[2];
	struct qcow_image *img[2];
	uint8_t *buf[2];
	bool strict;
	bool quiet;
	bool show_progress;
	bool force_share;	/* -U */
	struct progress progress;
};

static void say(const struct cmp *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void say(const struct cmp *c, const char *fmt, ...)
{
	va_list ap;

	if (c->quiet)
		return;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
}

static int parse_args(int argc, char **argv, struct cmp *c)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "force-share", no_argument, NULL, 'U' },
		TRUST_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	static const char optstring[] = "hf:F:pqsT:U";
	int ch;

	while ((ch = getopt_long(argc, argv, optstring, longopts,
				 NULL)) != -1) {
		switch (ch) {
		case 'h':
			exit(img_usage(true));
		case 'f':
			c->fmt[0] = optarg;
			break;
		case 'F':
			c->fmt[1] = optarg;
			break;
		case 'p':
			c->show_progress = true;
			break;
		case 'q':
			c->quiet = true;
			break;
		case 's':
			c->strict = true;
			break;
		case 'T':	/* source cache mode: nothing to tune */
			break;
		case 'U':
			c->force_share = true;
			break;
		case OPT_TRUST_FIRST ... OPT_TRUST_LAST:
			if (tool_trust_option(ch, optarg) < 0)
				return -ENOMEM;
			break;
		default:
			tool_bad_option("compare", optstring, argv);
			return -EINVAL;
		}
	}
	if (optind != argc - 2) {
		tool_usage_error("compare: expects exactly two image file names");
		return -EINVAL;
	}
	c->name[0] = argv[optind];
	c->name[1] = argv[optind + 1];
	return 0;
}

/* Offset of the first 512-byte sector that differs (b NULL: from zeros). */
static int64_t first_diff(const uint8_t *a, const uint8_t *b, uint64_t len)
{
	static const uint8_t zeros[SECTOR];
	uint64_t i, n;

	for (i = 0; i < len; i += n) {
		n = min_u64(SECTOR, len - i);
		if (memcmp(a + i, b ? b + i : zeros, n))
			return i;
	}
	return -1;
}

static int status(struct cmp *c, int i, uint64_t off, uint64_t len,
		  struct qcow_status *st)
{
	int ret = chain_status(c->img[i], off, len, true, st);

	if (ret < 0) {
		tool_error("%s: cannot get block status at offset %" PRIu64 ": %s",
			   c->name[i], off, strerror(-ret));
		return CMP_STATUS_ERR;
	}
	return CMP_SAME;
}

static int read_chunk(struct cmp *c, int i, uint8_t *buf, uint64_t off,
		      uint64_t len)
{
	int ret = qcow_pread(c->img[i], buf, len, off);

	if (ret < 0) {
		tool_error("%s: read failed at offset %" PRIu64 ": %s",
			   c->name[i], off, strerror(-ret));
		return CMP_READ_ERR;
	}
	return CMP_SAME;
}

static int report_diff(struct cmp *c, uint64_t off, int64_t idx)
{
	if (idx < 0)
		return CMP_SAME;
	say(c, "Content mismatch at offset %" PRIu64 "!\n", off + idx);
	return CMP_DIFFER;
}

/* Image i must read as zeros in [off, off + len). */
static int check_zero(struct cmp *c, int i, uint64_t off, uint64_t len)
{
	int ret = read_chunk(c, i, c->buf[0], off, len);

	if (ret)
		return ret;
	return report_diff(c, off, first_diff(c->buf[0], NULL, len));
}

static int check_same(struct cmp *c, uint64_t off, uint64_t len)
{
	int ret = read_chunk(c, 0, c->buf[0], off, len);

	if (!ret)
		ret = read_chunk(c, 1, c->buf[1], off, len);
	if (ret)
		return ret;
	return report_diff(c, off, first_diff(c->buf[0], c->buf[1], len));
}

/*
 * -s compares the statuses as qemu-img does, with whether each run goes
 * on to the image's end (equal sizes: -s refuses others).
 */
static bool strict_differs(const struct qcow_status *st, uint64_t off,
			   uint64_t end)
{
	bool eof0 = off + st[0].length == end, eof1 = off + st[1].length == end;

	return (st[0].flags & STRICT_FLAGS) != (st[1].flags & STRICT_FLAGS) ||
	       eof0 != eof1;
}

/* One range whose status is fixed in both images; *len may shrink. */
static int compare_chunk(struct cmp *c, uint64_t off, uint64_t *len)
{
	struct qcow_status st[2];
	uint64_t end = off + *len;
	bool alloc[2];
	int i, ret;

	for (i = 0; i < 2; i++) {
		ret = status(c, i, off, end - off, &st[i]);
		if (ret)
			return ret;
		alloc[i] = st[i].flags & QCOW_ST_ALLOCATED;
	}
	*len = min_u64(*len, min_u64(st[0].length, st[1].length));
	if (c->strict && strict_differs(st, off, end)) {
		say(c, "Strict mode: Offset %" PRIu64 " block status mismatch!\n",
		    off);
		return CMP_DIFFER;
	}
	if ((st[0].flags & QCOW_ST_ZERO) && (st[1].flags & QCOW_ST_ZERO))
		return CMP_SAME;
	if (alloc[0] == alloc[1] && !alloc[0])
		return CMP_SAME;
	*len = min_u64(*len, CMP_BUF_SIZE);
	if (alloc[0] == alloc[1])
		return check_same(c, off, *len);
	return check_zero(c, alloc[0] ? 0 : 1, off, *len);
}

static int compare_common(struct cmp *c, uint64_t size)
{
	uint64_t off, len;
	int ret;

	for (off = 0; off < size; off += len) {
		len = size - off;
		ret = compare_chunk(c, off, &len);
		if (ret)
			return ret;
		progress_add(&c->progress, len);
	}
	return CMP_SAME;
}

/* The part of the larger image i past the end of the other reads zeros. */
static int compare_tail(struct cmp *c, int i, uint64_t off, uint64_t end)
{
	struct qcow_status st;
	uint64_t len;
	int ret;

	for (; off < end; off += len) {
		ret = status(c, i, off, end - off, &st);
		if (ret)
			return ret;
		len = st.length;
		if ((st.flags & QCOW_ST_ALLOCATED) &&
		    !(st.flags & QCOW_ST_ZERO)) {
			len = min_u64(len, CMP_BUF_SIZE);
			ret = check_zero(c, i, off, len);
			if (ret)
				return ret;
		}
		progress_add(&c->progress, len);
	}
	return CMP_SAME;
}

static int compare_images(struct cmp *c)
{
	uint64_t size0 = qcow_size(c->img[0]), size1 = qcow_size(c->img[1]);
	uint64_t common = min_u64(size0, size1);
	int ret;

	progress_start(&c->progress, c->show_progress,
		       size0 > size1 ? size0 : size1, 2.0);
	if (c->strict && size0 != size1) {
		say(c, "Strict mode: Image size mismatch!\n");
		return CMP_DIFFER;
	}
	ret = compare_common(c, common);
	if (ret)
		return ret;
	if (size0 != size1) {
		say(c, "Warning: Image size mismatch!\n");
		ret = compare_tail(c, size0 > size1 ? 0 : 1, common,
				   size0 > size1 ? size0 : size1);
		if (ret)
			return ret;
	}
	say(c, "Images are identical.\n");
	return CMP_SAME;
}

int img_compare(int argc, char **argv)
{
	struct qcow_open_opts opts = { .read_only = true };
	struct cmp c = { 0 };
	int i, ret = CMP_OPEN_ERR;

	if (parse_args(argc, argv, &c) < 0)
		return img_usage(false);
	opts.force_share = c.force_share;
	for (i = 0; i < 2; i++)
		if (tool_open(&c.img[i], c.name[i], c.fmt[i], &opts) < 0)
			goto out;
	c.buf[0] = malloc(CMP_BUF_SIZE);
	c.buf[1] = malloc(CMP_BUF_SIZE);
	if (!c.buf[0] || !c.buf[1]) {
		tool_error("compare: out of memory");
		goto out;
	}
	ret = compare_images(&c);
	progress_end(&c.progress);
out:
	free(c.buf[0]);
	free(c.buf[1]);
	qcow_close(c.img[0]);
	qcow_close(c.img[1]);
	return ret;
}
