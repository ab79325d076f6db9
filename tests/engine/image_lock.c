// SPDX-License-Identifier: MIT
/*
 * Image locking: the bytes the kernel shows locked in /proc/locks for each
 * kind of open (those QEMU 7.2 takes, which tests/interop/lock.sh compares
 * with qemu-io's live), conflicts between two opens (OFD locks of two opens
 * conflict inside one process too), force share, the locks of a writer
 * taken over by a backing file (commit), locks kept by a forked child, and
 * a kernel without OFD locks (fcntl() replaced below), which opens
 * unlocked.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include "qcow.h"
#include "testlib.h"

#define MiB (1ULL << 20)

static bool no_ofd_locks;

/* The engine's fcntl(): refuses OFD locks while no_ofd_locks is set. */
int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (no_ofd_locks && (cmd == F_OFD_SETLK || cmd == F_OFD_GETLK ||
			     cmd == F_OFD_SETLKW)) {
		errno = EINVAL;
		return -1;
	}
	return syscall(SYS_fcntl, fd, cmd, arg);
}

/* The bytes of path under OFD read locks, as "100 101 ...". */
static void locked_bytes(const char *path, char *out, size_t len)
{
	unsigned int maj, min;
	long long start, end;
	unsigned long ino;
	char line[256], kind[16], type[16];
	struct stat st;
	size_t n = 0;
	FILE *f;

	out[0] = 0;
	if (stat(path, &st) < 0)
		return;
	f = fopen("/proc/locks", "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f) && n + 8 < len) {
		if (sscanf(line, "%*d: %15s %*s %15s %*s %x:%x:%lu %lld %lld",
			   kind, type, &maj, &min, &ino, &start, &end) != 7)
			continue;
		if (ino != st.st_ino || maj != major(st.st_dev) ||
		    min != minor(st.st_dev) || strcmp(kind, "OFDLCK") ||
		    strcmp(type, "READ"))
			continue;
		for (; start <= end && n + 8 < len; start++)
			n += snprintf(out + n, len - n, "%s%lld",
				      n ? " " : "", start);
	}
	fclose(f);
}

/* Sorted: /proc/locks lists the newest lock first. */
static void sorted_bytes(const char *path, char *out, size_t len)
{
	char raw[512], *tok, *save = NULL;
	int bytes[64], n = 0, i, j, t;
	size_t k = 0;

	locked_bytes(path, raw, sizeof(raw));
	for (tok = strtok_r(raw, " ", &save); tok && n < 64;
	     tok = strtok_r(NULL, " ", &save))
		bytes[n++] = atoi(tok);
	for (i = 1; i < n; i++)
		for (j = i; j > 0 && bytes[j - 1] > bytes[j]; j--) {
			t = bytes[j];
			bytes[j] = bytes[j - 1];
			bytes[j - 1] = t;
		}
	out[0] = 0;
	for (i = 0; i < n && k + 8 < len; i++)
		k += snprintf(out + k, len - k, "%s%d", i ? " " : "", bytes[i]);
}

static int open_img(struct qcow_image **img, const char *path, bool ro,
		    bool share)
{
	struct qcow_open_opts oo = { .read_only = ro, .force_share = share };

	*img = NULL;
	return qcow_open(img, path, &oo);
}

static char dir[1024], qc[1100], raw[1100], base[1100], top[1100];

static int make_images(void)
{
	struct qcow_create_opts co = {
		.format = QCOW_FMT_QCOW2, .size = 4 * MiB,
	};
	struct qcow_create_opts ro = { .format = QCOW_FMT_RAW, .size = MiB };
	struct qcow_create_opts to = {
		.format = QCOW_FMT_QCOW2, .size = 4 * MiB,
		.backing_file = "base.qcow2", .backing_format = "qcow2",
	};

	snprintf(dir, sizeof(dir), "%s", tl_tmpdir());
	snprintf(qc, sizeof(qc), "%s/a.qcow2", dir);
	snprintf(raw, sizeof(raw), "%s/r.raw", dir);
	snprintf(base, sizeof(base), "%s/base.qcow2", dir);
	snprintf(top, sizeof(top), "%s/top.qcow2", dir);
	if (qcow_create(qc, &co) < 0 || qcow_create(raw, &ro) < 0 ||
	    qcow_create(base, &co) < 0 || qcow_create(top, &to) < 0)
		return -1;
	return 0;
}

/* The bytes one open holds, as QEMU 7.2 holds them. */
static void case_bytes(const char *name, const char *path, bool ro,
		       const char *other, const char *want, const char *want2)
{
	struct qcow_image *img;
	char got[512], got2[512] = "";

	tl_begin("image_lock/bytes/%s", name);
	if (open_img(&img, path, ro, false) < 0) {
		tl_fail("open: %s", qcow_strerror());
		return;
	}
	sorted_bytes(path, got, sizeof(got));
	if (other)
		sorted_bytes(other, got2, sizeof(got2));
	qcow_close(img);
	if (strcmp(got, want))
		tl_fail("locked bytes '%s', want '%s'", got, want);
	else if (other && strcmp(got2, want2))
		tl_fail("%s: locked bytes '%s', want '%s'", other, got2, want2);
	else
		tl_pass();
}

/* A second open while the first is open: ret and the error text. */
static void case_conflict(const char *name, bool ro1, bool ro2, bool share2,
			  int want, const char *why)
{
	struct qcow_image *a, *b;
	char left[512], expect[1400];
	int ret;

	tl_begin("image_lock/%s", name);
	if (open_img(&a, qc, ro1, false) < 0) {
		tl_fail("first open: %s", qcow_strerror());
		return;
	}
	ret = open_img(&b, qc, ro2, share2);
	qcow_close(b);
	qcow_close(a);
	sorted_bytes(qc, left, sizeof(left));
	snprintf(expect, sizeof(expect), "%s: image is busy: locked by "
		 "another process (%s)", qc, why ? why : "");
	if (ret != want)
		tl_fail("second open returned %d (%s), want %d", ret,
			qcow_strerror(), want);
	else if (why && strcmp(qcow_strerror(), expect))
		tl_fail("error '%s', want '%s'", qcow_strerror(), expect);
	else if (left[0])
		tl_fail("bytes still locked after both closed: %s", left);
	else
		tl_pass();
}

static void case_force_share_rw(void)
{
	struct qcow_image *img;
	int ret;

	tl_begin("image_lock/force-share-needs-read-only");
	ret = open_img(&img, qc, false, true);
	qcow_close(img);
	if (ret != -EINVAL)
		tl_fail("read-write open with force_share returned %d", ret);
	else
		tl_pass();
}

/* qemu-img commit's way: the chain's base takes a writer's locks. */
static void case_lock_for_write(void)
{
	struct qcow_open_opts wo = { .no_backing = true, .no_lock = true };
	struct qcow_image *t, *w = NULL, *other = NULL;
	char got[512];
	int ret, ret2 = 0;

	tl_begin("image_lock/lock-for-write");
	if (open_img(&t, top, true, false) < 0 || !qcow_backing(t)) {
		tl_fail("open: %s", qcow_strerror());
		qcow_close(t);
		return;
	}
	ret = qcow_lock_for_write(qcow_backing(t));
	if (!ret)
		ret = qcow_open(&w, base, &wo);
	sorted_bytes(base, got, sizeof(got));
	if (!ret)
		ret2 = open_img(&other, base, true, false);
	qcow_close(other);
	qcow_close(w);
	qcow_close(t);
	if (ret < 0)
		tl_fail("lock for write, open: %d %s", ret, qcow_strerror());
	else if (strcmp(got, "100 101 103 201 203"))
		tl_fail("base bytes '%s', want a writer's", got);
	else if (ret2 != -EBUSY)
		tl_fail("a reader of the base opened (%d) during the commit",
			ret2);
	else
		tl_pass();
}

/* A forked child keeps the open file, so the locks stay. */
static void case_fork(void)
{
	struct qcow_image *img, *b = NULL;
	int fds[2], st, while_child, after;
	pid_t pid;
	char c;

	tl_begin("image_lock/forked-child-keeps-locks");
	if (pipe(fds) < 0 || open_img(&img, qc, false, false) < 0) {
		tl_fail("setup: %s", qcow_strerror());
		return;
	}
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		close(fds[1]);
		_exit(read(fds[0], &c, 1) < 0);
	}
	close(fds[0]);
	qcow_close(img);
	while_child = open_img(&b, qc, true, false);
	qcow_close(b);
	b = NULL;
	close(fds[1]);
	waitpid(pid, &st, 0);
	after = open_img(&b, qc, false, false);
	qcow_close(b);
	if (pid < 0)
		tl_fail("fork: %s", strerror(errno));
	else if (while_child != -EBUSY)
		tl_fail("open while the child lives returned %d", while_child);
	else if (after < 0)
		tl_fail("open after the child ended: %s", qcow_strerror());
	else
		tl_pass();
}

static void case_no_ofd(void)
{
	struct qcow_image *a = NULL, *b = NULL;
	char got[512];
	int ra, rb;

	tl_begin("image_lock/no-ofd-locks-opens-unlocked");
	no_ofd_locks = true;
	ra = open_img(&a, qc, false, false);
	rb = open_img(&b, qc, true, false);
	no_ofd_locks = false;
	sorted_bytes(qc, got, sizeof(got));
	qcow_close(b);
	qcow_close(a);
	if (ra < 0 || rb < 0)
		tl_fail("opens returned %d, %d (%s)", ra, rb, qcow_strerror());
	else if (got[0])
		tl_fail("bytes locked: %s", got);
	else
		tl_pass();
}

int main(int argc, char **argv)
{
	tl_init(argc, argv);
	tl_begin("image_lock/setup");
	if (make_images() < 0) {
		tl_fail("cannot create the images: %s", qcow_strerror());
		return tl_finish();
	}
	tl_pass();
	case_bytes("qcow2-rw", qc, false, NULL, "100 101 103 201 203", NULL);
	case_bytes("qcow2-ro", qc, true, NULL, "100 201 203", NULL);
	case_bytes("raw-rw", raw, false, NULL, "100 101", NULL);
	case_bytes("raw-ro", raw, true, NULL, "100", NULL);
	case_bytes("overlay-rw", top, false, base, "100 101 103 201 203",
		   "100 201 203");
	case_conflict("rw-then-rw", false, false, false, -EBUSY,
		      "Failed to get \"write\" lock");
	case_conflict("rw-then-ro", false, true, false, -EBUSY,
		      "Failed to get shared \"write\" lock");
	case_conflict("ro-then-rw", true, false, false, -EBUSY,
		      "Failed to get \"write\" lock");
	case_conflict("ro-then-ro", true, true, false, 0, NULL);
	case_conflict("rw-then-ro-force-share", false, true, true, 0, NULL);
	case_force_share_rw();
	case_lock_for_write();
	case_fork();
	case_no_ofd();
	return tl_finish();
}
