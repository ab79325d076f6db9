// SPDX-License-Identifier: MIT
/* qcow-io flush: make everything written so far durable. */
#include <stdio.h>
#include <string.h>
#include "tools/io/io.h"

int io_flush(struct io_state *s, int argc, char **argv)
{
	int ret;

	/* nothing can have been written to a read-only image */
	if (s->open.read_only)
		return 0;
	ret = qcow_flush(s->img);
	if (ret < 0)
		printf("flush failed: %s\n", strerror(-ret));
	return ret < 0 ? ret : 0;
}
