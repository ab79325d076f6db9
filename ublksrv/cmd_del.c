// SPDX-License-Identifier: MIT
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include "cli.h"
#include "ctrl.h"
#include "device.h"
#include "log.h"
#include "state.h"

#define MAX_DEVS	4096

static void del_usage(FILE *f)
{
	fprintf(f,
"usage: ublk-qcow del -n ID | -a\n"
"  Flushes device N (or all: -a), stops it, waits until its daemon has\n"
"  closed the image (flushed and marked clean), and removes the device.\n");
}

/*
 * A live daemon gets the kernel's cached writes and a FLUSH first; a dead
 * one cannot serve them (the device would only queue them).
 */
static int del_one(struct ublk_ctrl *c, int id)
{
	struct ublksrv_ctrl_dev_info info;
	bool served;
	int ret;

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
