// SPDX-License-Identifier: MIT
#include <string.h>
#include "uring_cmd.h"

struct io_uring_sqe *uring_get_sqe(struct io_uring *ring)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	if (!sqe) {
		io_uring_submit(ring);
		sqe = io_uring_get_sqe(ring);
	}
	return sqe;
}

void uring_prep_cmd(struct io_uring_sqe *sqe, bool sqe128, int fd,
		    uint32_t cmd_op, const void *cmd, size_t len,
		    uint64_t user_data)
{
	memset(sqe, 0, sqe128 ? 128 : 64);
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = fd;
	sqe->cmd_op = cmd_op;
	memcpy(sqe->cmd, cmd, len);
	sqe->user_data = user_data;
}
