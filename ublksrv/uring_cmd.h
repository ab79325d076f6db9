/* SPDX-License-Identifier: MIT */
/* Filling an IORING_OP_URING_CMD SQE, with liburing 2.3's helpers only. */
#ifndef UBLKSRV_URING_CMD_H
#define UBLKSRV_URING_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <liburing.h>

/*
 * An SQE from ring, submitting what is queued when the SQ is full; NULL
 * only if the ring is broken.
 */
struct io_uring_sqe *uring_get_sqe(struct io_uring *ring);

/*
 * sqe becomes a uring_cmd cmd_op on fd carrying the len bytes at cmd in its
 * command area (16 bytes in a 64-byte SQE, 80 in a 128-byte one).
 */
void uring_prep_cmd(struct io_uring_sqe *sqe, bool sqe128, int fd,
		    uint32_t cmd_op, const void *cmd, size_t len,
		    uint64_t user_data);

#endif
