// SPDX-License-Identifier: MIT
/*
 * The kernel puts mq-deadline in front of a single-queue ublk device (a
 * multi-queue one, loop and nbd get none); the server orders nothing it
 * could gain from, and at 4 KiB the scheduler cost 3-5x of the IOPS
 * (docs/performance.md, "One queue: the I/O scheduler").
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "scheduler.h"

#define NAME_MAX_LEN	31

bool ublk_scheduler_name_ok(const char *name)
{
	size_t i, n = strlen(name);

	if (!n || n > NAME_MAX_LEN)
		return false;
	for (i = 0; i < n; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyz0123456789-_", name[i]))
			return false;
	return true;
}

int ublk_set_scheduler(uint32_t dev_id, const char *name)
{
	char path[64];
	ssize_t n;
	int fd, ret = 0;

	snprintf(path, sizeof(path), "/sys/block/ublkb%u/queue/scheduler",
		 dev_id);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, name, strlen(name));
	if (n < 0)
		ret = -errno;
	else if ((size_t)n != strlen(name))
		ret = -EIO;
	close(fd);
	return ret;
}
