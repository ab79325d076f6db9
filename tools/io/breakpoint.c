// SPDX-License-Identifier: MIT
/*
 * qcow-io's blkdebug breakpoints (break, remove_break, resume, wait_break)
 * on the blkdebug filter of the open image's file, with qemu-io's
 * messages.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "tools/common/msg.h"
#include "tools/io/io.h"

int io_break(struct io_state *s, int argc, char **argv)
{
	int ret = qcow_blkdebug_break(s->img, argv[1], argv[2]);

	if (ret < 0)
		printf("Could not set breakpoint: %s\n", strerror(-ret));
	return ret;
}

int io_remove_break(struct io_state *s, int argc, char **argv)
{
	int ret = qcow_blkdebug_remove_break(s->img, argv[1]);

	if (ret < 0)
		printf("Could not remove breakpoint %s: %s\n", argv[1],
		       strerror(-ret));
	return ret;
}

int io_resume(struct io_state *s, int argc, char **argv)
{
	int ret = qcow_blkdebug_resume(s->img, argv[1]);

	if (ret < 0)
		printf("Could not resume request: %s\n", strerror(-ret));
	return ret;
}

static bool suspended(struct io_state *s, void *tag)
{
	return qcow_blkdebug_suspended(s->img, tag) > 0;
}

/*
 * qemu-io waits for ever when no request can reach the breakpoint (or
 * there is no blkdebug); here that is an error.
 */
int io_wait_break(struct io_state *s, int argc, char **argv)
{
	int ret = qcow_blkdebug_suspended(s->img, argv[1]);

	if (ret == -ENOTSUP) {
		tool_error("wait_break %s: no blkdebug filter over the image "
			   "(qemu-io would wait for ever)", argv[1]);
		return ret;
	}
	if (io_aio_wait(s, suspended, argv[1]))
		return 0;
	tool_error("wait_break %s: no request in flight is left to reach "
		   "it (qemu-io would wait for ever)", argv[1]);
	return -ENOENT;
}
