/* SPDX-License-Identifier: MIT */
/*
 * One ublk queue: a thread with its own io_uring carrying both the queue's
 * ublk commands (user_data bit 63 set) and the engine's I/O for the
 * requests it serves (one qcow_ctx over that ring).
 */
#ifndef UBLKSRV_QUEUE_H
#define UBLKSRV_QUEUE_H

#include <liburing.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "ctrl.h"
#include "qcow.h"
#include "affinity.h"
#include "ublk_abi.h"

struct ublk_dev;
struct ublk_queue;
struct ublk_batch;

/* One tag: the engine request serving it and its data buffer. */
struct ublk_io {
	struct qcow_req req;
	struct ublk_queue *q;
	uint8_t *buf;
	uint16_t tag;
	bool live;		/* the kernel may still hand us requests */
	int result;		/* committed on success (bytes or 0) */
	enum qcow_op op;	/* the request, for the steps of user copy */
	uint64_t off;
	uint64_t len;
	uint32_t copied;	/* user copy: bytes moved so far */
	struct qcow_fixed fx;	/* zero copy: the kernel's buffer, at 0 */
};

struct ublk_queue {
	struct ublk_dev *dev;
	uint16_t q_id;
	uint16_t depth;
	uint32_t buf_size;
	bool user_copy;			/* UBLK_F_USER_COPY, the data path */
	bool zero_copy;			/* UBLK_F_AUTO_BUF_REG */
	struct ublk_batch *batch;	/* UBLK_F_BATCH_IO (batch.c), or NULL */
	struct cpu_mask cpus;		/* the CPUs mapped to this queue */
	pid_t tid;
	struct io_uring ring;
	bool ring_ready;
	struct qcow_ctx *qctx;
	struct ublksrv_io_desc *descs;	/* mmap'ed from the char device */
	size_t descs_len;
	uint8_t *bufs;
	size_t bufs_len;
	struct ublk_io *ios;
	unsigned int nr_live;
	int event_fd;
	struct __kernel_timespec idle_ts;
	unsigned long served;		/* requests handed to the engine */
	unsigned long served_at_tick;
	/*
	 * A pause (ublk_dev_quiesce): requests that arrive meanwhile are
	 * held, unstarted, until the device resumes.
	 */
	int wake_fd;			/* eventfd: the main thread asks */
	unsigned int active;		/* handed to the target, not committed */
	bool pausing;
	uint16_t *held;			/* tags, depth of them at most */
	unsigned int nr_held;
	pthread_t thread;
	sem_t ready;
	int setup_err;
	atomic_bool exited;
};

/*
 * Starts q_id's thread and waits until all its tags are fetched; returns
 * 0 or -errno (the thread has then ended and *out is NULL).
 */
int ublk_queue_start(struct ublk_dev *dev, uint16_t q_id,
		     struct ublk_queue **out);
/* Waits for the thread (it ends once the device is stopped), frees q. */
void ublk_queue_join(struct ublk_queue *q);

/* Commits the result of io's request and fetches the tag's next one. */
void ublk_queue_commit(struct ublk_io *io, int res);

/* The kernel handed us tag's next request (batch.c's fetches). */
void ublk_queue_tag_ready(struct ublk_queue *q, uint16_t tag);

/* The main thread asks q's thread to look at the device's pause. */
void ublk_queue_wake(struct ublk_queue *q);

/* An SQE on q's ring (submitting what is queued when it is full). */
struct io_uring_sqe *ublk_queue_sqe(struct ublk_queue *q);

/* user_data of the queue's own SQEs: bit 63, a kind, the tag for I/O. */
#define UD_KIND_SHIFT	32
#define UD_IO_CMD	(1ULL << UD_KIND_SHIFT)
#define UD_EVENT	(2ULL << UD_KIND_SHIFT)
#define UD_IDLE		(3ULL << UD_KIND_SHIFT)
#define UD_COPY		(4ULL << UD_KIND_SHIFT)
#define UD_WAKE		(5ULL << UD_KIND_SHIFT)
#define UD_BATCH	(6ULL << UD_KIND_SHIFT)
#define UD_KIND_MASK	(0xffULL << UD_KIND_SHIFT)

#endif
