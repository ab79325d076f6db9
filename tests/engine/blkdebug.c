// SPDX-License-Identifier: MIT
/*
 * The blkdebug filter through the API: config files and options parsed
 * with qemu-io's one-line errors (and nothing leaked when the open fails),
 * errors injected on data reads and writes (once, errno, sector, a state
 * machine of set-state rules), a breakpoint that parks a write until it
 * is resumed (counted in flight, then completed with its data on disk),
 * the calls refused without a filter, and a backing file name
 * "blkdebug:..." refused before anything is opened.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "qcow.h"
#include "testlib.h"

#define SIZE	(1u << 20)

static char img_path[512], cfg_path[512];

static int write_cfg(const char *text)
{
	return tl_write_file(cfg_path, text, strlen(text));
}

static int make_image(void)
{
	struct qcow_create_opts co = { .format = QCOW_FMT_QCOW2,
				       .size = SIZE };
	struct qcow_open_opts rw = { 0 };
	struct qcow_image *img;
	uint8_t buf[4096];
	int ret;

	ret = qcow_create(img_path, &co);
	if (ret < 0 || (ret = qcow_open(&img, img_path, &rw)) < 0)
		return ret;
	memset(buf, 0x11, sizeof(buf));
	ret = qcow_pwrite(img, buf, sizeof(buf), 0);
	qcow_close(img);
	return ret;
}

/* An open under a filter with the rules of text (NULL: none). */
static int open_with(struct qcow_image **img, const char *text)
{
	struct qcow_open_opts o = { 0 };
	int ret = qcow_blkdebug_new(&o.blkdebug);

	if (ret < 0)
		return ret;
	if (text && ((ret = write_cfg(text)) < 0 ||
		     (ret = qcow_blkdebug_read_config(o.blkdebug,
						      cfg_path)) < 0)) {
		qcow_blkdebug_free(o.blkdebug);
		return ret;
	}
	return qcow_open(img, img_path, &o);
}

static void config_error(const char *name, const char *text,
			 const char *want)
{
	struct qcow_blkdebug *d;
	int ret;

	tl_begin("config/%s", name);
	if (qcow_blkdebug_new(&d) < 0 || write_cfg(text) < 0) {
		tl_fail("setup");
		return;
	}
	ret = qcow_blkdebug_read_config(d, cfg_path);
	qcow_blkdebug_free(d);
	if (ret != -EINVAL)
		tl_fail("returned %d, not -EINVAL", ret);
	else if (strcmp(qcow_strerror(), want))
		tl_fail("'%s', not '%s'", qcow_strerror(), want);
	else
		tl_pass();
}

static void config_errors(void)
{
	config_error("group", "[frob]\n", "There is no option group 'frob'");
	config_error("no-group", "event = \"read_aio\"\n", "no group defined");
	config_error("event", "[inject-error]\nevent = \"nope\"\n",
		     "invalid parameter value: nope");
	config_error("missing-event", "[set-state]\nnew_state = \"2\"\n",
		     "Missing event name for rule");
	config_error("key",
		     "[inject-error]\nevent = \"l2_load\"\nx = \"1\"\n",
		     "Invalid parameter 'x'");
	config_error("bool", "[inject-error]\nevent = \"l2_load\"\n"
		     "once = \"yes\"\n",
		     "Parameter 'once' expects 'on' or 'off'");
	config_error("number", "[inject-error]\nevent = \"l2_load\"\n"
		     "sector = \"1x\"\n",
		     "Parameter 'sector' expects a number");
}

/* Options with a rule missing its event: the open fails, nothing leaks. */
static void option_error(void)
{
	struct qcow_open_opts o = { 0 };
	struct qcow_image *img;
	int ret;

	tl_begin("options/missing-event");
	if (qcow_blkdebug_new(&o.blkdebug) < 0 ||
	    qcow_blkdebug_opt(o.blkdebug, "inject-error.0.errno", "5") < 0) {
		tl_fail("setup");
		qcow_blkdebug_free(o.blkdebug);
		return;
	}
	ret = qcow_open(&img, img_path, &o);
	if (ret != -EINVAL || strcmp(qcow_strerror(),
				     "Missing event name for rule")) {
		tl_fail("open: %d '%s'", ret, qcow_strerror());
		if (!ret)
			qcow_close(img);
		return;
	}
	tl_pass();
	tl_begin("options/unknown-key");
	if (qcow_blkdebug_new(&o.blkdebug) < 0) {
		tl_fail("setup");
		return;
	}
	ret = qcow_blkdebug_opt(o.blkdebug, "frob", "1");
	qcow_blkdebug_free(o.blkdebug);
	if (ret != -ENOENT)
		tl_fail("an unknown key gave %d, not -ENOENT", ret);
	else
		tl_pass();
}

/* reads: results of two reads of 4 KiB at 0 */
static void inject(const char *name, const char *text, int first,
		   int second)
{
	struct qcow_image *img;
	uint8_t buf[4096];
	int r1, r2;

	tl_begin("inject/%s", name);
	if (open_with(&img, text) < 0) {
		tl_fail("open: %s", qcow_strerror());
		return;
	}
	r1 = qcow_pread(img, buf, sizeof(buf), 0);
	r2 = qcow_pread(img, buf, sizeof(buf), 0);
	qcow_close(img);
	if (r1 != first || r2 != second)
		tl_fail("reads gave %d, %d; expected %d, %d", r1, r2, first,
			second);
	else if (!second && buf[0] != 0x11)
		tl_fail("the data read back is wrong");
	else
		tl_pass();
}

static void injections(void)
{
	inject("always", "[inject-error]\nevent = \"read_aio\"\n", -EIO, -EIO);
	inject("once", "[inject-error]\nevent = \"read_aio\"\nerrno = \"28\"\n"
	       "once = \"on\"\n", -ENOSPC, 0);
	inject("sector-miss", "[inject-error]\nevent = \"read_aio\"\n"
	       "sector = \"0\"\n", 0, 0);
	inject("iotype-write", "[inject-error]\nevent = \"read_aio\"\n"
	       "iotype = \"write\"\n", 0, 0);
	/* state 1 -> 2 on read_aio; errors only in state 2 */
	inject("states", "[set-state]\nevent = \"read_aio\"\nstate = \"1\"\n"
	       "new_state = \"2\"\n[inject-error]\nevent = \"read_aio\"\n"
	       "state = \"2\"\nonce = \"on\"\n", 0, -EIO);
}

struct done_flag {
	struct qcow_req req;
	bool done;
	int res;
	char tag[8];
	int notified;
};

static void req_done(struct qcow_req *req, int res)
{
	struct done_flag *d = (struct done_flag *)req;

	d->done = true;
	d->res = res;
}

static void notify(void *arg, const char *tag, bool suspended)
{
	struct done_flag *d = arg;

	snprintf(d->tag, sizeof(d->tag), "%s", tag);
	d->notified += suspended ? 1 : 10;
}

static void breakpoint(void)
{
	struct qcow_open_opts o = { 0 };
	struct done_flag d = { .req.done = req_done };
	struct qcow_image *img;
	struct qcow_ctx *ctx;
	uint8_t buf[4096], back[4096];
	int ret;

	tl_begin("break/park-resume");
	if (qcow_ctx_new(&ctx, NULL) < 0 || qcow_blkdebug_new(&o.blkdebug)) {
		tl_fail("setup");
		return;
	}
	qcow_blkdebug_set_notify(o.blkdebug, notify, &d);
	if (qcow_open(&img, img_path, &o) < 0) {
		tl_fail("open: %s", qcow_strerror());
		qcow_ctx_free(ctx);
		return;
	}
	memset(buf, 0x5a, sizeof(buf));
	if (qcow_blkdebug_break(img, "nope", "A") != -ENOENT ||
	    qcow_blkdebug_break(img, "write_aio", "A") < 0 ||
	    qcow_blkdebug_resume(img, "A") != -ENOENT ||
	    qcow_submit(ctx, img, &d.req, QCOW_OP_WRITE, buf, 0,
			sizeof(buf)) < 0) {
		tl_fail("break or submit refused");
		goto out;
	}
	qcow_ctx_run_deferred(ctx);
	if (d.done || qcow_blkdebug_suspended(img, "A") != 1 ||
	    !qcow_ctx_inflight(ctx) || d.notified != 1 || strcmp(d.tag, "A")) {
		tl_fail("the write was not parked (done %d, suspended %d)",
			d.done, qcow_blkdebug_suspended(img, "A"));
		goto out;
	}
	ret = qcow_blkdebug_resume(img, "A");
	while (qcow_ctx_inflight(ctx) && qcow_ctx_run_deferred(ctx))
		;
	if (ret < 0 || !d.done || d.res < 0 || d.notified != 11 ||
	    qcow_blkdebug_suspended(img, "A") != 0) {
		tl_fail("resume: %d, done %d res %d", ret, d.done, d.res);
		goto out;
	}
	/* the breakpoint fired once: the next write goes through */
	if (qcow_pwrite(img, buf, sizeof(buf), 4096) < 0 ||
	    qcow_pread(img, back, sizeof(back), 0) < 0 ||
	    memcmp(buf, back, sizeof(buf)) ||
	    qcow_blkdebug_remove_break(img, "A") != -ENOENT)
		tl_fail("after the resume");
	else
		tl_pass();
out:
	qcow_close(img);
	qcow_ctx_free(ctx);
}

static void no_filter(void)
{
	struct qcow_open_opts o = { 0 };
	struct qcow_image *img;

	tl_begin("no-filter");
	if (qcow_open(&img, img_path, &o) < 0) {
		tl_fail("open: %s", qcow_strerror());
		return;
	}
	if (qcow_blkdebug_break(img, "write_aio", "A") != -ENOTSUP ||
	    qcow_blkdebug_resume(img, "A") != -ENOTSUP ||
	    qcow_blkdebug_remove_break(img, "A") != -ENOTSUP ||
	    qcow_blkdebug_suspended(img, "A") != -ENOTSUP)
		tl_fail("a call did not answer -ENOTSUP");
	else
		tl_pass();
	qcow_close(img);
}

static void backing_name(void)
{
	struct qcow_create_opts co = {
		.format = QCOW_FMT_QCOW2, .size = SIZE,
		.backing_file = "blkdebug::base.qcow2",
		.backing_format = "qcow2",
	};
	struct qcow_open_opts o = { 0 };
	struct qcow_image *img;
	char ov[512];
	int ret;

	tl_begin("backing-name");
	tl_path(ov, sizeof(ov), "ov.qcow2");
	ret = qcow_create(ov, &co);
	if (ret < 0) {
		tl_skip("cannot create the overlay: %s", qcow_strerror());
		return;
	}
	ret = qcow_open(&img, ov, &o);
	if (!ret) {
		qcow_close(img);
		tl_fail("an image's blkdebug: backing name was opened");
	} else if (ret != -EPERM || !strstr(qcow_strerror(), "blkdebug")) {
		tl_fail("%d '%s'", ret, qcow_strerror());
	} else {
		tl_pass();
	}
}

int main(int argc, char **argv)
{
	tl_init(argc, argv);
	tl_path(img_path, sizeof(img_path), "img.qcow2");
	tl_path(cfg_path, sizeof(cfg_path), "rules.cfg");
	tl_begin("setup");
	if (make_image() < 0) {
		tl_fail("cannot make the image: %s", qcow_strerror());
		return tl_finish();
	}
	tl_pass();
	config_errors();
	option_error();
	injections();
	breakpoint();
	no_filter();
	backing_name();
	return tl_finish();
}
