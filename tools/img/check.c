// SPDX-License-Identifier: MIT
/*
 * qcow-img check: metadata consistency.  Exit codes as qemu-img: 0 clean,
 * 1 check failed, 2 corruptions, 3 leaked clusters only, 63 no check for
 * this format.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tools/common/msg.h"
#include "tools/common/open.h"
#include "tools/common/qjson.h"
#include "tools/img/img.h"

enum {
	CHECK_CLEAN = 0,
	CHECK_FAILED = 1,
	CHECK_CORRUPT = 2,
	CHECK_LEAKS = 3,
	CHECK_UNSUPPORTED = 63,
};

/*
 * Our explanations under the count lines of a human check report (the
 * count lines themselves are qemu-img's, which scripts look for).
 */
#define CHECK_CORRUPT_NOTE \
	"The metadata is inconsistent: data may be damaged already, and writes may damage more."
#define CHECK_LEAK_NOTE \
	"Leaked clusters only take up space in the file; no data is affected."
#define CHECK_RECHECK_NOTE "Checking the repaired image once more..."

struct check_args {
	const char *fmt;
	const char *file;
	enum output_format output;
	bool quiet;
	unsigned int repair;	/* QCOW_REPAIR_* */
	bool force_share;	/* -U */
};

enum { OPT_OUTPUT = 256 };

static int parse_args(int argc, char **argv, struct check_args *a)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "format", required_argument, NULL, 'f' },
		{ "repair", required_argument, NULL, 'r' },
		{ "output", required_argument, NULL, OPT_OUTPUT },
		{ "force-share", no_argument, NULL, 'U' },
		TRUST_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	static const char optstring[] = "hf:r:T:qU";
	int c;

	while ((c = getopt_long(argc, argv, optstring, longopts,
				NULL)) != -1) {
		switch (c) {
		case 'h':
			exit(img_usage(true));
		case 'f':
			a->fmt = optarg;
			break;
		case 'r':
			if (strcmp(optarg, "leaks") && strcmp(optarg, "all")) {
				tool_usage_error("check: -r takes leaks or all, not '%s'",
						 optarg);
				return -EINVAL;
			}
			a->repair = QCOW_REPAIR_LEAKS;
			if (!strcmp(optarg, "all"))
				a->repair |= QCOW_REPAIR_ERRORS;
			break;
		case OPT_OUTPUT:
			if (parse_output_format(optarg, &a->output) < 0)
				return -EINVAL;
			break;
		case 'q':
			a->quiet = true;
			break;
		case 'T':
			break;
		case 'U':
			a->force_share = true;
			break;
		case OPT_TRUST_FIRST ... OPT_TRUST_LAST:
			if (tool_trust_option(c, optarg) < 0)
				return -ENOMEM;
			break;
		default:
			tool_bad_option("check", optstring, argv);
			return -EINVAL;
		}
	}
	if (optind != argc - 1) {
		tool_usage_error("check: expects exactly one image file name");
		return -EINVAL;
	}
	a->file = argv[optind];
	return 0;
}

static void report(void *arg, const char *msg)
{
	size_t len = strlen(msg);

	fflush(stdout);
	fputs(msg, stderr);
	if (!len || msg[len - 1] != '\n')
		fputc('\n', stderr);
}

static void print_human(const struct qcow_check_result *r)
{
	if (!r->corruptions && !r->leaks && !r->check_errors)
		printf("No errors were found on the image.\n");
	if (r->corruptions)
		printf("\n%" PRIu64 " errors were found on the image.\n"
		       CHECK_CORRUPT_NOTE "\n", r->corruptions);
	if (r->leaks)
		printf("\n%" PRIu64 " leaked clusters were found on the image.\n"
		       CHECK_LEAK_NOTE "\n", r->leaks);
	if (r->check_errors)
		printf("\n%" PRIu64 " internal errors have occurred during the check.\n",
		       r->check_errors);
	if (r->total_clusters && r->allocated_clusters)
		printf("%" PRIu64 "/%" PRIu64 " = %0.2f%% allocated, %0.2f%% fragmented, %0.2f%% compressed clusters\n",
		       r->allocated_clusters, r->total_clusters,
		       r->allocated_clusters * 100.0 / r->total_clusters,
		       r->fragmented_clusters * 100.0 / r->allocated_clusters,
		       r->compressed_clusters * 100.0 / r->allocated_clusters);
	if (r->image_end_offset)
		printf("Image end offset: %" PRIu64 "\n", r->image_end_offset);
}

static void add_count(struct json_object *o, const char *key, uint64_t v)
{
	if (v)
		json_object_object_add(o, key, json_object_new_uint64(v));
}

/* Members in the order of QEMU's ImageCheck schema; zero counts omitted. */
static int print_json(const struct check_args *a, const char *format,
		      const struct qcow_check_result *r)
{
	struct json_object *o = json_object_new_object();
	int ret;

	if (!o)
		return -ENOMEM;
	json_object_object_add(o, "filename", json_object_new_string(a->file));
	json_object_object_add(o, "format", json_object_new_string(format));
	json_object_object_add(o, "check-errors",
			       json_object_new_uint64(r->check_errors));
	add_count(o, "image-end-offset", r->image_end_offset);
	add_count(o, "corruptions", r->corruptions);
	add_count(o, "leaks", r->leaks);
	add_count(o, "corruptions-fixed", r->corruptions_fixed);
	add_count(o, "leaks-fixed", r->leaks_fixed);
	add_count(o, "total-clusters", r->total_clusters);
	add_count(o, "allocated-clusters", r->allocated_clusters);
	add_count(o, "fragmented-clusters", r->fragmented_clusters);
	add_count(o, "compressed-clusters", r->compressed_clusters);
	ret = qjson_print(stdout, o);
	json_object_put(o);
	return ret < 0 ? -ENOMEM : 0;
}

static int verdict(const struct check_args *a,
		   const struct qcow_check_result *r)
{
	if (r->check_errors) {
		tool_error("%s: the check could not examine all metadata (%" PRIu64 " internal errors)",
			   a->file, r->check_errors);
		return CHECK_FAILED;
	}
	if (r->corruptions)
		return CHECK_CORRUPT;
	return r->leaks ? CHECK_LEAKS : CHECK_CLEAN;
}

/*
 * With -r: one repair pass, as qemu-img's: refcounts (a damaged structure
 * rebuilt with -r all), then COPIED flags; the open may have set a dirty
 * image's refcounts right already.  r is the check that ends the pass,
 * with the counts of what was fixed; when something was, say so.
 */
static int repair(const struct check_args *a, struct qcow_image *img,
		  struct qcow_check_result *r)
{
	int ret;

	ret = qcow_repair(img, a->repair, r, report, NULL);
	if (ret < 0 || (!r->leaks_fixed && !r->corruptions_fixed))
		return ret;
	if (!a->quiet && a->output == OUTPUT_HUMAN)
		printf("The following inconsistencies were found and repaired:\n\n"
		       "    %" PRIu64 " leaked clusters\n"
		       "    %" PRIu64 " corruptions\n\n"
		       CHECK_RECHECK_NOTE "\n",
		       r->leaks_fixed, r->corruptions_fixed);
	return 0;
}

static int run_check(const struct check_args *a, struct qcow_image *img)
{
	const char *format = tool_format_name(img);
	struct qcow_check_result r = { 0 };
	int ret;

	if (a->repair)
		ret = repair(a, img, &r);
	else
		ret = qcow_check(img, &r, report, NULL);
	if (ret == -ENOTSUP) {
		/* qemu-img's words, for raw and qcow alike */
		tool_error("%s: This image format does not support checks",
			   a->file);
		return CHECK_UNSUPPORTED;
	}
	if (ret < 0) {
		tool_error("%s: check failed: %s", a->file,
			   tool_reason(a->file, ret));
		return CHECK_FAILED;
	}
	if (a->quiet) {
		/* nothing on stdout, only the exit code */
	} else if (a->output == OUTPUT_JSON) {
		if (print_json(a, format, &r) < 0) {
			tool_error("check: out of memory");
			return CHECK_FAILED;
		}
	} else {
		print_human(&r);
	}
	return verdict(a, &r);
}

int img_check(int argc, char **argv)
{
	struct qcow_open_opts opts = { .read_only = true };
	struct check_args a = { .output = OUTPUT_HUMAN };
	struct qcow_image *img;
	int ret;

	if (parse_args(argc, argv, &a) < 0)
		return img_usage(false);
	opts.read_only = !a.repair;
	opts.repair = !!a.repair;
	opts.force_share = a.force_share;
	if (tool_open(&img, a.file, a.fmt, &opts) < 0)
		return CHECK_FAILED;
	ret = run_check(&a, img);
	qcow_close(img);
	return ret;
}
