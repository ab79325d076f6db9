// SPDX-License-Identifier: MIT
/*
 * qcow-img convert: copy an image's guest data into a new image.  Only raw
 * output for now: the file is created sparse and zero ranges stay holes.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tools/common/chain.h"
#include "tools/common/msg.h"
#include "tools/common/open.h"
#include "tools/common/progress.h"
#include "tools/common/util.h"
#include "tools/img/img.h"

#define CONVERT_BUF_SIZE (2u << 20)
#define CONVERT_STEP (1ULL << 30)
#define SPARSE_DEFAULT 4096
#define SPARSE_MAX (16u << 20)
#define SECTOR 512

struct convert {
	const char *fmt;
	const char *out_fmt;
	const char *src;
	const char *dst;
	bool show_progress;
	bool quiet;
	uint64_t sparse;	/* 0: write zeros too */
	struct qcow_image *img;
	int fd;
	uint8_t *buf;
	size_t buf_size;
	struct progress progress;
};

static int parse_sparse(const char *arg, uint64_t *out)
{
	if (parse_size_arg(arg, "sparse size", out) < 0)
		return -EINVAL;
	if (*out % SECTOR || *out > SPARSE_MAX) {
		tool_error("invalid sparse size '%s': a multiple of %d up to %u, or 0 to write zeros too",
			   arg, SECTOR, SPARSE_MAX);
		return -EINVAL;
	}
	return 0;
}

static int parse_args(int argc, char **argv, struct convert *c)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "force-share", no_argument, NULL, 'U' },
		{ NULL, 0, NULL, 0 }
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "hf:O:pqS:t:T:m:WU", longopts,
				 NULL)) != -1) {
		switch (ch) {
		case 'h':
			exit(img_usage(true));
		case 'f':
			c->fmt = optarg;
			break;
		case 'O':
			c->out_fmt = optarg;
			break;
		case 'p':
			c->show_progress = true;
			break;
		case 'q':
			c->quiet = true;
			break;
		case 'S':
			if (parse_sparse(optarg, &c->sparse) < 0)
				return -EINVAL;
			break;
		case 't':	/* cache modes, coroutines, out of order: */
		case 'T':	/* nothing to tune in this copy loop */
		case 'm':
		case 'W':
		case 'U':
			break;
		default:
			return -EINVAL;
		}
	}
	if (optind != argc - 2) {
		tool_error("convert: expecting one source image and one output file name");
		return -EINVAL;
	}
	c->src = argv[optind];
	c->dst = argv[optind + 1];
	return 0;
}

static int write_out(struct convert *c, const uint8_t *buf, uint64_t len,
		     uint64_t off)
{
	ssize_t n;

	while (len) {
		n = pwrite(c->fd, buf, len, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int err = n < 0 ? errno : EIO;

			tool_error("%s: write failed at offset %" PRIu64 ": %s",
				   c->dst, off, strerror(err));
			return -err;
		}
		buf += n;
		off += n;
		len -= n;
	}
	return 0;
}

static bool all_zero(const uint8_t *p, size_t len)
{
	return !len || (!p[0] && !memcmp(p, p + 1, len - 1));
}

/*
 * Writes buf, which holds [off, off + len), leaving out the blocks of
 * c->sparse bytes (aligned in the image) that are all zeros.
 */
static int write_sparse(struct convert *c, const uint8_t *buf, uint64_t off,
			uint64_t len)
{
	uint64_t pos = 0, run = 0, blk;
	int ret;

	if (!c->sparse)
		return write_out(c, buf, len, off);
	while (pos < len) {
		blk = min_u64(c->sparse - (off + pos) % c->sparse, len - pos);
		if (all_zero(buf + pos, blk)) {
			ret = write_out(c, buf + run, pos - run, off + run);
			if (ret < 0)
				return ret;
			run = pos + blk;
		}
		pos += blk;
	}
	return write_out(c, buf + run, len - run, off + run);
}

/* Copies [off, off + len), which holds data, through the buffer. */
static int copy_data(struct convert *c, uint64_t off, uint64_t len)
{
	uint64_t n, end;
	int ret;

	while (len) {
		n = min_u64(len, c->buf_size);
		end = off + n;
		/* keep chunks on the sparse grid so holes are not split */
		if (c->sparse && n < len && end % c->sparse &&
		    end - end % c->sparse > off)
			n -= end % c->sparse;
		ret = qcow_pread(c->img, c->buf, n, off);
		if (ret < 0) {
			tool_error("%s: read failed at offset %" PRIu64 ": %s",
				   c->src, off, strerror(-ret));
			return ret;
		}
		ret = write_sparse(c, c->buf, off, n);
		if (ret < 0)
			return ret;
		progress_add(&c->progress, n);
		off += n;
		len -= n;
	}
	return 0;
}

/* Zeros: a hole in the new file, or written out with -S 0. */
static int copy_zeros(struct convert *c, uint64_t off, uint64_t len)
{
	uint64_t n;
	int ret;

	if (c->sparse) {
		progress_add(&c->progress, len);
		return 0;
	}
	memset(c->buf, 0, c->buf_size);
	for (; len; off += n, len -= n) {
		n = min_u64(len, c->buf_size);
		ret = write_out(c, c->buf, n, off);
		if (ret < 0)
			return ret;
		progress_add(&c->progress, n);
	}
	return 0;
}

static int copy_image(struct convert *c)
{
	uint64_t size = qcow_size(c->img), off, len;
	struct qcow_status st;
	int ret;

	for (off = 0; off < size; off += len) {
		len = min_u64(size - off, CONVERT_STEP);
		ret = chain_status(c->img, off, len, false, &st);
		if (ret < 0) {
			tool_error("%s: cannot get block status at offset %" PRIu64 ": %s",
				   c->src, off, strerror(-ret));
			return ret;
		}
		len = st.length;
		if (st.flags & QCOW_ST_ZERO)
			ret = copy_zeros(c, off, len);
		else
			ret = copy_data(c, off, len);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int create_output(struct convert *c)
{
	c->fd = open(c->dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (c->fd < 0) {
		tool_error("%s: cannot create: %s", c->dst, strerror(errno));
		return -errno;
	}
	if (ftruncate(c->fd, qcow_size(c->img)) < 0) {
		tool_error("%s: cannot set the size: %s", c->dst,
			   strerror(errno));
		return -errno;
	}
	return 0;
}

static int setup(struct convert *c)
{
	struct qcow_open_opts opts = { .read_only = true };

	if (strcmp(c->out_fmt, "raw")) {
		tool_error("convert: output format %s is not supported yet",
			   c->out_fmt);
		return -ENOTSUP;
	}
	if (tool_open(&c->img, c->src, c->fmt, &opts) < 0)
		return -EINVAL;
	c->buf_size = CONVERT_BUF_SIZE;
	if (c->sparse)
		c->buf_size = c->sparse > CONVERT_BUF_SIZE ? c->sparse :
			CONVERT_BUF_SIZE - CONVERT_BUF_SIZE % c->sparse;
	c->buf = malloc(c->buf_size);
	if (!c->buf) {
		tool_error("convert: out of memory");
		return -ENOMEM;
	}
	return create_output(c);
}

int img_convert(int argc, char **argv)
{
	struct convert c = {
		.out_fmt = "raw",
		.sparse = SPARSE_DEFAULT,
		.fd = -1,
	};
	int ret;

	if (parse_args(argc, argv, &c) < 0)
		return img_usage(false);
	ret = setup(&c);
	if (ret < 0)
		goto out;
	progress_start(&c.progress, c.show_progress && !c.quiet,
		       qcow_size(c.img), 1.0);
	ret = copy_image(&c);
	if (!ret)
		progress_complete(&c.progress);
	progress_end(&c.progress);
out:
	if (c.fd >= 0 && close(c.fd) < 0 && !ret) {
		tool_error("%s: %s", c.dst, strerror(errno));
		ret = -errno;
	}
	free(c.buf);
	qcow_close(c.img);
	return ret < 0 ? 1 : 0;
}
