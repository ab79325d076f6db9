// SPDX-License-Identifier: MIT
/* qcow-img snapshot: list, create, apply and delete internal snapshots. */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tools/common/msg.h"
#include "tools/common/open.h"
#include "tools/img/img.h"
#include "tools/img/info.h"

enum action { ACT_NONE, ACT_LIST, ACT_CREATE, ACT_APPLY, ACT_DELETE };

struct snapshot_args {
	const char *fmt;
	const char *file;
	const char *name;
	enum action action;
	bool force_share;
	bool quiet;
};

static int set_action(struct snapshot_args *a, enum action act)
{
	if (a->action != ACT_NONE) {
		tool_usage_error("Cannot mix '-l', '-a', '-c', '-d'");
		return -EINVAL;
	}
	a->action = act;
	a->name = optarg;
	return 0;
}

static int parse_args(int argc, char **argv, struct snapshot_args *a)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "format", required_argument, NULL, 'f' },
		{ "force-share", no_argument, NULL, 'U' },
		TRUST_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	static const char optstring[] = "hf:la:c:d:qU";
	int c, ret = 0;

	while ((c = getopt_long(argc, argv, optstring, longopts,
				NULL)) != -1 && !ret) {
		switch (c) {
		case 'h':
			exit(img_usage(true));
		case 'f':
			a->fmt = optarg;
			break;
		case 'l':
			ret = set_action(a, ACT_LIST);
			break;
		case 'c':
			ret = set_action(a, ACT_CREATE);
			break;
		case 'a':
			ret = set_action(a, ACT_APPLY);
			break;
		case 'd':
			ret = set_action(a, ACT_DELETE);
			break;
		case 'q':
			a->quiet = true;
			break;
		case 'U':
			a->force_share = true;
			break;
		case OPT_TRUST_FIRST ... OPT_TRUST_LAST:
			if (tool_trust_option(c, optarg) < 0)
				return -ENOMEM;
			break;
		default:
			tool_bad_option("snapshot", optstring, argv);
			return -EINVAL;
		}
	}
	if (ret < 0)
		return ret;
	if (optind != argc - 1) {
		tool_usage_error("snapshot: expects exactly one image file name");
		return -EINVAL;
	}
	a->file = argv[optind];
	return 0;
}

static bool has_snapshots(const struct qcow_image *img)
{
	return qcow_format(img) == QCOW_FMT_QCOW2;
}

/* qemu-img deletes by name only: the first snapshot of that name. */
static const char *id_of_name(struct qcow_image *img, const char *name)
{
	struct qcow_info info;
	unsigned int i;

	if (qcow_get_info(img, &info) < 0)
		return NULL;
	for (i = 0; i < info.nb_snapshots; i++)
		if (!strcmp(info.snapshots[i].name, name))
			return info.snapshots[i].id;
	return NULL;
}

static int list(struct qcow_image *img)
{
	struct qcow_info info;
	int ret = qcow_get_info(img, &info);

	if (ret < 0)
		return ret;
	print_snapshots(stdout, &info);
	return 0;
}

static int create(const struct snapshot_args *a, struct qcow_image *img)
{
	struct qcow_snapshot_create_opts o = { .name = a->name, .icount = 0 };
	int ret;

	if (!has_snapshots(img)) {
		tool_error("Could not create snapshot '%s': %d (%s)", a->name,
			   -ENOTSUP, strerror(ENOTSUP));
		return -ENOTSUP;
	}
	ret = qcow_snapshot_create(img, &o, NULL, 0);
	if (ret < 0)
		tool_error("Could not create snapshot '%s': %s", a->name,
			   tool_reason(a->file, ret));
	return ret;
}

static int apply(const struct snapshot_args *a, struct qcow_image *img)
{
	int ret;

	if (!has_snapshots(img)) {
		tool_error("Could not apply snapshot '%s': Block driver does "
			   "not support snapshots", a->name);
		return -ENOTSUP;
	}
	ret = qcow_snapshot_apply(img, a->name);
	if (ret == -ENOENT)
		tool_error("Could not apply snapshot '%s': Failed to load "
			   "snapshot: %s", a->name, strerror(ENOENT));
	else if (ret < 0)
		tool_error("Could not apply snapshot '%s': %s", a->name,
			   tool_reason(a->file, ret));
	return ret;
}

static int delete(const struct snapshot_args *a, struct qcow_image *img)
{
	const char *id = has_snapshots(img) ? id_of_name(img, a->name) : NULL;
	int ret;

	if (!id) {
		tool_error("Could not delete snapshot '%s': snapshot not found",
			   a->name);
		return -ENOENT;
	}
	ret = qcow_snapshot_delete(img, id);
	if (ret < 0)
		tool_error("Could not delete snapshot '%s': %s", a->name,
			   tool_reason(a->file, ret));
	return ret;
}

static int run(const struct snapshot_args *a, struct qcow_image *img)
{
	switch (a->action) {
	case ACT_LIST:
		return list(img);
	case ACT_CREATE:
		return create(a, img);
	case ACT_APPLY:
		return apply(a, img);
	case ACT_DELETE:
		return delete(a, img);
	default:
		return 0;
	}
}

int img_snapshot(int argc, char **argv)
{
	struct snapshot_args a = { 0 };
	struct qcow_open_opts opts = { 0 };
	struct qcow_image *img;
	int ret;

	if (parse_args(argc, argv, &a) < 0)
		return img_usage(false);
	opts.read_only = a.action == ACT_LIST || a.action == ACT_NONE;
	if (a.force_share && !opts.read_only) {
		tool_error("Could not open '%s': force-share=on can only be "
			   "used with read-only images", a.file);
		return 1;
	}
	opts.force_share = a.force_share;
	if (tool_open(&img, a.file, a.fmt, &opts) < 0)
		return 1;
	ret = run(&a, img);
	qcow_close(img);
	return ret < 0 ? 1 : 0;
}
