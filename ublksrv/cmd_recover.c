// SPDX-License-Identifier: MIT
#include <getopt.h>
#include <stdio.h>
#include "cli.h"
#include "log.h"
#include "state.h"

static void recover_usage(FILE *f)
{
	fprintf(f,
"usage: ublk-qcow recover -n ID [-f IMAGE] [--foreground]\n"
"  Serves device N again after its daemon died: the device kept its\n"
"  requests queued, and those in flight are issued again.  The image and\n"
"  options are the ones `add` recorded, unless -f names the image.\n");
}

static const struct option recover_opts[] = {
	{ "number", required_argument, NULL, 'n' },
	{ "file", required_argument, NULL, 'f' },
	{ "foreground", no_argument, NULL, 'F' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

int cmd_recover(int argc, char **argv)
{
	struct ublk_dev_opts o = { .dev_id = -1 };
	struct run_state st;
	bool fg = false;
	int c;

	while ((c = getopt_long(argc, argv, "n:f:h", recover_opts,
				NULL)) != -1) {
		switch (c) {
		case 'n':
			o.dev_id = parse_num("-n", optarg, 0, 1 << 20);
			if (o.dev_id < 0)
				return 2;
			break;
		case 'f':
			o.image = optarg;
			break;
		case 'F':
			fg = true;
			break;
		case 'h':
			recover_usage(stdout);
			return 0;
		default:
			recover_usage(stderr);
			return 2;
		}
	}
	if (o.dev_id < 0 || optind != argc) {
		recover_usage(stderr);
		return 2;
	}
	if (run_state_load(o.dev_id, &st) == 0) {
		if (!o.image)
			o.image = st.image;
		o.read_only = st.read_only;
	} else if (!o.image) {
		ublk_err("no record of device %d's image in %s: give -f IMAGE",
			 o.dev_id, run_dir());
		return 1;
	}
	return serve(&o, 1, true, fg);
}
