// SPDX-License-Identifier: MIT
/*
 * qcow-img convert: copy an image's guest data (or several images', one
 * after the other) into a new raw or qcow2 image (or, with -n, into an
 * existing one).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tools/common/filename.h"
#include "tools/common/msg.h"
#include "tools/common/open.h"
#include "tools/common/secret.h"
#include "tools/common/snapshot_param.h"
#include "tools/img/convert.h"
#include "tools/img/create_opts.h"
#include "tools/img/img.h"

#define CONVERT_BUF_SIZE (2u << 20)
#define SPARSE_DEFAULT 4096
#define SPARSE_MAX (16u << 20)
#define SECTOR 512

static int parse_sparse(const char *arg, uint64_t *out)
{
	if (parse_size_arg(arg, "convert: -S", out) < 0)
		return -EINVAL;
	if (*out % SECTOR || *out > SPARSE_MAX) {
		tool_usage_error("convert: -S '%s' must be a multiple of %d up to %u, or 0 to write zeros too",
				 arg, SECTOR, SPARSE_MAX);
		return -EINVAL;
	}
	return 0;
}

enum { OPT_BITMAPS = 256, OPT_SKIP_BROKEN, OPT_TARGET_OPTS };

static int parse_opt(struct convert *c, int ch)
{
	switch (ch) {
	case 'h':
		exit(img_usage(true));
	case 'f':
		c->fmt = optarg;
		break;
	case 'O':
		c->out_fmt = optarg;
		break;
	case 'o':
		return img_opts_parse(&c->opts, optarg);
	case 'B':
		c->backing = optarg;
		break;
	case 'F':
		c->backing_fmt = optarg;
		break;
	case 'c':
		c->compress = true;
		break;
	case 'n':
		c->no_create = true;
		break;
	case 'p':
		c->show_progress = true;
		break;
	case 'q':
		c->quiet = true;
		break;
	case 'S':
		return parse_sparse(optarg, &c->sparse);
	case 't':	/* cache modes, coroutines, out of order: */
	case 'T':	/* nothing to tune in this copy loop */
	case 'm':
	case 'W':
		break;
	case 'U':
		c->force_share = true;
		break;
	case 'l':
		return snapshot_param_parse(&c->snapshot, optarg);
	case OPT_BITMAPS:
		c->copy_bitmaps = true;
		break;
	case OPT_SKIP_BROKEN:
		c->skip_broken_bitmaps = true;
		break;
	case OPT_TARGET_OPTS:
		c->target_image_opts = true;
		break;
	case OPT_TRUST_FIRST ... OPT_TRUST_LAST:
		return tool_trust_option(ch, optarg);
	}
	return 0;
}

static int parse_args(int argc, char **argv, struct convert *c)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "force-share", no_argument, NULL, 'U' },
		{ "bitmaps", no_argument, NULL, OPT_BITMAPS },
		{ "skip-broken-bitmaps", no_argument, NULL, OPT_SKIP_BROKEN },
		{ "target-image-opts", no_argument, NULL, OPT_TARGET_OPTS },
		TRUST_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	static const char optstring[] = "hf:O:o:B:F:cnpqS:t:T:m:WUl:";
	int ch;

	while ((ch = getopt_long(argc, argv, optstring, longopts,
				 NULL)) != -1) {
		if (ch == '?') {
			tool_bad_option("convert", optstring, argv);
			return -EINVAL;
		}
		if (parse_opt(c, ch) < 0)
			return -EINVAL;
	}
	if (c->skip_broken_bitmaps && !c->copy_bitmaps) {
		tool_usage_error("convert: --skip-broken-bitmaps needs --bitmaps");
		return -EINVAL;
	}
	if (optind > argc - 2) {
		tool_usage_error("convert: needs a source image and an output file name");
		return -EINVAL;
	}
	if (optind != argc - 2 && (c->snapshot.id_or_name || c->snapshot.id ||
				   c->snapshot.name)) {
		tool_error("No support for concatenating multiple snapshot");
		return -EINVAL;
	}
	if (optind != argc - 2 && c->copy_bitmaps) {
		tool_error("convert: Copying bitmaps only possible with single source");
		return -EINVAL;
	}
	c->nr_srcs = argc - 1 - optind;
	c->srcs = calloc(c->nr_srcs, sizeof(*c->srcs));
	if (!c->srcs) {
		tool_error("convert: out of memory");
		return -ENOMEM;
	}
	for (int i = 0; i < c->nr_srcs; i++)
		c->srcs[i].name = argv[optind + i];
	c->src = argv[optind];
	c->dst = argv[argc - 1];
	if (!c->target_image_opts &&
	    tool_filename_new(argv[argc - 1], &c->dst) < 0)
		return -EINVAL;
	return 0;
}

static int check_args(struct convert *c, enum qcow_format *fmt)
{
	if (format_from_name(c->out_fmt, fmt) < 0 || *fmt == QCOW_FMT_NONE) {
		tool_error("%s: cannot write images of format '%s' (-O raw, qcow2 or qcow)",
			   c->dst, c->out_fmt);
		return -EINVAL;
	}
	if (c->target_image_opts && !c->no_create) {
		tool_usage_error("convert: --target-image-opts needs -n (the target must exist)");
		return -EINVAL;
	}
	if (c->no_create && c->opts.n) {
		tool_usage_error("convert: -o cannot be used with -n, which writes into an existing %s",
				 c->dst);
		return -EINVAL;
	}
	if (c->no_create && c->backing) {
		tool_usage_error("convert: -B cannot be used with -n, which writes into an existing %s",
				 c->dst);
		return -EINVAL;
	}
	if (c->compress && (img_opts_get(&c->opts, "encrypt.format") ||
			    img_opts_get(&c->opts, "encryption"))) {
		tool_error("%s: -c: an encrypted image cannot hold compressed clusters",
			   c->dst);
		return -EINVAL;
	}
	if (c->compress && *fmt != QCOW_FMT_QCOW2 && *fmt != QCOW_FMT_QCOW) {
		tool_error("%s: -c needs qcow2 or qcow output, not %s", c->dst,
			   qcow_format_name(*fmt));
		return -EINVAL;
	}
	if (c->backing && img_opts_set(&c->opts, "backing_file", c->backing))
		return -ENOMEM;
	if (c->backing_fmt &&
	    img_opts_set(&c->opts, "backing_fmt", c->backing_fmt))
		return -ENOMEM;
	if (img_opts_get(&c->opts, "backing_file") &&
	    !img_opts_get(&c->opts, "backing_fmt")) {
		tool_error("%s: the format of backing file '%s' must be given with -F",
			   c->dst, img_opts_get(&c->opts, "backing_file"));
		return -EINVAL;
	}
	return 0;
}

/* The target, with the source's size and the -o options. */
static int create_target(struct convert *c, enum qcow_format fmt)
{
	struct create_spec s;
	int ret;

	ret = create_spec_parse(&s, c->dst, fmt, &c->opts);
	if (ret < 0)
		return ret;
	s.o.size = c->total;
	s.has_size = true;
	ret = create_spec_finish(&s);
	if (ret < 0)
		return ret;
	ret = qcow_create(c->dst, &s.o);
	if (ret < 0)
		tool_error("%s: %s", c->dst, tool_reason(c->dst, ret));
	c->zero_init = !s.o.backing_file;
	return ret;
}

static int open_target(struct convert *c, enum qcow_format fmt)
{
	struct qcow_open_opts opts = { .read_only = false, .format = fmt };
	const char *id = img_opts_get(&c->opts, "encrypt.key-secret");
	struct qcow_info info;
	int ret;

	if (c->target_image_opts) {
		ret = tool_open_spec(&c->out, c->dst, true, c->out_fmt,
				     &opts);
		if (ret < 0)
			return ret;
		goto opened;
	}
	if (id && tool_secret(c->dst, id, &opts.key, &opts.key_len) < 0)
		return -EINVAL;
	ret = qcow_open(&c->out, c->dst, &opts);
	if (ret < 0) {
		tool_error("%s: cannot open the target: %s", c->dst,
			   open_error_text(c->dst, ret));
		return ret;
	}
opened:
	if (c->compress && qcow_get_info(c->out, &info) == 0 &&
	    info.crypt_method) {
		tool_error("%s: -c: an encrypted image cannot hold compressed clusters",
			   c->dst);
		return -EINVAL;
	}
	if (qcow_size(c->out) < c->total) {
		/* qemu-img's words: scripts match them */
		tool_error("%s: output file is smaller than input file",
			   c->dst);
		return -EINVAL;
	}
	return 0;
}

static int alloc_buffers(struct convert *c)
{
	struct qcow_info info;

	/* -S 0 detects no zeros, but chunks follow the source as by default */
	c->grain = c->sparse ? c->sparse : SPARSE_DEFAULT;
	if (c->compress && qcow_get_info(c->out, &info) == 0)
		c->grain = info.cluster_size;
	c->buf_size = c->grain > CONVERT_BUF_SIZE ? c->grain :
		      CONVERT_BUF_SIZE - CONVERT_BUF_SIZE % c->grain;
	c->buf = malloc(c->buf_size);
	c->old = malloc(c->buf_size);
	if (!c->buf || !c->old) {
		tool_error("convert: out of memory");
		return -ENOMEM;
	}
	return 0;
}

static int open_sources(struct convert *c, const struct qcow_open_opts *opts)
{
	struct convert_src *src;
	int i;

	for (i = 0; i < c->nr_srcs; i++) {
		src = &c->srcs[i];
		if (tool_open_snapshot(&src->img, src->name, c->fmt, opts,
				       &c->snapshot) < 0)
			return -EINVAL;
		src->start = c->total;
		src->size = qcow_size(src->img);
		c->total += src->size;
	}
	c->img = c->srcs[0].img;
	return 0;
}

static int setup(struct convert *c)
{
	struct qcow_open_opts opts = {
		.read_only = true,
		.force_share = c->force_share,
		.deny_write = true,
	};
	enum qcow_format fmt;
	int ret;

	ret = check_args(c, &fmt);
	if (ret < 0)
		return ret;
	ret = open_sources(c, &opts);
	if (ret < 0)
		return ret;
	if (c->copy_bitmaps) {
		ret = convert_bitmaps_source(c);
		if (ret < 0)
			return ret;
	}
	if (!c->no_create) {
		ret = create_target(c, fmt);
		if (ret < 0)
			return ret;
	}
	ret = open_target(c, fmt);
	if (!ret && c->copy_bitmaps)
		ret = convert_bitmaps_target(c);
	if (ret < 0)
		return ret;
	return alloc_buffers(c);
}

static int finish_target(struct convert *c)
{
	int ret = qcow_flush(c->out);

	if (ret < 0)
		tool_error("%s: flush failed: %s", c->dst, strerror(-ret));
	return ret;
}

int img_convert(int argc, char **argv)
{
	struct convert c = {
		.out_fmt = "raw",
		.sparse = SPARSE_DEFAULT,
	};
	int ret;

	if (parse_args(argc, argv, &c) < 0) {
		img_opts_free(&c.opts);
		snapshot_param_free(&c.snapshot);
		free(c.srcs);
		return img_usage(false);
	}
	ret = setup(&c);
	if (ret < 0)
		goto out;
	progress_start(&c.progress, c.show_progress && !c.quiet,
		       c.total, 1.0);
	ret = convert_copy(&c);
	if (!ret && c.copy_bitmaps)
		ret = convert_bitmaps_copy(&c);
	if (!ret)
		ret = finish_target(&c);
	/*
	 * qemu-img 7.2 fails the end-of-file mark of a compressed qcow
	 * target: it exits 1, silently, the image complete, without the
	 * final 100%.
	 */
	if (!ret && c.compress && qcow_format(c.out) == QCOW_FMT_QCOW)
		ret = -EINVAL;
	else if (!ret)
		progress_complete(&c.progress);
	progress_end(&c.progress);
out:
	convert_bitmaps_free(&c);
	free(c.buf);
	free(c.old);
	qcow_close(c.out);
	for (int i = 0; i < c.nr_srcs; i++)
		qcow_close(c.srcs[i].img);
	free(c.srcs);
	img_opts_free(&c.opts);
	snapshot_param_free(&c.snapshot);
	return ret < 0 ? 1 : 0;
}
