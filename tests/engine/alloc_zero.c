// SPDX-License-Identifier: MIT
/*
 * Allocating writes whose copy-on-write would be zeros (no backing data)
 * write only the guest's bytes.  New clusters past the file's end read as
 * zeros and are written as they are: 4 KiB writes into 64 KiB clusters
 * cost at most 1.1 bytes written per guest byte, metadata and close
 * included (bytes counted by the file backend's event hook).  Clusters
 * that may hold old bytes (here: garbage past the last cluster in use,
 * free to the refcounts) are zeroed first (FALLOC_FL_ZERO_RANGE, a punched
 * hole on tmpfs, or zeros written where neither works): no garbage may
 * read back.  Each image is compared with its byte model through our
 * reads and, as a raw file, with qemu-img compare, and qemu-img checked.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "qcow/internal.h"
#include "testlib.h"
#include "model.h"

#define SIZE	(32u << 20)
#define GARBAGE	(32u << 20)

static uint64_t written, zeroed;
static bool refuse_zero;

static void count(void *arg, enum qio_event ev, const struct qio_op *op,
		  int res)
{
	(void)arg;
	(void)res;
	if (ev != QIO_EV_SUBMIT)
		return;
	if (op->kind == QIO_WRITE)
		written += op->len;
	if (op->kind == QIO_ZERO)
		zeroed++;
}

static int fail_zero(void *arg, const struct qio_op *op)
{
	(void)arg;
	return refuse_zero && op->kind == QIO_ZERO ? -EOPNOTSUPP : 0;
}

static const struct qfile_backend counter = {
	.event = count, .fail = fail_zero,
};

struct zcase {
	const char *name;
	uint32_t cs;
	bool extl2;
	bool garbage;		/* free clusters past the end hold 0xee */
	bool shm;		/* in /dev/shm: no zero range, a punch */
	bool no_zero;		/* every zeroing refused: zeros written */
	bool direct;
	uint32_t len;		/* each write */
	uint32_t shift;		/* its offset in its cluster: i * shift */
	double max_ratio;	/* bytes written per guest byte; 0: any */
};

static const struct zcase cases[] = {
	{ "fresh-4k", 65536, false, false, false, false, false, 4096, 0,
	  1.1 },
	{ "fresh-64k", 65536, false, false, false, false, false, 65536, 0,
	  1.1 },
	{ "fresh-unaligned", 65536, false, false, false, false, false, 1000,
	  777, 0 },
	{ "fresh-extl2", 65536, true, false, false, false, false, 4096, 2048,
	  1.1 },
	{ "stale-4k", 65536, false, true, false, false, false, 4096, 4096,
	  1.1 },
	{ "stale-unaligned", 65536, false, true, false, false, false, 1000,
	  777, 0 },
	{ "stale-extl2", 65536, true, true, false, false, false, 3000, 1500,
	  0 },
	{ "stale-shm", 65536, false, true, true, false, false, 4096, 4096,
	  1.1 },
	{ "stale-no-zero-range", 65536, false, true, false, true, false,
	  4096, 4096, 0 },
	{ "stale-direct", 65536, false, true, false, false, true, 512, 1536,
	  0 },
	{ "fresh-direct-extl2", 32768, true, false, false, false, true, 1024,
	  3072, 0 },
};

static int add_garbage(const char *path)
{
	uint8_t *junk = malloc(GARBAGE);
	struct stat st;
	int fd, ret = 0;

	if (!junk)
		return -ENOMEM;
	memset(junk, 0xee, GARBAGE);
	fd = open(path, O_WRONLY);
	if (fd < 0 || fstat(fd, &st) < 0 ||
	    pwrite(fd, junk, GARBAGE, (st.st_size + 65535) & ~65535ULL) !=
	    GARBAGE)
		ret = -errno;
	if (fd >= 0)
		close(fd);
	free(junk);
	return ret;
}

static const char *run_case(const struct zcase *c, const char *path,
			    const char *raw, char *why, size_t whylen)
{
	struct qcow_create_opts co = {
		.format = QCOW_FMT_QCOW2, .size = SIZE, .cluster_size = c->cs,
		.extended_l2 = c->extl2,
	};
	struct qcow_open_opts oo = { .direct = c->direct };
	struct tl_model m;
	struct qcow_image *img;
	uint8_t *buf, *back;
	uint64_t guest = 0, i, n = SIZE / c->cs;
	int ret;

	why[0] = 0;
	if (qcow_create(path, &co) < 0)
		return "create failed";
	if (c->garbage && add_garbage(path) < 0)
		return "cannot append garbage";
	buf = aligned_alloc(4096, 65536 + 4096);
	back = malloc(SIZE);
	if (!buf || !back || tl_model_init(&m, SIZE, 0) < 0)
		return "out of memory";
	written = zeroed = 0;
	refuse_zero = c->no_zero;
	qfile_set_backend(&counter);
	ret = qcow_open(&img, path, &oo);
	if (ret < 0) {
		snprintf(why, whylen, "open: %s", qcow_strerror());
		goto out;
	}
	for (i = 0; i < n && !why[0]; i++) {
		uint64_t off = i * c->cs + (i * c->shift) % (c->cs - c->len + 1);

		tl_fill_rand(buf, c->len, i + 1);
		ret = qcow_pwrite(img, buf, c->len, off);
		if (ret < 0)
			snprintf(why, whylen, "write at %" PRIu64 ": %d", off,
				 ret);
		tl_model_put(&m, off, buf, c->len);
		guest += c->len;
	}
	if (!why[0] && tl_model_differs(&m, img, back))
		snprintf(why, whylen, "data differs from the model");
	qcow_close(img);
	qfile_set_backend(NULL);
	if (!why[0] && c->max_ratio &&
	    written > c->max_ratio * (double)guest)
		snprintf(why, whylen, "%" PRIu64 " bytes written for %" PRIu64
			 " guest bytes (ratio %.2f)", written, guest,
			 (double)written / guest);
	else if (!why[0] && c->garbage && !c->no_zero && !zeroed)
		snprintf(why, whylen, "no cluster was zeroed");
	printf("NOTE: alloc_zero/%s: %.3f bytes written per guest byte, %"
	       PRIu64 " zeroings\n", c->name, (double)written / guest, zeroed);
	if (!why[0] && tl_write_file(raw, m.bytes, SIZE) < 0)
		snprintf(why, whylen, "cannot write the raw model");
	if (!why[0] && tl_have_prog("qemu-img") &&
	    tl_run("qemu-img compare -q -f qcow2 -F raw '%s' '%s'", path,
		   raw))
		snprintf(why, whylen, "qemu-img compare: differs from model");
out:
	qfile_set_backend(NULL);
	tl_model_free(&m);
	free(buf);
	free(back);
	return why;
}

int main(int argc, char **argv)
{
	char path[1024], raw[1024], why[256], shm[64];
	unsigned int blk;
	size_t i;

	tl_init(argc, argv);
	blk = tl_direct_block();
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct zcase *c = &cases[i];
		const char *err;

		tl_begin("%s", c->name);
		if (c->direct && (!blk || blk > 4096 || blk > c->cs)) {
			tl_skip("no O_DIRECT with blocks of 4 KiB or less here");
			continue;
		}
		if (c->shm) {
			snprintf(shm, sizeof(shm), "/dev/shm/alloc-zero-%d",
				 (int)getpid());
			if (access("/dev/shm", W_OK)) {
				tl_skip("no /dev/shm");
				continue;
			}
			snprintf(path, sizeof(path), "%s.qcow2", shm);
		} else {
			tl_path(path, sizeof(path), "img.qcow2");
		}
		tl_path(raw, sizeof(raw), "model.raw");
		err = run_case(c, path, raw, why, sizeof(why));
		tl_verdict_checked(err, path);
		if (c->shm)
			unlink(path);
	}
	return tl_finish();
}
