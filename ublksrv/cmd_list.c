// SPDX-License-Identifier: MIT
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>
#include "cli.h"
#include "ctrl.h"
#include "device.h"
#include "log.h"
#include "name.h"
#include "queue.h"
#include "state.h"

#define MAX_DEVS	4096
#define UBLK_MAX_QUEUES	4096

struct dev_row {
	int id;
	struct ublksrv_ctrl_dev_info info;
	struct run_state st;
	bool have_state;
	struct json_object *bitmaps;	/* as recorded, or NULL */
};

static void list_usage(FILE *f)
{
	fprintf(f,
"usage: ublk-qcow list [-n ID | --name NAME] [--json]\n"
"       ublk-qcow list -n ID --udev\n"
"  The ublk devices: id, state, image, queues, depth, daemon pid, and\n"
"  under a device its name and the path that leads to it.\n"
"  --udev  KEY=VALUE lines for udev: UBLK_QCOW_UNPRIVILEGED (0 or 1),\n"
"          UBLK_QCOW_OWNER_UID and _GID (who added the device)\n");
}

static int row_load(struct ublk_ctrl *c, int id, struct dev_row *r)
{
	int ret;

	r->id = id;
	ret = ublk_ctrl_get_dev_info(c, id, &r->info);
	if (ret < 0)
		return ret;
	r->have_state = run_state_load(id, &r->st) == 0;
	r->bitmaps = r->have_state ? run_state_bitmaps(id) : NULL;
	return 0;
}

static const char *row_image(const struct dev_row *r)
{
	return r->have_state ? r->st.image : "-";
}

/* 1536 -> "1.5K": the units of qemu-img's human output, short. */
static void human_size(uint64_t v, char *buf, size_t len)
{
	static const char units[] = "BKMGTPE";
	double d = v;
	unsigned int u = 0;

	while (d >= 1024 && u < sizeof(units) - 2) {
		d /= 1024;
		u++;
	}
	if (!u)
		snprintf(buf, len, "%lluB", (unsigned long long)v);
	else
		snprintf(buf, len, "%.3g%c", d, units[u]);
}

static uint64_t json_u64(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) ?
	       json_object_get_uint64(v) : 0;
}

static bool json_true(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) &&
	       json_object_get_boolean(v);
}

/* "bitmaps: b0 (64K, 1.5M dirty), b1 (disabled, 64K, 0B dirty)" */
static void bitmap_print(struct json_object *b, bool first)
{
	struct json_object *name;
	char gran[16], dirty[16];

	human_size(json_u64(b, "granularity"), gran, sizeof(gran));
	human_size(json_u64(b, "dirty-bytes"), dirty, sizeof(dirty));
	json_object_object_get_ex(b, "name", &name);
	printf("%s%s (%s%s, %s dirty)", first ? "" : ", ",
	       json_object_get_string(name),
	       json_true(b, "in-use") ? "in use, " :
	       json_true(b, "enabled") ? "" : "disabled, ", gran, dirty);
}

static void row_print(const struct dev_row *r)
{
	char path[PATH_MAX];
	size_t i, n;

	printf("%-4d %-9s %6u %6u %8d  %s\n", r->id,
	       ublk_state_name(r->info.state), r->info.nr_hw_queues,
	       r->info.queue_depth, r->info.ublksrv_pid, row_image(r));
	if (r->have_state && r->st.name[0]) {
		name_link_path(r->st.name, path, sizeof(path));
		printf("     name: %s (%s)\n", r->st.name, path);
	}
	if (r->have_state && r->st.snapshot)
		printf("     snapshot: %s (read-only)\n", r->st.snapshot);
	printf("     io: %s%s\n",
	       r->info.flags & UBLK_F_AUTO_BUF_REG ? "zero copy" :
	       r->info.flags & UBLK_F_USER_COPY ? "user copy" : "kernel copy",
	       r->info.flags & UBLK_F_BATCH_IO ? ", batched commands" : "");
	if (r->have_state && r->st.crypto_used != QCOW_CRYPTO_AUTO)
		printf("     crypto backend: %s\n",
		       qcow_crypto_backend_name(r->st.crypto_used));
	n = r->bitmaps ? json_object_array_length(r->bitmaps) : 0;
	if (!n)
		return;
	printf("     bitmaps: ");
	for (i = 0; i < n; i++)
		bitmap_print(json_object_array_get_idx(r->bitmaps, i), !i);
	printf("\n");
}

/* Per queue: the CPUs the kernel maps to it and the thread serving it. */
static struct json_object *queues_json(struct ublk_ctrl *c,
				       const struct dev_row *r)
{
	struct json_object *a = json_object_new_array(), *o;
	int tids[UBLK_MAX_QUEUES], nr_tids;
	struct cpu_mask m;
	char cpus[256];
	unsigned int q;

	nr_tids = run_state_queue_tids(r->id, tids, UBLK_MAX_QUEUES);
	for (q = 0; a && q < r->info.nr_hw_queues; q++) {
		o = json_object_new_object();
		json_object_object_add(o, "queue", json_object_new_int(q));
		if (affinity_get(c, r->id, q, &m) == 0) {
			affinity_format(&m, cpus, sizeof(cpus));
			affinity_free(&m);
			json_object_object_add(o, "cpus",
					       json_object_new_string(cpus));
		}
		if ((int)q < nr_tids && r->have_state &&
		    r->st.pid == r->info.ublksrv_pid)
			json_object_object_add(o, "tid",
					       json_object_new_int(tids[q]));
		json_object_array_add(a, o);
	}
	return a;
}

/* The cipher's backend (null: not encrypted), and what add asked for. */
static void crypto_json(struct json_object *o, const struct dev_row *r)
{
	bool used = r->have_state && r->st.crypto_used != QCOW_CRYPTO_AUTO;

	json_object_object_add(o, "crypto-backend", used ?
			       json_object_new_string(qcow_crypto_backend_name(
					r->st.crypto_used)) : NULL);
	json_object_object_add(o, "crypto-backend-option", r->have_state ?
			       json_object_new_string(qcow_crypto_backend_name(
					r->st.crypto_backend)) : NULL);
}

/* "name" and "path" (the link to the device), null without a name. */
static void name_json(struct json_object *o, const struct dev_row *r)
{
	bool named = r->have_state && r->st.name[0];
	char path[PATH_MAX];

	if (named)
		name_link_path(r->st.name, path, sizeof(path));
	json_object_object_add(o, "name", named ?
			       json_object_new_string(r->st.name) : NULL);
	json_object_object_add(o, "path", named ?
			       json_object_new_string(path) : NULL);
}

static struct json_object *row_json(struct ublk_ctrl *c,
				    const struct dev_row *r)
{
	struct json_object *o = json_object_new_object();
	char bdev[64], flags[32];

	snprintf(bdev, sizeof(bdev), UBLK_BDEV_FMT, r->id);
	snprintf(flags, sizeof(flags), "0x%llx",
		 (unsigned long long)r->info.flags);
	json_object_object_add(o, "id", json_object_new_int(r->id));
	json_object_object_add(o, "device", json_object_new_string(bdev));
	json_object_object_add(o, "state", json_object_new_string(
				ublk_state_name(r->info.state)));
	name_json(o, r);
	json_object_object_add(o, "image", r->have_state ?
			       json_object_new_string(r->st.image) : NULL);
	json_object_object_add(o, "read-only", json_object_new_boolean(
				r->have_state && r->st.read_only));
	json_object_object_add(o, "format", r->have_state && r->st.format ?
			       json_object_new_string(qcow_format_name(
					r->st.format)) : NULL);
	json_object_object_add(o, "format-probed", json_object_new_boolean(
				r->have_state && r->st.format_probed));
	json_object_object_add(o, "untrusted", json_object_new_boolean(
				r->have_state && r->st.untrusted));
	json_object_object_add(o, "snapshot", r->have_state && r->st.snapshot ?
			       json_object_new_string(r->st.snapshot) : NULL);
	json_object_object_add(o, "cache-options",
			       r->have_state && r->st.cache_opts ?
			       json_object_new_string(r->st.cache_opts) : NULL);
	crypto_json(o, r);
	json_object_object_add(o, "queues",
			       json_object_new_int(r->info.nr_hw_queues));
	json_object_object_add(o, "depth",
			       json_object_new_int(r->info.queue_depth));
	json_object_object_add(o, "pid",
			       json_object_new_int(r->info.ublksrv_pid));
	json_object_object_add(o, "flags", json_object_new_string(flags));
	json_object_object_add(o, "unprivileged", json_object_new_boolean(
				r->info.flags & UBLK_F_UNPRIVILEGED_DEV));
	json_object_object_add(o, "owner-uid",
			       json_object_new_int64(r->info.owner_uid));
	json_object_object_add(o, "owner-gid",
			       json_object_new_int64(r->info.owner_gid));
	json_object_object_add(o, "user-copy", json_object_new_boolean(
				r->info.flags & UBLK_F_USER_COPY));
	json_object_object_add(o, "zero-copy", json_object_new_boolean(
				r->info.flags & UBLK_F_AUTO_BUF_REG));
	json_object_object_add(o, "batch-io", json_object_new_boolean(
				r->info.flags & UBLK_F_BATCH_IO));
	json_object_object_add(o, "per-io-daemon", json_object_new_boolean(
				r->info.flags & UBLK_F_PER_IO_DAEMON));
	json_object_object_add(o, "queue-affinity", queues_json(c, r));
	json_object_object_add(o, "affinity", r->have_state ?
			       json_object_new_string(ublk_affinity_name(
					r->st.affinity)) : NULL);
	json_object_object_add(o, "bitmaps", r->bitmaps ?
			       json_object_get(r->bitmaps) :
			       json_object_new_array());
	return o;
}

/*
 * For udev's IMPORT{program}: who added the device, so that an
 * unprivileged device's nodes become that user's (udev/90-ublk-qcow.rules).
 */
static int list_udev(struct ublk_ctrl *c, int id)
{
	struct ublksrv_ctrl_dev_info info;
	int ret = ublk_ctrl_get_dev_info(c, id, &info);

	if (ret < 0) {
		ublk_errno(ret, "GET_DEV_INFO %d", id);
		return ret;
	}
	printf("UBLK_QCOW_UNPRIVILEGED=%d\n",
	       !!(info.flags & UBLK_F_UNPRIVILEGED_DEV));
	printf("UBLK_QCOW_OWNER_UID=%u\nUBLK_QCOW_OWNER_GID=%u\n",
	       info.owner_uid, info.owner_gid);
	return 0;
}

static int list_devs(struct ublk_ctrl *c, const int *ids, int n, bool json)
{
	struct json_object *arr = json ? json_object_new_array() : NULL;
	struct dev_row r;
	int i, ret = 0;

	if (!json)
		printf("%-4s %-9s %6s %6s %8s  %s\n", "ID", "STATE", "QUEUES",
		       "DEPTH", "PID", "IMAGE");
	for (i = 0; i < n; i++) {
		if (row_load(c, ids[i], &r) < 0) {
			ret = -1;
			ublk_err("no ublk device %d", ids[i]);
			continue;
		}
		if (json)
			json_object_array_add(arr, row_json(c, &r));
		else
			row_print(&r);
		json_object_put(r.bitmaps);
	}
	if (json) {
		printf("%s\n", json_object_to_json_string_ext(arr,
					JSON_C_TO_STRING_PRETTY |
					JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(arr);
	}
	return ret;
}

static const struct option list_opts[] = {
	{ "number", required_argument, NULL, 'n' },
	{ "name", required_argument, NULL, 'N' },
	{ "json", no_argument, NULL, 'j' },
	{ "udev", no_argument, NULL, 'u' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

int cmd_list(int argc, char **argv)
{
	int ids[MAX_DEVS], n, c, ret;
	struct ublk_ctrl ctrl;
	bool json = false, udev = false;
	long id = -1;

	while ((c = getopt_long(argc, argv, "n:h", list_opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			id = parse_num("-n", optarg, 0, 1 << 20);
			if (id < 0)
				return 2;
			break;
		case 'N':
			id = name_to_id(optarg);
			if (id < 0)
				return 1;
			break;
		case 'j':
			json = true;
			break;
		case 'u':
			udev = true;
			break;
		case 'h':
			list_usage(stdout);
			return 0;
		default:
			list_usage(stderr);
			return 2;
		}
	}
	if (optind != argc || (udev && (id < 0 || json))) {
		list_usage(stderr);
		return 2;
	}
	if (ublk_ctrl_open(&ctrl) < 0)
		return 1;
	if (udev) {
		ret = list_udev(&ctrl, id);
		ublk_ctrl_close(&ctrl);
		return ret < 0 ? 1 : 0;
	}
	if (id >= 0) {
		ids[0] = id;
		n = 1;
	} else {
		n = list_dev_ids(ids, MAX_DEVS);
	}
	ret = list_devs(&ctrl, ids, n, json);
	ublk_ctrl_close(&ctrl);
	return ret < 0 ? 1 : 0;
}

static void del_usage(FILE *f)
{
	fprintf(f,
"usage: ublk-qcow del -n ID | --name NAME | -a\n"
"  Flushes device N (or all: -a), stops it, waits until its daemon has\n"
"  closed the image (flushed and marked clean), and removes the device\n"
"  and the path its name led to.\n");
}

/*
 * A live daemon gets the kernel's cached writes and a FLUSH first; a dead
 * one cannot serve them (the device would only queue them).
 */
static int del_one(struct ublk_ctrl *c, int id)
{
	struct ublksrv_ctrl_dev_info info;
	struct run_state st;
	bool served;
	int ret;

	if (run_state_load(id, &st) < 0)
		st.name[0] = 0;
	ret = ublk_ctrl_get_dev_info(c, id, &info);
	if (ret < 0) {
		if (ret == -ENODEV)
			ublk_err("no ublk device %d", id);
		else
			ublk_errno(ret, "GET_DEV_INFO %d", id);
		return ret;
	}
	served = info.state == UBLK_S_DEV_LIVE && pid_alive(info.ublksrv_pid);
	if (served)
		bdev_flush(id);
	ret = ublk_ctrl_stop_dev(c, id);
	if (ret < 0 && ret != -ENODEV) {
		ublk_errno(ret, "STOP_DEV %d", id);
		return ret;
	}
	/* returns once the daemon has let go of the device */
	ret = ublk_ctrl_del_dev(c, id);
	if (ret < 0 && ret != -ENODEV) {
		ublk_errno(ret, "DEL_DEV %d", id);
		return ret;
	}
	/* a dead daemon's, which its daemon could not remove */
	if (st.name[0])
		name_unlink(st.name, id);
	if (info.ublksrv_pid > 0)
		run_state_remove(id, info.ublksrv_pid);
	return 0;
}

static int del_all(struct ublk_ctrl *c)
{
	int ids[MAX_DEVS];
	int i, n, ret = 0;

	n = list_dev_ids(ids, MAX_DEVS);
	for (i = 0; i < n; i++)
		if (del_one(c, ids[i]) < 0)
			ret = -1;
	return ret;
}

static const struct option del_opts[] = {
	{ "number", required_argument, NULL, 'n' },
	{ "name", required_argument, NULL, 'N' },
	{ "all", no_argument, NULL, 'a' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

int cmd_del(int argc, char **argv)
{
	struct ublk_ctrl c;
	bool all = false;
	long id = -1;
	int opt, ret;

	while ((opt = getopt_long(argc, argv, "n:ah", del_opts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			id = parse_num("-n", optarg, 0, 1 << 20);
			if (id < 0)
				return 2;
			break;
		case 'N':
			id = name_to_id(optarg);
			if (id < 0)
				return 1;
			break;
		case 'a':
			all = true;
			break;
		case 'h':
			del_usage(stdout);
			return 0;
		default:
			del_usage(stderr);
			return 2;
		}
	}
	if ((id < 0) == !all || optind != argc) {
		del_usage(stderr);
		return 2;
	}
	if (ublk_ctrl_open(&c) < 0)
		return 1;
	ret = all ? del_all(&c) : del_one(&c, id);
	ublk_ctrl_close(&c);
	return ret < 0 ? 1 : 0;
}

static const char *const feature_names[] = {
	"ZERO_COPY", "URING_CMD_COMP_IN_TASK", "NEED_GET_DATA",
	"USER_RECOVERY", "USER_RECOVERY_REISSUE", "UNPRIVILEGED_DEV",
	"CMD_IOCTL_ENCODE", "USER_COPY", "ZONED", "USER_RECOVERY_FAIL_IO",
	"UPDATE_SIZE", "AUTO_BUF_REG", "QUIESCE", "PER_IO_DAEMON",
	"BUF_REG_OFF_DAEMON", "BATCH_IO", "INTEGRITY", "SAFE_STOP_DEV",
	"NO_AUTO_PART_SCAN", "SHMEM_ZC",
};

#define NR_NAMED (sizeof(feature_names) / sizeof(feature_names[0]))

static const char *yes_no(uint64_t f, uint64_t bit)
{
	return f & bit ? "offered" : "not offered";
}

/* What ublk-qcow can do with the offer. */
static void print_summary(uint64_t f)
{
	uint64_t zc = UBLK_ZERO_COPY_FLAGS;

	printf("user copy: %s (add --user-copy)\n",
	       yes_no(f, UBLK_F_USER_COPY));
	printf("zero copy: %s (add --zero-copy: AUTO_BUF_REG %s, "
	       "USER_COPY %s)\n", (f & zc) == zc ? "offered" : "not offered",
	       yes_no(f, UBLK_F_AUTO_BUF_REG), yes_no(f, UBLK_F_USER_COPY));
	printf("batch io: %s (add --batch-io: BATCH_IO)\n",
	       yes_no(f, UBLK_F_BATCH_IO));
	printf("per-io daemon: %s (PER_IO_DAEMON: the kernel's, not asked "
	       "for; not with BATCH_IO)\n", yes_no(f, UBLK_F_PER_IO_DAEMON));
}

/*
 * The kernel's UBLK_F_* offer, one name per line after the mask, then
 * whether user copy and zero copy are among them.
 */
int cmd_features(int argc, char **argv)
{
	struct ublk_ctrl c;
	uint64_t f;
	unsigned int i;
	int ret;

	if (argc > 1) {
		fprintf(stderr, "usage: ublk-qcow features\n");
		return 2;
	}
	if (ublk_ctrl_open(&c) < 0)
		return 1;
	ret = ublk_ctrl_get_features(&c, &f);
	ublk_ctrl_close(&c);
	if (ret < 0) {
		ublk_errno(ret, "GET_FEATURES (kernel older than 6.5?)");
		return 1;
	}
	printf("0x%016llx\n", (unsigned long long)f);
	for (i = 0; i < 64; i++) {
		if (!(f & (1ULL << i)))
			continue;
		if (i < NR_NAMED)
			printf("%-2u %s\n", i, feature_names[i]);
		else
			printf("%-2u (unknown)\n", i);
	}
	print_summary(f);
	return 0;
}
