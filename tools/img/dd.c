// SPDX-License-Identifier: MIT
/*
 * qcow-img dd: bs-byte blocks of an image copied into a new one, as
 * qemu-img 7.2's dd does.  The output holds the input's bytes from
 * skip * bs up to count * bs (qemu-img counts the blocks from the start
 * of the input, skipped ones included) or the input's end, every block
 * written, zeros too.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tools/common/filename.h"
#include "tools/common/msg.h"
#include "tools/common/open.h"
#include "tools/common/size.h"
#include "tools/common/util.h"
#include "tools/img/img.h"

#define DD_CHUNK (1u << 20)

struct dd_args {
	const char *fmt;
	const char *out_fmt;
	const char *in;
	const char *out;
	uint64_t bs;
	uint64_t count;
	uint64_t skip;
	bool has_count;
	bool force_share;
};

/* "Invalid WHAT specified. ..." as qemu-img words it. */
static int operand_number(const char *what, const char *val, uint64_t *out)
{
	if (val[0] != '-' && parse_size(val, out) == 0)
		return 0;
	tool_error("dd: Invalid %s specified. You may use k, M, G, T, P or E suffixes for kilobytes, megabytes, gigabytes, terabytes, petabytes and exabytes.",
		   what);
	return -EINVAL;
}

static int operand(struct dd_args *a, const char *arg)
{
	const char *eq = strchr(arg, '=');
	size_t n = eq ? (size_t)(eq - arg) : 0;
	const char *val = eq ? eq + 1 : NULL;

	if (n == 2 && !strncmp(arg, "if", 2))
		a->in = val;
	else if (n == 2 && !strncmp(arg, "of", 2))
		a->out = val;
	else if (n == 2 && !strncmp(arg, "bs", 2)) {
		if (val[0] == '-' || parse_size(val, &a->bs) < 0 ||
		    !a->bs || a->bs > INT32_MAX) {
			tool_error("dd: Invalid bs specified. Must be between 1 and %d.",
				   INT32_MAX);
			return -EINVAL;
		}
	} else if (n == 5 && !strncmp(arg, "count", 5)) {
		a->has_count = true;
		return operand_number("count", val, &a->count);
	} else if (n == 4 && !strncmp(arg, "skip", 4)) {
		return operand_number("skip", val, &a->skip);
	} else {
		tool_error("dd: unrecognized operand %s", arg);
		return -EINVAL;
	}
	return 0;
}

static int parse_args(int argc, char **argv, struct dd_args *a)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "force-share", no_argument, NULL, 'U' },
		TRUST_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	static const char optstring[] = "hf:O:U";
	int c;

	while ((c = getopt_long(argc, argv, optstring, longopts,
				NULL)) != -1) {
		switch (c) {
		case 'h':
			exit(img_usage(true));
		case 'f':
			a->fmt = optarg;
			break;
		case 'O':
			a->out_fmt = optarg;
			break;
		case 'U':
			a->force_share = true;
			break;
		case OPT_TRUST_FIRST ... OPT_TRUST_LAST:
			if (tool_trust_option(c, optarg) < 0)
				return -EINVAL;
			break;
		default:
			tool_bad_option("dd", optstring, argv);
			return -EINVAL;
		}
	}
	for (; optind < argc; optind++) {
		if (operand(a, argv[optind]) < 0)
			return -EINVAL;
	}
	if (!a->in || !a->out) {
		tool_error("dd: Must specify both input and output files");
		return -EINVAL;
	}
	return 0;
}

/* The input's bytes [start, end) into the output from its offset 0. */
static int copy(const struct dd_args *a, struct qcow_image *in,
		struct qcow_image *out, uint64_t start, uint64_t end)
{
	uint64_t chunk = a->bs >= DD_CHUNK ? a->bs : DD_CHUNK / a->bs * a->bs;
	uint64_t pos, n;
	uint8_t *buf = malloc(chunk);
	int ret = 0;

	if (!buf) {
		tool_error("dd: out of memory");
		return -ENOMEM;
	}
	for (pos = start; pos < end && !ret; pos += n) {
		n = min_u64(chunk, end - pos);
		ret = qcow_pread(in, buf, n, pos);
		if (ret < 0) {
			tool_error("%s: error while reading at offset %" PRIu64 ": %s",
				   a->in, pos, strerror(-ret));
			break;
		}
		ret = qcow_pwrite(out, buf, n, pos - start);
		if (ret < 0)
			tool_error("%s: error while writing at offset %" PRIu64 ": %s",
				   a->out, pos - start, strerror(-ret));
	}
	free(buf);
	if (!ret && (ret = qcow_flush(out)) < 0)
		tool_error("%s: flush failed: %s", a->out, strerror(-ret));
	return ret;
}

static int create_output(const struct dd_args *a, const char *path,
			 uint64_t size)
{
	/* qemu-img rounds the size up to whole sectors */
	struct qcow_create_opts o = { .size = (size + 511) / 512 * 512 };
	int ret;

	if (format_from_name(a->out_fmt, &o.format) < 0 ||
	    o.format == QCOW_FMT_NONE) {
		tool_error("%s: cannot create images of format '%s' (qcow2, qcow or raw)",
			   a->out, a->out_fmt);
		return -EINVAL;
	}
	o.crypto_backend = tool_crypto_backend();
	ret = qcow_create(path, &o);
	if (ret < 0)
		tool_error("%s: error while creating output image: %s", a->out,
			   tool_reason(path, ret));
	return ret;
}

static int dd(const struct dd_args *a)
{
	struct qcow_open_opts in_opts = {
		.read_only = true, .force_share = a->force_share,
	};
	struct qcow_open_opts out_opts = { 0 };
	struct qcow_image *in = NULL, *out = NULL;
	uint64_t start, end;
	const char *path;
	int ret;

	if (tool_filename_new(a->out, &path) < 0)
		return -EINVAL;
	if (tool_open(&in, a->in, a->fmt, &in_opts) < 0)
		return -EINVAL;
	end = qcow_size(in);
	if (a->has_count && a->count <= UINT64_MAX / a->bs &&
	    a->count * a->bs < end)
		end = a->count * a->bs;
	start = a->skip <= UINT64_MAX / a->bs ? a->skip * a->bs : UINT64_MAX;
	/* qemu-img's words; it still makes an empty output */
	if (start > end) {
		tool_error("%s: cannot skip to specified offset", a->in);
		start = end;
	}
	ret = create_output(a, path, end - start);
	/* by the name given (a file name, also with --image-opts) */
	if (!ret)
		ret = tool_open_spec(&out, a->out, false, a->out_fmt,
				     &out_opts);
	if (!ret)
		ret = copy(a, in, out, start, end);
	qcow_close(out);
	qcow_close(in);
	return ret;
}

int img_dd(int argc, char **argv)
{
	struct dd_args a = { .out_fmt = "raw", .bs = 512 };

	if (parse_args(argc, argv, &a) < 0)
		return 1;
	return dd(&a) < 0 ? 1 : 0;
}
