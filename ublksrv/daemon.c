// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include "control.h"
#include "daemon.h"
#include "log.h"
#include "snapshot.h"
#include "state.h"
#include "ublk_abi.h"

/*
 * Running in the background: the command forks, the child serves the
 * devices, and the parent exits once the child says they are all ready
 * (printing /dev/ublkbN for each, in order) or has failed (the child
 * printed why, and removed what it had made, before it exited).
 */

/* The ids go through the pipe as ints. */
static int report_fd = -1;

static void print_bdevs(const int *ids, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		printf(UBLK_BDEV_FMT "\n", ids[i]);
	fflush(stdout);
}

/* Up to n ids until the child closes the pipe; how many arrived. */
static unsigned int read_ids(int fd, int *ids, unsigned int n)
{
	size_t want = n * sizeof(*ids), got = 0;
	ssize_t r;

	while (got < want) {
		r = read(fd, (char *)ids + got, want - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += r;
	}
	return got / sizeof(*ids);
}

/* The parent: every device's id arrives, or the pipe ends without. */
static void daemon_parent(int fd, pid_t child, unsigned int n)
{
	int *ids = calloc(n, sizeof(*ids));
	int st;

	if (ids && read_ids(fd, ids, n) == n) {
		print_bdevs(ids, n);
		free(ids);
		exit(0);
	}
	free(ids);
	if (waitpid(child, &st, 0) == child && WIFEXITED(st) &&
	    WEXITSTATUS(st))
		exit(WEXITSTATUS(st));
	exit(1);
}

/* Returns in the child only (0), or -errno if fork failed. */
static int daemon_fork(unsigned int nr_devs)
{
	int fds[2];
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return -errno;
	}
	if (pid > 0) {
		close(fds[1]);
		daemon_parent(fds[0], pid, nr_devs);
	}
	close(fds[0]);
	report_fd = fds[1];
	setsid();
	return 0;
}

/* Each device's log names the daemon's one log file. */
static void link_logs(const char *log, const int *ids, unsigned int n)
{
	char other[PATH_MAX];
	unsigned int i;

	for (i = 1; i < n; i++) {
		run_log_path(ids[i], other, sizeof(other));
		unlink(other);
		if (link(log, other) < 0)
			ublk_errno(-errno, "cannot link %s to %s", other, log);
	}
}

/* stdout must not stay open: $(ublk-qcow add ...) waits for its end. */
static void detach_stdio(const int *ids, unsigned int n)
{
	char log[PATH_MAX];
	int fd;

	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		close(fd);
	}
	run_log_path(ids[0], log, sizeof(log));
	fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		dup2(fd, STDERR_FILENO);
		close(fd);
	}
	link_logs(log, ids, n);
	if (chdir("/") < 0)
		ublk_errno(-errno, "chdir /");
}

/*
 * The devices are served: prints their /dev/ublkbN (foreground) or hands
 * them to the parent and detaches stdio.  stderr goes to the first
 * device's log; the others' logs become links to it.
 */
static void daemon_ready(const int *dev_ids, unsigned int nr_devs)
{
	size_t len = nr_devs * sizeof(*dev_ids);

	if (report_fd < 0) {
		print_bdevs(dev_ids, nr_devs);
		return;
	}
	detach_stdio(dev_ids, nr_devs);
	if (write(report_fd, dev_ids, len) != (ssize_t)len)
		ublk_errno(-errno, "cannot tell the parent we are ready");
	close(report_fd);
	report_fd = -1;
}

/*
 * One process serves every device of an `add` (or the one of a
 * `recover`): all images are opened first, then the devices are created
 * in order; a failure removes what was made.  The main thread then waits
 * for signals: a device whose queues ended (a `del`) is torn down while
 * the others go on, and the process ends with its last device.
 */

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

/* The devices' bitmap records due; ms until the next one, or -1. */
static long server_save_bitmaps(struct server *s)
{
	long next = -1, ms;
	unsigned int i;

	for (i = 0; i < s->used; i++) {
		ms = ublk_dev_save_bitmaps(&s->devs[i]);
		if (ms >= 0 && (next < 0 || ms < next))
			next = ms;
	}
	return next;
}

/* The control sockets of the devices still served, after the signals. */
static unsigned int server_pollfds(struct server *s, int sfd,
				   struct pollfd *fds, struct ublk_dev **devs)
{
	unsigned int i, n = 1;

	fds[0] = (struct pollfd){ .fd = sfd, .events = POLLIN };
	for (i = 0; i < s->used; i++) {
		if (s->devs[i].destroyed || s->devs[i].ctl_fd < 0)
			continue;
		devs[n] = &s->devs[i];
		fds[n++] = (struct pollfd){ .fd = s->devs[i].ctl_fd,
					    .events = POLLIN };
	}
	return n;
}

/* Whether a signal came that stops serving (not SIGUSR1). */
static bool server_signals(int sfd)
{
	struct signalfd_siginfo si;
	bool stop = false;

	while (read(sfd, &si, sizeof(si)) == sizeof(si))
		if (si.ssi_signo != SIGUSR1)
			stop = true;
	return stop;
}

static void server_stop(struct server *s)
{
	unsigned int i;

	for (i = 0; i < s->used; i++)
		if (!s->devs[i].destroyed)
			ublk_dev_shutdown(&s->devs[i]);
}

/*
 * The main thread waits for signals (through a signalfd) and for
 * requests on the devices' control sockets, which it serves itself.
 * SIGUSR1: a queue thread ended, or a FLUSH left a device's bitmap
 * record stale; the others stop serving.
 */
static void server_wait(struct server *s)
{
	struct pollfd *fds = calloc(s->used + 1, sizeof(*fds));
	struct ublk_dev **devs = calloc(s->used + 1, sizeof(*devs));
	unsigned int i, n;
	sigset_t set;
	int sfd;

	ublk_dev_signals(&set);
	sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0 || !fds || !devs) {
		ublk_errno(sfd < 0 ? -errno : -ENOMEM, "signalfd");
		server_stop(s);
		goto out;
	}
	while (server_reap(s) > 0) {
		n = server_pollfds(s, sfd, fds, devs);
		if (poll(fds, n, server_save_bitmaps(s)) <= 0)
			continue;
		if ((fds[0].revents & POLLIN) && server_signals(sfd))
			server_stop(s);
		for (i = 1; i < n; i++)
			if (fds[i].revents & POLLIN)
				ctl_serve(fds[i].fd, dev_control, devs[i]);
	}
out:
	if (sfd >= 0)
		close(sfd);
	free(fds);
	free(devs);
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
