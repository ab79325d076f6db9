// SPDX-License-Identifier: MIT
/* qcow-io truncate, sleep, sigraise and abort. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "tools/common/msg.h"
#include "tools/common/open.h"
#include "tools/io/io.h"

/* -m names a preallocation mode; the new area is left unallocated. */
static int prealloc_mode(const char *mode)
{
	static const char *const modes[] = { "off", "metadata", "falloc",
					     "full" };
	size_t i;

	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (!strcmp(mode, modes[i]))
			return 0;
	tool_error("truncate: unknown preallocation mode '%s': use off, metadata, falloc or full",
		   mode);
	return -EINVAL;
}

int io_truncate(struct io_state *s, int argc, char **argv)
{
	int64_t size;
	int c, ret;

	while ((c = getopt(argc, argv, "m:")) != -1) {
		if (c != 'm') {
			io_print_usage(io_find_cmd("truncate"));
			return -EINVAL;
		}
		if (prealloc_mode(optarg) < 0)
			return -EINVAL;
	}
	if (optind != argc - 1) {
		io_print_usage(io_find_cmd("truncate"));
		return -EINVAL;
	}
	if (io_parse_num(argv[optind], &size) < 0)
		return -EINVAL;
	ret = qcow_resize(s->img, size, true);
	if (ret < 0)
		tool_error("%s: truncate: %s", qcow_filename(s->img),
			   tool_reason(qcow_filename(s->img), ret));
	return ret;
}

int io_sleep(struct io_state *s, int argc, char **argv)
{
	struct timespec ts;
	char *end;
	long ms;

	errno = 0;
	ms = strtol(argv[1], &end, 0);
	if (errno || end == argv[1] || *end || ms < 0) {
		printf("sleep: '%s' is not a number of milliseconds\n",
		       argv[1]);
		return -EINVAL;
	}
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = ms % 1000 * 1000000L;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	return 0;
}

int io_sigraise(struct io_state *s, int argc, char **argv)
{
	int64_t sig;

	if (io_parse_num(argv[1], &sig) < 0)
		return -EINVAL;
	if (sig > NSIG) {
		printf("sigraise: %s is not a signal number\n", argv[1]);
		return -EINVAL;
	}
	/* what was printed must not die with the process */
	fflush(stdout);
	fflush(stderr);
	raise((int)sig);
	return 0;
}

int io_abort(struct io_state *s, int argc, char **argv)
{
	fflush(stdout);
	abort();
}
