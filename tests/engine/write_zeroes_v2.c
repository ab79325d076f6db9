// SPDX-License-Identifier: MIT
/*
 * Write-zeroes on a version 2 image with a backing file (no zero flag,
 * and unmapping would uncover the backing file: real zeros go through
 * the write path) over a large range: the engine's peak memory must not
 * grow with the request (it once allocated and cleared a buffer of the
 * request's size), the range must read back as zeros and the data around
 * it must stay, checked by us and by qemu-img (compare with a raw image
 * of the expected content, and check).
 *
 * Peak memory: the peak RSS (VmHWM) is reset through /proc/self/clear_refs
 * before the write-zeroes and read after it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "qcow.h"
#include "testlib.h"

#define MIB		(1ull << 20)
#define IMG_SIZE	(80 * MIB)
#define ZOFF		(8 * MIB + 512)	/* unaligned: partial clusters too */
#define ZLEN		(64 * MIB)
#define CHUNK		MIB
/* far below the 64 MiB a buffer of the request's size takes */
#define PEAK_LIMIT	(16 * MIB)

/* VmHWM or VmRSS of this process in bytes, or 0. */
static uint64_t status_kib(const char *field)
{
	char line[256];
	uint64_t v = 0;
	size_t n = strlen(field);
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, n) && line[n] == ':')
			v = strtoull(line + n + 1, NULL, 10) * 1024;
	fclose(f);
	return v;
}

static bool reset_peak(void)
{
	int fd = open("/proc/self/clear_refs", O_WRONLY);
	bool ok;

	if (fd < 0)
		return false;
	ok = write(fd, "5", 1) == 1;
	close(fd);
	return ok;
}

static uint8_t pattern(uint64_t off)
{
	return (uint8_t)(0x40 + (off / 4096) % 61);
}

static void fill(uint8_t *buf, uint64_t off, uint64_t len, bool zero)
{
	uint64_t i;

	for (i = 0; i < len; i++)
		buf[i] = zero && off + i >= ZOFF && off + i < ZOFF + ZLEN ?
			 0 : pattern(off + i);
}

static int write_ref(const char *path, uint8_t *buf)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	uint64_t off;

	if (fd < 0)
		return -1;
	for (off = 0; off < IMG_SIZE; off += CHUNK) {
		fill(buf, off, CHUNK, true);
		if (pwrite(fd, buf, CHUNK, (off_t)off) != CHUNK) {
			close(fd);
			return -1;
		}
	}
	return close(fd);
}

/* An empty (sparse) backing file of the image's size. */
static int truncate_new(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	int ret = fd < 0 ? -1 : ftruncate(fd, IMG_SIZE);

	if (fd >= 0)
		close(fd);
	return ret;
}

static void run(void)
{
	struct qcow_create_opts co = {
		.format = QCOW_FMT_QCOW2, .size = IMG_SIZE, .compat = 2,
		.backing_file = "base.raw", .backing_format = "raw",
	};
	struct qcow_open_opts oo = { 0 };
	static uint8_t buf[CHUNK], want[CHUNK];
	struct qcow_image *img;
	char path[1024], ref[1024];
	uint64_t off, before, peak;
	int ret;

	tl_begin("write_zeroes_v2/bounded-memory");
	tl_path(path, sizeof(path), "v2.qcow2");
	tl_path(ref, sizeof(ref), "base.raw");
	if (truncate_new(ref) < 0)
		return tl_fail("cannot make %s", ref);
	tl_path(ref, sizeof(ref), "v2.raw");
	if (status_kib("VmRSS") == 0 || !reset_peak() || !status_kib("VmHWM"))
		return tl_skip("no peak RSS in /proc/self/status");
	if (qcow_create(path, &co) < 0 || qcow_open(&img, path, &oo) < 0)
		return tl_fail("%s", qcow_strerror());
	for (off = 0; off < IMG_SIZE; off += CHUNK) {
		fill(buf, off, CHUNK, false);
		ret = qcow_pwrite(img, buf, CHUNK, off);
		if (ret < 0)
			break;
	}
	/* warm up the zero path (first-use costs) inside the range */
	if (ret >= 0)
		ret = qcow_pwrite_zeroes(img, 4096, ZOFF + 4096, 0);
	if (ret < 0) {
		qcow_close(img);
		return tl_fail("setup writes: %d", ret);
	}
	reset_peak();
	before = status_kib("VmRSS");
	ret = qcow_pwrite_zeroes(img, ZLEN, ZOFF, 0);
	peak = status_kib("VmHWM");
	if (ret < 0) {
		qcow_close(img);
		return tl_fail("write zeroes: %d", ret);
	}
	if (peak > before + PEAK_LIMIT) {
		qcow_close(img);
		return tl_fail("peak RSS grew by %llu MiB for a %llu MiB "
			       "write-zeroes (limit %llu MiB)",
			       (unsigned long long)((peak - before) / MIB),
			       (unsigned long long)(ZLEN / MIB),
			       (unsigned long long)(PEAK_LIMIT / MIB));
	}
	for (off = 0; off < IMG_SIZE && ret >= 0; off += CHUNK) {
		ret = qcow_pread(img, buf, CHUNK, off);
		fill(want, off, CHUNK, true);
		if (ret >= 0 && memcmp(buf, want, CHUNK)) {
			qcow_close(img);
			return tl_fail("wrong data in [%llu MiB, +1 MiB)",
				       (unsigned long long)(off / MIB));
		}
	}
	qcow_close(img);
	if (ret < 0)
		return tl_fail("read back: %d", ret);
	if (!tl_have_prog("qemu-img"))
		return tl_pass();
	if (write_ref(ref, buf) < 0)
		return tl_fail("cannot write %s", ref);
	if (tl_run("qemu-img compare -q -f qcow2 -F raw '%s' '%s'", path, ref))
		return tl_fail("qemu-img compare: differs from the expected "
			       "content");
	if (tl_run("qemu-img check -q '%s'", path))
		return tl_fail("qemu-img check failed");
	tl_pass();
}

int main(int argc, char **argv)
{
	tl_init(argc, argv);
	run();
	return tl_finish();
}
