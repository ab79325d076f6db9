// SPDX-License-Identifier: MIT
#include <getopt.h>
#include <stdio.h>
#include "cli.h"
#include "log.h"
#include "state.h"

static void add_usage(FILE *f)
{
	fprintf(f,
"usage: ublk-qcow add -f IMAGE [-q QUEUES] [-d DEPTH] [-r|--read-only]\n"
"                     [-n ID] [--direct] [--foreground]\n"
"  Serves IMAGE (qcow2, qcow or raw) as /dev/ublkbN and prints that name\n"
"  once the device is ready; a daemon keeps serving it until `del`.\n"
"  -q QUEUES      queues, one thread each (default %d)\n"
"  -d DEPTH       requests in flight per queue (default %d)\n"
"  -r             read-only device (and image)\n"
"  -n ID          the device number N wanted (default: the first free)\n"
"  --direct       O_DIRECT on the image; the device gets 4 KiB blocks\n"
"  --foreground   serve in this process (until SIGINT/SIGTERM or `del`)\n",
		UBLK_DEFAULT_QUEUES, UBLK_DEFAULT_DEPTH);
}

static const struct option add_opts[] = {
	{ "file", required_argument, NULL, 'f' },
	{ "queues", required_argument, NULL, 'q' },
	{ "depth", required_argument, NULL, 'd' },
	{ "read-only", no_argument, NULL, 'r' },
	{ "number", required_argument, NULL, 'n' },
	{ "direct", no_argument, NULL, 'D' },
	{ "foreground", no_argument, NULL, 'F' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int add_parse(int argc, char **argv, struct ublk_dev_opts *o,
		     bool *fg)
{
	long v;
	int c;

	while ((c = getopt_long(argc, argv, "f:q:d:rn:h", add_opts,
				NULL)) != -1) {
		v = 0;
		switch (c) {
		case 'f':
			o->image = optarg;
			break;
		case 'q':
			v = parse_num("-q", optarg, 1, 4096);
			o->nr_queues = v;
			break;
		case 'd':
			v = parse_num("-d", optarg, 1, UBLK_MAX_QUEUE_DEPTH);
			o->depth = v;
			break;
		case 'r':
			o->read_only = true;
			break;
		case 'n':
			v = parse_num("-n", optarg, 0, 1 << 20);
			o->dev_id = v;
			break;
		case 'D':
			o->direct = true;
			break;
		case 'F':
			*fg = true;
			break;
		case 'h':
			add_usage(stdout);
			return 1;
		default:
			add_usage(stderr);
			return -1;
		}
		if (v < 0)
			return -1;
	}
	if (!o->image || optind != argc) {
		add_usage(stderr);
		return -1;
	}
	return 0;
}

int cmd_add(int argc, char **argv)
{
	struct ublk_dev_opts o = {
		.dev_id = -1,
		.nr_queues = UBLK_DEFAULT_QUEUES,
		.depth = UBLK_DEFAULT_DEPTH,
	};
	struct run_state st;
	bool fg = false;
	int ret;

	ret = add_parse(argc, argv, &o, &fg);
	if (ret)
		return ret < 0 ? 2 : 0;
	/* two writers would corrupt it: the engine takes no lock */
	if (run_state_find_image(o.image, &st) == 0 &&
	    !(o.read_only && st.read_only)) {
		ublk_err("%s is already served by " UBLK_BDEV_FMT " (pid %d)",
			 o.image, st.dev_id, st.pid);
		return 1;
	}
	return serve(&o, false, fg);
}
