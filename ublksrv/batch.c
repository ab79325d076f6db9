// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include "batch.h"
#include "ctrl.h"
#include "device.h"
#include "log.h"
#include "queue.h"

/* io_uring ABI newer than liburing 2.3's headers. */
#define URING_CMD_MULTISHOT	(1U << 1)	/* sqe->uring_cmd_flags */
#define PBUF_RING_INC		(1U << 1)	/* io_uring_buf_reg.flags */

/* Commit buffers the kernel may still read (until their CQE). */
#define BATCH_SLOTS		4
#define BATCH_FETCHES		2

/* user_data: UD_BATCH | what << 16 | index (slot or fetch). */
#define BATCH_PREP		1U
#define BATCH_COMMIT		2U
#define BATCH_FETCH		3U

struct batch_fetch {
	struct io_uring_buf_ring *br;	/* one buffer, consumed in steps */
	uint8_t *buf;
	size_t off;			/* where the kernel writes next */
	bool live;
};

struct ublk_batch {
	uint16_t flags;			/* UBLK_BATCH_F_HAS_BUF_ADDR or 0 */
	uint8_t elem_bytes;
	size_t area;			/* depth elements */
	uint8_t *stage;			/* results not sent yet */
	unsigned int nr_stage;
	uint8_t *slot[BATCH_SLOTS];
	unsigned int slot_elems[BATCH_SLOTS];	/* 0: free */
	unsigned int nr_busy;
	struct batch_fetch fetch[BATCH_FETCHES];
	size_t fetch_len;
	unsigned int nr_fetch;
	bool stopping;
};

static uint64_t batch_ud(unsigned int what, unsigned int index)
{
	return QCOW_USER_DATA_FOREIGN | UD_BATCH | what << 16 | index;
}

static void batch_sqe(struct ublk_queue *q, struct io_uring_sqe *sqe,
		      unsigned int nr, unsigned int what, unsigned int index,
		      uint8_t *buf, unsigned int nr_elem)
{
	struct ublk_batch *b = q->batch;
	struct ublk_batch_io cmd = {
		.q_id = q->q_id,
		.flags = what == BATCH_FETCH ? 0 : b->flags,
		.nr_elem = nr_elem,
		.elem_bytes = what == BATCH_FETCH ? 2 : b->elem_bytes,
	};

	uring_prep_cmd(sqe, false, q->dev->cdev_fd, UBLK_BATCH_IOWR(nr), &cmd,
		       sizeof(cmd), batch_ud(what, index));
	if (buf) {
		sqe->addr = (uint64_t)(uintptr_t)buf;
		sqe->len = nr_elem * b->elem_bytes;
	}
}

static void batch_elem(struct ublk_queue *q, uint8_t *at,
		       const struct ublk_io *io, int res)
{
	struct ublk_elem_header h = {
		.tag = io->tag,
		.buf_index = q->zero_copy ? io->fx.index : 0,
		.result = res,
	};
	uint64_t addr = (uint64_t)(uintptr_t)io->buf;

	memcpy(at, &h, sizeof(h));
	if (q->batch->flags & UBLK_BATCH_F_HAS_BUF_ADDR)
		memcpy(at + sizeof(h), &addr, sizeof(addr));
}

static int batch_free_slot(const struct ublk_batch *b)
{
	int i;

	for (i = 0; i < BATCH_SLOTS; i++)
		if (!b->slot_elems[i])
			return i;
	return -1;
}

static void batch_fetch(struct ublk_queue *q, unsigned int i)
{
	struct ublk_batch *b = q->batch;
	struct batch_fetch *f = &b->fetch[i];
	struct io_uring_sqe *sqe = ublk_queue_sqe(q);
	unsigned int nr = b->fetch_len / 2;

	io_uring_buf_ring_add(f->br, f->buf, b->fetch_len, 0,
			      io_uring_buf_ring_mask(1), 0);
	io_uring_buf_ring_advance(f->br, 1);
	f->off = 0;
	batch_sqe(q, sqe, UBLK_IO_FETCH_IO_CMDS, BATCH_FETCH, i, NULL,
		  nr > q->depth ? q->depth : nr);
	sqe->uring_cmd_flags = URING_CMD_MULTISHOT;
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = i;
	f->live = true;
	b->nr_fetch++;
}

static int batch_fetch_init(struct ublk_queue *q, unsigned int i)
{
	struct ublk_batch *b = q->batch;
	struct batch_fetch *f = &b->fetch[i];
	size_t page = sysconf(_SC_PAGESIZE);
	struct io_uring_buf_reg reg = { 0 };
	void *p;

	p = mmap(NULL, page, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	f->br = p;
	if (posix_memalign(&p, page, b->fetch_len))
		return -ENOMEM;
	f->buf = p;
	io_uring_buf_ring_init(f->br);
	reg.ring_addr = (uint64_t)(uintptr_t)f->br;
	reg.ring_entries = 1;
	reg.bgid = i;
	reg.pad = PBUF_RING_INC;	/* "flags" in newer headers */
	return io_uring_register_buf_ring(&q->ring, &reg, 0);
}

/* Every tag, with its buffer: the queue is then ready. */
static void batch_prep(struct ublk_queue *q)
{
	struct ublk_batch *b = q->batch;
	unsigned int i;

	for (i = 0; i < q->depth; i++)
		batch_elem(q, b->slot[0] + i * b->elem_bytes, &q->ios[i], 0);
	b->slot_elems[0] = q->depth;
	b->nr_busy++;
	batch_sqe(q, ublk_queue_sqe(q), UBLK_IO_PREP_IO_CMDS, BATCH_PREP, 0,
		  b->slot[0], q->depth);
}

int batch_setup(struct ublk_queue *q)
{
	size_t page = sysconf(_SC_PAGESIZE);
	struct ublk_batch *b;
	unsigned int i;
	int ret;

	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	q->batch = b;
	if (!q->user_copy && !q->zero_copy)
		b->flags = UBLK_BATCH_F_HAS_BUF_ADDR;
	b->elem_bytes = sizeof(struct ublk_elem_header) +
			(b->flags ? sizeof(uint64_t) : 0);
	b->area = (size_t)q->depth * b->elem_bytes;
	b->stage = malloc(b->area);
	if (!b->stage)
		return -ENOMEM;
	for (i = 0; i < BATCH_SLOTS; i++) {
		b->slot[i] = malloc(b->area);
		if (!b->slot[i])
			return -ENOMEM;
	}
	b->fetch_len = ((size_t)q->depth * 2 + page - 1) / page * page;
	for (i = 0; i < BATCH_FETCHES; i++) {
		ret = batch_fetch_init(q, i);
		if (ret < 0)
			return ret;
	}
	q->nr_live = q->depth;
	batch_prep(q);
	for (i = 0; i < BATCH_FETCHES; i++)
		batch_fetch(q, i);
	return 0;
}

void batch_free(struct ublk_queue *q)
{
	struct ublk_batch *b = q->batch;
	size_t page = sysconf(_SC_PAGESIZE);
	unsigned int i;

	if (!b)
		return;
	for (i = 0; i < BATCH_FETCHES; i++) {
		if (b->fetch[i].br)
			munmap(b->fetch[i].br, page);
		free(b->fetch[i].buf);
	}
	for (i = 0; i < BATCH_SLOTS; i++)
		free(b->slot[i]);
	free(b->stage);
	free(b);
	q->batch = NULL;
}

void batch_commit(struct ublk_io *io, int res)
{
	struct ublk_queue *q = io->q;
	struct ublk_batch *b = q->batch;

	/* a tag comes back only after its commit went out: never full */
	if (b->nr_stage >= q->depth) {
		ublk_err("queue %u: more results than tags", q->q_id);
		abort();
	}
	batch_elem(q, b->stage + b->nr_stage * b->elem_bytes, io, res);
	b->nr_stage++;
}

void batch_flush(struct ublk_queue *q)
{
	struct ublk_batch *b = q->batch;
	int slot;

	if (!b->nr_stage)
		return;
	slot = batch_free_slot(b);
	if (slot < 0)
		return;		/* their CQEs free one: the next pass sends */
	memcpy(b->slot[slot], b->stage, b->nr_stage * b->elem_bytes);
	b->slot_elems[slot] = b->nr_stage;
	b->nr_busy++;
	batch_sqe(q, ublk_queue_sqe(q), UBLK_IO_COMMIT_IO_CMDS, BATCH_COMMIT,
		  slot, b->slot[slot], b->nr_stage);
	b->nr_stage = 0;
}

static void batch_slot_done(struct ublk_queue *q, unsigned int what,
			    unsigned int slot, int res)
{
	struct ublk_batch *b = q->batch;
	unsigned int n;

	if (slot >= BATCH_SLOTS || !b->slot_elems[slot]) {
		ublk_err("queue %u: completion for unknown batch %u", q->q_id,
			 slot);
		return;
	}
	n = b->slot_elems[slot];
	b->slot_elems[slot] = 0;
	b->nr_busy--;
	if (what == BATCH_PREP && res < 0)
		ublk_errno(res, "queue %u: PREP_IO_CMDS", q->q_id);
	else if (what == BATCH_COMMIT && res != (int)(n * b->elem_bytes) &&
		 !b->stopping)
		ublk_err("queue %u: COMMIT_IO_CMDS of %u results: %d", q->q_id,
			 n, res);
}

/* The tags a fetch CQE wrote: requests to serve. */
static void batch_tags(struct ublk_queue *q, struct batch_fetch *f, int res)
{
	struct ublk_batch *b = q->batch;
	size_t i;
	uint16_t tag;

	if (f->off + res > b->fetch_len || res % 2) {
		ublk_err("queue %u: fetch of %d bytes at %zu", q->q_id, res,
			 f->off);
		return;
	}
	for (i = 0; i < (size_t)res; i += 2) {
		memcpy(&tag, f->buf + f->off + i, sizeof(tag));
		if (tag >= q->depth)
			ublk_err("queue %u: fetched unknown tag %u", q->q_id,
				 tag);
		else
			ublk_queue_tag_ready(q, tag);
	}
	f->off += res;
}

static void batch_fetch_done(struct ublk_queue *q, unsigned int i,
			     const struct io_uring_cqe *cqe)
{
	struct ublk_batch *b = q->batch;
	struct batch_fetch *f;

	if (i >= BATCH_FETCHES || !b->fetch[i].live) {
		ublk_err("queue %u: completion for unknown fetch %u", q->q_id,
			 i);
		return;
	}
	f = &b->fetch[i];
	if (cqe->res > 0)
		batch_tags(q, f, cqe->res);
	if (cqe->flags & IORING_CQE_F_MORE)
		return;
	f->live = false;
	b->nr_fetch--;
	/* its buffer is used up: a new fetch with the buffer again */
	if (!b->stopping && (cqe->res >= 0 || cqe->res == -ENOBUFS)) {
		batch_fetch(q, i);
		return;
	}
	if (cqe->res != UBLK_IO_RES_ABORT)
		ublk_errno(cqe->res, "queue %u: FETCH_IO_CMDS", q->q_id);
	b->stopping = true;
	if (!b->nr_fetch)
		q->nr_live = 0;
}

void batch_cqe(struct ublk_queue *q, const struct io_uring_cqe *cqe)
{
	unsigned int what = (cqe->user_data >> 16) & 0xff;
	unsigned int index = cqe->user_data & 0xffff;

	if (what == BATCH_FETCH)
		batch_fetch_done(q, index, cqe);
	else
		batch_slot_done(q, what, index, cqe->res);
}

bool batch_busy(const struct ublk_queue *q)
{
	const struct ublk_batch *b = q->batch;

	return b->nr_fetch || b->nr_busy || b->nr_stage;
}
