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

struct resize_args {
	const char *fmt;
	const char *file;
	const char *size;
	bool shrink;
	bool quiet;
};

enum { OPT_SHRINK = 256, OPT_PREALLOC };

static int parse_args(int argc, char **argv, struct resize_args *a)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "format", required_argument, NULL, 'f' },
		{ "shrink", no_argument, NULL, OPT_SHRINK },
		{ "preallocation", required_argument, NULL, OPT_PREALLOC },
		{ NULL, 0, NULL, 0 }
	};
	int c;

	/* the size comes last and may look like an option ("-1G") */
	if (argc < 3) {
		tool_error("Not enough arguments");
		return -EINVAL;
	}
	a->size = argv[--argc];
	while ((c = getopt_long(argc, argv, "hf:q", longopts, NULL)) != -1) {
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
			if (strcmp(optarg, "off")) {
				tool_error("resize: preallocation mode '%s' is not supported",
					   optarg);
				return -EINVAL;
			}
			break;
		default:
			return -EINVAL;
		}
	}
	if (optind != argc - 1) {
		tool_error("Expecting image file name and size");
		return -EINVAL;
	}
	a->file = argv[optind];
	return 0;
}

/* "+N" and "-N" are relative to the current size. */
static int new_size(const char *arg, uint64_t cur, uint64_t *out)
{
	int sign = 0;
	uint64_t n;

	if (*arg == '+' || *arg == '-')
		sign = *arg++ == '+' ? 1 : -1;
	if (parse_size(arg, &n) < 0) {
		tool_error("Invalid size specified. You may use k, M, G, T, P or E suffixes for\n"
			   "qcow-img: kilobytes, megabytes, gigabytes, terabytes, petabytes and exabytes.");
		return -EINVAL;
	}
	if (sign < 0 && n >= cur)
		n = 0;
	else if (sign)
		n = sign > 0 ? cur + n : cur - n;
	if (!n || n > INT64_MAX) {
		tool_error("New image size must be positive");
		return -EINVAL;
	}
	*out = n;
	return 0;
}

static int resize(const struct resize_args *a, struct qcow_image *img)
{
	uint64_t size;
	int ret;

	ret = new_size(a->size, qcow_size(img), &size);
	if (ret < 0)
		return ret;
	if (size < qcow_size(img) && !a->shrink) {
		tool_error("Use the --shrink option to perform a shrink operation.");
		tool_error("warning: Shrinking an image will delete all data beyond the shrunken image's end. Before performing such an operation, make sure there is no important data there.");
		return -EINVAL;
	}
	ret = qcow_resize(img, size, a->shrink);
	if (ret < 0) {
		tool_error("%s", img_reason(ret));
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
