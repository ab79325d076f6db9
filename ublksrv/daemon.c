// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/wait.h>
#include "daemon.h"
#include "log.h"
#include "state.h"
#include "ublk_abi.h"

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
		exit(0);
	}
	if (waitpid(child, &st, 0) == child && WIFEXITED(st) &&
	    WEXITSTATUS(st))
		exit(WEXITSTATUS(st));
	exit(1);
}

int daemon_fork(unsigned int nr_devs)
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

void daemon_ready(const int *dev_ids, unsigned int nr_devs)
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
