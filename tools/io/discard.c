// SPDX-License-Identifier: MIT
/* qcow-io discard: drop the data of a range. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include "tools/io/io.h"

#define IO_MAX_BYTES 2147483136LL

struct discard_args {
	int64_t offset;
	int64_t count;
	bool quiet;
	bool machine;
};

static int parse_args(int argc, char **argv, struct discard_args *a)
{
	int c;

	while ((c = getopt(argc, argv, "Cq")) != -1) {
		switch (c) {
		case 'C':
			a->machine = true;
			break;
		case 'q':
			a->quiet = true;
			break;
		default:
			io_print_usage(io_find_cmd("discard"));
			return -EINVAL;
		}
	}
	if (optind != argc - 2) {
		io_print_usage(io_find_cmd("discard"));
		return -EINVAL;
	}
	if (io_parse_num(argv[optind], &a->offset) < 0 ||
	    io_parse_num(argv[optind + 1], &a->count) < 0)
		return -EINVAL;
	if (a->count > IO_MAX_BYTES) {
		printf("length %s is over the limit of %lld bytes\n",
		       argv[optind + 1], IO_MAX_BYTES);
		return -EINVAL;
	}
	return 0;
}

int io_discard(struct io_state *s, int argc, char **argv)
{
	struct discard_args a = { 0 };
	struct timespec start, elapsed;
	uint64_t size = qcow_size(s->img);
	int ret;

	ret = parse_args(argc, argv, &a);
	if (ret < 0)
		return ret;
	clock_gettime(CLOCK_MONOTONIC, &start);
	if ((uint64_t)a.offset > size || size - a.offset < (uint64_t)a.count)
		ret = -EIO;
	else if (s->open.no_discard)	/* -d ignore: done, as asked */
		ret = 0;
	else
		ret = qcow_pdiscard(s->img, a.count, a.offset);
	elapsed = io_elapsed(&start);
	if (ret < 0) {
		printf("discard failed: %s\n", strerror(-ret));
		return ret;
	}
	if (!a.quiet)
		io_report("discard", &elapsed, a.offset, a.count, a.count, 1,
			  a.machine);
	return 0;
}
