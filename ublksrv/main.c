// SPDX-License-Identifier: MIT
/* ublk-qcow: qcow2 images as ublk block devices. */
#include <stdio.h>
#include <string.h>
#include "cli.h"

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
} verbs[] = {
	{ "add", cmd_add },
	{ "del", cmd_del },
	{ "list", cmd_list },
	{ "recover", cmd_recover },
	{ "features", cmd_features },
};

static void usage(FILE *f)
{
	fprintf(f,
"usage: ublk-qcow add -f IMAGE [-f IMAGE...] [-F FORMAT] [-q QUEUES] [-d DEPTH]\n"
"                     [-r] [-n ID...] [--direct] [--user-copy] [--zero-copy]\n"
"                     [--untrusted] [--allow-dir DIR...] [--allow-block-devices]\n"
"                     [-o OPTIONS] [--foreground]\n"
"       ublk-qcow del -n ID | -a\n"
"       ublk-qcow list [-n ID] [--json]\n"
"       ublk-qcow recover -n ID [-f IMAGE] [-F FORMAT] [--foreground]\n"
"       ublk-qcow features\n"
"  ublk-qcow VERB --help for details.\n");
}

int main(int argc, char **argv)
{
	unsigned int i;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (!strcmp(argv[1], verbs[i].name))
			return verbs[i].run(argc - 1, argv + 1);
	fprintf(stderr, "ublk-qcow: unknown verb '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
