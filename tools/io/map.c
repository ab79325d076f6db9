// SPDX-License-Identifier: MIT
/* qcow-io map and alloc: what this layer (not its backing) allocates. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include "tools/common/msg.h"
#include "tools/common/size.h"
#include "tools/io/io.h"

/*
 * Whether [off, off + len) starts allocated in this layer, and for how
 * many bytes (*num, 0 at the end of the image).
 */
static int is_allocated(struct qcow_image *img, uint64_t off, uint64_t len,
			uint64_t *num)
{
	uint64_t size = qcow_size(img);
	struct qcow_status st;
	int ret;

	if (off >= size || !len) {
		*num = 0;
		return 0;
	}
	if (len > size - off)
		len = size - off;
	ret = qcow_block_status(img, off, len, &st);
	if (ret < 0)
		return ret;
	*num = st.length < len ? st.length : len;
	return !!(st.flags & QCOW_ST_ALLOCATED);
}

/* The longest run from off with the same allocation. */
static int allocated_run(struct qcow_image *img, uint64_t off, uint64_t len,
			 uint64_t *run)
{
	uint64_t num;
	int first, ret;

	first = is_allocated(img, off, len, run);
	if (first < 0)
		return first;
	while (*run && *run < len) {
		ret = is_allocated(img, off + *run, len - *run, &num);
		if (ret < 0)
			return ret;
		if (ret != first || !num)
			break;
		*run += num;
	}
	return first;
}

int io_map(struct io_state *s, int argc, char **argv)
{
	char len_str[SIZE_STR_LEN], off_str[SIZE_STR_LEN];
	uint64_t off = 0, left = qcow_size(s->img), run;
	int ret;

	while (left) {
		ret = allocated_run(s->img, off, left, &run);
		if (ret < 0) {
			tool_error("%s: map: cannot get block status at offset %" PRIu64 ": %s",
				   qcow_filename(s->img), off, strerror(-ret));
			return ret;
		}
		if (!run) {
			tool_error("%s: map: the block status ends before the image does",
			   qcow_filename(s->img));
			return -EIO;
		}
		size_to_io_str(len_str, sizeof(len_str), (double)run);
		size_to_io_str(off_str, sizeof(off_str), (double)off);
		printf("%s (0x%" PRIx64 ") bytes %s at offset %s (0x%" PRIx64 ")\n",
		       len_str, run, ret ? "    allocated" : "not allocated",
		       off_str, off);
		off += run;
		left -= run;
	}
	return 0;
}

int io_alloc(struct io_state *s, int argc, char **argv)
{
	int64_t start, count = 512;
	uint64_t off, left, num, sum = 0;
	char off_str[SIZE_STR_LEN];
	int ret;

	if (io_parse_num(argv[1], &start) < 0)
		return -EINVAL;
	if (argc == 3 && io_parse_num(argv[2], &count) < 0)
		return -EINVAL;
	for (off = start, left = count; left; off += num, left -= num) {
		ret = is_allocated(s->img, off, left, &num);
		if (ret < 0) {
			printf("alloc failed: %s\n", strerror(-ret));
			return ret;
		}
		if (ret)
			sum += num;
		if (!num) {
			count -= left;
			break;
		}
	}
	size_to_io_str(off_str, sizeof(off_str), (double)start);
	printf("%" PRIu64 "/%" PRId64 " bytes allocated at offset %s\n", sum,
	       count, off_str);
	return 0;
}
