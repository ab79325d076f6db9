// SPDX-License-Identifier: MIT
#include <errno.h>
#include <string.h>
#include <time.h>
#include "device.h"
#include "log.h"
#include "snapshot.h"
#include "tools/common/snapshot_table.h"

#define SNAPSHOT_ID_MAX	128

static const char *engine_error(int ret)
{
	const char *msg = qcow_strerror();

	return msg && *msg ? msg : strerror(-ret);
}

static long ms_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t0->tv_sec) * 1000L +
	       (now.tv_nsec - t0->tv_nsec) / 1000000L;
}

/*
 * qemu-img deletes by name only: the first snapshot of that name.  Other
 * formats go to the engine as they are, for its reason.
 */
static int snapshot_find(struct ublk_dev *dev, const char *name,
			 char *id, size_t id_len, char *err, size_t err_len)
{
	struct qcow_info info;
	unsigned int i;

	snprintf(id, id_len, "%s", name);
	if (qcow_format(dev->img) != QCOW_FMT_QCOW2 ||
	    qcow_get_info(dev->img, &info) < 0)
		return 0;
	for (i = 0; i < info.nb_snapshots; i++)
		if (!strcmp(info.snapshots[i].name, name)) {
			snprintf(id, id_len, "%s", info.snapshots[i].id);
			return 0;
		}
	snprintf(err, err_len, "%s: snapshot '%s' not found",
		 dev->opts.image, name);
	return -ENOENT;
}

/* Under the pause: the engine's call, which writes back what is dirty. */
static int snapshot_run(struct ublk_dev *dev, bool create, const char *name,
			char *id, size_t id_len)
{
	/* as qemu-img snapshot -c records them: now, clock 0, icount 0 */
	struct qcow_snapshot_create_opts o = { .name = name, .icount = 0 };

	if (create)
		return qcow_snapshot_create(dev->img, &o, id, id_len);
	return qcow_snapshot_delete(dev->img, id);
}

static int pause_error(struct ublk_dev *dev, int ret, char *err,
		       size_t err_len)
{
	if (ret == -ETIMEDOUT)
		snprintf(err, err_len, "device %u: the requests in flight did "
			 "not finish within %u s", dev->info.dev_id,
			 SNAPSHOT_DRAIN_MS / 1000);
	else
		snprintf(err, err_len, "device %u is stopping",
			 dev->info.dev_id);
	return ret;
}

/*
 * The device's I/O pauses around the engine's call: what was written
 * before is in the snapshot (durable once the call returns), what comes
 * after is not.
 */
static int snapshot_change(struct ublk_dev *dev, bool create,
			   const char *name, char *err, size_t err_len)
{
	const char *what = create ? "created" : "deleted";
	char id[SNAPSHOT_ID_MAX] = "";
	struct timespec t0;
	int ret;

	if (dev->opts.read_only) {
		snprintf(err, err_len, "device %u serves %s read-only: its "
			 "snapshots cannot change", dev->info.dev_id,
			 dev->opts.image);
		return -EROFS;
	}
	if (!*name) {
		snprintf(err, err_len, "a snapshot name is needed");
		return -EINVAL;
	}
	if (!create) {
		ret = snapshot_find(dev, name, id, sizeof(id), err, err_len);
		if (ret < 0)
			return ret;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = ublk_dev_quiesce(dev, SNAPSHOT_DRAIN_MS);
	if (ret < 0)
		return pause_error(dev, ret, err, err_len);
	ret = snapshot_run(dev, create, name, id, sizeof(id));
	ublk_dev_resume(dev);
	if (ret < 0) {
		snprintf(err, err_len, "%s", engine_error(ret));
		ublk_err("device %u: snapshot '%s' not %s: %s (I/O paused "
			 "for %ld ms)", dev->info.dev_id, name, what, err,
			 ms_since(&t0));
		return ret;
	}
	ublk_err("device %u: snapshot '%s'%s%s %s, I/O paused for %ld ms",
		 dev->info.dev_id, name, *id ? " ID " : "", id, what,
		 ms_since(&t0));
	return 0;
}

/* Only the main thread changes the table: no pause needed to read it. */
static int snapshot_list(struct ublk_dev *dev, FILE *out, char *err,
			 size_t err_len)
{
	struct qcow_info info;
	int ret;

	ret = qcow_get_info(dev->img, &info);
	if (ret < 0) {
		snprintf(err, err_len, "%s", engine_error(ret));
		return ret;
	}
	snapshot_table_print(out, &info);
	return 0;
}

int dev_control(void *arg, const char *verb, const char *param, FILE *out,
		char *err, size_t err_len)
{
	struct ublk_dev *dev = arg;

	if (!strcmp(verb, CTL_SNAPSHOT_LIST))
		return snapshot_list(dev, out, err, err_len);
	if (!strcmp(verb, CTL_SNAPSHOT_CREATE))
		return snapshot_change(dev, true, param, err, err_len);
	if (!strcmp(verb, CTL_SNAPSHOT_DELETE))
		return snapshot_change(dev, false, param, err, err_len);
	snprintf(err, err_len, "unknown request '%s'", verb);
	return -EINVAL;
}
