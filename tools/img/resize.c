// SPDX-License-Identifier: MIT
/* qcow-img resize: a new virtual size, absolute or relative. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tools/common/msg.h"
#include "tools/common/open.h"
#include "tools/common/size.h"
#include "tools/img/img.h"
#include "tools/img/resize.h"

struct resize_args {
	const char *fmt;
	const char *file;
	const char *size;
	bool shrink;
	bool quiet;
	enum qcow_prealloc prealloc;
};

enum { OPT_SHRINK = 256, OPT_PREALLOC };

static int parse_args(int argc, char **argv, struct resize_args *a)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "format", required_argument, NULL, 'f' },
		{ "shrink", no_argument, NULL, OPT_SHRINK },
		{ "preallocation", required_argument, NULL, OPT_PREALLOC },
		TRUST_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	static const char optstring[] = "hf:q";
	int c;

	/* the size comes last and may look like an option ("-1G") */
	if (argc < 3) {
		tool_usage_error("resize: needs an image file name and a size");
		return -EINVAL;
	}
	a->size = argv[--argc];
	while ((c = getopt_long(argc, argv, optstring, longopts,
				NULL)) != -1) {
		switch (c) {
		case 'h':
			exit(img_usage(true));
		case 'f':
			a->fmt = optarg;
			break;
		case 'q':
			a->quiet = true;
			break;
		case OPT_SHRINK:
			a->shrink = true;
			break;
		case OPT_PREALLOC:
			if (prealloc_mode(optarg, &a->prealloc) < 0)
				return -EINVAL;
			break;
		case OPT_TRUST_FIRST ... OPT_TRUST_LAST:
			if (tool_trust_option(c, optarg) < 0)
				return -ENOMEM;
			break;
		default:
			tool_bad_option("resize", optstring, argv);
			return -EINVAL;
		}
	}
	if (optind != argc - 1) {
		tool_usage_error("resize: needs exactly one image file name before the size '%s'",
				 a->size);
		return -EINVAL;
	}
	a->file = argv[optind];
	return 0;
}

/* "+N" and "-N" are relative to the current size. */
static int new_size(const char *file, const char *arg, uint64_t cur,
		    uint64_t *out)
{
	const char *given = arg;
	int sign = 0, ret;
	uint64_t n;

	if (*arg == '+' || *arg == '-')
		sign = *arg++ == '+' ? 1 : -1;
	ret = parse_size(arg, &n);
	if (ret == -ERANGE)
		n = UINT64_MAX;	/* too large, said below */
	else if (ret < 0) {
		tool_error("%s: Parameter 'size' expects a non-negative number below 2^64 (optional + or -, suffix k, M, G, T, P or E), not '%s'",
			   file, given);
		return -EINVAL;
	}
	if (sign < 0 && n >= cur)
		n = 0;
	else if (sign > 0)
		n = n > UINT64_MAX - cur ? UINT64_MAX : cur + n;
	else if (sign)
		n = cur - n;
	/* qemu-img's words (past 2^63 its size is negative too) */
	if (!n || n > INT64_MAX) {
		tool_error("%s: New image size must be positive (not '%s')",
			   file, given);
		return -EINVAL;
	}
	*out = n;
	return 0;
}

static int resize(const struct resize_args *a, struct qcow_image *img)
{
	uint64_t size, old = qcow_size(img);
	int ret;

	ret = new_size(a->file, a->size, old, &size);
	if (ret < 0)
		return ret;
	if (size < old && !a->shrink) {
		tool_error("%s: Use the --shrink option to perform a shrink operation.",
			   a->file);
		return -EINVAL;
	}
	/* qemu-img's words: scripts match them */
	if (a->prealloc != QCOW_PREALLOC_OFF && size < old) {
		tool_error("%s: Preallocation can only be used for growing images",
			   a->file);
		return -EINVAL;
	}
	if (qcow_format(img) == QCOW_FMT_QCOW) {
		tool_error("%s: Image format driver does not support resize",
			   a->file);
		return -ENOTSUP;
	}
	if (a->prealloc == QCOW_PREALLOC_METADATA &&
	    qcow_format(img) == QCOW_FMT_RAW) {
		tool_error("%s: Unsupported preallocation mode: metadata",
			   a->file);
		return -ENOTSUP;
	}
	ret = qcow_resize(img, size, a->shrink);
	if (!ret)
		ret = resize_prealloc(img, a->prealloc, old, size);
	if (ret < 0) {
		tool_error("%s: %s", a->file, tool_reason(a->file, ret));
		return ret;
	}
	if (!a->quiet)
		printf("Image resized.\n");
	return 0;
}

int img_resize(int argc, char **argv)
{
	struct qcow_open_opts opts = { .read_only = false };
	struct resize_args a = { 0 };
	struct qcow_image *img;
	int ret;

	if (parse_args(argc, argv, &a) < 0)
		return img_usage(false);
	if (tool_open(&img, a.file, a.fmt, &opts) < 0)
		return 1;
	ret = resize(&a, img);
	qcow_close(img);
	return ret < 0 ? 1 : 0;
}
