/* SPDX-License-Identifier: MIT */
/*
 * UBLK_F_BATCH_IO: a queue prepares all its tags with one command, is
 * handed new requests' tags in bulk by two multishot fetches, and commits
 * the results of all the requests that ended in one pass of its loop with
 * one command.
 */
#ifndef UBLKSRV_BATCH_H
#define UBLKSRV_BATCH_H

#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>

struct ublk_queue;
struct ublk_io;

/* Queues PREP_IO_CMDS and the fetches on q's ring; 0 or -errno. */
int batch_setup(struct ublk_queue *q);
void batch_free(struct ublk_queue *q);

/* io's result, sent with the others at the next batch_flush(). */
void batch_commit(struct ublk_io *io, int res);
/* One COMMIT_IO_CMDS for what batch_commit() gathered. */
void batch_flush(struct ublk_queue *q);

/* A CQE of kind UD_BATCH. */
void batch_cqe(struct ublk_queue *q, const struct io_uring_cqe *cqe);

/* Commands of ours the kernel has not answered, or results not sent. */
bool batch_busy(const struct ublk_queue *q);

#endif
