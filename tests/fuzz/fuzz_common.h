/* SPDX-License-Identifier: MIT */
/*
 * Shared by the libFuzzer targets in tests/fuzz/ (see tests/README.md).
 *
 * Every target opens images by path, in a private scratch directory: the
 * input is written to <scratch>/img and opened by that absolute path, so
 * that the names it holds resolve in the scratch directory.  (The current
 * directory is left alone: libFuzzer's corpus and artifact paths may be
 * relative to it.)  The scratch directory holds a few images that inputs
 * may name as backing or data files (base.raw, base.qcow2 whose backing
 * file is base.raw, data.raw).  Every open the engine makes goes through
 * the open hook of the file backend that fz_init() sets
 * (qcow/file_backend.h): a path that does not resolve inside the scratch
 * directory is refused with EACCES, and only img and data.raw may be opened read-write, so no input
 * can make the engine read or write a host file.
 *
 * The scratch directory is made under $QCOW_FUZZ_TMP, else /dev/shm, else
 * $TMPDIR or /tmp, and removed at exit (kept with QCOW_FUZZ_KEEP=1).
 */
#ifndef TESTS_FUZZ_COMMON_H
#define TESTS_FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "qcow.h"

/* the limits for one input */
#define FZ_READ_BUDGET		(16u << 20)	/* bytes read per image */
#define FZ_STATUS_STEPS		2048		/* block status calls */
#define FZ_IO_BUF		(1u << 20)	/* largest single read */
#define FZ_SPARSE_MAX		(1ULL << 42)	/* apparent image size */

/* Creates the scratch directory (once); exits the process on failure. */
void fz_init(void);
/* Absolute path of the scratch directory (the current directory). */
const char *fz_scratch_dir(void);
/* Absolute path of the image the input is written to. */
const char *fz_image_path(void);
/*
 * Writes the input to fz_image_path(), restores data.raw if touched.
 * An input that ends in 8 bytes SIZE (big endian) and "QFZS" becomes a
 * sparse file: the rest, then a hole up to SIZE (at most FZ_SPARSE_MAX)
 * bytes, as a hostile image may come.
 */
void fz_put_image(const uint8_t *data, size_t size);
/*
 * Reads base.raw through the thread's synchronous context, which makes
 * whatever the engine left running on it finish now; checks base.raw.
 */
void fz_settle(void);
/* A buffer of FZ_IO_BUF bytes (the targets are single-threaded). */
uint8_t *fz_buf(void);

/*
 * Exercises a read-only image: info (every string touched), reads of up
 * to FZ_READ_BUDGET bytes spread over the virtual size, a block status
 * walk of this layer and of every backing image, and the checks that cost
 * nothing extra: status lengths in range, ranges reported as zero read as
 * zeros, a raw image reads as its file.
 */
void fz_exercise_read(struct qcow_image *img);
int fz_open_and_read(const uint8_t *data, size_t size, enum qcow_format fmt);
void fz_touch_info(struct qcow_image *img);
void fz_status_walk(struct qcow_image *img, unsigned int max_steps);

/* Ignores the messages of qcow_check() but reads every byte of them. */
void fz_report_sink(void *arg, const char *msg);

/* Reports an engine bug found by an oracle (not a crash) and aborts. */
void fz_bug(const char *fmt, ...)
	__attribute__((noreturn, format(printf, 1, 2)));

/* True when the file name resolves to <scratch>/<name>. */
bool fz_is_scratch_file(const char *path, const char *name);

static inline uint64_t fz_be(const uint8_t *p, unsigned int n)
{
	uint64_t v = 0;

	while (n--)
		v = v << 8 | *p++;
	return v;
}

#endif
