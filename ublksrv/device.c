// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "control.h"
#include "device.h"
#include "log.h"
#include "name.h"
#include "queue.h"
#include "scheduler.h"
#include "state.h"
#include "target.h"
#include "ublk_abi.h"

#define RETRY_MS	10000	/* waiting for a dead daemon's files to go */

/* Queue threads inherit them blocked. */
void ublk_dev_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGUSR1);
}

/* Blocks the signals the main thread waits for (before any thread). */
static void dev_init(struct ublk_dev *dev, const struct ublk_dev_opts *opts)
{
	sigset_t set;

	memset(dev, 0, sizeof(*dev));
	dev->opts = *opts;
	dev->cdev_fd = -1;
	dev->ctl_fd = -1;
	pthread_mutex_init(&dev->pause.lock, NULL);
	pthread_cond_init(&dev->pause.cond, NULL);
	dev->ctrl.fd = -1;
	dev->main_thread = pthread_self();
	ublk_dev_signals(&set);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* The engine's reason; a lock held elsewhere is said so in any case. */
static void dev_open_error(struct ublk_dev *dev, int err)
{
	const char *msg = qcow_strerror();

	if (err == -EBUSY && (!msg || !strstr(msg, "busy")))
		ublk_err("%s: image is busy (in use by another process)",
			 dev->opts.image);
	else
		ublk_err("%s", msg && *msg ? msg : strerror(-err));
}

/* busy_tries: attempts 10 ms apart while another process holds the lock */
static int open_busy_retry(struct ublk_dev *dev,
			   const struct qcow_open_opts *o,
			   unsigned int busy_tries)
{
	int ret;

	while ((ret = qcow_open(&dev->img, dev->opts.image, o)) == -EBUSY &&
	       busy_tries-- > 1)
		usleep(10000);
	return ret;
}

static int dev_open_image(struct ublk_dev *dev, unsigned int busy_tries)
{
	struct qcow_open_opts o = {
		.read_only = dev->opts.read_only,
		.direct = dev->opts.direct,
		.format = dev->opts.format,
		.format_probed = dev->opts.format_probed,
		.untrusted = dev->opts.untrusted,
		.allow_dirs = dev->opts.allow_dirs,
		.allow_block_devices = dev->opts.allow_block_devices,
		.key = dev->opts.key,
		.key_len = dev->opts.key_len,
		.backing_keys = &dev->opts.backing_key,
		.nr_backing_keys = dev->opts.backing_key.data ? 1 : 0,
		.crypto_backend = dev->opts.crypto_backend,
	};

	if (ublk_cache_opts(&o, dev->opts.cache_opts) < 0)
		return -EINVAL;
	dev->clean_interval = qcow_cache_clean_interval(&o);
	clock_gettime(CLOCK_MONOTONIC, &dev->cleaned_at);
	const struct qcow_bitmap_info *bitmaps;
	struct qcow_info info;
	int ret;

	o.snapshot_id = dev->opts.snapshot;
	ret = open_busy_retry(dev, &o, busy_tries);
	if (ret == -ENOENT && dev->opts.snapshot) {
		/* as qemu-nbd -l: an ID first, then a name */
		o.snapshot_id = NULL;
		o.snapshot_name = dev->opts.snapshot;
		ret = open_busy_retry(dev, &o, busy_tries);
	}
	if (ret < 0) {
		dev_open_error(dev, ret);
		return ret;
	}
	/* recorded: recover opens it so again, without probing */
	dev->opts.format = qcow_format(dev->img);
	dev->opts.format_probed = qcow_format_probed(dev->img);
	if (!o.format && !o.read_only && dev->opts.format == QCOW_FMT_RAW)
		ublk_err("warning: %s: format not given, probed as raw: a "
			 "write that would make its first sector another "
			 "format's header is refused (give -F raw to allow "
			 "it)", dev->opts.image);
	if (qcow_get_info(dev->img, &info) < 0)
		memset(&info, 0, sizeof(info));
	dev->opts.crypto_used = info.crypto_backend;
	if (!dev->opts.read_only && info.corrupt) {
		ublk_err("%s is marked corrupt: serving it read-only",
			 dev->opts.image);
		dev->opts.read_only = true;
	}
	dev->has_bitmaps = qcow_bitmap_list(dev->img, &bitmaps) > 0;
	return 0;
}

static uint64_t dev_recovery_flags(const struct ublk_ctrl *c)
{
	uint64_t both = UBLK_F_USER_RECOVERY | UBLK_F_USER_RECOVERY_REISSUE;

	if ((c->features & both) == both)
		return both;
	return c->features & UBLK_F_USER_RECOVERY;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/*
 * The kernel checks every command about an unprivileged device against
 * its /dev/ublkcN, which is root's until udev gives it to its owner.
 */
static int dev_wait_cdev_access(struct ublk_dev *dev)
{
	unsigned int waited = 0;
	char path[64];

	if (dev->ctrl.path_dev < 0)
		return 0;
	snprintf(path, sizeof(path), UBLK_CDEV_FMT, dev->info.dev_id);
	while (access(path, R_OK | W_OK) < 0) {
		if ((errno != ENOENT && errno != EACCES) ||
		    waited >= RETRY_MS) {
			ublk_errno(-errno, "%s did not become ours (the udev "
				   "rules of udev/90-ublk-qcow.rules give it "
				   "to its owner)", path);
			return -errno;
		}
		sleep_ms(20);
		waited += 20;
	}
	return 0;
}

static int dev_add(struct ublk_dev *dev)
{
	struct ublksrv_ctrl_dev_info *info = &dev->info;
	int ret;

	info->nr_hw_queues = dev->opts.nr_queues;
	info->queue_depth = dev->opts.depth;
	info->max_io_buf_bytes = UBLK_MAX_IO_BYTES;
	info->dev_id = dev->opts.dev_id < 0 ? UBLK_DEV_ID_AUTO :
		       (uint32_t)dev->opts.dev_id;
	info->flags = dev_recovery_flags(&dev->ctrl);
	if (dev->opts.user_copy)
		info->flags |= UBLK_F_USER_COPY;
	/* copies still happen: compressed data, merges */
	if (dev->opts.zero_copy > 0)
		info->flags |= UBLK_ZERO_COPY_FLAGS;
	if (dev->opts.batch_io > 0)
		info->flags |= UBLK_F_BATCH_IO;
	ret = ublk_ctrl_add_dev(&dev->ctrl, info);
	if (ret < 0) {
		if (ret == -EEXIST)
			ublk_err("device id %d is taken", dev->opts.dev_id);
		else
			ublk_errno(ret, "ADD_DEV");
		return ret;
	}
	dev->added = true;
	ret = dev_wait_cdev_access(dev);
	if (ret < 0)
		return ret;
	if (dev->opts.user_copy && !(info->flags & UBLK_F_USER_COPY)) {
		ublk_err("the kernel did not grant user copy "
			 "(UBLK_F_USER_COPY)");
		return -EOPNOTSUPP;
	}
	if (dev->opts.zero_copy > 0 &&
	    (info->flags & UBLK_ZERO_COPY_FLAGS) != UBLK_ZERO_COPY_FLAGS) {
		ublk_err("the kernel did not grant zero copy "
			 "(UBLK_F_AUTO_BUF_REG with UBLK_F_USER_COPY)");
		return -EOPNOTSUPP;
	}
	if (dev->opts.batch_io > 0 && !(info->flags & UBLK_F_BATCH_IO)) {
		ublk_err("the kernel did not grant batched I/O commands "
			 "(UBLK_F_BATCH_IO)");
		return -EOPNOTSUPP;
	}
	if (info->nr_hw_queues != dev->opts.nr_queues)
		ublk_err("the kernel gave %u queues, not %u",
			 info->nr_hw_queues, dev->opts.nr_queues);
	dev->opts.nr_queues = info->nr_hw_queues;
	return 0;
}

static int dev_set_params(struct ublk_dev *dev)
{
	struct ublk_params p;
	int ret;

	ret = ublk_params_build(&p, dev->img, &dev->opts,
				dev->info.max_io_buf_bytes);
	if (ret < 0) {
		ublk_errno(ret, "%s: no usable device parameters",
			   dev->opts.image);
		return ret;
	}
	ret = ublk_ctrl_set_params(&dev->ctrl, dev->info.dev_id, &p);
	if (ret < 0)
		ublk_errno(ret, "SET_PARAMS");
	return ret;
}

/* The char device opens once at a time: a dead daemon's may linger. */
static int dev_open_cdev(struct ublk_dev *dev)
{
	char path[64];
	unsigned int waited = 0;

	snprintf(path, sizeof(path), UBLK_CDEV_FMT, dev->info.dev_id);
	for (;;) {
		dev->cdev_fd = open(path, O_RDWR | O_CLOEXEC);
		if (dev->cdev_fd >= 0)
			break;
		if ((errno != EBUSY && errno != ENOENT) || waited >= RETRY_MS) {
			ublk_errno(-errno, "cannot open %s", path);
			return -errno;
		}
		sleep_ms(20);
		waited += 20;
	}
	if (dev->info.flags & UBLK_F_CMD_IOCTL_ENCODE) {
		dev->fetch_op = UBLK_IO_IOWR(UBLK_IO_FETCH_REQ);
		dev->commit_op = UBLK_IO_IOWR(UBLK_IO_COMMIT_AND_FETCH_REQ);
	} else {
		dev->fetch_op = UBLK_IO_FETCH_REQ;
		dev->commit_op = UBLK_IO_COMMIT_AND_FETCH_REQ;
	}
	return 0;
}

static int dev_start_queues(struct ublk_dev *dev)
{
	unsigned int i;
	int ret;

	dev->queues = calloc(dev->info.nr_hw_queues, sizeof(*dev->queues));
	if (!dev->queues)
		return -ENOMEM;
	for (i = 0; i < dev->info.nr_hw_queues; i++) {
		ret = ublk_queue_start(dev, i, &dev->queues[i]);
		if (ret < 0) {
			ublk_errno(ret, "queue %u", i);
			return ret;
		}
	}
	return 0;
}

int ublk_cache_opts(struct qcow_open_opts *o, const char *s)
{
	char buf[UBLK_CACHE_OPTS_MAX], *key, *val, *save = NULL;

	if (!s)
		return 0;
	snprintf(buf, sizeof(buf), "%s", s);
	for (key = strtok_r(buf, ",", &save); key;
	     key = strtok_r(NULL, ",", &save)) {
		val = strchr(key, '=');
		if (val)
			*val++ = 0;
		if (!val || qcow_cache_opt(o, key, val) < 0) {
			ublk_err("%s", val ? qcow_strerror() : "no value");
			return -1;
		}
	}
	return 0;
}

static int dev_save_state(struct ublk_dev *dev)
{
	struct run_state st = {
		.dev_id = dev->info.dev_id,
		.read_only = dev->opts.read_only,
		.direct = dev->opts.direct,
		.format = dev->opts.format,
		.format_probed = dev->opts.format_probed,
		.untrusted = dev->opts.untrusted,
		.allow_dirs = dev->opts.allow_dirs,
		.allow_block_devices = dev->opts.allow_block_devices,
		.snapshot = dev->opts.snapshot,
		.crypto_backend = dev->opts.crypto_backend,
		.crypto_used = dev->opts.crypto_used,
		.cache_opts = dev->opts.cache_opts,
		.nr_queues = dev->info.nr_hw_queues,
		.depth = dev->info.queue_depth,
		.affinity = dev->opts.affinity,
		.pid = getpid(),
	};
	unsigned int i;
	int ret;

	if (dev->opts.name)
		snprintf(st.name, sizeof(st.name), "%s", dev->opts.name);
	if (!realpath(dev->opts.image, st.image))
		snprintf(st.image, sizeof(st.image), "%s", dev->opts.image);
	st.tids = calloc(st.nr_queues, sizeof(*st.tids));
	for (i = 0; st.tids && i < st.nr_queues; i++)
		st.tids[i] = dev->queues[i]->tid;
	if (dev->has_bitmaps)
		st.nr_bitmaps = qcow_bitmap_list(dev->img, &st.bitmaps);
	if (st.nr_bitmaps < 0) {
		ublk_err("%s: cannot list the bitmaps: %s", dev->opts.image,
			 qcow_strerror());
		st.nr_bitmaps = 0;
	}
	clock_gettime(CLOCK_MONOTONIC, &dev->bitmaps_saved);
	ret = run_state_save(&st);
	free(st.tids);
	return ret;
}

static long ms_between(const struct timespec *a, const struct timespec *b)
{
	return (b->tv_sec - a->tv_sec) * 1000L +
	       (b->tv_nsec - a->tv_nsec) / 1000000L;
}

/*
 * The queue threads only flag it: writing the record is the main
 * thread's, so that no file I/O runs on the I/O path.
 */
void ublk_dev_flushed(struct ublk_dev *dev)
{
	if (dev->has_bitmaps && !atomic_exchange(&dev->bitmaps_stale, true))
		pthread_kill(dev->main_thread, SIGUSR1);
}

long ublk_dev_save_bitmaps(struct ublk_dev *dev)
{
	struct timespec now;
	long ms;

	if (!dev->serving || dev->destroyed ||
	    !atomic_load(&dev->bitmaps_stale))
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = ms_between(&dev->bitmaps_saved, &now);
	if (ms >= 0 && ms < UBLK_BITMAPS_SAVE_MS)
		return UBLK_BITMAPS_SAVE_MS - ms;
	atomic_store(&dev->bitmaps_stale, false);
	dev_save_state(dev);
	return -1;
}

/*
 * Opens /dev/ublkcN, starts the queue threads, then hands the device to
 * them with go (START_DEV, or END_USER_RECOVERY for a recovered one).
 */
static int dev_go_live(struct ublk_dev *dev,
		       int (*go)(struct ublk_ctrl *c, uint32_t dev_id,
				 int pid),
		       const char *what)
{
	int ret;

	ret = dev_open_cdev(dev);
	if (ret < 0)
		return ret;
	ret = dev_start_queues(dev);
	if (ret < 0)
		return ret;
	ret = go(&dev->ctrl, dev->info.dev_id, getpid());
	if (ret < 0) {
		ublk_errno(ret, "%s", what);
		return ret;
	}
	dev->info.ublksrv_pid = getpid();
	dev->serving = true;
	dev_save_state(dev);
	if (dev->opts.name)
		name_link(dev->opts.name, dev->info.dev_id);
	/* without it the device is served all the same, with no snapshots */
	dev->ctl_fd = ctl_listen(dev->info.dev_id);
	return 0;
}

/* Refused before anything is made when the kernel cannot do it. */
static int dev_check_features(struct ublk_dev *dev)
{
	uint64_t zc = UBLK_ZERO_COPY_FLAGS;

	if (geteuid() != 0 && !ublk_ctrl_unprivileged(&dev->ctrl)) {
		ublk_err("only root can add devices: this kernel does not "
			 "offer unprivileged ones (UBLK_F_UNPRIVILEGED_DEV)");
		return -EPERM;
	}
	if (ublk_ctrl_unprivileged(&dev->ctrl)) {
		/* the kernel refuses them to unprivileged devices */
		if (dev->opts.user_copy || dev->opts.zero_copy > 0) {
			ublk_err("user copy and zero copy are for root's "
				 "devices only");
			return -EPERM;
		}
		dev->opts.zero_copy = 0;
	}

	if (dev->opts.user_copy && !(dev->ctrl.features & UBLK_F_USER_COPY)) {
		ublk_err("this kernel does not offer user copy "
			 "(UBLK_F_USER_COPY, Linux 6.5 and later)");
		return -EOPNOTSUPP;
	}
	if (dev->opts.zero_copy < 0)
		dev->opts.zero_copy = !dev->opts.user_copy &&
				      (dev->ctrl.features & zc) == zc;
	if (dev->opts.zero_copy > 0 && (dev->ctrl.features & zc) != zc) {
		ublk_err("this kernel does not offer zero copy "
			 "(UBLK_F_AUTO_BUF_REG with UBLK_F_USER_COPY)");
		return -EOPNOTSUPP;
	}
	/* measured faster with zero copy only (docs/ublk.md) */
	if (dev->opts.batch_io < 0)
		dev->opts.batch_io = dev->opts.zero_copy > 0 &&
				     (dev->ctrl.features & UBLK_F_BATCH_IO);
	if (dev->opts.batch_io > 0 &&
	    !(dev->ctrl.features & UBLK_F_BATCH_IO)) {
		ublk_err("this kernel does not offer batched I/O commands "
			 "(UBLK_F_BATCH_IO, Linux 7.0 and later)");
		return -EOPNOTSUPP;
	}
	return 0;
}

int ublk_dev_open(struct ublk_dev *dev, const struct ublk_dev_opts *opts)
{
	int ret;

	dev_init(dev, opts);
	ret = ublk_ctrl_open(&dev->ctrl);
	if (ret < 0)
		return ret;
	ret = dev_check_features(dev);
	if (ret < 0)
		return ret;
	return dev_open_image(dev, 1);
}

/*
 * The scheduler -o scheduler= names, or none: a device it cannot be set
 * on (an unprivileged one, a kernel without the scheduler) fails only
 * when the name was given.  A recovered device keeps the disk and its
 * scheduler.
 */
static int dev_set_scheduler(struct ublk_dev *dev)
{
	const char *name = dev->opts.scheduler;
	int ret;

	if (name && !strcmp(name, UBLK_KEEP_SCHEDULER))
		return 0;
	ret = ublk_set_scheduler(dev->info.dev_id,
				 name ? name : UBLK_DEFAULT_SCHEDULER);
	if (ret < 0 && name) {
		ublk_errno(ret, "/dev/ublkb%u: -o scheduler=%s",
			   dev->info.dev_id, name);
		return ret;
	}
	return 0;
}

int ublk_dev_start(struct ublk_dev *dev)
{
	int ret;

	ret = dev_add(dev);
	if (ret < 0)
		return ret;
	ret = dev_set_params(dev);
	if (ret < 0)
		return ret;
	ret = dev_go_live(dev, ublk_ctrl_start_dev, "START_DEV");
	if (ret < 0)
		return ret;
	return dev_set_scheduler(dev);
}

void ublk_dev_queue_exited(struct ublk_dev *dev)
{
	pthread_mutex_lock(&dev->pause.lock);
	pthread_cond_broadcast(&dev->pause.cond);
	pthread_mutex_unlock(&dev->pause.lock);
	pthread_kill(dev->main_thread, SIGUSR1);
}

static bool dev_queues_exited(struct ublk_dev *dev, bool all)
{
	unsigned int i, n = 0;

	for (i = 0; i < dev->info.nr_hw_queues; i++)
		n += !dev->queues[i] || atomic_load(&dev->queues[i]->exited);
	return all ? n == dev->info.nr_hw_queues : n > 0;
}

bool ublk_dev_pause_asked(struct ublk_dev *dev)
{
	return atomic_load(&dev->pause.asked);
}

void ublk_dev_queue_paused(struct ublk_dev *dev)
{
	struct ublk_pause *p = &dev->pause;
	unsigned int gen;

	pthread_mutex_lock(&p->lock);
	gen = p->gen;
	p->paused++;
	pthread_cond_broadcast(&p->cond);
	while (atomic_load(&p->asked) && p->gen == gen)
		pthread_cond_wait(&p->cond, &p->lock);
	pthread_mutex_unlock(&p->lock);
}

static void dev_wake_queues(struct ublk_dev *dev)
{
	unsigned int i;

	for (i = 0; i < dev->info.nr_hw_queues; i++)
		if (dev->queues[i])
			ublk_queue_wake(dev->queues[i]);
}

static void deadline_after(struct timespec *ts, unsigned int ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* Under the pause lock: every queue waits (0), or one ended. */
static int dev_all_paused(struct ublk_dev *dev)
{
	if (dev_queues_exited(dev, false))
		return -ENODEV;
	return dev->pause.paused == dev->info.nr_hw_queues ? 0 : -EAGAIN;
}

int ublk_dev_quiesce(struct ublk_dev *dev, unsigned int timeout_ms)
{
	struct ublk_pause *p = &dev->pause;
	struct timespec deadline;
	int ret;

	if (!dev->serving || dev->stopping || !dev->queues)
		return -ENODEV;
	deadline_after(&deadline, timeout_ms);
	pthread_mutex_lock(&p->lock);
	p->gen++;
	p->paused = 0;
	atomic_store(&p->asked, true);
	pthread_mutex_unlock(&p->lock);
	dev_wake_queues(dev);
	pthread_mutex_lock(&p->lock);
	while ((ret = dev_all_paused(dev)) == -EAGAIN)
		if (pthread_cond_timedwait(&p->cond, &p->lock,
					   &deadline) == ETIMEDOUT) {
			ret = dev_all_paused(dev);
			if (ret == -EAGAIN)
				ret = -ETIMEDOUT;
			break;
		}
	pthread_mutex_unlock(&p->lock);
	if (ret < 0)
		ublk_dev_resume(dev);
	return ret;
}

void ublk_dev_resume(struct ublk_dev *dev)
{
	struct ublk_pause *p = &dev->pause;

	pthread_mutex_lock(&p->lock);
	atomic_store(&p->asked, false);
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	dev_wake_queues(dev);
}

int bdev_flush(uint32_t dev_id)
{
	char path[64];
	int fd, ret = 0;

	snprintf(path, sizeof(path), UBLK_BDEV_FMT, dev_id);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (fsync(fd) < 0) {
		ret = -errno;
		ublk_errno(ret, "fsync %s", path);
	}
	close(fd);
	return ret;
}

/*
 * STOP_DEV ends every queue's fetches with ABORT.  Asked by a signal, the
 * kernel's caches of the device are flushed to us first.
 */
static void dev_stop(struct ublk_dev *dev, bool flush)
{
	int ret;

	if (flush)
		bdev_flush(dev->info.dev_id);
	ret = ublk_ctrl_stop_dev(&dev->ctrl, dev->info.dev_id);
	if (ret < 0)
		ublk_errno(ret, "STOP_DEV");
}

/* A `del` stopped the device: it deletes it too, once we let go. */
static bool dev_stopped_elsewhere(struct ublk_dev *dev)
{
	struct ublksrv_ctrl_dev_info info;

	return ublk_ctrl_get_dev_info(&dev->ctrl, dev->info.dev_id,
				      &info) < 0 ||
	       info.state == UBLK_S_DEV_DEAD;
}

bool ublk_dev_poll(struct ublk_dev *dev)
{
	if (dev_queues_exited(dev, true))
		return true;
	if (dev->stopping || !dev_queues_exited(dev, false))
		return false;
	dev->stopping = true;
	if (!dev_stopped_elsewhere(dev)) {
		dev->stopped_here = true;
		dev_stop(dev, false);
	}
	return false;
}

void ublk_dev_shutdown(struct ublk_dev *dev)
{
	if (dev->stopping)
		return;
	dev->stopping = true;
	dev->stopped_here = true;
	dev_stop(dev, true);
}

static void dev_join_queues(struct ublk_dev *dev)
{
	unsigned int i;

	if (!dev->queues)
		return;
	for (i = 0; i < dev->info.nr_hw_queues; i++)
		ublk_queue_join(dev->queues[i]);
	free(dev->queues);
	dev->queues = NULL;
}

static void dev_delete(struct ublk_dev *dev)
{
	int ret = ublk_ctrl_del_dev(&dev->ctrl, dev->info.dev_id);

	if (ret < 0 && ret != -ENODEV)
		ublk_errno(ret, "DEL_DEV");
}

/*
 * Only after the queues drained.  qcow_close() stores the bitmaps with in
 * use cleared too, but says nothing when that fails; storing them first
 * leaves the reason in the log (they then stay in use, as after a crash).
 */
static void dev_close_image(struct ublk_dev *dev)
{
	if (dev->img && dev->has_bitmaps && !dev->opts.read_only &&
	    qcow_bitmaps_store(dev->img) < 0)
		ublk_err("%s: the bitmaps were not stored: %s",
			 dev->opts.image, qcow_strerror());
	qcow_close(dev->img);
	dev->img = NULL;
}

/*
 * The image is closed (flushed, marked clean) before the char device:
 * DEL_DEV waits for that, so `del` returns with the image clean.
 */
void ublk_dev_destroy(struct ublk_dev *dev)
{
	bool del;

	if (dev->destroyed)
		return;
	dev->destroyed = true;
	ctl_unlisten(dev->info.dev_id, dev->ctl_fd);
	dev->ctl_fd = -1;
	if (dev->queues && !dev->serving && !dev->added) {
		/* a failed recovery: the device stays for another try */
		ublk_err("device %u is left for another recovery",
			 dev->info.dev_id);
		exit(1);
	}
	if (dev->queues && !dev_queues_exited(dev, true)) {
		dev_stop(dev, false);
		dev->stopped_here = true;
	}
	del = dev->stopped_here || (!dev->serving && dev->added);
	dev_join_queues(dev);
	dev_close_image(dev);
	if (dev->serving && dev->opts.name)
		name_unlink(dev->opts.name, dev->info.dev_id);
	if (dev->serving)
		run_state_remove(dev->info.dev_id, getpid());
	if (dev->cdev_fd >= 0)
		close(dev->cdev_fd);
	dev->cdev_fd = -1;
	if (del)
		dev_delete(dev);
	ublk_ctrl_close(&dev->ctrl);
}

/*
 * Taking over a device whose daemon died (UBLK_F_USER_RECOVERY): the
 * kernel kept the device and queued its requests; START_USER_RECOVERY,
 * new fetches from new queue threads, END_USER_RECOVERY, and the requests
 * that were in flight are issued again.
 */

/* The device must be recoverable and nobody may be serving it. */
static int dev_check_recoverable(struct ublk_dev *dev)
{
	uint32_t id = dev->opts.dev_id;
	int ret;

	ret = ublk_ctrl_get_dev_info(&dev->ctrl, id, &dev->info);
	if (ret < 0) {
		if (ret == -ENODEV)
			ublk_err("no ublk device %u", id);
		else
			ublk_errno(ret, "GET_DEV_INFO %u", id);
		return ret;
	}
	if (!(dev->info.flags & UBLK_F_USER_RECOVERY)) {
		ublk_err("device %u was added without user recovery", id);
		return -EOPNOTSUPP;
	}
	if (pid_alive(dev->info.ublksrv_pid)) {
		ublk_err("device %u is served by pid %d", id,
			 dev->info.ublksrv_pid);
		return -EBUSY;
	}
	return 0;
}

/* How the device was set up decides how the image is opened again. */
static int dev_load_params(struct ublk_dev *dev, struct ublk_params *old)
{
	int ret;

	ret = ublk_ctrl_get_params(&dev->ctrl, dev->info.dev_id, old);
	if (ret < 0) {
		ublk_errno(ret, "GET_PARAMS");
		return ret;
	}
	dev->opts.read_only = old->basic.attrs & UBLK_ATTR_READ_ONLY;
	dev->opts.direct = old->basic.logical_bs_shift > 9;
	dev->opts.zero_copy = !!(dev->info.flags & UBLK_F_AUTO_BUF_REG);
	dev->opts.user_copy = (dev->info.flags & UBLK_F_USER_COPY) &&
			      !dev->opts.zero_copy;
	dev->opts.batch_io = !!(dev->info.flags & UBLK_F_BATCH_IO);
	return 0;
}

/* The image must give the device the size it had. */
static int dev_check_size(struct ublk_dev *dev, const struct ublk_params *old)
{
	struct ublk_params p;
	int ret;

	ret = ublk_params_build(&p, dev->img, &dev->opts,
				dev->info.max_io_buf_bytes);
	if (ret < 0)
		return ret;
	if (p.basic.dev_sectors != old->basic.dev_sectors) {
		ublk_err("%s has %llu sectors, the device %llu",
			 dev->opts.image,
			 (unsigned long long)p.basic.dev_sectors,
			 (unsigned long long)old->basic.dev_sectors);
		return -EINVAL;
	}
	return 0;
}

/* -EBUSY until the old daemon's files are released and it is quiesced. */
static int dev_start_recovery(struct ublk_dev *dev)
{
	unsigned int waited = 0;
	int ret;

	for (;;) {
		ret = ublk_ctrl_start_recovery(&dev->ctrl, dev->info.dev_id);
		if (ret != -EBUSY || waited >= RETRY_MS)
			break;
		sleep_ms(50);
		waited += 50;
	}
	if (ret < 0)
		ublk_errno(ret, "START_USER_RECOVERY");
	return ret;
}

int ublk_dev_recover(struct ublk_dev *dev, const struct ublk_dev_opts *opts)
{
	struct ublk_params old;
	int ret;

	dev_init(dev, opts);
	ret = ublk_ctrl_open(&dev->ctrl);
	if (ret < 0)
		return ret;
	ret = dev_check_recoverable(dev);
	if (ret < 0)
		return ret;
	ret = dev_load_params(dev, &old);
	if (ret < 0)
		return ret;
	/* the killed daemon's requests in flight keep its locks a moment */
	ret = dev_open_image(dev, 100);
	if (ret < 0)
		return ret;
	ret = dev_check_size(dev, &old);
	if (ret < 0)
		return ret;
	ret = dev_start_recovery(dev);
	if (ret < 0)
		return ret;
	return dev_go_live(dev, ublk_ctrl_end_recovery, "END_USER_RECOVERY");
}
