// SPDX-License-Identifier: MIT
/* qcow-io write: data, a pattern, zeros or compressed clusters. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tools/common/msg.h"
#include "tools/io/io.h"

#define IO_MAX_BYTES 2147483136LL
#define DEFAULT_PATTERN 0xcd

enum write_mode { WRITE_DATA, WRITE_ZEROES, WRITE_COMPRESSED, WRITE_VMSTATE };

struct write_args {
	int64_t offset;
	int64_t count;
	int pattern;
	const char *source;	/* -s: data from this file */
	enum write_mode mode;
	bool compressed;
	bool zero;
	bool unmap;
	bool no_fallback;
	bool fua;
	bool quiet;
	bool machine;
	bool vmstate;
};

static int parse_opts(int argc, char **argv, struct write_args *a)
{
	int sources = 0, c;

	while ((c = getopt(argc, argv, "bcCfnpP:qs:uz")) != -1) {
		switch (c) {
		case 'b':
			a->vmstate = true;
			break;
		case 'c':
			a->compressed = true;
			break;
		case 'C':
			a->machine = true;
			break;
		case 'f':
			a->fua = true;
			break;
		case 'n':
			a->no_fallback = true;
			break;
		case 'p':	/* deprecated, ignored as qemu-io does */
			break;
		case 'P':
			a->pattern = io_parse_pattern(optarg);
			if (a->pattern < 0)
				return -EINVAL;
			sources++;
			break;
		case 'q':
			a->quiet = true;
			break;
		case 's':
			a->source = optarg;
			sources++;
			break;
		case 'u':
			a->unmap = true;
			break;
		case 'z':
			a->zero = true;
			sources++;
			break;
		default:
			io_print_usage(io_find_cmd("write"));
			return -EINVAL;
		}
	}
	if (optind != argc - 2) {
		io_print_usage(io_find_cmd("write"));
		return -EINVAL;
	}
	if (sources > 1) {
		printf("write: -z, -P and -s exclude each other\n");
		return -EINVAL;
	}
	return 0;
}

static int check_flags(const struct write_args *a)
{
	if (a->vmstate && a->zero) {
		printf("write: -b and -z exclude each other\n");
		return -EINVAL;
	}
	if (a->fua && (a->vmstate || a->compressed)) {
		printf("write: -f does not go with -b or -c\n");
		return -EINVAL;
	}
	if (a->unmap && !a->zero) {
		printf("write: -u only works together with -z\n");
		return -EINVAL;
	}
	if (a->no_fallback && !a->zero) {
		printf("write: -n only works together with -z\n");
		return -EINVAL;
	}
	return 0;
}

static int parse_args(int argc, char **argv, struct write_args *a)
{
	int ret = parse_opts(argc, argv, a);

	if (!ret)
		ret = check_flags(a);
	if (ret)
		return ret;
	if (io_parse_num(argv[optind], &a->offset) < 0 ||
	    io_parse_num(argv[optind + 1], &a->count) < 0)
		return -EINVAL;
	if (a->count > IO_MAX_BYTES && !a->no_fallback) {
		printf("length %s is over the limit of %lld bytes (only -z -n may go past it)\n",
		       argv[optind + 1], IO_MAX_BYTES);
		return -EINVAL;
	}
	if (a->zero)
		a->mode = WRITE_ZEROES;
	else if (a->vmstate)
		a->mode = WRITE_VMSTATE;	/* -c has no effect there */
	else if (a->compressed)
		a->mode = WRITE_COMPRESSED;
	if (a->vmstate || a->compressed)
		return io_check_sectors(a->offset, a->count);
	return 0;
}

/* The buffer filled with the source file's bytes, repeated. */
static int fill_from_file(uint8_t *buf, int64_t len, const char *path)
{
	FILE *f = fopen(path, "rb");
	size_t n = 0, got;
	int64_t i;

	if (!f) {
		int err = errno;

		tool_error("write: cannot open the -s file %s: %s", path,
			   strerror(err));
		return -err;
	}
	while ((int64_t)n < len) {
		got = fread(buf + n, 1, len - n, f);
		if (!got)
			break;
		n += got;
	}
	fclose(f);
	if (!n && len) {
		tool_error("write: the -s file %s is empty", path);
		return -EINVAL;
	}
	for (i = n; i < len; i++)
		buf[i] = buf[i - n];
	return 0;
}

static int make_buffer(const struct write_args *a, uint8_t **out)
{
	uint8_t *buf;
	int ret;

	*out = NULL;
	if (a->mode == WRITE_ZEROES)
		return 0;
	buf = malloc(a->count ? a->count : 1);
	if (!buf) {
		printf("write failed: %s\n", strerror(ENOMEM));
		return -ENOMEM;
	}
	if (a->source) {
		ret = fill_from_file(buf, a->count, a->source);
		if (ret < 0) {
			free(buf);
			return ret;
		}
	} else {
		memset(buf, a->pattern, a->count);
	}
	*out = buf;
	return 0;
}

static int do_write(struct io_state *s, const struct write_args *a,
		    const uint8_t *buf)
{
	uint64_t size = qcow_size(s->img);
	int ret;

	if (a->mode == WRITE_VMSTATE) {
		ret = qcow_vmstate_pwrite(s->img, buf, a->count, a->offset);
		return ret < 0 ? ret : 0;
	}
	if ((uint64_t)a->offset > size || size - a->offset < (uint64_t)a->count)
		return -EIO;
	switch (a->mode) {
	case WRITE_ZEROES:
		ret = qcow_pwrite_zeroes(s->img, a->count, a->offset,
					 a->unmap && !s->open.no_discard ?
					 QCOW_REQ_UNMAP : 0);
		break;
	case WRITE_COMPRESSED:
		ret = qcow_pwrite_compressed(s->img, buf, a->count, a->offset);
		break;
	default:
		ret = qcow_pwrite(s->img, buf, a->count, a->offset);
		break;
	}
	if (ret >= 0 && a->fua)
		ret = qcow_flush(s->img);
	return ret < 0 ? ret : 0;
}

int io_write(struct io_state *s, int argc, char **argv)
{
	struct write_args a = { .pattern = DEFAULT_PATTERN };
	struct timespec start, elapsed;
	uint8_t *buf;
	int ret;

	ret = parse_args(argc, argv, &a);
	if (ret < 0)
		return ret;
	ret = make_buffer(&a, &buf);
	if (ret < 0)
		return ret;
	clock_gettime(CLOCK_MONOTONIC, &start);
	ret = do_write(s, &a, buf);
	elapsed = io_elapsed(&start);
	free(buf);
	if (ret < 0) {
		printf("write failed: %s\n", strerror(-ret));
		return ret;
	}
	if (!a.quiet)
		io_report("wrote", &elapsed, a.offset, a.count, a.count, 1,
			  a.machine);
	return 0;
}
