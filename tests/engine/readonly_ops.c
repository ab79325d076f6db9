// SPDX-License-Identifier: MIT
/*
 * Requests on an image opened read-only: reads work, every request that
 * would change the image is refused with EROFS, and FLUSH succeeds with
 * nothing to do (as qemu-io's flush on a read-only image), synchronously
 * and on a caller's ring; the file stays byte-identical.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <liburing.h>
#include "qcow.h"
#include "testlib.h"

#define SIZE (1u << 20)

static int flush_err = 1;

static void flush_done(struct qcow_req *req, int err)
{
	flush_err = err;
}

/* FLUSH through qcow_submit() on a ring: completes, with no error. */
static int ring_flush(struct qcow_image *img, char *why, size_t n)
{
	struct qcow_req req = { .done = flush_done };
	struct io_uring ring;
	struct qcow_ctx *ctx;
	int ret;

	if (io_uring_queue_init(8, &ring, 0) < 0)
		return 77;
	ret = qcow_ctx_new(&ctx, &ring);
	if (ret < 0) {
		io_uring_queue_exit(&ring);
		snprintf(why, n, "qcow_ctx_new: %d", ret);
		return -1;
	}
	ret = qcow_submit(ctx, img, &req, QCOW_OP_FLUSH, NULL, 0, 0);
	if (ret < 0)
		snprintf(why, n, "submit FLUSH: %s", strerror(-ret));
	else if (qcow_ctx_inflight(ctx))
		snprintf(why, n, "FLUSH still in flight with nothing to do");
	else if (flush_err)
		snprintf(why, n, "FLUSH completed with %d", flush_err);
	qcow_ctx_free(ctx);
	io_uring_queue_exit(&ring);
	return ret < 0 || flush_err ? -1 : 0;
}

static void run(void)
{
	struct qcow_create_opts co = {
		.format = QCOW_FMT_QCOW2, .size = SIZE, .cluster_size = 65536,
	};
	struct qcow_open_opts ro = { .read_only = true }, rw = { 0 };
	static uint8_t buf[65536];
	struct qcow_image *img;
	char path[1024], why[1400] = "";
	uint8_t *before;
	size_t len;
	int ret;

	tl_begin("readonly_ops/refused-and-flush");
	snprintf(path, sizeof(path), "%s/ro.qcow2", tl_tmpdir());
	memset(buf, 0x6b, sizeof(buf));
	if (qcow_create(path, &co) < 0 || qcow_open(&img, path, &rw) < 0)
		return tl_fail("setup: %s", qcow_strerror());
	ret = qcow_pwrite(img, buf, sizeof(buf), 0);
	qcow_close(img);
	before = tl_read_file(path, &len);
	if (ret < 0 || !before)
		return tl_fail("setup write: %d", ret);
	if (qcow_open(&img, path, &ro) < 0)
		return tl_fail("open read-only: %s", qcow_strerror());
	if ((ret = qcow_pwrite(img, buf, 512, 4096)) != -EROFS)
		snprintf(why, sizeof(why), "write: %d, not EROFS", ret);
	else if ((ret = qcow_pwrite_zeroes(img, 4096, 0, 0)) != -EROFS)
		snprintf(why, sizeof(why), "write zeroes: %d, not EROFS", ret);
	else if ((ret = qcow_pdiscard(img, 65536, 0)) != -EROFS)
		snprintf(why, sizeof(why), "discard: %d, not EROFS", ret);
	else if ((ret = qcow_flush(img)) != 0)
		snprintf(why, sizeof(why), "flush: %s", strerror(-ret));
	else if ((ret = qcow_pread(img, buf, sizeof(buf), 0)) < 0 ||
		 buf[0] != 0x6b || buf[sizeof(buf) - 1] != 0x6b)
		snprintf(why, sizeof(why), "read back: %d, %#x", ret, buf[0]);
	else if ((ret = ring_flush(img, why, sizeof(why))) == 77)
		why[0] = 0;
	qcow_close(img);
	if (!why[0])
		tl_file_equals(path, before, len, why, sizeof(why));
	free(before);
	if (why[0])
		return tl_fail("%s", why);
	if (ret == 77)
		return tl_skip("io_uring is not available: the ring FLUSH "
			       "was not tried");
	tl_pass();
}

int main(int argc, char **argv)
{
	tl_init(argc, argv);
	run();
	return tl_finish();
}
