// SPDX-License-Identifier: MIT
/* qcow-io read: read a range of the image, verify it, dump it. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tools/common/msg.h"
#include "tools/io/io.h"

/* The largest request qemu accepts: INT_MAX rounded down to sectors. */
#define IO_MAX_BYTES 2147483136LL

struct read_args {
	int64_t offset;
	int64_t count;
	int pattern;		/* -1: no verification */
	int64_t pattern_off;
	int64_t pattern_len;	/* -1: to the end */
	bool quiet;
	bool verbose;
	bool machine;
	bool vmstate;
};

static int parse_opts(int argc, char **argv, struct read_args *a)
{
	bool has_s = false, has_l = false;
	int c;

	while ((c = getopt(argc, argv, "abCl:pP:qs:v")) != -1) {
		switch (c) {
		case 'a':	/* aio and -p: accepted, nothing to change */
		case 'p':
			break;
		case 'b':
			a->vmstate = true;
			break;
		case 'C':
			a->machine = true;
			break;
		case 'l':
			if (io_parse_num(optarg, &a->pattern_len) < 0)
				return -EINVAL;
			has_l = true;
			break;
		case 'P':
			a->pattern = io_parse_pattern(optarg);
			if (a->pattern < 0)
				return -EINVAL;
			break;
		case 'q':
			a->quiet = true;
			break;
		case 's':
			if (io_parse_num(optarg, &a->pattern_off) < 0)
				return -EINVAL;
			has_s = true;
			break;
		case 'v':
			a->verbose = true;
			break;
		default:
			io_print_usage(io_find_cmd("read"));
			return -EINVAL;
		}
	}
	if (optind != argc - 2 || (a->pattern < 0 && (has_s || has_l))) {
		io_print_usage(io_find_cmd("read"));
		return -EINVAL;
	}
	return 0;
}

static int parse_args(int argc, char **argv, struct read_args *a)
{
	int ret = parse_opts(argc, argv, a);

	if (ret < 0)
		return ret;
	if (io_parse_num(argv[optind], &a->offset) < 0 ||
	    io_parse_num(argv[optind + 1], &a->count) < 0)
		return -EINVAL;
	if (a->count > IO_MAX_BYTES) {
		printf("length %s is over the limit of %lld bytes\n",
		       argv[optind + 1], IO_MAX_BYTES);
		return -EINVAL;
	}
	if (a->pattern_len < 0)
		a->pattern_len = a->count - a->pattern_off;
	if (a->pattern_len < 0 || a->pattern_off + a->pattern_len > a->count) {
		printf("read: the range to check (-s, -l) goes past the data read\n");
		return -EINVAL;
	}
	if (a->vmstate)
		return io_check_sectors(a->offset, a->count);
	return 0;
}

static int do_read(struct io_state *s, const struct read_args *a,
		   uint8_t *buf)
{
	uint64_t size = qcow_size(s->img);

	int ret;

	if (a->vmstate)
		return qcow_vmstate_pread(s->img, buf, a->count, a->offset);
	if ((uint64_t)a->offset > size || size - a->offset < (uint64_t)a->count)
		return -EIO;
	ret = io_copy_on_read(s, a->offset, a->count);
	if (ret < 0)
		return ret;
	return qcow_pread(s->img, buf, a->count, a->offset);
}

static int verify(const struct read_args *a, const uint8_t *buf)
{
	int64_t i;

	if (a->pattern < 0)
		return 0;
	for (i = a->pattern_off; i < a->pattern_off + a->pattern_len; i++) {
		if (buf[i] != a->pattern) {
			printf("Pattern verification failed at offset %" PRId64
			       ", %" PRId64 " bytes\n",
			       a->offset + a->pattern_off, a->pattern_len);
			return -EINVAL;
		}
	}
	return 0;
}

int io_read(struct io_state *s, int argc, char **argv)
{
	struct read_args a = { .pattern = -1, .pattern_len = -1 };
	struct timespec start, elapsed;
	uint8_t *buf;
	int ret;

	ret = parse_args(argc, argv, &a);
	if (ret < 0)
		return ret;
	buf = malloc(a.count ? a.count : 1);
	if (!buf) {
		printf("read failed: %s\n", strerror(ENOMEM));
		return -ENOMEM;
	}
	memset(buf, 0xab, a.count);
	clock_gettime(CLOCK_MONOTONIC, &start);
	ret = do_read(s, &a, buf);
	elapsed = io_elapsed(&start);
	if (ret < 0) {
		printf("read failed: %s\n", strerror(-ret));
		goto out;
	}
	ret = verify(&a, buf);
	if (a.quiet)
		goto out;
	if (a.verbose)
		io_dump_buffer(buf, a.offset, a.count);
	io_report("read", &elapsed, a.offset, a.count, a.count, 1, a.machine);
out:
	free(buf);
	return ret;
}
