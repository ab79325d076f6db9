// SPDX-License-Identifier: MIT
/* qcow-img info: what an image (or its whole chain) is made of. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "tools/common/filename.h"
#include "tools/common/msg.h"
#include "tools/common/open.h"
#include "tools/common/qjson.h"
#include "tools/img/img.h"
#include "tools/img/info.h"

struct info_args {
	const char *fmt;
	const char *file;
	enum output_format output;
	bool chain;
	bool force_share;	/* -U */
};

enum { OPT_OUTPUT = 256, OPT_CHAIN };

static int parse_args(int argc, char **argv, struct info_args *a)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "format", required_argument, NULL, 'f' },
		{ "output", required_argument, NULL, OPT_OUTPUT },
		{ "backing-chain", no_argument, NULL, OPT_CHAIN },
		{ "force-share", no_argument, NULL, 'U' },
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
		case OPT_CHAIN:
			a->chain = true;
			break;
		case 'U':
			a->force_share = true;
			break;
		case OPT_TRUST_FIRST ... OPT_TRUST_LAST:
			if (tool_trust_option(c, optarg) < 0)
				return -ENOMEM;
			break;
		default:
			tool_bad_option("info", optstring, argv);
			return -EINVAL;
		}
	}
	if (optind != argc - 1) {
		tool_usage_error("info: expects exactly one image file name");
		return -EINVAL;
	}
	a->file = argv[optind];
	return 0;
}

static int collect(struct image_report *r, struct qcow_image *img,
		   const char *filename)
{
	struct stat st;
	int ret;

	r->filename = filename;
	r->format = tool_format_name(img);
	ret = qcow_get_info(img, &r->info);
	if (ret < 0) {
		tool_error("%s: cannot read image information: %s", filename,
			   strerror(-ret));
		return ret;
	}
	spec_bitmaps_of(img, &r->bitmaps);
	if (stat(filename, &st) == 0) {
		r->has_actual_size = true;
		r->actual_size = (uint64_t)st.st_blocks * 512;
	}
	if (r->info.backing_file) {
		r->full_backing = r->info.backing_path ?
			strdup(r->info.backing_path) :
			backing_shown_of(filename, r->info.backing_file);
		if (!r->full_backing)
			return -ENOMEM;
	}
	return 0;
}

static int print_json(struct image_report *r, int n, bool chain)
{
	struct json_object *out = chain ? json_object_new_array() : NULL;
	int i, ret;

	for (i = 0; i < n; i++) {
		struct json_object *o = image_report_json(&r[i]);

		if (!o) {
			json_object_put(out);
			return -ENOMEM;
		}
		if (!chain)
			out = o;
		else
			json_object_array_add(out, o);
	}
	ret = qjson_print(stdout, out);
	json_object_put(out);
	return ret < 0 ? -ENOMEM : 0;
}

static void print_human(struct image_report *r, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		if (i)
			putchar('\n');
		image_report_human(stdout, &r[i]);
	}
}

static int chain_length(const struct qcow_image *img)
{
	int n = 0;

	for (; img; img = qcow_backing(img))
		n++;
	return n;
}

int img_info(int argc, char **argv)
{
	struct qcow_open_opts opts = { .read_only = true, .no_io = true };
	struct info_args a = { .output = OUTPUT_HUMAN };
	struct image_report *r = NULL;
	struct qcow_image *top = NULL, *img;
	char **names = NULL;
	int n = 0, i, ret;

	if (parse_args(argc, argv, &a) < 0)
		return img_usage(false);
	/* like qemu-img, plain info does not need the backing files */
	opts.no_backing = !a.chain;
	opts.force_share = a.force_share;
	ret = tool_open(&top, a.file, a.fmt, &opts);
	if (ret < 0)
		return 1;
	n = a.chain ? chain_length(top) : 1;
	r = calloc(n, sizeof(*r));
	if (!r) {
		ret = -ENOMEM;
		goto out;
	}
	names = calloc(n, sizeof(*names));
	if (!names) {
		ret = -ENOMEM;
		goto out;
	}
	/* the file's name, as qemu-img shows it (not a json: or file: one) */
	for (i = 0, img = top; i < n; i++, img = qcow_backing(img)) {
		names[i] = tool_filename_show(i ? "" : a.file,
					      qcow_filename(img));
		ret = names[i] ? collect(&r[i], img, names[i]) : -ENOMEM;
		if (ret < 0)
			goto out;
	}
	if (a.output == OUTPUT_JSON)
		ret = print_json(r, n, a.chain);
	else
		print_human(r, n);
out:
	if (ret == -ENOMEM)
		tool_error("info: out of memory");
	for (i = 0; r && i < n; i++)
		free(r[i].full_backing);
	for (i = 0; names && i < n; i++)
		free(names[i]);
	free(names);
	free(r);
	qcow_close(top);
	return ret < 0 ? 1 : 0;
}
