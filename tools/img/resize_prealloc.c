// SPDX-License-Identifier: MIT
/*
 * resize --preallocation: the grown part of the disk allocated as
 * qemu-img 7.2 allocates it.  qcow2 gets data clusters there (zeros
 * written: full, falloc), with "metadata" the new host bytes punched out
 * again, so the image reads as metadata-preallocated; raw gets its file
 * allocated (falloc) or zeros written (full).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tools/common/msg.h"
#include "tools/common/util.h"
#include "tools/img/resize.h"

#define ZERO_CHUNK (1u << 20)

int prealloc_mode(const char *name, enum qcow_prealloc *mode)
{
	static const char *const names[] = {
		[QCOW_PREALLOC_OFF] = "off",
		[QCOW_PREALLOC_METADATA] = "metadata",
		[QCOW_PREALLOC_FALLOC] = "falloc",
		[QCOW_PREALLOC_FULL] = "full",
	};
	unsigned int i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!strcmp(name, names[i])) {
			*mode = i;
			return 0;
		}
	}
	tool_error("resize: Invalid preallocation mode '%s'", name);
	return -EINVAL;
}

static int write_zeros(struct qcow_image *img, uint64_t off, uint64_t end)
{
	void *zeros = calloc(1, ZERO_CHUNK);
	int ret = zeros ? 0 : -ENOMEM;

	while (!ret && off < end) {
		uint64_t n = min_u64(ZERO_CHUNK, end - off);

		ret = qcow_pwrite(img, zeros, n, off);
		off += n;
	}
	free(zeros);
	if (!ret)
		ret = qcow_flush(img);
	return ret;
}

static int punch(const char *file, uint64_t off, uint64_t len)
{
	int fd = open(file, O_WRONLY | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return -errno;
	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off,
		      len) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

/* The host bytes of the new disk space [off, end): holes again. */
static int punch_data(struct qcow_image *img, uint64_t off, uint64_t end)
{
	struct qcow_status st;
	int ret;

	while (off < end) {
		ret = qcow_block_status(img, off, end - off, &st);
		if (ret < 0)
			return ret;
		if (!st.length)
			return -EIO;
		if ((st.flags & QCOW_ST_DATA) &&
		    (st.flags & QCOW_ST_OFFSET_VALID) && st.file) {
			ret = punch(st.file, st.offset, st.length);
			/* a file system without holes keeps the zeros */
			if (ret < 0 && ret != -EOPNOTSUPP)
				return ret;
		}
		off += st.length;
	}
	return 0;
}

static int prealloc_raw(struct qcow_image *img, enum qcow_prealloc mode,
			uint64_t old, uint64_t size)
{
	int fd, ret = 0;

	if (mode == QCOW_PREALLOC_FULL)
		return write_zeros(img, old, size);
	fd = open(qcow_filename(img), O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fallocate(fd, 0, old, size - old) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

int resize_prealloc(struct qcow_image *img, enum qcow_prealloc mode,
		    uint64_t old, uint64_t size)
{
	struct qcow_info info;
	int ret;

	if (mode == QCOW_PREALLOC_OFF || size <= old)
		return 0;
	if (qcow_format(img) == QCOW_FMT_RAW)
		return prealloc_raw(img, mode, old, size);
	ret = qcow_get_info(img, &info);
	if (ret < 0)
		return ret;
	/*
	 * qemu-img 7.2 gives an image with extended L2 entries host clusters
	 * whose subclusters stay unallocated: the disk reads the same as
	 * without them, and we leave them out.
	 */
	if (info.extended_l2)
		return 0;
	ret = write_zeros(img, old, size);
	if (ret < 0 || mode != QCOW_PREALLOC_METADATA || info.crypt_method)
		return ret;
	return punch_data(img, old, size);
}
