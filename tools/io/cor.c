// SPDX-License-Identifier: MIT
/*
 * -C (copy-on-read), as QEMU does it: before a read, every cluster it
 * touches that this layer does not allocate is read through the chain
 * and written here, as zeros when it reads as zeros.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "tools/io/io.h"

/* The most QEMU copies at once: its bounce buffer. */
#define COR_MAX_BYTES (16ULL << 20)

static bool all_zero(const uint8_t *buf, uint64_t len)
{
	return !len || (!buf[0] && !memcmp(buf, buf + 1, len - 1));
}

static int copy_run(struct qcow_image *img, uint64_t off, uint64_t len,
		    uint8_t *buf)
{
	int ret = qcow_pread(img, buf, len, off);

	if (ret < 0)
		return ret;
	if (all_zero(buf, len))
		ret = qcow_pwrite_zeroes(img, len, off, 0);
	else
		ret = qcow_pwrite(img, buf, len, off);
	return ret < 0 ? ret : 0;
}

static uint64_t granularity(struct qcow_image *img)
{
	struct qcow_info info;

	/* whole clusters, also with subclusters, as QEMU 7.2 copies */
	if (qcow_get_info(img, &info) < 0)
		return 0;
	return info.cluster_size;
}

static int copy_range(struct qcow_image *img, uint64_t off, uint64_t end)
{
	struct qcow_status st;
	uint8_t *buf = NULL;
	uint64_t run;
	int ret = 0;

	while (off < end) {
		ret = qcow_block_status(img, off, end - off, &st);
		if (ret < 0)
			break;
		run = st.length < end - off ? st.length : end - off;
		if (!run) {
			ret = -EIO;
			break;
		}
		if (run > COR_MAX_BYTES)
			run = COR_MAX_BYTES;
		if (!(st.flags & QCOW_ST_ALLOCATED)) {
			if (!buf && !(buf = malloc(COR_MAX_BYTES))) {
				ret = -ENOMEM;
				break;
			}
			ret = copy_run(img, off, run, buf);
			if (ret < 0)
				break;
		}
		off += run;
	}
	free(buf);
	return ret;
}

int io_copy_on_read(struct io_state *s, uint64_t off, uint64_t len)
{
	uint64_t size = qcow_size(s->img), g, end;

	if (!s->open.copy_on_read || !len || off >= size)
		return 0;
	g = granularity(s->img);
	if (!g)
		return 0;	/* raw: everything is allocated */
	end = off + len < size ? off + len : size;
	end = end + g - 1 < size ? (end + g - 1) / g * g : size;
	return copy_range(s->img, off / g * g, end);
}
