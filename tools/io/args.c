// SPDX-License-Identifier: MIT
/* Numbers and patterns in qcow-io commands. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include "tools/common/size.h"
#include "tools/io/io.h"

int io_parse_num(const char *arg, int64_t *out)
{
	uint64_t v;
	int ret = parse_size(arg, &v);

	if (ret == -ERANGE)
		printf("'%s' is too large a number\n", arg);
	else if (ret < 0)
		printf("'%s' is not a number of bytes (optional suffix k, M, G, T, P or E)\n",
		       arg);
	else
		*out = (int64_t)v;
	return ret;
}

/* A byte value: 0-255, decimal, 0x hex or 0 octal. */
int io_parse_pattern(const char *arg)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 0);
	if (errno || end == arg || *end || v < 0 || v > UCHAR_MAX) {
		printf("pattern '%s' is not a byte value (0 to 255)\n", arg);
		return -EINVAL;
	}
	return (int)v;
}

int io_check_sectors(int64_t offset, int64_t count)
{
	if (offset % 512) {
		printf("offset %" PRId64 " is not a multiple of 512\n", offset);
		return -EINVAL;
	}
	if (count % 512) {
		printf("count %" PRId64 " is not a multiple of 512\n", count);
		return -EINVAL;
	}
	return 0;
}
