// SPDX-License-Identifier: MIT
#include <getopt.h>
#include <stdio.h>
#include "cli.h"
#include "daemon.h"
#include "log.h"
#include "state.h"

static void recover_usage(FILE *f)
{
	fprintf(f,
"usage: ublk-qcow recover -n ID [-f IMAGE] [-F FORMAT] [--foreground]\n"
"  Serves device N again after its daemon died: the device kept its\n"
"  requests queued, and those in flight are issued again.  The image, its\n"
"  format (never probed again) and the options are the ones `add`\n"
"  recorded, unless -f names the image or -F the format.\n");
}

enum { OPT_FOREGROUND = 256 };

static const struct option recover_opts[] = {
	{ "number", required_argument, NULL, 'n' },
	{ "file", required_argument, NULL, 'f' },
	{ "format", required_argument, NULL, 'F' },
	{ "foreground", no_argument, NULL, OPT_FOREGROUND },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* The image opens as add opened it: format, probed or not, untrusted. */
static void recorded_open(struct ublk_dev_opts *o, const struct run_state *st)
{
	if (o->format == QCOW_FMT_NONE) {
		o->format = st->format;
		o->format_probed = st->format_probed;
	}
	o->untrusted = st->untrusted;
	o->allow_block_devices = st->allow_block_devices;
}

int cmd_recover(int argc, char **argv)
{
	struct ublk_dev_opts o = { .dev_id = -1 };
	struct run_state st;
	char **dirs = NULL;
	bool fg = false;
	int c, ret;

	while ((c = getopt_long(argc, argv, "n:f:F:h", recover_opts,
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
			o.format = qcow_format_by_name(optarg);
			if (o.format == QCOW_FMT_NONE) {
				ublk_err("-F: unknown format '%s' (raw, qcow2 "
					 "or qcow)", optarg);
				return 2;
			}
			break;
		case OPT_FOREGROUND:
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
		recorded_open(&o, &st);
		dirs = run_state_allow_dirs(o.dev_id);
		o.allow_dirs = (const char *const *)dirs;
	} else if (!o.image) {
		ublk_err("no record of device %d's image in %s: give -f IMAGE",
			 o.dev_id, run_dir());
		return 1;
	}
	ret = serve(&o, 1, true, fg);
	run_state_free_dirs(dirs);
	return ret;
}
