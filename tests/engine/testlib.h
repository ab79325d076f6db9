/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the engine tests in tests/engine/.  Every test program is
 * built from one .c file, so everything here is static inline.
 *
 * Output contract (the same as tests/lib.sh): one line per case on stdout,
 *     PASS: <name>
 *     FAIL: <name> <why>
 *     SKIP: <name> (<reason>)
 * Diagnostics go to stderr.  tl_finish() returns the exit status: 1 if any
 * case failed, 77 if every case was skipped (or none ran), 0 otherwise.
 *
 * Typical use:
 *     tl_init(argc, argv);
 *     tl_begin("some_case");
 *     if (bad) tl_fail("got %d", x); else tl_pass();
 *     return tl_finish();
 *
 * In ASan builds a case that passes is also checked for leaks (LeakSanitizer,
 * unless ASAN_OPTIONS has detect_leaks=0) and fails if memory was lost.
 *
 * Every case runs under a watchdog (alarm()): a case that takes longer
 * than TL_TIMEOUT seconds (default 240, environment variable TL_TIMEOUT
 * overrides) prints a FAIL line and ends the program.
 *
 * Environment: KEEP_TMP=1 keeps the scratch directory of tl_tmpdir().
 */
#ifndef TESTS_ENGINE_TESTLIB_H
#define TESTS_ENGINE_TESTLIB_H

/* nftw() needs it; the Makefile passes -D_GNU_SOURCE anyway */
#if !defined(_GNU_SOURCE) && !defined(_XOPEN_SOURCE)
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* In sanitizer builds each case is checked for leaks when it passes. */
#if defined(__SANITIZE_ADDRESS__)
#define TL_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TL_LSAN 1
#endif
#endif
#ifdef TL_LSAN
#include <sanitizer/lsan_interface.h>
#endif

struct tl_state {
	unsigned int passed, failed, skipped;
	bool in_case;
	bool leaked;
	unsigned int timeout;
	char name[160];
	char tmpdir[256];
	/* the watchdog's message, prepared before the alarm is armed */
	char alarm_msg[256];
	size_t alarm_len;
};

static inline struct tl_state *tl_state(void)
{
	static struct tl_state st;

	return &st;
}

/* ---- big-endian access ---- */

static inline void tl_put_be16(void *p, uint16_t v)
{
	uint8_t *b = p;

	b[0] = v >> 8;
	b[1] = v;
}

static inline void tl_put_be32(void *p, uint32_t v)
{
	uint8_t *b = p;

	b[0] = v >> 24;
	b[1] = v >> 16;
	b[2] = v >> 8;
	b[3] = v;
}

static inline void tl_put_be64(void *p, uint64_t v)
{
	tl_put_be32(p, (uint32_t)(v >> 32));
	tl_put_be32((uint8_t *)p + 4, (uint32_t)v);
}

static inline uint16_t tl_get_be16(const void *p)
{
	const uint8_t *b = p;

	return (uint16_t)(b[0] << 8 | b[1]);
}

static inline uint32_t tl_get_be32(const void *p)
{
	const uint8_t *b = p;

	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
	       (uint32_t)b[2] << 8 | b[3];
}

static inline uint64_t tl_get_be64(const void *p)
{
	return (uint64_t)tl_get_be32(p) << 32 |
	       tl_get_be32((const uint8_t *)p + 4);
}

/* ---- random numbers ---- */

/*
 * The tests' one generator: a 64-bit linear congruential step, the high
 * 31 bits of the new state returned.  A seed fixes a test's workload.
 */
static inline uint64_t tl_rnd(uint64_t *seed)
{
	*seed = *seed * 6364136223846793005ULL + 1442695040888963407ULL;
	return *seed >> 33;
}

/* len bytes that differ at every offset, the same for the same seed. */
static inline void tl_fill_rand(uint8_t *buf, uint64_t len, uint64_t seed)
{
	uint64_t i, x = seed * 0x9e3779b97f4a7c15ULL + 1;

	for (i = 0; i < len; i++) {
		if (!(i & 3))
			tl_rnd(&x);
		buf[i] = (uint8_t)(x >> (32 + 8 * (i & 3)));
	}
}

/* ---- results ---- */

static inline void tl_alarm_handler(int sig)
{
	struct tl_state *st = tl_state();
	ssize_t n;

	(void)sig;
	n = write(STDOUT_FILENO, st->alarm_msg, st->alarm_len);
	(void)n;
	_exit(1);
}

static inline void tl_init(int argc, char **argv)
{
	struct tl_state *st = tl_state();
	const char *t = getenv("TL_TIMEOUT");
	struct sigaction sa;

	(void)argc;
	(void)argv;
	setvbuf(stdout, NULL, _IOLBF, 0);
	st->timeout = t && atoi(t) > 0 ? (unsigned int)atoi(t) : 240;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = tl_alarm_handler;
	sigaction(SIGALRM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static inline void tl_end_case(void)
{
	struct tl_state *st = tl_state();

	alarm(0);
	st->in_case = false;
}

/* Starts a case; a case still open is reported as failed first. */
static inline void tl_begin(const char *fmt, ...)
{
	struct tl_state *st = tl_state();
	va_list ap;
	int n;

	if (st->in_case) {
		printf("FAIL: %s no result reported\n", st->name);
		st->failed++;
	}
	va_start(ap, fmt);
	vsnprintf(st->name, sizeof(st->name), fmt, ap);
	va_end(ap);
	n = snprintf(st->alarm_msg, sizeof(st->alarm_msg),
		     "FAIL: %s timed out after %u s\n", st->name, st->timeout);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(st->alarm_msg))
		n = sizeof(st->alarm_msg) - 1;
	st->alarm_len = (size_t)n;
	st->in_case = true;
	alarm(st->timeout);
}

static inline const char *tl_case_name(void)
{
	return tl_state()->name;
}

static inline __attribute__((format(printf, 1, 2)))
void tl_fail(const char *fmt, ...);

static inline void tl_pass(void)
{
	struct tl_state *st = tl_state();

#ifdef TL_LSAN
	/*
	 * Memory the case lost and nothing points to any more.  A leak
	 * stays reported by every later check, so only the first leaking
	 * case fails; LeakSanitizer reports every leak again at exit.
	 */
	if (!st->leaked && __lsan_do_recoverable_leak_check()) {
		st->leaked = true;
		tl_fail("memory leaked (LeakSanitizer report on stderr; "
			"later cases are not checked for leaks)");
		return;
	}
#endif
	tl_end_case();
	printf("PASS: %s\n", st->name);
	st->passed++;
}

static inline __attribute__((format(printf, 1, 2)))
void tl_fail(const char *fmt, ...)
{
	struct tl_state *st = tl_state();
	char why[1024];
	va_list ap;
	char *p;

	tl_end_case();
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	/* the result must stay on one line */
	for (p = why; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	printf("FAIL: %s %s\n", st->name, why);
	st->failed++;
}

static inline __attribute__((format(printf, 1, 2)))
void tl_skip(const char *fmt, ...)
{
	struct tl_state *st = tl_state();
	char why[512];
	va_list ap;

	tl_end_case();
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	printf("SKIP: %s (%s)\n", st->name, why);
	st->skipped++;
}

static inline int tl_rm_entry(const char *path, const struct stat *sb,
			      int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

/* Removes the scratch directory (kept with KEEP_TMP=1 or on failure). */
static inline void tl_cleanup(void)
{
	struct tl_state *st = tl_state();
	const char *keep = getenv("KEEP_TMP");

	if (!st->tmpdir[0])
		return;
	if ((keep && keep[0] == '1') || st->failed) {
		fprintf(stderr, "    scratch files kept in %s\n", st->tmpdir);
		return;
	}
	nftw(st->tmpdir, tl_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	st->tmpdir[0] = 0;
}

static inline int tl_finish(void)
{
	struct tl_state *st = tl_state();

	if (st->in_case) {
		tl_end_case();
		printf("FAIL: %s no result reported\n", st->name);
		st->failed++;
	}
	tl_cleanup();
	fprintf(stderr, "    %u passed, %u failed, %u skipped\n", st->passed,
		st->failed, st->skipped);
	if (st->failed)
		return 1;
	if (!st->passed)
		return 77;
	return 0;
}

/* ---- files ---- */

/* A private scratch directory, made on first use; NULL on failure. */
static inline const char *tl_tmpdir(void)
{
	struct tl_state *st = tl_state();
	const char *base = getenv("TMPDIR");

	if (st->tmpdir[0])
		return st->tmpdir;
	snprintf(st->tmpdir, sizeof(st->tmpdir), "%s/qcow-engine-XXXXXX",
		 base && base[0] ? base : "/tmp");
	if (!mkdtemp(st->tmpdir)) {
		st->tmpdir[0] = 0;
		return NULL;
	}
	return st->tmpdir;
}

/* "<tmpdir>/<name>" into buf; returns buf. */
static inline char *tl_path(char *buf, size_t size, const char *name)
{
	const char *dir = tl_tmpdir();

	/* (the result is used: truncation is checked, not warned about) */
	if (snprintf(buf, size, "%s/%s", dir ? dir : "/tmp", name) >=
	    (int)size)
		fprintf(stderr, "    path truncated: %s\n", buf);
	return buf;
}

/* Creates or replaces path with exactly len bytes; 0 or -errno. */
static inline int tl_write_file(const char *path, const void *buf,
				size_t len)
{
	const uint8_t *p = buf;
	size_t done = 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0)
		return -errno;
	while (done < len) {
		ssize_t n = write(fd, p + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int err = n < 0 ? -errno : -EIO;

			close(fd);
			return err;
		}
		done += (size_t)n;
	}
	if (close(fd) < 0)
		return -errno;
	return 0;
}

/* Whole file in a malloc'ed buffer (NULL on error); *len gets its size. */
static inline uint8_t *tl_read_file(const char *path, size_t *len)
{
	struct stat sb;
	uint8_t *buf;
	size_t done = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	if (fstat(fd, &sb) < 0) {
		close(fd);
		return NULL;
	}
	buf = malloc(sb.st_size ? (size_t)sb.st_size : 1);
	while (buf && done < (size_t)sb.st_size) {
		ssize_t n = read(fd, buf + done, (size_t)sb.st_size - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(buf);
			buf = NULL;
			break;
		}
		done += (size_t)n;
	}
	close(fd);
	if (buf)
		*len = done;
	return buf;
}

/*
 * Is the file byte-identical to buf?  On a difference, *why (if not
 * NULL) describes the first one.
 */
static inline bool tl_file_equals(const char *path, const void *buf,
				  size_t len, char *why, size_t why_size)
{
	size_t flen = 0, i;
	uint8_t *f = tl_read_file(path, &flen);
	bool same;

	if (!f) {
		if (why)
			snprintf(why, why_size, "cannot read %s back", path);
		return false;
	}
	same = flen == len && !memcmp(f, buf, len);
	if (!same && why) {
		for (i = 0; i < flen && i < len; i++)
			if (f[i] != ((const uint8_t *)buf)[i])
				break;
		snprintf(why, why_size, "file changed: %zu bytes, was %zu; "
			 "first difference at byte %zu", flen, len, i);
	}
	free(f);
	return same;
}

/* 64-bit FNV-1a, for fingerprints of files too big to keep twice. */
static inline uint64_t tl_fnv1a(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/*
 * The O_DIRECT block (st_blksize) of a file made in the scratch
 * directory, 0 where O_DIRECT does not open there.
 */
static inline unsigned int tl_direct_block(void)
{
	char path[1024];
	struct stat st;
	int fd;

	tl_path(path, sizeof(path), "direct-probe");
	if (tl_write_file(path, "x", 1) < 0)
		return 0;
	fd = open(path, O_RDONLY | O_DIRECT);
	if (fd < 0)
		return 0;
	if (fstat(fd, &st) < 0)
		st.st_blksize = 0;
	close(fd);
	return (unsigned int)st.st_blksize;
}

/* ---- external programs ---- */

/* Is prog an executable in $PATH (or a path to one)? */
static inline bool tl_have_prog(const char *prog)
{
	const char *path = getenv("PATH");
	char buf[4096];
	const char *p, *end;

	if (strchr(prog, '/'))
		return access(prog, X_OK) == 0;
	for (p = path ? path : "/usr/bin:/bin"; *p; p = *end ? end + 1 : end) {
		end = strchr(p, ':');
		if (!end)
			end = p + strlen(p);
		snprintf(buf, sizeof(buf), "%.*s/%s", (int)(end - p), p, prog);
		if (end > p && access(buf, X_OK) == 0)
			return true;
	}
	return false;
}

/* Runs a shell command; its exit status, or -1 if it did not exit. */
static inline __attribute__((format(printf, 1, 2)))
int tl_run(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	fflush(stdout);
	st = system(cmd);
	if (st == -1 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

/*
 * The case's verdict: FAIL with why when the data check found something,
 * else qemu-img check of path (SKIP without qemu-img).
 */
static inline void tl_verdict_checked(const char *why, const char *path)
{
	int ret;

	if (why[0])
		tl_fail("%s", why);
	else if (!tl_have_prog("qemu-img"))
		tl_skip("qemu-img is not installed: data checked, image not");
	else if ((ret = tl_run("qemu-img check -q '%s'", path)))
		tl_fail("qemu-img check exit %d", ret);
	else
		tl_pass();
}

#endif
