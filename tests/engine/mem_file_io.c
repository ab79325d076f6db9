// SPDX-License-Identifier: MIT
/*
 * An image in memory (tmpfs) whose file cannot be read without blocking
 * (no RWF_NOWAIT: Linux 6.12 to 6.18 at least): io_uring would hand every
 * read and write of it to an io-wq thread.  The engine does that I/O at
 * once on the submitting thread instead, so after requests driven on a
 * ring as a ublk queue drives them, the data reads back as written, the
 * image passes qemu-img check and compare, and no io-wq worker exists.
 * The control case (QCOW_RING_IO=1: the ring for every op) must make
 * workers, else this kernel gives tmpfs nowait I/O and the case is a
 * SKIP.  SKIP without a tmpfs at /dev/shm.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>
#include <unistd.h>
#include "testlib.h"
#include "tl_ring.h"

#define SIZE	(8u << 20)
#define DEPTH	16
#define NR_OPS	256

struct run {
	struct tl_ring *r;
	struct qcow_image *img;
	uint8_t *model;
	enum qcow_op op;
	char *why;
	size_t why_len;
};

struct mreq {
	struct qcow_req req;
	struct run *run;
	uint8_t *buf;
	uint64_t off, len;
	bool busy;
};

static char shm_dir[256];

static unsigned int io_wq_workers(void)
{
	char path[300], comm[32];
	unsigned int n = 0;
	struct dirent *de;
	FILE *f;
	DIR *d = opendir("/proc/self/task");

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm",
			 de->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(comm, sizeof(comm), f) &&
		    !strncmp(comm, "iou-wrk-", 8))
			n++;
		fclose(f);
	}
	closedir(d);
	return n;
}

/* A read is checked against the model as it completes. */
static void req_done(struct qcow_req *req, int res)
{
	struct mreq *m = (struct mreq *)req;
	struct run *run = m->run;

	m->busy = false;
	if (run->why[0])
		return;
	if (res < 0)
		snprintf(run->why, run->why_len, "request at %" PRIu64 ": %s",
			 m->off, strerror(-res));
	else if (run->op == QCOW_OP_READ &&
		 memcmp(m->buf, run->model + m->off, m->len))
		snprintf(run->why, run->why_len, "read of %" PRIu64 "+%" PRIu64
			 " differs from what was written", m->off, m->len);
}

static struct mreq *idle_req(struct run *run, struct mreq *reqs)
{
	int i;

	for (;;) {
		for (i = 0; i < DEPTH; i++)
			if (!reqs[i].busy)
				return &reqs[i];
		tl_reap(run->r, true);
	}
}

static bool all_idle(const struct mreq *reqs)
{
	int i;

	for (i = 0; i < DEPTH; i++)
		if (reqs[i].busy)
			return false;
	return true;
}

/* NR_OPS writes into the model, or reads checked against it, at DEPTH. */
static void drive(struct run *run, uint64_t *seed)
{
	struct mreq reqs[DEPTH] = { 0 }, *m;
	int i;

	for (i = 0; i < DEPTH; i++) {
		reqs[i].run = run;
		reqs[i].buf = malloc(65536);
	}
	for (i = 0; i < NR_OPS && !run->why[0]; i++) {
		m = idle_req(run, reqs);
		m->len = (tl_rnd(seed) % 128 + 1) * 512;
		m->off = tl_rnd(seed) % ((SIZE - m->len) / 512) * 512;
		if (run->op == QCOW_OP_WRITE) {
			tl_fill_rand(m->buf, m->len, tl_rnd(seed));
			memcpy(run->model + m->off, m->buf, m->len);
		}
		m->busy = true;
		m->req.done = req_done;
		if (qcow_submit(run->r->ctx, run->img, &m->req, run->op,
				m->buf, m->off, m->len) < 0) {
			m->busy = false;
			snprintf(run->why, run->why_len, "qcow_submit: %s",
				 qcow_strerror());
		}
		tl_reap(run->r, false);
	}
	while (!all_idle(reqs) || qcow_ctx_inflight(run->r->ctx))
		tl_reap(run->r, true);
	for (i = 0; i < DEPTH; i++)
		free(reqs[i].buf);
}

/* Writes, then reads, on a ring; the io-wq workers there, or -1. */
static int run_ring(const char *path, uint8_t *model, char *why,
		    size_t why_len)
{
	struct qcow_open_opts rw = { 0 };
	struct qcow_image *img;
	struct tl_ring r;
	struct run run = {
		.r = &r, .model = model, .why = why, .why_len = why_len,
	};
	uint64_t seed = 42;
	int workers = -1;

	if (qcow_open(&img, path, &rw) < 0) {
		snprintf(why, why_len, "open: %s", qcow_strerror());
		return -1;
	}
	if (io_uring_queue_init(64, &r.ring, 0) < 0) {
		snprintf(why, why_len, "io_uring_queue_init failed");
		goto out_close;
	}
	if (qcow_ctx_new(&r.ctx, &r.ring) < 0) {
		snprintf(why, why_len, "qcow_ctx_new failed");
		goto out_ring;
	}
	tl_arm_event(&r);
	run.img = img;
	run.op = QCOW_OP_WRITE;
	drive(&run, &seed);
	run.op = QCOW_OP_READ;
	if (!why[0])
		drive(&run, &seed);
	if (!why[0])
		workers = (int)io_wq_workers();
	qcow_ctx_free(r.ctx);
out_ring:
	io_uring_queue_exit(&r.ring);
out_close:
	qcow_close(img);
	return why[0] ? -1 : workers;
}

static int make_image(const char *path)
{
	struct qcow_create_opts co = {
		.format = QCOW_FMT_QCOW2, .size = SIZE, .cluster_size = 65536,
	};

	unlink(path);
	return qcow_create(path, &co);
}

/* The image against the model, with qemu-img's own reading of it. */
static void check_qemu(const char *path, const uint8_t *model)
{
	char raw[300];
	int ret;

	if (!tl_have_prog("qemu-img"))
		return tl_skip("qemu-img is not installed: data checked, "
			       "image not");
	snprintf(raw, sizeof(raw), "%s/model.raw", shm_dir);
	if (tl_write_file(raw, model, SIZE) < 0)
		return tl_fail("cannot write %s", raw);
	ret = tl_run("qemu-img check -q '%s'", path);
	if (ret)
		return tl_fail("qemu-img check exit %d", ret);
	ret = tl_run("qemu-img compare -q -f qcow2 -F raw '%s' '%s'", path,
		     raw);
	if (ret)
		return tl_fail("qemu-img compare against the model: exit %d",
			       ret);
	tl_pass();
}

static void case_mem(const char *path)
{
	uint8_t *model = calloc(1, SIZE);
	char why[256] = "";
	int workers;

	tl_begin("mem_file_io/tmpfs-at-once");
	if (make_image(path) < 0) {
		free(model);
		return tl_fail("create: %s", qcow_strerror());
	}
	workers = run_ring(path, model, why, sizeof(why));
	if (workers < 0)
		tl_fail("%s", why);
	else if (workers)
		tl_fail("%d io-wq workers after the I/O: the image's I/O "
			"went through io-wq", workers);
	else
		check_qemu(path, model);
	free(model);
}

static void case_control(const char *path)
{
	uint8_t *model = calloc(1, SIZE);
	char why[256] = "";
	int workers;

	tl_begin("mem_file_io/control-ring");
	setenv("QCOW_RING_IO", "1", 1);
	if (make_image(path) < 0) {
		tl_fail("create: %s", qcow_strerror());
		goto out;
	}
	workers = run_ring(path, model, why, sizeof(why));
	if (workers < 0)
		tl_fail("%s", why);
	else if (!workers)
		tl_skip("tmpfs I/O on the ring made no io-wq worker: this "
			"kernel reads tmpfs without blocking");
	else
		check_qemu(path, model);
out:
	unsetenv("QCOW_RING_IO");
	free(model);
}

int main(int argc, char **argv)
{
	struct statfs sfs;
	char path[300];

	tl_init(argc, argv);
	snprintf(shm_dir, sizeof(shm_dir), "/dev/shm/qcow-memio-XXXXXX");
	if (statfs("/dev/shm", &sfs) < 0 || sfs.f_type != TMPFS_MAGIC ||
	    !mkdtemp(shm_dir)) {
		tl_begin("mem_file_io/tmpfs-at-once");
		tl_skip("no tmpfs at /dev/shm to put an image in");
		return tl_finish();
	}
	snprintf(path, sizeof(path), "%s/mem.qcow2", shm_dir);
	/* this one first: the control's workers would stay a while */
	case_mem(path);
	case_control(path);
	tl_run("rm -rf '%s'", shm_dir);
	return tl_finish();
}
