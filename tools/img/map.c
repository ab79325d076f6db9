// SPDX-License-Identifier: MIT
/* qcow-img map: where each guest range of an image (chain) comes from. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tools/common/bitmap_copy.h"
#include "tools/common/chain.h"
#include "tools/common/msg.h"
#include "tools/common/open.h"
#include "tools/common/util.h"
#include "tools/img/img.h"

/* qemu-img asks for at most 1 GiB at a time */
#define MAP_STEP (1ULL << 30)

struct map_args {
	const char *fmt;
	const char *file;
	enum output_format output;
	uint64_t start;
	uint64_t max_length;
	bool has_max_length;
	bool force_share;	/* -U */
	const char *bitmap;	/* --bitmap: its dirty ranges instead */
};

struct map_entry {
	uint64_t start;
	uint64_t length;
	uint64_t offset;
	int depth;
	bool present;
	bool zero;
	bool data;
	bool has_offset;
	const char *file;
};

enum { OPT_OUTPUT = 256, OPT_START, OPT_MAX, OPT_BITMAP };

static int parse_args(int argc, char **argv, struct map_args *a)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "format", required_argument, NULL, 'f' },
		{ "output", required_argument, NULL, OPT_OUTPUT },
		{ "start-offset", required_argument, NULL, OPT_START },
		{ "max-length", required_argument, NULL, OPT_MAX },
		{ "force-share", no_argument, NULL, 'U' },
		{ "bitmap", required_argument, NULL, OPT_BITMAP },
		TRUST_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	static const char optstring[] = "hf:U";
	int c;

	while ((c = getopt_long(argc, argv, optstring, longopts,
				NULL)) != -1) {
		switch (c) {
		case 'h':
			exit(img_usage(true));
		case 'f':
			a->fmt = optarg;
			break;
		case OPT_OUTPUT:
			if (parse_output_format(optarg, &a->output) < 0)
				return -EINVAL;
			break;
		case OPT_START:
			if (parse_size_arg(optarg, "map: --start-offset", &a->start))
				return -EINVAL;
			break;
		case OPT_MAX:
			if (parse_size_arg(optarg, "map: --max-length", &a->max_length))
				return -EINVAL;
			a->has_max_length = true;
			break;
		case 'U':
			a->force_share = true;
			break;
		case OPT_BITMAP:
			a->bitmap = optarg;
			break;
		case OPT_TRUST_FIRST ... OPT_TRUST_LAST:
			if (tool_trust_option(c, optarg) < 0)
				return -ENOMEM;
			break;
		default:
			tool_bad_option("map", optstring, argv);
			return -EINVAL;
		}
	}
	if (optind != argc - 1) {
		tool_usage_error("map: expects exactly one image file name");
		return -EINVAL;
	}
	a->file = argv[optind];
	return 0;
}

static void entry_from_status(struct map_entry *e, uint64_t off,
			      const struct qcow_status *st)
{
	*e = (struct map_entry) {
		.start = off,
		.length = st->length,
		.depth = st->depth,
		.present = st->flags & QCOW_ST_ALLOCATED,
		.zero = st->flags & QCOW_ST_ZERO,
		.data = st->flags & QCOW_ST_DATA,
		.has_offset = st->flags & QCOW_ST_OFFSET_VALID,
	};
	if (e->has_offset) {
		e->offset = st->offset;
		e->file = st->file;
	}
}

static bool mergeable(const struct map_entry *a, const struct map_entry *b)
{
	if (!a->length)
		return false;
	if (a->zero != b->zero || a->data != b->data ||
	    a->depth != b->depth ||
	    a->present != b->present || !a->file != !b->file ||
	    a->has_offset != b->has_offset)
		return false;
	if (a->file && strcmp(a->file, b->file))
		return false;
	return !a->has_offset || a->offset + a->length == b->offset;
}

static const char *tf(bool b)
{
	return b ? "true" : "false";
}

static void dump_json(const struct map_entry *e, const struct map_entry *next)
{
	printf("{ \"start\": %" PRIu64 ", \"length\": %" PRIu64
	       ", \"depth\": %d, \"present\": %s, \"zero\": %s"
	       ", \"data\": %s",
	       e->start, e->length, e->depth, tf(e->present), tf(e->zero),
	       tf(e->data));
	if (e->has_offset)
		printf(", \"offset\": %" PRIu64, e->offset);
	putchar('}');
	if (next)
		puts(",");
}

static int dump_human(const char *name, const struct map_entry *e,
		      struct map_entry *next)
{
	if (e->data && !e->has_offset) {
		/* qemu-img's words: scripts match them */
		tool_error("%s: File contains external, encrypted or compressed clusters.",
			   name);
		return -EINVAL;
	}
	if (e->data && !e->zero)
		printf("%#-16" PRIx64 "%#-16" PRIx64 "%#-16" PRIx64 "%s\n",
		       e->start, e->length, e->offset, e->file ? e->file : "");
	/* this layout only shows data: let holes and zeros merge freely */
	if (next && (!next->data || next->zero) && (!e->data || e->zero)) {
		next->data = false;
		next->zero = true;
	}
	return 0;
}

static int dump_entry(const struct map_args *a, const struct map_entry *e,
		      struct map_entry *next)
{
	if (a->output == OUTPUT_JSON) {
		dump_json(e, next);
		return 0;
	}
	return dump_human(a->file, e, next);
}

static int map_range(struct qcow_image *img, const struct map_args *a,
		     uint64_t end)
{
	struct map_entry curr = { .start = a->start }, next;
	struct qcow_status st;
	uint64_t off;
	int ret;

	while (curr.start + curr.length < end) {
		off = curr.start + curr.length;
		ret = chain_status(img, off, min_u64(end - off, MAP_STEP),
				   false, &st);
		if (ret < 0) {
			tool_error("%s: cannot get block status at offset %" PRIu64 ": %s",
				   a->file, off, strerror(-ret));
			return ret;
		}
		entry_from_status(&next, off, &st);
		if (mergeable(&curr, &next)) {
			curr.length += next.length;
			continue;
		}
		if (curr.length) {
			ret = dump_entry(a, &curr, &next);
			if (ret < 0)
				return ret;
		}
		curr = next;
	}
	return dump_entry(a, &curr, NULL);
}

static void dump_dirty(const struct map_args *a, uint64_t start, uint64_t len,
		       bool dirty, bool first)
{
	if (a->output == OUTPUT_JSON)
		printf("%s{ \"start\": %" PRIu64 ", \"length\": %" PRIu64
		       ", \"dirty\": %s}", first ? "" : ",\n", start, len,
		       tf(dirty));
	else if (dirty)
		printf("%#-16" PRIx64 "%#" PRIx64 "\n", start, len);
}

static int bitmap_usable(struct qcow_image *img, const struct map_args *a)
{
	const struct qcow_bitmap_info *b = bitmap_find(img, a->bitmap);

	if (!b) {
		tool_error("%s: Dirty bitmap '%s' not found", a->file,
			   a->bitmap);
		return -ENOENT;
	}
	if (b->in_use || b->broken) {
		tool_error("%s: Bitmap '%s' is inconsistent and cannot be used%s%s",
			   a->file, a->bitmap, b->broken ? ": " : "",
			   b->broken ? b->broken : "");
		return -EINVAL;
	}
	return 0;
}

/*
 * --bitmap NAME: ranges that are all dirty or all clean, covering
 * [start, end); the human layout lists the dirty ones only.
 */
static int map_bitmap(struct qcow_image *img, const struct map_args *a,
		      uint64_t end)
{
	uint64_t off = a->start, start = a->start, len, run = 0;
	bool dirty, run_dirty = false;
	int ret;

	if (a->output == OUTPUT_HUMAN)
		printf("%-16s%s\n", "Offset", "Length");
	while (off < end) {
		len = end - off;
		ret = qcow_bitmap_range(img, a->bitmap, off, &len, &dirty);
		if (!ret && !len)
			ret = -EIO;
		if (ret < 0) {
			tool_error("%s: cannot read bitmap '%s' at offset %" PRIu64 ": %s",
				   a->file, a->bitmap, off,
				   tool_reason(a->file, ret));
			return ret;
		}
		len = min_u64(len, end - off);
		if (run && dirty != run_dirty) {
			dump_dirty(a, start, run, run_dirty, start == a->start);
			start = off;
			run = 0;
		}
		run_dirty = dirty;
		run += len;
		off += len;
	}
	if (run)
		dump_dirty(a, start, run, run_dirty, start == a->start);
	return 0;
}

static int map_image(struct qcow_image *img, const struct map_args *a,
		     uint64_t end)
{
	int ret;

	if (a->bitmap) {
		ret = bitmap_usable(img, a);
		if (ret < 0)
			return ret;
		if (a->output == OUTPUT_JSON)
			putchar('[');
		ret = map_bitmap(img, a, end);
		if (a->output == OUTPUT_JSON)
			puts("]");
		return ret;
	}
	if (a->output == OUTPUT_JSON)
		putchar('[');
	else
		printf("%-16s%-16s%-16s%s\n", "Offset", "Length", "Mapped to",
		       "File");
	ret = map_range(img, a, end);
	if (a->output == OUTPUT_JSON)
		puts("]");
	return ret;
}

int img_map(int argc, char **argv)
{
	struct qcow_open_opts opts = { .read_only = true };
	struct map_args a = { .output = OUTPUT_HUMAN };
	struct qcow_image *img;
	uint64_t end;
	int ret;

	if (parse_args(argc, argv, &a) < 0)
		return img_usage(false);
	opts.force_share = a.force_share;
	if (tool_open(&img, a.file, a.fmt, &opts) < 0)
		return 1;
	end = qcow_size(img);
	if (a.has_max_length && a.max_length < end - min_u64(a.start, end))
		end = a.start + a.max_length;
	ret = map_image(img, &a, end);
	qcow_close(img);
	return ret < 0 ? 1 : 0;
}
