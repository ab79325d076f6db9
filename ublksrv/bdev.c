// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
#include "bdev.h"
#include "log.h"
#include "ublk_abi.h"

int bdev_flush(uint32_t dev_id)
{
	char path[64];
	int fd, ret = 0;

	snprintf(path, sizeof(path), UBLK_BDEV_FMT, dev_id);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (fsync(fd) < 0) {
		ret = -errno;
		ublk_errno(ret, "fsync %s", path);
	}
	close(fd);
	return ret;
}
