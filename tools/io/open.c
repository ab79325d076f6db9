// SPDX-License-Identifier: MIT
/* qcow-io open, close and reopen, and opening the image of the command line. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tools/common/msg.h"
#include "tools/common/open.h"
#include "tools/common/secret.h"
#include "tools/io/io.h"

int io_parse_cache(const char *mode, bool *direct)
{
	if (!strcmp(mode, "none") || !strcmp(mode, "off") ||
	    !strcmp(mode, "directsync")) {
		*direct = true;
		return 0;
	}
	if (!strcmp(mode, "writeback") || !strcmp(mode, "writethrough") ||
	    !strcmp(mode, "unsafe")) {
		*direct = false;
		return 0;
	}
	tool_error("unknown cache mode '%s': use none, directsync, writeback, writethrough or unsafe",
		   mode);
	return -EINVAL;
}

int io_parse_discard(const char *mode, bool *no_discard)
{
	if (!strcmp(mode, "ignore") || !strcmp(mode, "off")) {
		*no_discard = true;
		return 0;
	}
	if (!strcmp(mode, "unmap") || !strcmp(mode, "on")) {
		*no_discard = false;
		return 0;
	}
	tool_error("unknown discard mode '%s': use ignore, off, unmap or on",
		   mode);
	return -EINVAL;
}

static void open_free(struct io_open *o)
{
	free(o->overlay);
	free(o->path);
	free(o->fmt);
	snapshot_param_free(&o->snapshot);
}

/*
 * Path and format are copied; the snapshot selection moves into s.  With
 * -s, what opens is a new temporary overlay over the file.
 */
int io_open_image(struct io_state *s, const struct io_open *o)
{
	struct qcow_open_opts opts = {
		.read_only = o->read_only,
		.direct = o->direct,
		.force_share = o->force_share,
		.no_backing = o->no_backing,
		.l2_cache_size = o->cache.l2_cache_size,
		.refcount_cache_size = o->cache.refcount_cache_size,
		.cache_size = o->cache.cache_size,
		.l2_cache_entry_size = o->cache.l2_cache_entry_size,
		.cache_clean_interval = o->cache.cache_clean_interval,
		.cache_set = o->cache.cache_set,
	};
	struct qcow_image *img;
	char *path = strdup(o->path);
	char *fmt = o->fmt ? strdup(o->fmt) : NULL;
	char *overlay = NULL;
	int ret;

	if (!path || (o->fmt && !fmt)) {
		tool_error("out of memory");
		ret = -ENOMEM;
		goto err;
	}
	if (o->key_secret[0] &&
	    tool_secret(o->path, o->key_secret, &opts.key, &opts.key_len) < 0) {
		ret = -ENOENT;
		goto err;
	}
	if (o->copy_on_read && o->read_only) {
		tool_error("%s: copy-on-read (-C) writes: it needs a read-write open",
			   o->path);
		ret = -EINVAL;
		goto err;
	}
	if (o->temp_snapshot) {
		ret = io_temp_overlay(o, &overlay);
		if (ret < 0)
			goto err;
		ret = tool_open(&img, overlay, "qcow2", &opts);
		/* open, it needs no name: none is left behind by a crash */
		unlink(overlay);
	} else {
		ret = tool_open_snapshot(&img, o->path, o->fmt, &opts,
					 &o->snapshot);
	}
	if (!ret && io_check_option_format(img, o) < 0) {
		qcow_close(img);
		ret = -EINVAL;
	}
	if (ret < 0)
		goto err;
	s->img = img;
	s->open = *o;
	s->open.path = path;
	s->open.fmt = fmt;
	s->open.overlay = overlay;
	return 0;
err:
	free(overlay);
	free(path);
	free(fmt);
	return ret;
}

void io_close_image(struct io_state *s)
{
	if (!s->img)
		return;
	qcow_close(s->img);
	s->img = NULL;
	open_free(&s->open);
	memset(&s->open, 0, sizeof(s->open));
}

static int open_usage(void)
{
	io_print_usage(io_find_cmd("open"));
	return -EINVAL;
}

/* The -o options of one command, applied once its flags are known. */
#define IO_MAX_O 8
struct o_args {
	const char *arg[IO_MAX_O];
	int n;
};

static int add_o(struct o_args *a, const char *arg)
{
	if (a->n == IO_MAX_O) {
		tool_error("at most %d -o options", IO_MAX_O);
		return -EINVAL;
	}
	a->arg[a->n++] = arg;
	return 0;
}

static int apply_o(const struct o_args *a, struct io_open *o,
		   struct io_opts_seen *seen)
{
	int i, ret;

	for (i = 0; i < a->n; i++) {
		ret = io_open_options(a->arg[i], o, seen);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int open_flag(int c, struct io_open *o, bool *native,
		     struct o_args *oa)
{
	switch (c) {
	case 'r':
		o->read_only = true;
		return 0;
	case 'n':
		o->direct = true;
		return 0;
	case 'U':
		o->force_share = true;
		return 0;
	case 'k':	/* native AIO: ours is io_uring whatever is asked */
		*native = true;
		return 0;
	case 's':
		o->temp_snapshot = true;
		return 0;
	case 'C':
		o->copy_on_read = true;
		return 0;
	case 't':
		return io_parse_cache(optarg, &o->direct);
	case 'd':
		return io_parse_discard(optarg, &o->no_discard);
	case 'o':
		return add_o(oa, optarg);
	default:
		return open_usage();
	}
}

int io_open_cmd(struct io_state *s, int argc, char **argv)
{
	struct io_opts_seen seen = { 0 };
	struct io_open o = { 0 };
	struct o_args oa = { 0 };
	bool native = false;
	int c, ret;

	if (s->img) {
		tool_error("an image is open already: 'close' it first");
		return -EBUSY;
	}
	while ((c = getopt(argc, argv, "rsCnkUt:d:o:")) != -1) {
		ret = open_flag(c, &o, &native, &oa);
		if (ret < 0)
			return ret;
	}
	if (optind != argc - 1)
		return open_usage();
	o.path = argv[optind];
	ret = apply_o(&oa, &o, &seen);
	if (!ret && native && !o.direct) {
		tool_error("%s: open -k needs the page cache bypassed: add -n or -t none",
			   o.path);
		ret = -EINVAL;
	}
	if (!ret)
		ret = io_open_image(s, &o) < 0 ? -EINVAL : 0;
	free(o.fmt);
	return ret;
}

int io_close_cmd(struct io_state *s, int argc, char **argv)
{
	io_close_image(s);
	return 0;
}

static int reopen_opts(int argc, char **argv, struct io_open *o,
		       const char *format)
{
	struct io_opts_seen seen = { .reopen = true, .format = format };
	struct o_args oa = { 0 };
	bool r = false, w = false;
	int c;

	while ((c = getopt(argc, argv, "c:o:rw")) != -1) {
		switch (c) {
		case 'c':
			if (io_parse_cache(optarg, &o->direct) < 0)
				return -EINVAL;
			seen.cache_flag = true;
			break;
		case 'o':
			if (add_o(&oa, optarg) < 0)
				return -EINVAL;
			break;
		case 'r':
			r = true;
			break;
		case 'w':
			w = true;
			break;
		default:
			io_print_usage(io_find_cmd("reopen"));
			return -EINVAL;
		}
	}
	if (optind != argc) {
		io_print_usage(io_find_cmd("reopen"));
		return -EINVAL;
	}
	if (r && w) {
		tool_error("reopen: -r and -w exclude each other");
		return -EINVAL;
	}
	if (r || w)
		o->read_only = r;
	seen.rw_flag = r || w;
	if (apply_o(&oa, o, &seen) < 0)
		return -EINVAL;
	if (w && snapshot_param_set(&o->snapshot)) {
		tool_error("reopen: -w refused: an internal snapshot (-l) opens read-only");
		return -EINVAL;
	}
	return 0;
}

/*
 * Closes and opens the file again (everything written is durable at
 * close); when the new open fails, the image comes back as it was.
 */
int io_reopen(struct io_state *s, int argc, char **argv)
{
	struct io_open old = s->open, o = s->open;
	int ret;

	if (s->open.overlay) {
		tool_error("reopen: not with -s: the temporary overlay would be lost");
		return -ENOTSUP;
	}
	ret = reopen_opts(argc, argv, &o, tool_format_name(s->img));
	if (ret < 0)
		return ret;
	qcow_close(s->img);
	s->img = NULL;
	ret = io_open_image(s, &o);
	if (ret < 0 && io_open_image(s, &old) < 0) {
		tool_error("%s: reopen: cannot open it again as it was; no image is open now",
			   old.path);
		open_free(&old);
		memset(&s->open, 0, sizeof(s->open));
		return ret;
	}
	free(old.path);
	free(old.fmt);
	return ret < 0 ? -EINVAL : 0;
}
