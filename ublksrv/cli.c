// SPDX-License-Identifier: MIT
/* ublk-qcow: qcow2 images as ublk block devices. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "log.h"
#include "tools/common/version.h"

long parse_num(const char *what, const char *s, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max) {
		ublk_err("%s: '%s' is not a number from %ld to %ld", what, s,
			 min, max);
		return -1;
	}
	return v;
}

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/* Every device has a char device ublkcN in the ublk-char class. */
int list_dev_ids(int *ids, int max)
{
	struct dirent *d;
	DIR *dir;
	int n = 0;
	char *end;
	long id;

	dir = opendir("/sys/class/ublk-char");
	if (!dir)
		return 0;
	while ((d = readdir(dir)) && n < max) {
		if (strncmp(d->d_name, "ublkc", 5) != 0)
			continue;
		id = strtol(d->d_name + 5, &end, 10);
		if (end == d->d_name + 5 || *end || id < 0 || id > INT32_MAX)
			continue;
		ids[n++] = id;
	}
	closedir(dir);
	qsort(ids, n, sizeof(*ids), cmp_int);
	return n;
}

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
} verbs[] = {
	{ "add", cmd_add },
	{ "del", cmd_del },
	{ "list", cmd_list },
	{ "recover", cmd_recover },
	{ "snapshot", cmd_snapshot },
	{ "features", cmd_features },
};

static void usage(FILE *f)
{
	fprintf(f,
"usage: ublk-qcow add -f IMAGE [-f IMAGE...] [-F FORMAT] [-q QUEUES] [-d DEPTH]\n"
"                     [-r] [-n ID...] [--name NAME...] [--direct]\n"
"                     [--user-copy] [--zero-copy] [--untrusted]\n"
"                     [--allow-dir DIR...] [--allow-block-devices]\n"
"                     [-o OPTIONS] [--foreground]\n"
"       ublk-qcow del -n ID | --name NAME | -a\n"
"       ublk-qcow list [-n ID | --name NAME] [--json] | -n ID --udev\n"
"       ublk-qcow recover -n ID | --name NAME [-f IMAGE] [-F FORMAT]\n"
"                         [--foreground]\n"
"       ublk-qcow snapshot -n ID | --name NAME  -c SNAP | -d SNAP | -l\n"
"       ublk-qcow features\n"
"       ublk-qcow -V | --version\n"
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
	if (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version")) {
		printf("ublk-qcow version " QCOW_UBLK_VERSION "\n");
		return 0;
	}
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (!strcmp(argv[1], verbs[i].name))
			return verbs[i].run(argc - 1, argv + 1);
	fprintf(stderr, "ublk-qcow: unknown verb '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
