// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include "control.h"
#include "log.h"
#include "state.h"

#define CTL_IO_TIMEOUT_SEC	5
#define CTL_REQ_MAX		(CTL_ARG_MAX + 64)

void ctl_socket_path(int dev_id, char *buf, size_t len)
{
	snprintf(buf, len, "%s/ublk%d.sock", run_dir(), dev_id);
}

static int ctl_addr(int dev_id, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	ctl_socket_path(dev_id, sa->sun_path, sizeof(sa->sun_path));
	if (strlen(sa->sun_path) + 1 >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	return 0;
}

/* Bound with no access for anyone but the owner from the first moment. */
static int ctl_bind(int fd, const struct sockaddr_un *sa)
{
	mode_t old = umask(0177);
	int ret = bind(fd, (const struct sockaddr *)sa, sizeof(*sa));

	umask(old);
	return ret < 0 ? -errno : 0;
}

int ctl_listen(int dev_id)
{
	struct sockaddr_un sa;
	int fd, ret;

	ret = ctl_addr(dev_id, &sa);
	if (ret < 0) {
		ublk_errno(ret, "control socket %s", sa.sun_path);
		return ret;
	}
	if (mkdir(run_dir(), 0755) < 0 && errno != EEXIST) {
		ret = -errno;
		ublk_errno(ret, "cannot create %s", run_dir());
		return ret;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		ret = -errno;
		ublk_errno(ret, "socket");
		return ret;
	}
	unlink(sa.sun_path);	/* a killed daemon's */
	ret = ctl_bind(fd, &sa);
	if (!ret && listen(fd, 8) < 0)
		ret = -errno;
	if (ret < 0) {
		ublk_errno(ret, "control socket %s", sa.sun_path);
		close(fd);
		return ret;
	}
	return fd;
}

void ctl_unlisten(int dev_id, int fd)
{
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];

	if (fd < 0)
		return;
	close(fd);
	ctl_socket_path(dev_id, path, sizeof(path));
	unlink(path);
}

static void set_timeouts(int fd)
{
	struct timeval tv = { .tv_sec = CTL_IO_TIMEOUT_SEC };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static int write_all(int fd, const char *buf, size_t len)
{
	ssize_t r;

	while (len) {
		r = send(fd, buf, len, MSG_NOSIGNAL);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -EIO;
		buf += r;
		len -= r;
	}
	return 0;
}

/* One line, without its newline; -EPROTO if none came. */
static int read_line(int fd, char *buf, size_t len)
{
	size_t got = 0;
	ssize_t r;
	char *nl;

	while (got < len - 1) {
		r = read(fd, buf + got, len - 1 - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += r;
		buf[got] = 0;
		nl = memchr(buf, '\n', got);
		if (nl) {
			*nl = 0;
			return 0;
		}
	}
	return -EPROTO;
}

/* Only the daemon's own user (and root) may ask it anything. */
static bool ctl_peer_allowed(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return false;
	return cred.uid == 0 || cred.uid == geteuid();
}

static void ctl_answer(int fd, int ret, const char *out, size_t out_len,
		       const char *err)
{
	const char *msg = *err ? err : strerror(ret < 0 ? -ret : EIO);

	if (ret < 0) {
		if (!write_all(fd, "error ", 6) &&
		    !write_all(fd, msg, strcspn(msg, "\n")))
			write_all(fd, "\n", 1);
		return;
	}
	if (!write_all(fd, "ok\n", 3) && out_len)
		write_all(fd, out, out_len);
}

static int ctl_handle(int fd, ctl_handler fn, void *arg, char **out,
		      size_t *out_len, char *err, size_t err_len)
{
	char req[CTL_REQ_MAX], *param;
	FILE *f;
	int ret;

	if (!ctl_peer_allowed(fd)) {
		snprintf(err, err_len, "permission denied");
		return -EPERM;
	}
	if (read_line(fd, req, sizeof(req)) < 0) {
		snprintf(err, err_len, "malformed request");
		return -EPROTO;
	}
	param = strchr(req, ' ');
	if (param)
		*param++ = 0;
	f = open_memstream(out, out_len);
	if (!f)
		return -ENOMEM;
	ret = fn(arg, req, param ? param : "", f, err, err_len);
	fclose(f);
	return ret;
}

void ctl_serve(int fd, ctl_handler fn, void *arg)
{
	char err[CTL_REQ_MAX] = "", *out = NULL;
	size_t out_len = 0;
	int c, ret;

	c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
	if (c < 0)
		return;
	set_timeouts(c);
	ret = ctl_handle(c, fn, arg, &out, &out_len, err, sizeof(err));
	ctl_answer(c, ret, out, out_len, err);
	free(out);
	close(c);
}

static int ctl_connect(int dev_id)
{
	struct sockaddr_un sa;
	int fd, ret;

	ret = ctl_addr(dev_id, &sa);
	if (ret < 0)
		return ret;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}

/* Everything up to the end of the stream, NUL-terminated. */
static int read_all(int fd, char **buf, size_t *len)
{
	char chunk[4096];
	FILE *f = open_memstream(buf, len);
	ssize_t r;
	int ret = 0;

	if (!f)
		return -ENOMEM;
	for (;;) {
		r = read(fd, chunk, sizeof(chunk));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			ret = -errno;
		if (r <= 0)
			break;
		fwrite(chunk, 1, r, f);
	}
	fclose(f);
	return ret;
}

static int ctl_reply(int dev_id, const char *reply, size_t len, FILE *out)
{
	const char *nl = memchr(reply, '\n', len);

	if (nl && !strncmp(reply, "ok\n", 3)) {
		fwrite(nl + 1, 1, len - (nl + 1 - reply), out);
		return 0;
	}
	if (nl && !strncmp(reply, "error ", 6)) {
		ublk_err("%.*s", (int)(nl - reply - 6), reply + 6);
		return -EIO;
	}
	ublk_err("device %d: the daemon ended the request without an "
		 "answer (see its log)", dev_id);
	return -EPROTO;
}

int ctl_request(int dev_id, const char *verb, const char *param, FILE *out)
{
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char req[CTL_REQ_MAX], *reply = NULL;
	size_t len = 0;
	int fd, ret;

	if (strlen(param) >= CTL_ARG_MAX || strchr(param, '\n')) {
		ublk_err("'%s' is too long or holds a newline", param);
		return -EINVAL;
	}
	fd = ctl_connect(dev_id);
	if (fd < 0) {
		ctl_socket_path(dev_id, path, sizeof(path));
		ublk_errno(fd, "device %d: cannot reach its daemon at %s",
			   dev_id, path);
		return fd;
	}
	snprintf(req, sizeof(req), "%s %s\n", verb, param);
	ret = write_all(fd, req, strlen(req));
	if (!ret) {
		shutdown(fd, SHUT_WR);
		ret = read_all(fd, &reply, &len);
	}
	close(fd);
	if (ret < 0) {
		ublk_errno(ret, "device %d: talking to its daemon", dev_id);
		free(reply);
		return ret;
	}
	ret = ctl_reply(dev_id, reply ? reply : "", len, out);
	free(reply);
	return ret;
}
