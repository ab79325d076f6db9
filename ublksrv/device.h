/* SPDX-License-Identifier: MIT */
/*
 * A ublk device served by this process: created (ADD_DEV, SET_PARAMS,
 * START_DEV) or taken over after a crash (user recovery), then served
 * until it is stopped.
 */
#ifndef UBLKSRV_DEVICE_H
#define UBLKSRV_DEVICE_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include "affinity.h"
#include "ctrl.h"
#include "qcow.h"

#define UBLK_DEFAULT_QUEUES	1
#define UBLK_DEFAULT_DEPTH	128
#define UBLK_MAX_IO_BYTES	(512u << 10)
/* 1 on, 0 off, -1 when offered (and user copy was not asked for) */
#define UBLK_DEFAULT_ZERO_COPY	(-1)
/* the same for UBLK_F_BATCH_IO, and only with zero copy (docs/ublk.md) */
#define UBLK_DEFAULT_BATCH_IO	(-1)

/* The longest "key=value,..." of cache options a device records. */
#define UBLK_CACHE_OPTS_MAX	512

struct ublk_dev_opts {
	const char *image;
	int dev_id;		/* -1: the kernel picks */
	const char *name;	/* NULL: none (name.h) */
	unsigned int nr_queues;
	unsigned int depth;
	bool read_only;
	bool direct;		/* O_DIRECT on the image (4 KiB blocks) */
	bool user_copy;		/* UBLK_F_USER_COPY */
	int zero_copy;		/* UBLK_F_AUTO_BUF_REG: 1, 0, -1 if offered */
	int batch_io;		/* UBLK_F_BATCH_IO: 1, 0, -1 if offered */
	enum ublk_affinity affinity;	/* recorded */
	/* -o scheduler=: NULL for the default (none, where it can be set) */
	const char *scheduler;
	/* QCOW_FMT_NONE: probed; after the open, what the image is */
	enum qcow_format format;
	bool format_probed;	/* recover: format is what add probed */
	/* untrusted images (qcow_open_opts) */
	bool untrusted;
	const char *const *allow_dirs;
	bool allow_block_devices;
	/* an internal snapshot served read-only: its ID, else its name */
	const char *snapshot;
	/* encrypted images: the passphrase (key.c), never recorded */
	const char *key;
	size_t key_len;
	/* and their backing file's (--backing-key-file), never recorded */
	struct qcow_key backing_key;
	/* where their ciphers run (recorded); after the open, the one used */
	enum qcow_crypto_backend crypto_backend;
	enum qcow_crypto_backend crypto_used;	/* AUTO: not encrypted */
	/* QEMU's cache options, "key=value,..." (recorded); NULL: none */
	const char *cache_opts;
};

/* Sets the cache options of s ("key=value,...") in o; -1 and a message. */
int ublk_cache_opts(struct qcow_open_opts *o, const char *s);

struct ublk_queue;

/*
 * A pause of the device's I/O (a snapshot of a live device): the queues
 * finish what they started, hold what comes, and wait.
 */
struct ublk_pause {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	atomic_bool asked;
	unsigned int gen;		/* one per pause */
	unsigned int paused;		/* queues waiting in this pause */
};

struct ublk_dev {
	struct ublk_ctrl ctrl;
	struct ublk_dev_opts opts;
	struct ublksrv_ctrl_dev_info info;
	struct qcow_image *img;
	int cdev_fd;
	uint32_t fetch_op;
	uint32_t commit_op;
	struct ublk_queue **queues;	/* info.nr_hw_queues of them */
	pthread_t main_thread;
	bool added;			/* ADD_DEV succeeded: DEL_DEV on errors */
	bool serving;			/* start or recover succeeded */
	bool stopping;			/* STOP_DEV sent (by anyone) */
	bool stopped_here;		/* we sent STOP_DEV: we send DEL_DEV */
	bool destroyed;
	/*
	 * The image has bitmaps: the run directory's record of them is
	 * rewritten by the main thread after a FLUSH (bitmaps_stale).
	 */
	bool has_bitmaps;
	atomic_bool bitmaps_stale;
	struct timespec bitmaps_saved;	/* CLOCK_MONOTONIC */
	/* cache-clean-interval (0: never), queue 0's last clean */
	unsigned int clean_interval;
	struct timespec cleaned_at;	/* CLOCK_MONOTONIC */
	struct ublk_pause pause;
	int ctl_fd;			/* the control socket, or -1 */
};

/*
 * Creating a device is two steps, so that several images are all opened
 * before any device exists: ublk_dev_open (the control device, the
 * image), then ublk_dev_start (ADD_DEV ... START_DEV).  Both print the
 * reason of a failure; ublk_dev_destroy then removes what was made.
 */
int ublk_dev_open(struct ublk_dev *dev, const struct ublk_dev_opts *opts);
int ublk_dev_start(struct ublk_dev *dev);
int ublk_dev_recover(struct ublk_dev *dev, const struct ublk_dev_opts *opts);

/*
 * The main thread waits for these through a signalfd: SIGUSR1 (a queue
 * thread ended) and the signals that stop serving.
 */
void ublk_dev_signals(sigset_t *set);
/* After SIGUSR1: true once the device is stopped and its queues ended. */
bool ublk_dev_poll(struct ublk_dev *dev);
/* A signal: the kernel's cached writes are flushed, then STOP_DEV. */
void ublk_dev_shutdown(struct ublk_dev *dev);
/* Frees everything (after a failure, or after serving); once. */
void ublk_dev_destroy(struct ublk_dev *dev);

/* A queue thread calls this as it ends. */
void ublk_dev_queue_exited(struct ublk_dev *dev);

/*
 * Pausing the device's I/O, from the main thread: every queue commits
 * the requests it started, its engine work drains, and it waits; requests
 * that come meanwhile wait unstarted.  Returns 0 once all queues wait
 * (the image is then the main thread's until ublk_dev_resume()), or
 * -ETIMEDOUT after timeout_ms, or -ENODEV if a queue ended, resumed then.
 */
int ublk_dev_quiesce(struct ublk_dev *dev, unsigned int timeout_ms);
void ublk_dev_resume(struct ublk_dev *dev);
/* The queue threads: whether a pause is asked; waiting in one. */
bool ublk_dev_pause_asked(struct ublk_dev *dev);
void ublk_dev_queue_paused(struct ublk_dev *dev);

/* A queue thread completed a FLUSH: the bitmaps' record is stale. */
void ublk_dev_flushed(struct ublk_dev *dev);
/*
 * The main thread: rewrites the record of a device whose bitmaps are
 * stale, at most every UBLK_BITMAPS_SAVE_MS; returns the milliseconds
 * until a record still stale is due, or -1 when none is.
 */
#define UBLK_BITMAPS_SAVE_MS	100
long ublk_dev_save_bitmaps(struct ublk_dev *dev);

/*
 * Writes back what the kernel caches for /dev/ublkbN and sends a FLUSH:
 * fsync() on the block device.  Returns 0 or -errno.
 */
int bdev_flush(uint32_t dev_id);

#endif
