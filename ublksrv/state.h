/* SPDX-License-Identifier: MIT */
/*
 * What the kernel does not keep about a device we serve: the image and
 * how it was opened.  One JSON file per device in the run directory
 * ($UBLK_QCOW_RUN_DIR, default /run/ublk-qcow), read by list and recover.
 */
#ifndef UBLKSRV_STATE_H
#define UBLKSRV_STATE_H

#include <limits.h>
#include <stdbool.h>
#include "affinity.h"
#include "name.h"
#include "qcow.h"

#define UBLK_RUN_DIR_DEFAULT	"/run/ublk-qcow"

/* The longest snapshot ID or name a device records (add refuses more). */
#define RUN_STATE_SNAPSHOT_MAX	1024

struct run_state {
	int dev_id;
	char name[UBLK_NAME_MAX + 1];	/* "": none */
	char image[PATH_MAX];
	bool read_only;
	bool direct;
	enum qcow_format format;	/* QCOW_FMT_NONE: not recorded */
	bool format_probed;
	bool untrusted;
	bool allow_block_devices;
	const char *const *allow_dirs;	/* saved only; run_state_allow_dirs */
	/* save: the snapshot served (NULL: none); load: in snapshot_buf */
	const char *snapshot;
	char snapshot_buf[RUN_STATE_SNAPSHOT_MAX];
	/* the backend add asked for; the one the image's cipher uses */
	enum qcow_crypto_backend crypto_backend;
	enum qcow_crypto_backend crypto_used;	/* AUTO: not encrypted */
	/* save: QEMU's cache options (NULL: none); load: in cache_opts_buf */
	const char *cache_opts;
	char cache_opts_buf[512];
	unsigned int nr_queues;
	unsigned int depth;
	enum ublk_affinity affinity;
	int pid;
	int *tids;		/* saved only: the queue threads' ids */
	/* saved only: the image's bitmaps (run_state_bitmaps reads them) */
	const struct qcow_bitmap_info *bitmaps;
	int nr_bitmaps;
};

const char *run_dir(void);
/* The daemon's log: its stderr once detached. */
void run_log_path(int dev_id, char *buf, size_t len);
int run_state_save(const struct run_state *st);
int run_state_load(int dev_id, struct run_state *st);
/* The thread ids of device dev_id's queues (at most max); how many. */
int run_state_queue_tids(int dev_id, int *tids, int max);
/*
 * The folders an untrusted image's files must be in: a NULL-terminated
 * array (free with run_state_free_dirs()), or NULL when none.
 */
char **run_state_allow_dirs(int dev_id);
void run_state_free_dirs(char **dirs);
/*
 * The bitmaps recorded for dev_id: a JSON array of {"name", "enabled",
 * "granularity", "dirty-bytes", "in-use"[, "broken"]} (json_object_put()
 * it), or
 * NULL when none were recorded.
 */
struct json_object *run_state_bitmaps(int dev_id);
/* A live daemon serving image (the same file); 0 when found. */
int run_state_find_image(const char *image, struct run_state *st);
/* Removes the file if pid wrote it (pid 0: in any case). */
void run_state_remove(int dev_id, int pid);

/* pid names a running process (not a zombie waiting to be reaped). */
bool pid_alive(int pid);

#endif
