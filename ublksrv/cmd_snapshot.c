// SPDX-License-Identifier: MIT
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include "cli.h"
#include "control.h"
#include "ctrl.h"
#include "log.h"
#include "name.h"
#include "snapshot.h"
#include "state.h"

static void snapshot_usage(FILE *f)
{
	fprintf(f,
"usage: ublk-qcow snapshot -n ID | --name DEVNAME  -c NAME | -d NAME | -l\n"
"  Internal snapshots of the image device N (or the device add named\n"
"  DEVNAME) serves, while it is in use:\n"
"  the requests in flight finish, new ones wait, the image is made\n"
"  consistent and the snapshot is taken (or deleted), and I/O resumes.\n"
"  The snapshot holds what was written before; what the device's users\n"
"  had flushed is in it for certain.\n"
"  -c NAME   create a snapshot NAME (its ID as qemu-img allocates it)\n"
"  -d NAME   delete the first snapshot named NAME (as qemu-img: by name)\n"
"  -l        list the snapshots as qemu-img snapshot -l does\n");
}

static const struct option snapshot_opts[] = {
	{ "number", required_argument, NULL, 'n' },
	{ "name", required_argument, NULL, 'N' },
	{ "create", required_argument, NULL, 'c' },
	{ "delete", required_argument, NULL, 'd' },
	{ "list", no_argument, NULL, 'l' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

struct snapshot_args {
	long id;
	const char *dev_name;
	const char *verb;
	const char *name;
	unsigned int nr_ops;
};

/* 0, 1 for --help, or 2 (usage error). */
static int snapshot_parse(int argc, char **argv, struct snapshot_args *a)
{
	int c;

	while ((c = getopt_long(argc, argv, "n:c:d:lh", snapshot_opts,
				NULL)) != -1) {
		switch (c) {
		case 'n':
			a->id = parse_num("-n", optarg, 0, 1 << 20);
			if (a->id < 0)
				return 2;
			break;
		case 'N':
			a->dev_name = optarg;
			break;
		case 'c':
		case 'd':
			a->verb = c == 'c' ? CTL_SNAPSHOT_CREATE :
				  CTL_SNAPSHOT_DELETE;
			a->name = optarg;
			a->nr_ops++;
			break;
		case 'l':
			a->verb = CTL_SNAPSHOT_LIST;
			a->nr_ops++;
			break;
		case 'h':
			snapshot_usage(stdout);
			return 1;
		default:
			snapshot_usage(stderr);
			return 2;
		}
	}
	if ((a->id < 0) == !a->dev_name || a->nr_ops != 1 ||
	    optind != argc) {
		snapshot_usage(stderr);
		return 2;
	}
	if (a->name && !*a->name) {
		ublk_err("a snapshot name cannot be empty");
		return 2;
	}
	return 0;
}

/* The device exists and a live daemon serves it: -errno, said, if not. */
static int snapshot_check_dev(int id)
{
	struct ublksrv_ctrl_dev_info info;
	struct ublk_ctrl c;
	int ret;

	ret = ublk_ctrl_open(&c);
	if (ret < 0)
		return ret;
	ret = ublk_ctrl_get_dev_info(&c, id, &info);
	ublk_ctrl_close(&c);
	if (ret == -ENODEV)
		ublk_err("no ublk device %d", id);
	else if (ret < 0)
		ublk_errno(ret, "GET_DEV_INFO %d", id);
	else if (info.state != UBLK_S_DEV_LIVE ||
		 !pid_alive(info.ublksrv_pid)) {
		ublk_err("device %d is not served (%s, no daemon)", id,
			 ublk_state_name(info.state));
		ret = -ESRCH;
	}
	return ret;
}

int cmd_snapshot(int argc, char **argv)
{
	struct snapshot_args a = { .id = -1 };
	int ret;

	ret = snapshot_parse(argc, argv, &a);
	if (ret)
		return ret == 1 ? 0 : ret;
	if (a.dev_name)
		a.id = name_to_id(a.dev_name);
	if (a.id < 0 || snapshot_check_dev(a.id) < 0)
		return 1;
	ret = ctl_request(a.id, a.verb, a.name ? a.name : "", stdout);
	fflush(stdout);
	return ret < 0 ? 1 : 0;
}
