// SPDX-License-Identifier: MIT
/*
 * qcow-img bitmap: add, remove, clear, enable, disable and merge the
 * persistent dirty bitmaps of a qcow2 image, as qemu-img bitmap does, but
 * all or nothing: every action is checked before the first one is made.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tools/common/bitmap_copy.h"
#include "tools/common/msg.h"
#include "tools/common/open.h"
#include "tools/common/size.h"
#include "tools/common/util.h"
#include "tools/img/img.h"

#define GRANULARITY_MIN 512ULL
#define GRANULARITY_MAX (1ULL << 31)

enum bm_op { BM_ADD, BM_REMOVE, BM_CLEAR, BM_ENABLE, BM_DISABLE, BM_MERGE };

static const char *const op_names[] = {
	[BM_ADD] = "add", [BM_REMOVE] = "remove", [BM_CLEAR] = "clear",
	[BM_ENABLE] = "enable", [BM_DISABLE] = "disable",
	[BM_MERGE] = "merge",
};

struct bm_action {
	enum bm_op op;
	const char *src;	/* --merge SOURCE */
};

struct bm_args {
	const char *fmt;
	const char *file;
	const char *name;
	const char *src_file;	/* -b */
	const char *src_fmt;	/* -F */
	uint64_t granularity;	/* 0: the engine's default */
	bool has_granularity;
	struct bm_action *act;
	int nr_act;
};

/* What a bitmap would be after the actions checked so far. */
struct sim_bitmap {
	const char *name;
	bool unusable;		/* in use or broken: can only be removed */
	bool gone;
};

struct sim {
	struct sim_bitmap *v;
	int n;
	bool can_store;		/* qcow2 v3 */
	const char *why_not;	/* when it cannot */
	uint64_t dir_bytes;	/* the directory's size once stored */
};

/* QEMU's bitmap directory limit: 1 KiB a bitmap, 65535 bitmaps */
#define BITMAP_DIR_MAX		(65535ULL * 1024)

/* A directory entry: 24 bytes, the name, padded to 8 (no extra data). */
static uint64_t dir_entry_len(const char *name)
{
	return (24 + strlen(name) + 7) & ~7ULL;
}

enum { OPT_ADD = 256, OPT_REMOVE, OPT_CLEAR, OPT_ENABLE, OPT_DISABLE,
       OPT_MERGE };

static void push_action(struct bm_args *a, enum bm_op op, const char *src)
{
	a->act[a->nr_act].op = op;
	a->act[a->nr_act].src = src;
	a->nr_act++;
}

static int parse_granularity(const char *arg, struct bm_args *a)
{
	if (parse_size(arg, &a->granularity) < 0) {
		tool_usage_error("bitmap: -g '%s' is not a granularity in bytes; suffixes k, M, G, T, P and E are allowed",
				 arg);
		return -EINVAL;
	}
	a->has_granularity = true;
	return 0;
}

static int parse_opt(struct bm_args *a, int c)
{
	switch (c) {
	case 'h':
		exit(img_usage(true));
	case 'f':
		a->fmt = optarg;
		break;
	case 'b':
		a->src_file = optarg;
		break;
	case 'F':
		a->src_fmt = optarg;
		break;
	case 'g':
		return parse_granularity(optarg, a);
	case OPT_ADD ... OPT_DISABLE:
		push_action(a, BM_ADD + (c - OPT_ADD), NULL);
		break;
	case OPT_MERGE:
		push_action(a, BM_MERGE, optarg);
		break;
	case OPT_TRUST_FIRST ... OPT_TRUST_LAST:
		return tool_trust_option(c, optarg);
	}
	return 0;
}

static bool has_action(const struct bm_args *a, enum bm_op op)
{
	int i;

	for (i = 0; i < a->nr_act; i++)
		if (a->act[i].op == op)
			return true;
	return false;
}

/* qemu-img's checks, in its order. */
static int check_args(struct bm_args *a, int argc, char **argv)
{
	if (!a->nr_act) {
		tool_usage_error("bitmap: %s%sneeds at least one of --add, --remove, --clear, --enable, --disable or --merge",
				 optind < argc ? argv[optind] : "",
				 optind < argc ? ": " : "");
		return -EINVAL;
	}
	if (optind > argc - 2) {
		tool_usage_error("bitmap: --%s needs an image file name and a bitmap name",
				 op_names[a->act[0].op]);
		return -EINVAL;
	}
	if (optind < argc - 2) {
		tool_usage_error("bitmap: '%s': one operand too many (an image file name and a bitmap name only)",
				 argv[optind + 2]);
		return -EINVAL;
	}
	a->file = argv[optind];
	a->name = argv[optind + 1];
	if (a->has_granularity && !has_action(a, BM_ADD)) {
		tool_usage_error("bitmap: -g is only for --add");
		return -EINVAL;
	}
	if (a->src_file && !has_action(a, BM_MERGE)) {
		tool_usage_error("bitmap: -b (the source file of --merge) is only for --merge");
		return -EINVAL;
	}
	if (a->src_fmt && !a->src_file) {
		tool_usage_error("bitmap: -F is only for -b");
		return -EINVAL;
	}
	return 0;
}

static int parse_args(int argc, char **argv, struct bm_args *a)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "format", required_argument, NULL, 'f' },
		{ "add", no_argument, NULL, OPT_ADD },
		{ "remove", no_argument, NULL, OPT_REMOVE },
		{ "clear", no_argument, NULL, OPT_CLEAR },
		{ "enable", no_argument, NULL, OPT_ENABLE },
		{ "disable", no_argument, NULL, OPT_DISABLE },
		{ "merge", required_argument, NULL, OPT_MERGE },
		{ "granularity", required_argument, NULL, 'g' },
		TRUST_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	static const char optstring[] = "hf:b:F:g:";
	int c;

	a->act = calloc(argc, sizeof(*a->act));
	if (!a->act) {
		tool_error("bitmap: out of memory");
		return -ENOMEM;
	}
	while ((c = getopt_long(argc, argv, optstring, longopts,
				NULL)) != -1) {
		if (c == '?') {
			tool_bad_option("bitmap", optstring, argv);
			return -EINVAL;
		}
		if (parse_opt(a, c) < 0)
			return -EINVAL;
	}
	return check_args(a, argc, argv);
}

static struct sim_bitmap *sim_find(struct sim *s, const char *name)
{
	int i;

	for (i = 0; i < s->n; i++)
		if (!s->v[i].gone && !strcmp(s->v[i].name, name))
			return &s->v[i];
	return NULL;
}

static int sim_load(struct sim *s, struct qcow_image *img, int extra)
{
	const struct qcow_bitmap_info *v;
	struct qcow_info info;
	int n, i;

	if (qcow_get_info(img, &info) < 0)
		return -EIO;
	s->can_store = info.format == QCOW_FMT_QCOW2 && info.version >= 3;
	if (info.format != QCOW_FMT_QCOW2)
		s->why_not = "the image format cannot store persistent bitmaps";
	else if (info.version < 3)
		s->why_not = "Cannot store dirty bitmaps in qcow2 v2 files";
	n = qcow_bitmap_list(img, &v);
	if (n < 0)
		return n;
	s->v = calloc(n + extra + 1, sizeof(*s->v));
	if (!s->v)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		s->v[i].name = v[i].name;
		s->v[i].unusable = v[i].in_use || v[i].broken;
		s->dir_bytes += dir_entry_len(v[i].name);
	}
	s->n = n;
	return 0;
}

/* One action refused: why, in qemu-img's words, naming the image. */
static int refuse(const struct bm_args *a, enum bm_op op, const char *why,
		  const char *name)
{
	char *msg = NULL;

	if (asprintf(&msg, why, name) < 0)
		msg = NULL;
	tool_error("%s: --%s on bitmap '%s' failed: %s", a->file,
		   op_names[op], a->name, msg ? msg : why);
	free(msg);
	return -EINVAL;
}

#define NOT_FOUND "Dirty bitmap '%s' not found"
#define INCONSISTENT "Bitmap '%s' is inconsistent and cannot be used; only --remove can delete it"

static int check_add(const struct bm_args *a, struct sim *s)
{
	uint64_t g = a->granularity;

	if (sim_find(s, a->name))
		return refuse(a, BM_ADD, "Bitmap already exists: %s", a->name);
	if (!*a->name)
		return refuse(a, BM_ADD, "Bitmap name cannot be empty", "");
	if (g && (g < GRANULARITY_MIN || g > GRANULARITY_MAX || (g & (g - 1))))
		return refuse(a, BM_ADD, "Granularity must be power of 2 and at least 512 (at most 2 GiB)%s",
			      "");
	if (strlen(a->name) > QCOW_BITMAP_NAME_MAX)
		return refuse(a, BM_ADD, "Name length exceeds maximum (1023 characters)%s",
			      "");
	if (!s->can_store)
		return refuse(a, BM_ADD, "%s", s->why_not);
	if (s->n >= QCOW_BITMAP_MAX)
		return refuse(a, BM_ADD, "the image has the most bitmaps qcow2 can hold (65535)%s",
			      "");
	if (s->dir_bytes + dir_entry_len(a->name) > BITMAP_DIR_MAX)
		return refuse(a, BM_ADD, "Not enough space in the bitmap directory%s",
			      "");
	s->dir_bytes += dir_entry_len(a->name);
	s->v[s->n].name = a->name;
	s->n++;
	return 0;
}

/* The source of --merge: in the image itself, or in the -b image. */
static int check_merge_source(const struct bm_args *a, struct sim *s,
			      struct sim *src, const char *name)
{
	struct sim_bitmap *b = sim_find(a->src_file ? src : s, name);

	if (!b)
		return refuse(a, BM_MERGE, NOT_FOUND, name);
	if (b->unusable)
		return refuse(a, BM_MERGE, INCONSISTENT, name);
	return 0;
}

static int check_action(const struct bm_args *a, const struct bm_action *act,
			struct sim *s, struct sim *src)
{
	struct sim_bitmap *b;

	if (act->op == BM_ADD)
		return check_add(a, s);
	b = sim_find(s, a->name);
	if (!b)
		return refuse(a, act->op, NOT_FOUND, a->name);
	if (act->op == BM_REMOVE) {
		b->gone = true;
		s->dir_bytes -= dir_entry_len(b->name);
		return 0;
	}
	if (b->unusable)
		return refuse(a, act->op, INCONSISTENT, a->name);
	if (act->op == BM_MERGE)
		return check_merge_source(a, s, src, act->src);
	return 0;
}

static int apply_action(const struct bm_args *a, const struct bm_action *act,
			struct qcow_image *img, struct qcow_image *src)
{
	switch (act->op) {
	case BM_ADD:
		return qcow_bitmap_add(img, a->name, a->granularity, false);
	case BM_REMOVE:
		return qcow_bitmap_remove(img, a->name);
	case BM_CLEAR:
		return qcow_bitmap_clear(img, a->name);
	case BM_ENABLE:
		return qcow_bitmap_enable(img, a->name, true);
	case BM_DISABLE:
		return qcow_bitmap_enable(img, a->name, false);
	case BM_MERGE:
		return bitmap_copy_dirty(src ? src : img, act->src, img,
					 a->name);
	}
	return -EINVAL;
}

static int check_all(const struct bm_args *a, struct qcow_image *img,
		     struct qcow_image *src)
{
	struct sim s = { 0 }, ss = { 0 };
	int i, ret;

	ret = sim_load(&s, img, a->nr_act);
	if (!ret && src)
		ret = sim_load(&ss, src, 0);
	if (ret < 0) {
		tool_error("%s: cannot list bitmaps: %s", a->file,
			   tool_reason(a->file, ret));
		goto out;
	}
	for (i = 0; i < a->nr_act && !ret; i++)
		ret = check_action(a, &a->act[i], &s, &ss);
out:
	free(s.v);
	free(ss.v);
	return ret;
}

static int run_actions(const struct bm_args *a, struct qcow_image *img,
		       struct qcow_image *src)
{
	int i, ret;

	ret = check_all(a, img, src);
	if (ret < 0)
		return ret;
	for (i = 0; i < a->nr_act; i++) {
		ret = apply_action(a, &a->act[i], img, src);
		if (ret < 0) {
			tool_error("%s: --%s on bitmap '%s' failed: %s",
				   a->file, op_names[a->act[i].op], a->name,
				   tool_reason(a->file, ret));
			return ret;
		}
	}
	ret = qcow_bitmaps_store(img);
	if (ret < 0)
		tool_error("%s: cannot write the bitmaps: %s", a->file,
			   tool_reason(a->file, ret));
	return ret;
}

int img_bitmap(int argc, char **argv)
{
	struct qcow_open_opts opts = { .allow_broken_bitmaps = true };
	struct qcow_open_opts src_opts = {
		.read_only = true,
		.allow_broken_bitmaps = true,
	};
	struct qcow_image *img = NULL, *src = NULL;
	struct bm_args a = { 0 };
	int ret;

	if (parse_args(argc, argv, &a) < 0) {
		free(a.act);
		return img_usage(false);
	}
	ret = tool_open(&img, a.file, a.fmt, &opts);
	if (!ret && a.src_file)
		ret = tool_open(&src, a.src_file, a.src_fmt, &src_opts);
	if (!ret)
		ret = run_actions(&a, img, src);
	qcow_close(src);
	qcow_close(img);
	free(a.act);
	return ret < 0 ? 1 : 0;
}
