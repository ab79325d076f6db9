// SPDX-License-Identifier: MIT
/* Block status through the backing chain. */
#include <errno.h>
#include "tools/common/chain.h"

static bool decided(const struct qcow_status *st, bool above)
{
	if (above)
		return st->flags & QCOW_ST_ALLOCATED;
	return st->flags & (QCOW_ST_DATA | QCOW_ST_ZERO);
}

int chain_status(struct qcow_image *top, uint64_t off, uint64_t len,
		 bool above, struct qcow_status *st)
{
	struct qcow_image *img = top, *next;
	int depth = 0;
	int ret;

	for (;;) {
		ret = qcow_block_status(img, off, len, st);
		if (ret < 0)
			return ret;
		if (!st->length)
			return -EIO;
		if (st->length < len)
			len = st->length;
		st->length = len;
		if (decided(st, above))
			break;
		next = qcow_backing(img);
		if (!next) {
			if (!(st->flags & QCOW_ST_DATA))
				st->flags |= QCOW_ST_ZERO;
			break;
		}
		if (off >= qcow_size(next)) {
			/* zeros past the end of a shorter backing file */
			st->flags |= QCOW_ST_ZERO;
			if (above) {
				st->flags = QCOW_ST_ZERO | QCOW_ST_ALLOCATED;
				depth++;
			}
			break;
		}
		if (len > qcow_size(next) - off)
			len = qcow_size(next) - off;
		img = next;
		depth++;
	}
	st->depth = depth;
	return 0;
}
