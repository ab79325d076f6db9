// SPDX-License-Identifier: MIT
/* qcow-img create: a new qcow2, qcow or raw image, with qemu-img's options. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tools/common/filename.h"
#include "tools/common/msg.h"
#include "tools/common/open.h"
#include "tools/common/secret.h"
#include "tools/common/size.h"
#include "tools/img/create_opts.h"
#include "tools/img/img.h"

struct create_args {
	const char *fmt;
	const char *file;
	const char *size;
	const char *backing;
	const char *backing_fmt;
	bool unsafe;
	bool quiet;
	struct img_opts opts;
};

static int parse_args(int argc, char **argv, struct create_args *a)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "object", required_argument, NULL, OPT_OBJECT },
		{ "crypto-backend", required_argument, NULL,
		  OPT_CRYPTO_BACKEND },
		{ NULL, 0, NULL, 0 }
	};
	static const char optstring[] = "hf:F:b:o:qu";
	int c;

	while ((c = getopt_long(argc, argv, optstring, longopts,
				NULL)) != -1) {
		switch (c) {
		case 'h':
			exit(img_usage(true));
		case 'f':
			a->fmt = optarg;
			break;
		case 'F':
			a->backing_fmt = optarg;
			break;
		case 'b':
			a->backing = optarg;
			break;
		case 'o':
			if (img_opts_parse(&a->opts, optarg) < 0)
				return -EINVAL;
			break;
		case 'q':
			a->quiet = true;
			break;
		case 'u':
			a->unsafe = true;
			break;
		case OPT_OBJECT:
		case OPT_CRYPTO_BACKEND:
			if (tool_trust_option(c, optarg) < 0)
				return -EINVAL;
			break;
		default:
			tool_bad_option("create", optstring, argv);
			return -EINVAL;
		}
	}
	if (optind >= argc) {
		tool_usage_error("create: no image file name given");
		return -EINVAL;
	}
	a->file = argv[optind++];
	if (optind < argc)
		a->size = argv[optind++];
	if (optind < argc) {
		tool_usage_error("create: '%s' follows the size; only FILE [SIZE] are expected",
				 argv[optind]);
		return -EINVAL;
	}
	return 0;
}

/* -b and -F are options like any other; they win over -o. */
static int merge_backing(struct create_args *a)
{
	if (a->backing && img_opts_set(&a->opts, "backing_file", a->backing))
		return -ENOMEM;
	if (a->backing_fmt &&
	    img_opts_set(&a->opts, "backing_fmt", a->backing_fmt))
		return -ENOMEM;
	return 0;
}

static int size_arg(const struct create_args *a, struct create_spec *s)
{
	uint64_t size;
	int ret;

	if (!a->size)
		return 0;
	if (s->has_size) {
		tool_error("%s: size given twice, as -o size= and as the argument '%s'",
			   a->file, a->size);
		return -EINVAL;
	}
	/* qemu-img's words: scripts match them */
	ret = a->size[0] == '-' ? -EINVAL : parse_size(a->size, &size);
	if (ret == -ERANGE || (!ret && size > INT64_MAX)) {
		tool_error("%s: Invalid image size specified. Must be between 0 and %lld.",
			   a->file, (long long)INT64_MAX);
		return -EINVAL;
	}
	if (ret < 0) {
		tool_error("%s: Invalid image size specified '%s'. You may use k, M, G, T, P or E suffixes for kilobytes, megabytes, gigabytes, terabytes, petabytes and exabytes.",
			   a->file, a->size);
		return -EINVAL;
	}
	s->o.size = size;
	s->has_size = true;
	return 0;
}

/* Says which format the backing file seems to have, when it opens. */
static void backing_format_missing(const struct create_spec *s)
{
	struct qcow_open_opts opts = { .read_only = true, .no_backing = true };
	struct qcow_image *img = NULL;
	char *path = backing_path_of(s->file, s->o.backing_file);

	if (path && qcow_open(&img, path, &opts) == 0)
		tool_error("%s: the format of backing file '%s' must be given with -F (it looks like %s)",
			   s->file, s->o.backing_file,
			   qcow_format_name(qcow_format(img)));
	else
		tool_error("%s: the format of backing file '%s' must be given with -F",
			   s->file, s->o.backing_file);
	qcow_close(img);
	free(path);
}

/* The size of the image: given, or the backing file's. */
static int settle_size(const struct create_args *a, struct create_spec *s)
{
	uint64_t size;
	int ret;

	if (s->o.backing_file && !s->o.backing_format) {
		backing_format_missing(s);
		return -EINVAL;
	}
	if (s->o.backing_file && !a->unsafe) {
		ret = create_backing_size(s, &size);
		if (ret < 0)
			return ret;
		if (!s->has_size) {
			s->o.size = size;
			s->has_size = true;
		}
	}
	if (!s->has_size) {
		tool_error("%s: no size given (a SIZE argument, -o size= or a backing file to take it from)",
			   a->file);
		return -EINVAL;
	}
	return 0;
}

static int create(struct create_args *a)
{
	enum qcow_format fmt;
	struct create_spec s;
	const char *path;
	int ret;

	if (format_from_name(a->fmt ? a->fmt : "raw", &fmt) < 0 ||
	    fmt == QCOW_FMT_NONE) {
		tool_error("%s: cannot create images of format '%s' (qcow2, qcow or raw)",
			   a->file, a->fmt);
		return -EINVAL;
	}
	if (tool_filename_new(a->file, &path) < 0)
		return -EINVAL;
	if (merge_backing(a) < 0)
		return -ENOMEM;
	ret = create_spec_parse(&s, path, fmt, &a->opts);
	if (!ret)
		ret = size_arg(a, &s);
	if (!ret)
		ret = settle_size(a, &s);
	if (ret)
		return ret;
	/* the name as given, "file:" included, as qemu-img prints it */
	s.file = a->file;
	if (!a->quiet)
		create_spec_print(&s);
	s.file = path;
	ret = create_spec_finish(&s);
	if (ret)
		return ret;
	ret = qcow_create(path, &s.o);
	if (ret < 0)
		tool_error("%s: %s", path, tool_reason(path, ret));
	return ret;
}

int img_create(int argc, char **argv)
{
	struct create_args a = { 0 };
	int ret;

	if (parse_args(argc, argv, &a) < 0) {
		img_opts_free(&a.opts);
		return img_usage(false);
	}
	ret = create(&a);
	img_opts_free(&a.opts);
	return ret < 0 ? 1 : 0;
}
