// SPDX-License-Identifier: MIT
/*
 * qcow-img measure: the file size a new image needs, for a given size or
 * for the data of an existing image, as qemu-img 7.2 computes it.  A
 * qcow2 target needs, fully allocated, its header cluster, L2 tables for
 * every cluster (whole tables), an L1 table of whole clusters, the
 * refcount structures counting all of that, and the data; "required"
 * counts only the clusters the source's data touches (all with
 * preallocation=full or falloc).  A raw target is the size in sectors.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tools/common/chain.h"
#include "tools/common/msg.h"
#include "tools/common/open.h"
#include "tools/common/qjson.h"
#include "tools/common/size.h"
#include "tools/common/snapshot_param.h"
#include "tools/common/util.h"
#include "tools/img/create_opts.h"
#include "tools/img/img.h"

#define SECTOR 512
#define STATUS_STEP (1ULL << 30)

struct measure_args {
	const char *fmt;
	const char *out_fmt;
	const char *file;
	struct img_opts opts;
	struct snapshot_param snapshot;
	enum output_format output;
	uint64_t size;
	bool has_size;
	bool force_share;
};

struct measure {
	uint64_t required;
	uint64_t fully;
	uint64_t bitmaps;
	bool has_bitmaps;
};

enum { OPT_OUTPUT = 256, OPT_SIZE };

static uint64_t div_up(uint64_t a, uint64_t b)
{
	return a / b + !!(a % b);
}

static uint64_t max_of(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

static int parse_opt(struct measure_args *a, int c, char **argv,
		     const char *optstring)
{
	switch (c) {
	case 'h':
		exit(img_usage(true));
	case 'f':
		a->fmt = optarg;
		return 0;
	case 'O':
		a->out_fmt = optarg;
		return 0;
	case 'o':
		return img_opts_parse(&a->opts, optarg);
	case 'l':
		return snapshot_param_parse(&a->snapshot, optarg);
	case 'U':
		a->force_share = true;
		return 0;
	case OPT_OUTPUT:
		return parse_output_format(optarg, &a->output);
	case OPT_SIZE:
		a->has_size = true;
		return parse_size_arg(optarg, "measure: --size", &a->size);
	case OPT_TRUST_FIRST ... OPT_TRUST_LAST:
		return tool_trust_option(c, optarg);
	}
	tool_bad_option("measure", optstring, argv);
	return -EINVAL;
}

static int parse_args(int argc, char **argv, struct measure_args *a)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "output", required_argument, NULL, OPT_OUTPUT },
		{ "size", required_argument, NULL, OPT_SIZE },
		{ "force-share", no_argument, NULL, 'U' },
		TRUST_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	static const char optstring[] = "hf:O:o:l:U";
	int c;

	while ((c = getopt_long(argc, argv, optstring, longopts,
				NULL)) != -1) {
		if (parse_opt(a, c, argv, optstring) < 0)
			return -EINVAL;
	}
	if (optind < argc - 1) {
		tool_usage_error("measure: expects at most one image file name");
		return -EINVAL;
	}
	if (optind == argc - 1)
		a->file = argv[optind];
	/* qemu-img's words: scripts match them */
	if (a->file && a->has_size) {
		tool_error("measure: --size N cannot be used together with a filename.");
		return -EINVAL;
	}
	if (!a->file && !a->has_size) {
		tool_error("measure: Either --size N or one filename must be specified.");
		return -EINVAL;
	}
	return 0;
}

/* Refcount blocks and table for clusters others, counting themselves. */
static uint64_t refcount_bytes(uint64_t clusters, uint64_t cs,
			       unsigned int refcount_bits)
{
	uint64_t per_block = cs * 8 / refcount_bits, per_table = cs / 8;
	uint64_t blocks = 0, table = 0, n = 0, last;

	do {
		last = n;
		blocks = div_up(clusters + table + blocks, per_block);
		table = div_up(blocks, per_table);
		n = clusters + blocks + table;
	} while (n != last);
	return (blocks + table) * cs;
}

/* The file of a fully allocated qcow2 image of virtual size size. */
static uint64_t qcow2_full_size(uint64_t size, const struct qcow_create_opts *o)
{
	uint64_t cs = o->cluster_size ? o->cluster_size : 65536;
	unsigned int rb = o->refcount_bits ? o->refcount_bits : 16;
	uint64_t l2e = o->extended_l2 ? 16 : 8;
	uint64_t data = div_up(size, cs) * cs, meta = cs;
	uint64_t l2_entries, l1_entries;

	l2_entries = div_up(data / cs, cs / l2e) * (cs / l2e);
	meta += l2_entries * l2e;
	l1_entries = div_up(l2_entries * l2e / cs, cs / 8) *
		     (cs / 8);
	meta += l1_entries * 8;
	meta += refcount_bytes((meta + data) / cs, cs, rb);
	return meta + data;
}

/* The clusters of size cs the image's data touches, in bytes. */
static int data_bytes(struct qcow_image *img, const char *name, uint64_t cs,
		      uint64_t *out)
{
	uint64_t size = qcow_size(img), off = 0, end, counted = 0;
	struct qcow_status st;
	int ret;

	*out = 0;
	while (off < size) {
		ret = chain_status(img, off, min_u64(size - off, STATUS_STEP),
				   false, &st);
		if (ret < 0) {
			tool_error("%s: cannot get block status at offset %" PRIu64 ": %s",
				   name, off, strerror(-ret));
			return ret;
		}
		if (!st.length)
			return -EIO;
		end = off + st.length;
		if ((st.flags & QCOW_ST_DATA) && !(st.flags & QCOW_ST_ZERO)) {
			uint64_t first = max_of(off / cs, counted);
			uint64_t last = div_up(end, cs);

			if (last > first)
				*out += (last - first) * cs;
			counted = max_of(counted, last);
		}
		off = end;
	}
	return 0;
}

/* Bitmap directory entries, tables and whole bitmaps, in clusters of cs. */
static uint64_t bitmaps_bytes(struct qcow_image *img, uint64_t cs)
{
	const struct qcow_bitmap_info *v = NULL;
	uint64_t total = 0, dir = 0, bits, bytes, clusters;
	int n, i;

	n = qcow_bitmap_list(img, &v);
	for (i = 0; i < n; i++) {
		bits = div_up(qcow_size(img), v[i].granularity);
		bytes = div_up(bits, 8);
		clusters = div_up(bytes, cs);
		total += clusters * cs;
		total += div_up(clusters * 8, cs) * cs;
		dir += (24 + strlen(v[i].name) + 7) / 8 * 8;
	}
	return total + div_up(dir, cs) * cs;
}

static int measure_qcow2(struct qcow_image *img, struct qcow_image *active,
			 const char *name, uint64_t size,
			 const struct create_spec *s, struct measure *m)
{
	const struct qcow_create_opts *o = &s->o;
	uint64_t cs = o->cluster_size ? o->cluster_size : 65536;
	uint64_t aligned = div_up(size, cs) * cs, data = 0;
	int ret;

	/* the L1 table may have 32 MiB of entries */
	if (div_up(size, cs * (cs / (o->extended_l2 ? 16 : 8))) > (4u << 20)) {
		tool_error("%s: The image size is too large (try using a larger cluster size)",
			   name);
		return -EFBIG;
	}
	m->fully = qcow2_full_size(size, o);
	/* qemu-img adds the LUKS area outside the refcounted clusters */
	if (o->crypt_method == CRYPT_LUKS) {
		uint64_t luks;

		ret = qcow_luks_area_size(name, o, &luks);
		if (ret < 0) {
			tool_error("%s: %s", name, tool_reason(name, ret));
			return ret;
		}
		m->fully += div_up(luks, cs) * cs;
	}
	if (o->prealloc == QCOW_PREALLOC_FULL ||
	    o->prealloc == QCOW_PREALLOC_FALLOC)
		data = aligned;
	else if (img && (ret = data_bytes(img, name, cs, &data)) < 0)
		return ret;
	m->required = m->fully - aligned + data;
	if (active && o->compat != 2 && qcow_format(active) == QCOW_FMT_QCOW2) {
		struct qcow_info info;

		if (qcow_get_info(active, &info) == 0 && info.version >= 3) {
			m->has_bitmaps = true;
			m->bitmaps = bitmaps_bytes(active, cs);
		}
	}
	return 0;
}

static int print_result(const struct measure_args *a, const struct measure *m)
{
	struct json_object *o;
	int ret;

	if (a->output != OUTPUT_JSON) {
		printf("required size: %" PRIu64 "\n", m->required);
		printf("fully allocated size: %" PRIu64 "\n", m->fully);
		if (m->has_bitmaps)
			printf("bitmaps size: %" PRIu64 "\n", m->bitmaps);
		return 0;
	}
	o = json_object_new_object();
	if (!o)
		return -ENOMEM;
	json_object_object_add(o, "required",
			       json_object_new_int64((int64_t)m->required));
	json_object_object_add(o, "fully-allocated",
			       json_object_new_int64((int64_t)m->fully));
	if (m->has_bitmaps)
		json_object_object_add(o, "bitmaps",
				       json_object_new_int64((int64_t)m->bitmaps));
	ret = qjson_print(stdout, o);
	json_object_put(o);
	return ret;
}

/*
 * The options as qemu-img's measure takes them: encryption only when
 * encrypt.format is "luks", the other encrypt.* and encryption=
 * checked for their type and else ignored.
 */
static int measure_opts(const char *name, const struct img_opts *in,
			struct img_opts *out)
{
	const char *fmt = img_opts_get(in, "encrypt.format");
	const char *v = img_opts_get(in, "encryption");
	bool luks = fmt && !strcmp(fmt, "luks"), on;
	uint64_t n;
	int i;

	if (v && opt_bool(name, "encryption", v, &on))
		return -EINVAL;
	v = img_opts_get(in, "encrypt.iter-time");
	if (v && opt_number(name, "encrypt.iter-time", v, &n))
		return -EINVAL;
	for (i = 0; i < in->n; i++) {
		const char *k = in->v[i].key;

		if (!strcmp(k, "encryption") ||
		    (!luks && !strncmp(k, "encrypt.", 8)))
			continue;
		if (img_opts_set(out, k, in->v[i].val))
			return -ENOMEM;
	}
	return 0;
}

static int measure(struct measure_args *a)
{
	struct qcow_open_opts opts = {
		.read_only = true, .force_share = a->force_share,
	};
	const char *name = a->file ? a->file : "measure";
	struct qcow_image *img = NULL, *active = NULL;
	struct img_opts target_opts = { 0 };
	struct measure m = { 0 };
	struct create_spec s;
	enum qcow_format fmt;
	uint64_t size;
	int ret = 0;

	if (format_from_name(a->out_fmt, &fmt) < 0 || fmt == QCOW_FMT_QCOW) {
		tool_error("measure: Block driver '%s' does not support size measurement",
			   a->out_fmt);
		return -EINVAL;
	}
	if (fmt == QCOW_FMT_QCOW2)
		ret = measure_opts(name, &a->opts, &target_opts);
	if (!ret)
		ret = create_spec_parse(&s, name, fmt, fmt == QCOW_FMT_QCOW2 ?
					&target_opts : &a->opts);
	if (!ret)
		ret = create_spec_finish(&s);
	if (ret < 0)
		goto out;
	ret = -EINVAL;
	if (a->file && tool_open_snapshot(&img, a->file, a->fmt, &opts,
					  &a->snapshot) < 0)
		goto out;
	/* the bitmaps are the active image's, also with -l */
	active = img;
	if (img && (a->snapshot.id || a->snapshot.name ||
		    a->snapshot.id_or_name) &&
	    tool_open(&active, a->file, a->fmt, &opts) < 0) {
		active = img;
		goto out;
	}
	size = img ? qcow_size(img) : a->size;
	size = div_up(size, SECTOR) * SECTOR;
	ret = 0;
	if (fmt == QCOW_FMT_RAW)
		m.required = m.fully = size;
	else
		ret = measure_qcow2(img, active, name, size, &s, &m);
	if (!ret)
		ret = print_result(a, &m);
out:
	if (active != img)
		qcow_close(active);
	qcow_close(img);
	img_opts_free(&target_opts);
	return ret;
}

int img_measure(int argc, char **argv)
{
	struct measure_args a = { .out_fmt = "raw", .output = OUTPUT_HUMAN };
	int ret;

	if (parse_args(argc, argv, &a) < 0)
		ret = -EINVAL;
	else
		ret = measure(&a);
	img_opts_free(&a.opts);
	snapshot_param_free(&a.snapshot);
	return ret < 0 ? 1 : 0;
}
