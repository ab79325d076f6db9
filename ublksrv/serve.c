// SPDX-License-Identifier: MIT
/*
 * One process serves every device of an `add` (or the one of a
 * `recover`): all images are opened first, then the devices are created
 * in order; a failure removes what was made.  The main thread then waits
 * for signals: a device whose queues ended (a `del`) is torn down while
 * the others go on, and the process ends with its last device.
 */
#include <errno.h>
#include <stdlib.h>
#include "cli.h"
#include "daemon.h"
#include "log.h"

struct server {
	struct ublk_dev *devs;
	int *ids;
	unsigned int nr;	/* devices asked for */
	unsigned int used;	/* devices set up (to be destroyed) */
};

static int server_create(struct server *s, const struct ublk_dev_opts *opts)
{
	unsigned int i;
	int ret;

	for (i = 0; i < s->nr; i++) {
		s->used = i + 1;
		ret = ublk_dev_open(&s->devs[i], &opts[i]);
		if (ret < 0)
			return ret;
	}
	for (i = 0; i < s->nr; i++) {
		ret = ublk_dev_start(&s->devs[i]);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* Devices whose queues all ended are destroyed; how many are left. */
static unsigned int server_reap(struct server *s)
{
	unsigned int i, left = 0;

	for (i = 0; i < s->used; i++) {
		if (s->devs[i].destroyed)
			continue;
		if (ublk_dev_poll(&s->devs[i]))
			ublk_dev_destroy(&s->devs[i]);
		else
			left++;
	}
	return left;
}

static void server_wait(struct server *s)
{
	unsigned int i;
	sigset_t set;
	int sig;

	ublk_dev_signals(&set);
	while (server_reap(s) > 0) {
		if (sigwait(&set, &sig) != 0 || sig == SIGUSR1)
			continue;
		for (i = 0; i < s->used; i++)
			if (!s->devs[i].destroyed)
				ublk_dev_shutdown(&s->devs[i]);
	}
}

static void server_ready(struct server *s)
{
	unsigned int i;

	for (i = 0; i < s->used; i++)
		s->ids[i] = s->devs[i].info.dev_id;
	daemon_ready(s->ids, s->used);
}

int serve(const struct ublk_dev_opts *opts, unsigned int nr, bool recover,
	  bool foreground)
{
	struct server s = { .nr = nr };
	unsigned int i;
	int ret;

	s.devs = calloc(nr, sizeof(*s.devs));
	s.ids = calloc(nr, sizeof(*s.ids));
	if (!s.devs || !s.ids) {
		ublk_err("out of memory");
		ret = -ENOMEM;
		goto out;
	}
	if (!foreground) {
		ret = daemon_fork(nr);
		if (ret < 0) {
			ublk_errno(ret, "fork");
			goto out;
		}
	}
	if (recover) {
		s.used = 1;
		ret = ublk_dev_recover(&s.devs[0], &opts[0]);
	} else {
		ret = server_create(&s, opts);
	}
	if (!ret) {
		server_ready(&s);
		server_wait(&s);
	}
	for (i = 0; i < s.used; i++)
		ublk_dev_destroy(&s.devs[i]);
out:
	free(s.devs);
	free(s.ids);
	return ret < 0 ? 1 : 0;
}
