// SPDX-License-Identifier: MIT
/*
 * qcow-io write, discard and flush.  The engine's write path is not there
 * yet: they fail with -EOPNOTSUPP (a read-only image is refused before).
 */
#include <errno.h>
#include "tools/common/msg.h"
#include "tools/io/io.h"

static int not_yet(const char *what)
{
	tool_error("%s: not supported yet", what);
	return -EOPNOTSUPP;
}

int io_write(struct io_state *s, int argc, char **argv)
{
	return not_yet("write");
}

int io_discard(struct io_state *s, int argc, char **argv)
{
	return not_yet("discard");
}

int io_flush(struct io_state *s, int argc, char **argv)
{
	/* nothing can have been written to a read-only image */
	if (s->read_only)
		return 0;
	return not_yet("flush");
}
