// SPDX-License-Identifier: MIT
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include "batch.h"
#include "ctrl.h"
#include "device.h"
#include "log.h"
#include "queue.h"
#include "target.h"

#define IDLE_TICK_SEC	1

static uint64_t io_user_data(const struct ublk_io *io)
{
	return QCOW_USER_DATA_FOREIGN | UD_IO_CMD | io->tag;
}

static size_t desc_area_size(unsigned int depth)
{
	size_t page = sysconf(_SC_PAGESIZE);
	size_t len = depth * sizeof(struct ublksrv_io_desc);

	return (len + page - 1) / page * page;
}

/* Where queue q_id's descriptors are in the char device's mmap space. */
static off_t desc_area_offset(uint16_t q_id)
{
	return UBLK_CMD_BUF_OFFSET +
	       (off_t)q_id * desc_area_size(UBLK_MAX_QUEUE_DEPTH);
}

static int queue_map(struct ublk_queue *q)
{
	void *p;
	int i;

	q->descs_len = desc_area_size(q->depth);
	p = mmap(NULL, q->descs_len, PROT_READ, MAP_SHARED | MAP_POPULATE,
		 q->dev->cdev_fd, desc_area_offset(q->q_id));
	if (p == MAP_FAILED)
		return -errno;
	q->descs = p;
	for (i = 0; i < q->depth; i++) {
		q->ios[i].q = q;
		q->ios[i].tag = i;
		q->ios[i].fx = (struct qcow_fixed){
			.index = i,
			.copy_fd = q->dev->cdev_fd,
			.copy_off = UBLK_USER_COPY_POS(q->q_id, i),
		};
	}
	if (q->zero_copy)
		return 0;
	q->bufs_len = (size_t)q->depth * q->buf_size;
	p = mmap(NULL, q->bufs_len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	q->bufs = p;
	for (i = 0; i < q->depth; i++)
		q->ios[i].buf = q->bufs + (size_t)i * q->buf_size;
	return 0;
}

struct io_uring_sqe *ublk_queue_sqe(struct ublk_queue *q)
{
	struct io_uring_sqe *sqe = uring_get_sqe(&q->ring);

	if (!sqe) {
		ublk_err("queue %u: no SQE available", q->q_id);
		abort();
	}
	return sqe;
}

/*
 * The idle timer of a queue: a queue that handed the engine no request
 * for a second starts a background write-back of dirty metadata, so that
 * little is left for the next FLUSH (or lost if the daemon dies).
 */
static void idle_arm(struct ublk_queue *q)
{
	struct io_uring_sqe *sqe = ublk_queue_sqe(q);

	q->idle_ts.tv_sec = IDLE_TICK_SEC;
	q->idle_ts.tv_nsec = 0;
	io_uring_prep_timeout(sqe, &q->idle_ts, 0, 0);
	io_uring_sqe_set_data64(sqe, QCOW_USER_DATA_FOREIGN | UD_IDLE);
}

/* cache-clean-interval: queue 0 drops the entries unused since its last. */
static void cache_clean_tick(struct ublk_queue *q)
{
	struct ublk_dev *dev = q->dev;
	struct timespec now;

	if (q->q_id || !dev->clean_interval)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (now.tv_sec - dev->cleaned_at.tv_sec < (time_t)dev->clean_interval)
		return;
	dev->cleaned_at = now;
	qcow_cache_clean(dev->img);
}

/* The timeout's completion: maybe a write-back, and the next tick. */
static void idle_tick(struct ublk_queue *q, int res)
{
	if (res != -ETIME) {
		if (res != -ECANCELED)
			ublk_errno(res, "queue %u: idle timer", q->q_id);
		return;
	}
	if (!q->nr_live)
		return;		/* stopping */
	if (q->served == q->served_at_tick && !q->pausing)
		qcow_writeback(q->qctx, q->dev->img);
	cache_clean_tick(q);
	q->served_at_tick = q->served;
	idle_arm(q);
}

static uint64_t io_cmd_addr(const struct ublk_io *io)
{
	if (io->q->user_copy || io->q->zero_copy)
		return 0;
	return (uint64_t)(uintptr_t)io->buf;
}

static void queue_io_cmd(struct ublk_io *io, uint32_t op, int result)
{
	struct ublk_queue *q = io->q;
	struct ublksrv_io_cmd cmd = {
		.q_id = q->q_id,
		.tag = io->tag,
		.result = result,
		.addr = io_cmd_addr(io),
	};

	struct io_uring_sqe *sqe = ublk_queue_sqe(q);

	uring_prep_cmd(sqe, false, q->dev->cdev_fd, op, &cmd, sizeof(cmd),
		       io_user_data(io));
	if (q->zero_copy)
		sqe->addr = UBLK_AUTO_BUF_REG_ADDR(io->fx.index);
}

void ublk_queue_commit(struct ublk_io *io, int res)
{
	io->q->active--;
	if (io->q->batch)
		batch_commit(io, res);
	else
		queue_io_cmd(io, io->q->dev->commit_op, res);
}

/* The engine's eventfd: other threads queued work for our context. */
static void queue_arm_event(struct ublk_queue *q)
{
	struct io_uring_sqe *sqe;

	if (q->event_fd < 0)
		return;
	sqe = ublk_queue_sqe(q);
	io_uring_prep_poll_add(sqe, q->event_fd, POLLIN);
	io_uring_sqe_set_data64(sqe, QCOW_USER_DATA_FOREIGN | UD_EVENT);
}

static void queue_event(struct ublk_queue *q, int res)
{
	eventfd_t v;

	if (res < 0 && res != -EINTR) {
		if (res != -ECANCELED)
			ublk_errno(res, "queue %u: poll on the engine eventfd",
				   q->q_id);
		return;
	}
	eventfd_read(q->event_fd, &v);	/* non-blocking; drained or not */
	queue_arm_event(q);
}

/* The main thread's wake-up: a pause asked for or ended. */
static void queue_arm_wake(struct ublk_queue *q)
{
	struct io_uring_sqe *sqe = ublk_queue_sqe(q);

	io_uring_prep_poll_add(sqe, q->wake_fd, POLLIN);
	io_uring_sqe_set_data64(sqe, QCOW_USER_DATA_FOREIGN | UD_WAKE);
}

static void queue_wake_event(struct ublk_queue *q, int res)
{
	eventfd_t v;

	if (res < 0 && res != -EINTR) {
		if (res != -ECANCELED)
			ublk_errno(res, "queue %u: poll on the wake eventfd",
				   q->q_id);
		return;
	}
	eventfd_read(q->wake_fd, &v);
	queue_arm_wake(q);
}

void ublk_queue_wake(struct ublk_queue *q)
{
	eventfd_write(q->wake_fd, 1);
}

static void queue_start_io(struct ublk_queue *q, struct ublk_io *io)
{
	q->served++;
	q->active++;
	target_queue_io(q, io, &q->descs[io->tag]);
}

void ublk_queue_tag_ready(struct ublk_queue *q, uint16_t tag)
{
	if (q->pausing)
		q->held[q->nr_held++] = tag;
	else
		queue_start_io(q, &q->ios[tag]);
}

static void queue_io_event(struct ublk_queue *q, uint16_t tag, int res)
{
	struct ublk_io *io = &q->ios[tag];

	if (tag >= q->depth || !io->live) {
		ublk_err("queue %u: completion for unknown tag %u", q->q_id,
			 tag);
		return;
	}
	if (res == UBLK_IO_RES_OK) {
		ublk_queue_tag_ready(q, tag);
		return;
	}
	if (res != UBLK_IO_RES_ABORT)
		ublk_errno(res, "queue %u tag %u: ublk command failed",
			   q->q_id, tag);
	io->live = false;
	q->nr_live--;
}

static void queue_cqe(struct ublk_queue *q, struct io_uring_cqe *cqe)
{
	uint64_t ud = cqe->user_data;

	if (!(ud & QCOW_USER_DATA_FOREIGN)) {
		qcow_ctx_complete(q->qctx, cqe);
		return;
	}
	switch (ud & UD_KIND_MASK) {
	case UD_IO_CMD:
		queue_io_event(q, ud & 0xffff, cqe->res);
		break;
	case UD_EVENT:
		queue_event(q, cqe->res);
		break;
	case UD_IDLE:
		idle_tick(q, cqe->res);
		break;
	case UD_COPY:
		target_copy_done(q, ud & 0xffff, cqe->res);
		break;
	case UD_WAKE:
		queue_wake_event(q, cqe->res);
		break;
	case UD_BATCH:
		batch_cqe(q, cqe);
		break;
	}
}

static void queue_run_deferred(struct ublk_queue *q)
{
	while (qcow_ctx_run_deferred(q->qctx) > 0)
		;
}

static void queue_reap(struct ublk_queue *q)
{
	struct io_uring_cqe *cqe, copy;

	while (io_uring_peek_cqe(&q->ring, &cqe) == 0) {
		copy = *cqe;
		io_uring_cqe_seen(&q->ring, cqe);
		queue_cqe(q, &copy);
	}
	queue_run_deferred(q);
}

/* The requests held during a pause start, in the order they came. */
static void queue_release(struct ublk_queue *q)
{
	unsigned int i, n = q->nr_held;

	q->pausing = false;
	q->nr_held = 0;
	for (i = 0; i < n; i++)
		queue_start_io(q, &q->ios[q->held[i]]);
	queue_run_deferred(q);
}

/*
 * A pause asked for: no request starts any more; once those started
 * have been committed and the engine has no work left on this context,
 * the commits go out and the thread waits for the main thread to resume
 * the device.  Nothing here touches the engine while it waits.
 */
static void queue_pause_step(struct ublk_queue *q)
{
	if (!ublk_dev_pause_asked(q->dev)) {
		if (q->pausing)
			queue_release(q);
		return;
	}
	q->pausing = true;
	if (q->active || qcow_ctx_inflight(q->qctx))
		return;
	if (q->batch)
		batch_flush(q);
	io_uring_submit(&q->ring);
	ublk_dev_queue_paused(q->dev);
	queue_release(q);
}

static bool queue_busy(struct ublk_queue *q)
{
	if (q->batch && (q->active || batch_busy(q)))
		return true;
	return q->nr_live > 0 || qcow_ctx_inflight(q->qctx) > 0;
}

/*
 * A ring that fails leaves requests and engine I/O nobody can finish:
 * the process ends, and the device waits for `recover` (or `del`).
 */
static void queue_loop(struct ublk_queue *q)
{
	int ret;

	while (queue_busy(q)) {
		if (q->batch)
			batch_flush(q);
		ret = io_uring_submit_and_wait(&q->ring, 1);
		if (ret < 0 && ret != -EINTR && ret != -EAGAIN &&
		    ret != -EBUSY) {
			ublk_errno(ret, "queue %u: io_uring_enter", q->q_id);
			_exit(1);
		}
		queue_reap(q);
		queue_pause_step(q);
	}
}

static unsigned int ring_entries(unsigned int depth)
{
	unsigned int n = 32;

	while (n < 2 * depth)
		n <<= 1;
	return n;
}

/* The fetches are issued inline: a refused one has completed already. */
static int queue_check_fetches(struct ublk_queue *q)
{
	struct io_uring_cqe *cqe;
	int ret = 0;

	while (!ret && io_uring_peek_cqe(&q->ring, &cqe) == 0) {
		uint64_t kind = cqe->user_data & UD_KIND_MASK;

		if ((kind == UD_IO_CMD || kind == UD_BATCH) && cqe->res < 0)
			ret = cqe->res;
		else
			queue_cqe(q, cqe);
		io_uring_cqe_seen(&q->ring, cqe);
	}
	return ret;
}

/*
 * Only this thread submits on the ring: task work (the kernel handing us
 * requests) then runs when we enter the kernel anyway, in batches.
 */
static int queue_ring_init(struct ublk_queue *q)
{
	static const unsigned int flags[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
		IORING_SETUP_COOP_TASKRUN,
		0,
	};
	unsigned int i;
	int ret = -EINVAL;

	for (i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		ret = io_uring_queue_init(ring_entries(q->depth), &q->ring,
					  flags[i]);
		if (ret != -EINVAL)
			break;
	}
	return ret;
}

static int queue_setup(struct ublk_queue *q)
{
	int ret, i;

	ret = queue_ring_init(q);
	if (ret < 0)
		return ret;
	q->ring_ready = true;
	/* the table the kernel registers each request's buffer in */
	if (q->zero_copy) {
		ret = io_uring_register_buffers_sparse(&q->ring, q->depth);
		if (ret < 0)
			return ret;
	}
	ret = qcow_ctx_new(&q->qctx, &q->ring);
	if (ret < 0)
		return ret;
	q->event_fd = qcow_ctx_event_fd(q->qctx);
	ret = queue_map(q);
	if (ret < 0)
		return ret;
	queue_arm_event(q);
	queue_arm_wake(q);
	idle_arm(q);
	if (q->dev->info.flags & UBLK_F_BATCH_IO) {
		ret = batch_setup(q);
		if (ret < 0)
			return ret;
	} else {
		for (i = 0; i < q->depth; i++) {
			q->ios[i].live = true;
			q->nr_live++;
			queue_io_cmd(&q->ios[i], q->dev->fetch_op, 0);
		}
	}
	ret = io_uring_submit(&q->ring);
	if (ret < 0)
		return ret;
	return queue_check_fetches(q);
}

static void queue_teardown(struct ublk_queue *q)
{
	if (q->ring_ready)
		io_uring_queue_exit(&q->ring);
	q->ring_ready = false;
	batch_free(q);
	qcow_ctx_free(q->qctx);
	q->qctx = NULL;
	if (q->descs)
		munmap(q->descs, q->descs_len);
	if (q->bufs)
		munmap(q->bufs, q->bufs_len);
	q->descs = NULL;
	q->bufs = NULL;
}

/* Before anything is allocated: the memory then comes from the right node. */
static void queue_pin(struct ublk_queue *q)
{
	int ret;

	q->tid = gettid();
	ret = affinity_apply(q->dev->opts.affinity, &q->cpus);
	if (ret < 0)
		ublk_errno(ret, "queue %u: cannot run on the CPUs -o "
			   "affinity=%s gives it", q->q_id,
			   ublk_affinity_name(q->dev->opts.affinity));
}

static void *queue_thread(void *arg)
{
	struct ublk_queue *q = arg;
	int ret;

	queue_pin(q);
	target_thread_init(q);
	/* Our writes may be what frees memory: no reclaim recursion. */
	prctl(PR_SET_IO_FLUSHER, 1, 0, 0, 0);
	ret = queue_setup(q);
	q->setup_err = ret;
	sem_post(&q->ready);
	if (!ret)
		queue_loop(q);
	queue_teardown(q);
	atomic_store(&q->exited, true);
	if (!ret)
		ublk_dev_queue_exited(q->dev);
	return NULL;
}

static void queue_free(struct ublk_queue *q)
{
	if (q->wake_fd >= 0)
		close(q->wake_fd);
	free(q->held);
	affinity_free(&q->cpus);
	sem_destroy(&q->ready);
	free(q->ios);
	free(q);
}

int ublk_queue_start(struct ublk_dev *dev, uint16_t q_id,
		     struct ublk_queue **out)
{
	struct ublk_queue *q;
	int ret;

	*out = NULL;
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->dev = dev;
	q->q_id = q_id;
	q->depth = dev->info.queue_depth;
	q->buf_size = dev->info.max_io_buf_bytes;
	q->zero_copy = dev->info.flags & UBLK_F_AUTO_BUF_REG;
	q->user_copy = (dev->info.flags & UBLK_F_USER_COPY) && !q->zero_copy;
	q->event_fd = -1;
	q->ios = calloc(q->depth, sizeof(*q->ios));
	q->held = calloc(q->depth, sizeof(*q->held));
	q->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!q->ios || !q->held || q->wake_fd < 0 ||
	    sem_init(&q->ready, 0, 0) < 0) {
		if (q->wake_fd >= 0)
			close(q->wake_fd);
		free(q->held);
		free(q->ios);
		free(q);
		return -ENOMEM;
	}
	ret = affinity_get(&dev->ctrl, dev->info.dev_id, q_id, &q->cpus);
	if (ret < 0)
		ublk_errno(ret, "queue %u: GET_QUEUE_AFFINITY", q_id);
	ret = -pthread_create(&q->thread, NULL, queue_thread, q);
	if (ret < 0)
		goto err;
	while (sem_wait(&q->ready) < 0 && errno == EINTR)
		;
	ret = q->setup_err;
	if (ret < 0) {
		pthread_join(q->thread, NULL);
		goto err;
	}
	*out = q;
	return 0;
err:
	queue_free(q);
	return ret;
}

void ublk_queue_join(struct ublk_queue *q)
{
	if (!q)
		return;
	pthread_join(q->thread, NULL);
	queue_free(q);
}
