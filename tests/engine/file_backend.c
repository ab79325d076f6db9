// SPDX-License-Identifier: MIT
/*
 * The file backend's hooks (qcow/file_backend.h) do what they say: a held
 * write does not reach the file, nor the event hook, until it is
 * released, and its request completes only then; an open the open hook
 * refuses fails with its error.  The file is read back with pread.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "qcow/internal.h"
#include "testlib.h"

#define SIZE	(1u << 20)
#define OFF	8192
#define LEN	4096

struct watch {
	struct qio_op *held;
	int submits;
	int dones;
	bool done;
	int res;
};

static bool hold_first_write(void *arg, struct qio_op *op)
{
	struct watch *w = arg;

	if (op->kind != QIO_WRITE || w->held)
		return false;
	w->held = op;
	return true;
}

static void count(void *arg, enum qio_event ev, const struct qio_op *op,
		  int res)
{
	struct watch *w = arg;

	if (op->kind != QIO_WRITE)
		return;
	if (ev == QIO_EV_SUBMIT)
		w->submits++;
	else
		w->dones++;
}

static void req_done(struct qcow_req *req, int res)
{
	struct watch *w = req->priv;

	w->done = true;
	w->res = res;
}

/* The bytes of the file at OFF are all c. */
static bool file_holds(const char *path, uint8_t c)
{
	uint8_t buf[LEN];
	int fd = open(path, O_RDONLY);
	bool ok;
	size_t i;

	if (fd < 0)
		return false;
	ok = pread(fd, buf, LEN, OFF) == LEN;
	close(fd);
	for (i = 0; ok && i < LEN; i++)
		ok = buf[i] == c;
	return ok;
}

static void run(struct qcow_ctx *ctx)
{
	while (qcow_ctx_run_deferred(ctx) > 0)
		;
}

static void held_write(void)
{
	struct watch w = { 0 };
	struct qfile_backend be = {
		.hold = hold_first_write, .event = count, .arg = &w,
	};
	struct qcow_create_opts co = { .format = QCOW_FMT_RAW, .size = SIZE };
	struct qcow_open_opts oo = { .format = QCOW_FMT_RAW };
	struct qcow_image *img = NULL;
	struct qcow_ctx *ctx = NULL;
	struct qcow_req req = { .done = req_done, .priv = &w };
	uint8_t data[LEN];
	char path[512];
	int ret;

	tl_begin("hold/write-reaches-file-on-release");
	tl_path(path, sizeof(path), "held.raw");
	memset(data, 0xa5, sizeof(data));
	ret = qcow_create(path, &co);
	if (!ret)
		ret = qcow_open(&img, path, &oo);
	if (!ret)
		ret = qcow_ctx_new(&ctx, NULL);
	if (ret < 0) {
		tl_fail("setup: %d (%s)", ret, qcow_strerror());
		goto out;
	}
	qfile_set_backend(&be);
	ret = qcow_submit(ctx, img, &req, QCOW_OP_WRITE, data, OFF, LEN);
	run(ctx);
	if (ret < 0 || !w.held || w.done || w.submits ||
	    !qcow_ctx_inflight(ctx) || !file_holds(path, 0)) {
		tl_fail("while held: submit %d, held %d, done %d, submits %d, "
			"inflight %u, file untouched %d", ret, w.held != NULL,
			w.done, w.submits, qcow_ctx_inflight(ctx),
			file_holds(path, 0));
		goto out;
	}
	qfile_backend_release(w.held);
	run(ctx);
	if (!w.done || w.res || w.submits != 1 || w.dones != 1 ||
	    qcow_ctx_inflight(ctx) || !file_holds(path, 0xa5))
		tl_fail("after release: done %d res %d, submits %d dones %d, "
			"inflight %u, data in file %d", w.done, w.res,
			w.submits, w.dones, qcow_ctx_inflight(ctx),
			file_holds(path, 0xa5));
	else
		tl_pass();
out:
	qfile_set_backend(NULL);
	qcow_close(img);
	qcow_ctx_free(ctx);
}

static int refuse_open(void *arg, struct qfile **out, const char *name,
		       bool read_only, bool direct)
{
	*(bool *)arg = true;
	return -EACCES;
}

static void refused_open(void)
{
	bool asked = false;
	struct qfile_backend be = { .open = refuse_open, .arg = &asked };
	struct qcow_create_opts co = { .format = QCOW_FMT_RAW, .size = SIZE };
	struct qcow_image *img = NULL;
	char path[512];
	int ret;

	tl_begin("open/refused-by-hook");
	tl_path(path, sizeof(path), "refused.raw");
	ret = qcow_create(path, &co);
	if (ret < 0) {
		tl_fail("create: %d (%s)", ret, qcow_strerror());
		return;
	}
	qfile_set_backend(&be);
	ret = qcow_open(&img, path, NULL);
	qfile_set_backend(NULL);
	if (ret != -EACCES || !asked) {
		tl_fail("open returned %d, hook asked %d", ret, asked);
		qcow_close(img);
		return;
	}
	tl_pass();
}

int main(int argc, char **argv)
{
	tl_init(argc, argv);
	held_write();
	refused_open();
	return tl_finish();
}
