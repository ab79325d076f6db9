// SPDX-License-Identifier: MIT
/* Scratch directory, open guard and read-side checks for the fuzz targets. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "fuzz_common.h"
#include "qcow/internal.h"

static char scratch[PATH_MAX];
static char image_path[PATH_MAX];
static bool data_touched;
static const uint8_t *cur_data;
static size_t cur_size;
static uint8_t *iobuf;
static uint64_t check_budget;	/* bytes the oracles may still read */

#define DATA_RAW_SIZE	(1u << 20)

void fz_bug(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "\n==FUZZ ORACLE== engine bug: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

static void die(const char *what)
{
	fprintf(stderr, "fuzz setup: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* ---- the open guard ---- */

/* The name inside the scratch directory, or NULL when it is not there. */
static const char *scratch_name(const char *resolved)
{
	size_t n = strlen(scratch);

	if (strncmp(resolved, scratch, n) || resolved[n] != '/' ||
	    strchr(resolved + n + 1, '/'))
		return NULL;
	return resolved + n + 1;
}

/* The file backend's open: every open of the engine goes through it. */
static int guarded_open(void *arg, struct qfile **out, const char *name,
			bool read_only, bool direct)
{
	char *rp = realpath(name, NULL);
	const char *base;
	int ret;

	if (!rp)
		return errno ? -errno : -ENOENT;
	base = scratch_name(rp);
	if (!base) {
		free(rp);
		return -EACCES;
	}
	if (!read_only) {
		if (!strcmp(base, "data.raw")) {
			data_touched = true;
		} else if (strcmp(base, "img")) {
			free(rp);
			return -EACCES;
		}
	}
	free(rp);
	/* O_DIRECT is not what we fuzz; tmpfs has none anyway */
	ret = qfile_open_os(out, name, read_only, direct);
	return ret;
}

static const struct qfile_backend guard = { .open = guarded_open };

bool fz_is_scratch_file(const char *path, const char *name)
{
	char *rp;
	const char *base;
	bool ok;

	if (!path)
		return false;
	rp = realpath(path, NULL);
	if (!rp)
		return false;
	base = scratch_name(rp);
	ok = base && !strcmp(base, name);
	free(rp);
	return ok;
}

/* ---- the scratch directory ---- */

static uint8_t pattern_byte(uint64_t off, unsigned int seed)
{
	return (uint8_t)((off * 13) ^ (off >> 9) ^ (seed * 71) ^ 0x5a);
}

/* Opens <scratch>/name for writing, truncated. */
static int create_file(const char *name)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", scratch, name);
	return open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
}

static void write_file(const char *name, uint64_t size,
		       const uint64_t (*ranges)[2], unsigned int n,
		       unsigned int seed)
{
	int fd = create_file(name);
	unsigned int i;
	uint64_t off;

	if (fd < 0 || ftruncate(fd, (off_t)size) < 0)
		die(name);
	for (i = 0; i < n; i++) {
		for (off = ranges[i][0]; off < ranges[i][1]; off++)
			iobuf[off - ranges[i][0]] = pattern_byte(off, seed);
		if (pwrite(fd, iobuf, ranges[i][1] - ranges[i][0],
			   (off_t)ranges[i][0]) < 0)
			die(name);
	}
	close(fd);
}

static void put_data_raw(void)
{
	static const uint64_t r[][2] = { { 0, 65536 }, { 524288, 589824 } };

	write_file("data.raw", DATA_RAW_SIZE, r, 2, 3);
	data_touched = false;
}

static void put_be(uint8_t *p, uint64_t v, unsigned int n)
{
	while (n--) {
		p[n] = (uint8_t)v;
		v >>= 8;
	}
}

/*
 * base.qcow2, built by hand so that no target depends on the engine's
 * write path to start: qcow2 v3, 64 KiB clusters, 4 MiB, backing file
 * base.raw (format raw).  Clusters: 0 header, 1 L1, 2 refcount table,
 * 3 refcount block, 4 L2, 5 data at guest 0, 6 data at guest 1 MiB; the
 * L2 entry of guest 2 MiB is a zero cluster.
 */
static void make_base_qcow2(void)
{
	static const char backing[] = "base.raw";
	const uint64_t cs = 65536, copied = 1ULL << 63;
	uint8_t *b = calloc(7, cs);
	unsigned int i;
	int fd;

	if (!b)
		die("calloc");
	put_be(b + 0, 0x514649fb, 4);		/* magic */
	put_be(b + 4, 3, 4);			/* version */
	put_be(b + 8, 256, 8);			/* backing_file_offset */
	put_be(b + 16, sizeof(backing) - 1, 4);
	put_be(b + 20, 16, 4);			/* cluster_bits */
	put_be(b + 24, 4u << 20, 8);		/* size */
	put_be(b + 36, 1, 4);			/* l1_size */
	put_be(b + 40, cs, 8);			/* l1_table_offset */
	put_be(b + 48, 2 * cs, 8);		/* refcount_table_offset */
	put_be(b + 56, 1, 4);			/* refcount_table_clusters */
	put_be(b + 96, 4, 4);			/* refcount_order */
	put_be(b + 100, 112, 4);		/* header_length */
	put_be(b + 112, 0xe2792aca, 4);		/* backing format extension */
	put_be(b + 116, 3, 4);
	memcpy(b + 120, "raw", 3);
	memcpy(b + 256, backing, sizeof(backing) - 1);
	put_be(b + cs, copied | 4 * cs, 8);		/* L1[0] */
	put_be(b + 2 * cs, 3 * cs, 8);			/* reftable[0] */
	for (i = 0; i < 7; i++)
		put_be(b + 3 * cs + 2 * i, 1, 2);	/* refcounts */
	put_be(b + 4 * cs, copied | 5 * cs, 8);		/* guest 0 */
	put_be(b + 4 * cs + 16 * 8, copied | 6 * cs, 8);	/* guest 1M */
	put_be(b + 4 * cs + 32 * 8, 1, 8);		/* guest 2M: zero */
	for (i = 0; i < 2 * cs; i++)
		b[5 * cs + i] = pattern_byte(i, 2);
	fd = create_file("base.qcow2");
	if (fd < 0 || pwrite(fd, b, 7 * cs, 0) != (ssize_t)(7 * cs))
		die("base.qcow2");
	close(fd);
	free(b);
}

static void remove_scratch(void)
{
	DIR *d;
	struct dirent *e;

	if (!scratch[0] || getenv("QCOW_FUZZ_KEEP"))
		return;
	d = opendir(scratch);
	if (d) {
		while ((e = readdir(d)))
			if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
				unlinkat(dirfd(d), e->d_name, 0);
		closedir(d);
	}
	rmdir(scratch);
	scratch[0] = 0;
}

void fz_init(void)
{
	static const uint64_t base_raw[][2] = {
		{ 0, 262144 }, { 786432, 851968 },
	};
	const char *parent = getenv("QCOW_FUZZ_TMP");
	char tmpl[PATH_MAX];

	if (scratch[0])
		return;
	qfile_set_backend(&guard);
	if (!parent || !*parent)
		parent = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : NULL;
	if (!parent)
		parent = getenv("TMPDIR");
	if (!parent || !*parent)
		parent = "/tmp";
	snprintf(tmpl, sizeof(tmpl), "%s/qcow-fuzz.XXXXXX", parent);
	if (!mkdtemp(tmpl))
		die(tmpl);
	if (!realpath(tmpl, scratch))
		die(tmpl);
	atexit(remove_scratch);
	snprintf(image_path, sizeof(image_path), "%s/img", scratch);
	iobuf = malloc(FZ_IO_BUF);
	if (!iobuf)
		die("malloc");
	write_file("base.raw", 1u << 20, base_raw, 2, 1);
	make_base_qcow2();
	put_data_raw();
}

/*
 * The thread's synchronous context outlives every image: a request or a
 * write the engine left behind on it runs at the next use, maybe for
 * another image.  Use it now, for base.raw, so that this happens within
 * the input that left it; then base.raw must hold what it held.
 */
void fz_settle(void)
{
	struct qcow_open_opts o = { .format = QCOW_FMT_RAW, .read_only = true };
	char path[PATH_MAX];
	struct qcow_image *img;
	uint8_t buf[512];
	unsigned int i;

	snprintf(path, sizeof(path), "%s/base.raw", scratch);
	if (qcow_open(&img, path, &o) < 0)
		fz_bug("base.raw does not open: %s", qcow_strerror());
	if (qcow_pread(img, buf, sizeof(buf), 0) < 0)
		fz_bug("base.raw cannot be read");
	qcow_close(img);
	for (i = 0; i < sizeof(buf); i++)
		if (buf[i] != pattern_byte(i, 1))
			fz_bug("base.raw changed at byte %u: a write meant for "
			       "an image closed before reached it", i);
}

const char *fz_scratch_dir(void)
{
	return scratch;
}

const char *fz_image_path(void)
{
	return image_path;
}

uint8_t *fz_buf(void)
{
	return iobuf;
}

void fz_put_image(const uint8_t *data, size_t size)
{
	int fd = open(image_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		      0644);
	uint64_t apparent = 0;
	size_t done = 0;

	/* IMAGE SIZE "QFZS": the file reaches SIZE bytes with a hole */
	if (size >= 12 && !memcmp(data + size - 4, "QFZS", 4)) {
		apparent = MIN(fz_be(data + size - 12, 8), FZ_SPARSE_MAX);
		size -= 12;
	}
	if (fd < 0)
		die(image_path);
	while (done < size) {
		ssize_t n = write(fd, data + done, size - done);

		if (n <= 0)
			die(image_path);
		done += (size_t)n;
	}
	if (apparent > size && ftruncate(fd, (off_t)apparent) < 0)
		die(image_path);
	close(fd);
	if (data_touched)
		put_data_raw();
	cur_data = data;
	cur_size = size;
}

/* ---- read-side checks ---- */

void fz_report_sink(void *arg, const char *msg)
{
	volatile size_t *sink = arg;
	size_t n = strlen(msg);

	if (sink)
		*sink += n;
}

static volatile size_t touch_sink;

static void touch(const char *s)
{
	if (s)
		touch_sink += strlen(s);
}

void fz_touch_info(struct qcow_image *img)
{
	struct qcow_info info;
	unsigned int i;

	touch(qcow_filename(img));
	touch(qcow_format_name(qcow_format(img)));
	touch_sink += qcow_size(img);
	if (qcow_get_info(img, &info) < 0)
		return;
	touch(info.backing_file);
	touch(info.backing_path);
	touch(info.backing_format);
	touch(info.data_file);
	for (i = 0; i < info.nb_snapshots; i++) {
		const struct qcow_snapshot_info *sn = &info.snapshots[i];

		touch(sn->id);
		touch(sn->name);
		touch_sink += sn->vm_state_size + sn->date_sec + sn->disk_size +
			      sn->icount + sn->vm_clock_nsec;
	}
}

static bool is_zero(const uint8_t *p, size_t n)
{
	return !n || (!p[0] && !memcmp(p, p + 1, n - 1));
}

/* Host bytes at off of the file the status names (in the scratch dir). */
static bool host_bytes(const char *file, uint64_t off, uint8_t *dst,
		       uint64_t len)
{
	char *rp = file ? realpath(file, NULL) : NULL;
	ssize_t got = -1;
	int fd;

	if (rp && scratch_name(rp)) {
		fd = open(rp, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			got = pread(fd, dst, len, (off_t)off);
			close(fd);
		}
	}
	free(rp);
	if (got < 0)
		return false;
	memset(dst + got, 0, len - (uint64_t)got);
	return true;
}

/* What the status says about [off, off + len) must be what a read sees. */
static void check_status_extent(struct qcow_image *img, uint64_t off,
				const struct qcow_status *st)
{
	uint64_t len = MIN(st->length, 65536u);
	uint8_t *got = iobuf, *want = iobuf + 65536;

	if (check_budget < len)
		return;
	if (st->flags & QCOW_ST_ZERO) {
		check_budget -= len;
		if (qcow_pread(img, got, len, off) == 0 && !is_zero(got, len))
			fz_bug("%s: block status says %#" PRIx64 "+%#" PRIx64
			       " reads as zeros (flags %#x), a read sees data",
			       qcow_filename(img), off, len, st->flags);
		return;
	}
	if ((st->flags & (QCOW_ST_DATA | QCOW_ST_OFFSET_VALID)) !=
	    (QCOW_ST_DATA | QCOW_ST_OFFSET_VALID) ||
	    (st->flags & QCOW_ST_COMPRESSED) || st->depth)
		return;
	check_budget -= len;
	if (!host_bytes(st->file, st->offset, want, len))
		return;
	if (qcow_pread(img, got, len, off) == 0 && memcmp(got, want, len))
		fz_bug("%s: block status maps %#" PRIx64 "+%#" PRIx64 " to %s "
		       "at %#" PRIx64 " (flags %#x), a read sees other bytes",
		       qcow_filename(img), off, len, st->file, st->offset,
		       st->flags);
}

static bool status_at(struct qcow_image *img, uint64_t off, uint64_t len,
		      struct qcow_status *st)
{
	if (qcow_block_status(img, off, len, st) < 0)
		return false;
	if (!st->length || st->length > len)
		fz_bug("%s: block status at %#" PRIx64 " for %#" PRIx64
		       " bytes returned length %#" PRIx64, qcow_filename(img),
		       off, len, st->length);
	if ((st->flags & QCOW_ST_OFFSET_VALID) && !st->file)
		fz_bug("%s: block status at %#" PRIx64 " has a valid offset "
		       "but no file", qcow_filename(img), off);
	touch(st->file);
	return true;
}

void fz_status_walk(struct qcow_image *img, unsigned int max_steps)
{
	uint64_t size = qcow_size(img), off = 0;
	struct qcow_status st;
	unsigned int steps = 0, k;

	check_budget = 1u << 20;

	while (off < size && steps++ < max_steps) {
		if (!status_at(img, off, size - off, &st))
			break;
		check_status_extent(img, off, &st);
		off += st.length;
	}
	if (off >= size)
		return;
	/* not covered: samples spread over the rest */
	for (k = 0; k < 64; k++) {
		uint64_t at = off + (size - off) / 64 * k;

		if (status_at(img, at, MIN(size - at, 1u << 20), &st))
			check_status_extent(img, at, &st);
	}
}

static void read_range(struct qcow_image *img, uint64_t off, uint64_t len,
		       bool raw_input, uint64_t *budget)
{
	int ret;

	len = MIN(len, (uint64_t)FZ_IO_BUF);
	len = MIN(len, *budget);
	if (!len)
		return;
	*budget -= len;
	ret = qcow_pread(img, iobuf, len, off);
	if (ret < 0 || !raw_input)
		return;
	/* a raw image reads as the file: the input */
	{
		uint64_t n = off < cur_size ? MIN(len, cur_size - off) : 0;

		if (memcmp(iobuf, cur_data + off, n) ||
		    !is_zero(iobuf + n, len - n))
			fz_bug("raw image: read at %#" PRIx64 "+%#" PRIx64
			       " differs from the file", off, len);
	}
}

void fz_exercise_read(struct qcow_image *img)
{
	uint64_t size = qcow_size(img), budget = FZ_READ_BUDGET;
	uint64_t head = MIN(size, 8u << 20), off, chunk = (256u << 10) + 4095;
	bool raw_input = qcow_format(img) == QCOW_FMT_RAW &&
			 fz_is_scratch_file(qcow_filename(img), "img");
	struct qcow_image *b;
	unsigned int k;

	fz_touch_info(img);
	for (off = 0; off < head && budget; off += chunk)
		read_range(img, off, MIN(chunk, size - off), raw_input,
			   &budget);
	if (size > head) {
		for (k = 0; k < 64 && budget; k++) {
			off = ALIGN_DOWN(head + (size - head) / 64 * k, 512);
			read_range(img, off, MIN(65536u + 1, size - off),
				   raw_input, &budget);
		}
		off = size - MIN(size, 4096u + 17);
		read_range(img, off, size - off, raw_input, &budget);
	}
	fz_status_walk(img, FZ_STATUS_STEPS);
	for (b = qcow_backing(img), k = 0; b && k < 4;
	     b = qcow_backing(b), k++) {
		fz_touch_info(b);
		fz_status_walk(b, 64);
	}
}

/* The input as an image of format fmt, opened read-only and read. */
int fz_open_and_read(const uint8_t *data, size_t size, enum qcow_format fmt)
{
	struct qcow_open_opts o = { .format = fmt, .read_only = true };
	struct qcow_image *img;

	fz_put_image(data, size);
	if (qcow_open(&img, fz_image_path(), &o) < 0) {
		(void)qcow_strerror();
		return 0;
	}
	fz_exercise_read(img);
	qcow_close(img);
	return 0;
}
