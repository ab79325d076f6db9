// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/wait.h>
#include "daemon.h"
#include "log.h"
#include "state.h"
#include "ublk_abi.h"

static int report_fd = -1;

static void print_bdev(int dev_id)
{
	printf(UBLK_BDEV_FMT "\n", dev_id);
	fflush(stdout);
}

/* The parent: the child's dev id arrives, or the pipe ends with it. */
static void daemon_parent(int fd, pid_t child)
{
	int32_t dev_id;
	ssize_t n;
	int st;

	do {
		n = read(fd, &dev_id, sizeof(dev_id));
	} while (n < 0 && errno == EINTR);
	if (n == sizeof(dev_id)) {
		print_bdev(dev_id);
		exit(0);
	}
	if (waitpid(child, &st, 0) == child && WIFEXITED(st) &&
	    WEXITSTATUS(st))
		exit(WEXITSTATUS(st));
	exit(1);
}

int daemon_fork(void)
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
		daemon_parent(fds[0], pid);
	}
	close(fds[0]);
	report_fd = fds[1];
	setsid();
	return 0;
}

/* stdout must not stay open: $(ublk-qcow add ...) waits for its end. */
static void detach_stdio(int dev_id)
{
	char log[4096];
	int fd;

	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		close(fd);
	}
	run_log_path(dev_id, log, sizeof(log));
	fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		dup2(fd, STDERR_FILENO);
		close(fd);
	}
	if (chdir("/") < 0)
		ublk_errno(-errno, "chdir /");
}

void daemon_ready(int dev_id)
{
	int32_t id = dev_id;

	if (report_fd < 0) {
		print_bdev(dev_id);
		return;
	}
	detach_stdio(dev_id);
	if (write(report_fd, &id, sizeof(id)) != sizeof(id))
		ublk_errno(-errno, "cannot tell the parent we are ready");
	close(report_fd);
	report_fd = -1;
}
