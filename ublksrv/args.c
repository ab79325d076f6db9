// SPDX-License-Identifier: MIT
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <stdlib.h>
#include "cli.h"
#include "log.h"

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
