// SPDX-License-Identifier: MIT
/*
 * qcow-img bench: qemu-img bench's options, workload and output, run on
 * the engine as the ublk server runs it (tools/img/bench_run.c), so that
 * `qemu-img bench ARGS` and `qcow-img bench ARGS` measure the same thing.
 * Ours only: --threads N splits the requests over N threads, each with
 * its own ring and DEPTH requests in flight (several ublk queues).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tools/common/msg.h"
#include "tools/common/open.h"
#include "tools/common/size.h"
#include "tools/img/bench.h"
#include "tools/img/img.h"

struct bench_args {
	struct bench_cfg cfg;
	const char *fmt;
	const char *file;
	bool direct;
	bool native_aio;
	bool force_share;
	uint64_t threads;
};

enum {
	OPT_FLUSH_INTERVAL = 256,
	OPT_PATTERN,
	OPT_NO_DRAIN,
	OPT_THREADS,
};

#define BENCH_MAX_THREADS 64

/* A whole number up to max (qemu_strtoul's digits: decimal, 0x, 0). */
static int parse_count(const char *arg, uint64_t max, uint64_t *out)
{
	char *end;

	if (arg[0] == '-' || !arg[0])
		return -EINVAL;
	errno = 0;
	*out = strtoull(arg, &end, 0);
	if (errno || *end || *out > max)
		return -EINVAL;
	return 0;
}

/* A size with suffixes up to INT_MAX (max 0: no limit), qemu's wording. */
static int parse_bench_size(const char *arg, const char *what, uint64_t max,
			    uint64_t *out)
{
	int ret = parse_size(arg, out);

	if (ret == 0 && arg[0] != '-' && (!max || *out <= max))
		return 0;
	if (ret == 0 && arg[0] != '-')
		tool_error("Invalid %s specified. Must be between 0 and %" PRIu64 ".",
			   what, max);
	else
		tool_error("Invalid %s specified. You may use k, M, G, T, P or E suffixes for kilobytes, megabytes, gigabytes, terabytes, petabytes and exabytes.",
			   what);
	return -EINVAL;
}

/* qemu's cache modes: direct I/O, and writes durable one by one. */
static int parse_cache(const char *arg, struct bench_args *a)
{
	static const struct {
		const char *name;
		bool direct, writethrough, no_flush;
	} modes[] = {
		{ "none", true, false, false },
		{ "off", true, false, false },
		{ "writeback", false, false, false },
		{ "writethrough", false, true, false },
		{ "directsync", true, true, false },
		{ "unsafe", false, false, true },
	};
	size_t i;

	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		if (strcmp(arg, modes[i].name))
			continue;
		a->direct = modes[i].direct;
		a->cfg.writethrough = modes[i].writethrough;
		a->cfg.no_flush = modes[i].no_flush;
		return 0;
	}
	tool_error("Invalid cache mode");
	return -EINVAL;
}

/* Every engine request goes out on io_uring; the names are checked. */
static int parse_aio(const char *arg, struct bench_args *a)
{
	if (!strcmp(arg, "native")) {
		a->native_aio = true;
		return 0;
	}
	if (!strcmp(arg, "threads") || !strcmp(arg, "io_uring")) {
		a->native_aio = false;
		return 0;
	}
	tool_error("Invalid aio option: %s", arg);
	return -EINVAL;
}

static int parse_number_opt(int c, const char *arg, struct bench_args *a)
{
	struct bench_cfg *g = &a->cfg;
	uint64_t v;

	switch (c) {
	case 'c':
		if (parse_count(arg, INT_MAX, &g->count) < 0)
			break;
		return 0;
	case 'd':
		/* qemu-img 7.2 takes 0 and then never ends */
		if (parse_count(arg, INT_MAX, &g->depth) < 0 || !g->depth)
			break;
		return 0;
	case OPT_PATTERN:
		if (parse_count(arg, 0xff, &v) < 0)
			break;
		g->pattern = (int)v;
		return 0;
	case OPT_FLUSH_INTERVAL:
		if (parse_count(arg, INT_MAX, &g->flush_interval) < 0)
			break;
		return 0;
	case OPT_THREADS:
		if (parse_count(arg, BENCH_MAX_THREADS, &a->threads) < 0 ||
		    !a->threads)
			break;
		return 0;
	case 'o':
		return parse_bench_size(arg, "offset", 0, &g->offset);
	case 's':
		return parse_bench_size(arg, "buffer size", INT_MAX,
					&g->bufsize);
	case 'S':
		return parse_bench_size(arg, "step_size", INT_MAX, &g->step);
	}
	tool_error("Invalid %s specified",
		   c == 'c' ? "request count" : c == 'd' ? "queue depth" :
		   c == OPT_PATTERN ? "pattern byte" :
		   c == OPT_THREADS ? "thread count (1 to 64)" : "flush interval");
	return -EINVAL;
}

static int parse_opt(int c, const char *arg, struct bench_args *a,
		     char **argv)
{
	static const char numeric[] = "cdosS";

	if ((c < 256 && c && strchr(numeric, c)) || c == OPT_PATTERN ||
	    c == OPT_FLUSH_INTERVAL || c == OPT_THREADS)
		return parse_number_opt(c, arg, a);
	switch (c) {
	case 'h':
		exit(img_usage(true));
	case 'f':
		a->fmt = arg;
		return 0;
	case 'i':
		return parse_aio(arg, a);
	case 'n':
		a->native_aio = true;
		return 0;
	case 'q':
		return 0;	/* qemu-img bench prints its lines anyway */
	case 't':
		return parse_cache(arg, a);
	case 'w':
		a->cfg.write = true;
		return 0;
	case 'U':
		a->force_share = true;
		return 0;
	case OPT_NO_DRAIN:
		a->cfg.drain = false;
		return 0;
	case OPT_TRUST_FIRST ... OPT_TRUST_LAST:
		return tool_trust_option(c, arg) < 0 ? -EINVAL : 0;
	}
	return -ENOENT;
}

/* The checks qemu-img bench makes before it opens the image. */
static int check_args(const struct bench_args *a)
{
	const struct bench_cfg *g = &a->cfg;

	if (!g->write && g->flush_interval) {
		tool_error("--flush-interval is only available in write tests");
		return -EINVAL;
	}
	if (g->flush_interval && g->flush_interval < g->depth) {
		tool_error("Flush interval can't be smaller than depth");
		return -EINVAL;
	}
	return 0;
}

static int parse_args(int argc, char **argv, struct bench_args *a)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "flush-interval", required_argument, NULL, OPT_FLUSH_INTERVAL },
		{ "pattern", required_argument, NULL, OPT_PATTERN },
		{ "no-drain", no_argument, NULL, OPT_NO_DRAIN },
		{ "threads", required_argument, NULL, OPT_THREADS },
		{ "force-share", no_argument, NULL, 'U' },
		TRUST_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	static const char optstring[] = "hc:d:f:i:no:qs:S:t:wU";
	int c, ret;

	while ((c = getopt_long(argc, argv, optstring, longopts,
				NULL)) != -1) {
		ret = c == '?' ? -ENOENT : parse_opt(c, optarg, a, argv);
		if (ret == -ENOENT) {
			tool_bad_option("bench", optstring, argv);
			return -EINVAL;
		}
		if (ret < 0)
			return ret;
	}
	if (optind != argc - 1) {
		tool_usage_error("bench: expects exactly one image file name");
		return -EINVAL;
	}
	a->file = argv[optind];
	if (!a->cfg.step)
		a->cfg.step = a->cfg.bufsize;
	return check_args(a);
}

static int open_image(struct bench_args *a, struct qcow_image **img)
{
	struct qcow_open_opts oo = { 0 };

	if (a->native_aio && !a->direct) {
		tool_error("Could not open '%s': aio=native was specified, but it requires cache.direct=on, which was not specified.",
			   a->file);
		return -EINVAL;
	}
	oo.read_only = !a->cfg.write;
	oo.direct = a->direct;
	oo.force_share = a->force_share && !a->cfg.write;
	return tool_open(img, a->file, a->fmt, &oo);
}

static void print_header(const struct bench_cfg *g, uint64_t threads)
{
	/* qemu-img prints the step 0 it was given as the buffer size */
	printf("Sending %" PRIu64 " %s requests, %" PRIu64 " bytes each, %"
	       PRIu64 " in parallel (starting at offset %" PRIu64
	       ", step size %" PRIu64 ")\n", g->count,
	       g->write ? "write" : "read", g->bufsize, g->depth, g->offset,
	       g->step);
	if (g->flush_interval)
		printf("Sending flush every %" PRIu64 " requests\n",
		       g->flush_interval);
	if (threads > 1)	/* ours only: qemu-img bench has one thread */
		printf("Running %" PRIu64 " threads, each with its own io_uring and %"
		       PRIu64 " requests in parallel\n", threads, g->depth);
	fflush(stdout);
}

int img_bench(int argc, char **argv)
{
	struct bench_args a = {
		.cfg = {
			.count = 75000,
			.depth = 64,
			.bufsize = 4096,
			.drain = true,
		},
		.threads = 1,
	};
	struct qcow_image *img;
	double secs = 0;
	int ret;

	if (parse_args(argc, argv, &a) < 0)
		return 1;
	if (open_image(&a, &img) < 0)
		return 1;
	print_header(&a.cfg, a.threads);
	ret = bench_run(img, &a.cfg, (unsigned int)a.threads, &secs);
	if (ret < 0)
		tool_error("Failed request: %s", strerror(-ret));
	else
		printf("Run completed in %.3f seconds.\n", secs);
	qcow_close(img);
	return ret < 0 ? 1 : 0;
}
