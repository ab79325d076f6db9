// SPDX-License-Identifier: MIT
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <json-c/json.h>
#include "cli.h"
#include "ctrl.h"
#include "log.h"
#include "queue.h"
#include "state.h"

#define MAX_DEVS	4096
#define UBLK_MAX_QUEUES	4096

struct dev_row {
	int id;
	struct ublksrv_ctrl_dev_info info;
	struct run_state st;
	bool have_state;
};

static void list_usage(FILE *f)
{
	fprintf(f,
"usage: ublk-qcow list [-n ID] [--json]\n"
"  The ublk devices: id, state, image, queues, depth, daemon pid.\n");
}

static int row_load(struct ublk_ctrl *c, int id, struct dev_row *r)
{
	int ret;

	r->id = id;
	ret = ublk_ctrl_get_dev_info(c, id, &r->info);
	if (ret < 0)
		return ret;
	r->have_state = run_state_load(id, &r->st) == 0;
	return 0;
}

static const char *row_image(const struct dev_row *r)
{
	return r->have_state ? r->st.image : "-";
}

static void row_print(const struct dev_row *r)
{
	printf("%-4d %-9s %6u %6u %8d  %s\n", r->id,
	       ublk_state_name(r->info.state), r->info.nr_hw_queues,
	       r->info.queue_depth, r->info.ublksrv_pid, row_image(r));
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
	json_object_object_add(o, "queues",
			       json_object_new_int(r->info.nr_hw_queues));
	json_object_object_add(o, "depth",
			       json_object_new_int(r->info.queue_depth));
	json_object_object_add(o, "pid",
			       json_object_new_int(r->info.ublksrv_pid));
	json_object_object_add(o, "flags", json_object_new_string(flags));
	json_object_object_add(o, "user-copy", json_object_new_boolean(
				r->info.flags & UBLK_F_USER_COPY));
	json_object_object_add(o, "zero-copy", json_object_new_boolean(
				r->info.flags & UBLK_F_AUTO_BUF_REG));
	json_object_object_add(o, "queue-affinity", queues_json(c, r));
	return o;
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
	{ "json", no_argument, NULL, 'j' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

int cmd_list(int argc, char **argv)
{
	int ids[MAX_DEVS], n, c, ret;
	struct ublk_ctrl ctrl;
	bool json = false;
	long id = -1;

	while ((c = getopt_long(argc, argv, "n:h", list_opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			id = parse_num("-n", optarg, 0, 1 << 20);
			if (id < 0)
				return 2;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			list_usage(stdout);
			return 0;
		default:
			list_usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		list_usage(stderr);
		return 2;
	}
	if (ublk_ctrl_open(&ctrl) < 0)
		return 1;
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
