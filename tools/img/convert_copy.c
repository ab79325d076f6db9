// SPDX-License-Identifier: MIT
/* qcow-img convert's copy loop: block by block, writing only differences. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include "tools/common/chain.h"
#include "tools/common/msg.h"
#include "tools/common/util.h"
#include "tools/img/convert.h"

enum action { ACT_SKIP, ACT_ZERO, ACT_DATA };

static bool all_zero(const uint8_t *p, uint64_t len)
{
	return !len || (!p[0] && !memcmp(p, p + 1, len - 1));
}

/* What the target needs for one block; old is its current content. */
static enum action block_action(const struct convert *c, const uint8_t *src,
				const uint8_t *old, uint64_t n)
{
	bool zero;

	if (!c->sparse)
		return ACT_DATA;	/* -S 0: everything allocated */
	zero = all_zero(src, n);
	if (c->zero_init)
		return zero ? ACT_SKIP : ACT_DATA;
	if (!memcmp(src, old, n))
		return ACT_SKIP;
	return zero ? ACT_ZERO : ACT_DATA;
}

static int write_failed(const struct convert *c, uint64_t off, int ret)
{
	tool_error("%s: write failed at offset %" PRIu64 ": %s", c->dst, off,
		   strerror(-ret));
	return ret;
}

static int write_compressed(struct convert *c, const uint8_t *data,
			    uint64_t len, uint64_t off)
{
	uint64_t i, n;
	int ret;

	for (i = 0; i < len; i += n) {
		n = min_u64(c->grain, len - i);
		ret = qcow_pwrite_compressed(c->out, data + i, n, off + i);
		if (ret < 0)
			return write_failed(c, off + i, ret);
	}
	return 0;
}

static int apply(struct convert *c, enum action act, const uint8_t *data,
		 uint64_t len, uint64_t off)
{
	int ret = 0;

	switch (act) {
	case ACT_SKIP:
		return 0;
	case ACT_ZERO:
		/* as qemu-img: clusters freed unless a backing file was named */
		ret = qcow_pwrite_zeroes(c->out, len, off,
					 img_opts_get(&c->opts, "backing_file") ?
					 0 : QCOW_REQ_UNMAP);
		break;
	case ACT_DATA:
		if (c->compress)
			return write_compressed(c, data, len, off);
		ret = qcow_pwrite(c->out, data, len, off);
		break;
	}
	return ret < 0 ? write_failed(c, off, ret) : 0;
}

static int read_into(struct qcow_image *img, const char *name, uint8_t *buf,
		     uint64_t len, uint64_t off)
{
	int ret = qcow_pread(img, buf, len, off);

	if (ret < 0)
		tool_error("%s: read failed at offset %" PRIu64 ": %s",
			   name, off, strerror(-ret));
	return ret;
}

/* The source holding target offset off. */
static const struct convert_src *src_at(const struct convert *c,
					uint64_t off)
{
	int i = c->nr_srcs - 1;

	while (i > 0 && c->srcs[i].start > off)
		i--;
	return &c->srcs[i];
}

/* [off, off + len) of the sources' concatenation. */
static int read_sources(struct convert *c, uint8_t *buf, uint64_t len,
			uint64_t off)
{
	const struct convert_src *s;
	uint64_t n;
	int ret;

	for (; len; buf += n, off += n, len -= n) {
		s = src_at(c, off);
		n = min_u64(len, s->start + s->size - off);
		if (!n)
			return -EIO;
		ret = read_into(s->img, s->name, buf, n, off - s->start);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* Writes the runs of equal actions of [off, off + n) (in c->buf). */
static int write_chunk(struct convert *c, uint64_t off, uint64_t n)
{
	uint64_t pos = 0, start = 0, blk;
	enum action run = ACT_SKIP, act;
	int ret;

	while (pos < n) {
		blk = min_u64(c->grain, n - pos);
		act = block_action(c, c->buf + pos, c->old + pos, blk);
		if (act != run) {
			ret = apply(c, run, c->buf + start, pos - start,
				    off + start);
			if (ret < 0)
				return ret;
			run = act;
			start = pos;
		}
		pos += blk;
	}
	return apply(c, run, c->buf + start, n - start, off + start);
}

static int copy_chunk(struct convert *c, uint64_t off, uint64_t n,
		      bool src_zero)
{
	int ret;

	if (src_zero && c->zero_init && c->sparse)
		return 0;
	if (src_zero)
		memset(c->buf, 0, n);
	else if ((ret = read_sources(c, c->buf, n, off)) < 0)
		return ret;
	if (!c->zero_init && c->sparse &&
	    (ret = read_into(c->out, c->dst, c->old, n, off)) < 0)
		return ret;
	return write_chunk(c, off, n);
}

/*
 * The next chunk at off (a multiple of c->grain), and whether it is zero;
 * a chunk that crosses into the next source is read.
 */
static int next_chunk(struct convert *c, uint64_t off, uint64_t *n,
		      bool *src_zero)
{
	const struct convert_src *s = src_at(c, off);
	uint64_t in_src = s->start + s->size - off;
	struct qcow_status st;
	int ret;

	*n = min_u64(c->total - off, c->buf_size);
	ret = chain_status(s->img, off - s->start, min_u64(*n, in_src), false,
			   &st);
	if (ret < 0) {
		tool_error("%s: cannot get block status at offset %" PRIu64 ": %s",
			   s->name, off - s->start, strerror(-ret));
		return ret;
	}
	*src_zero = st.flags & QCOW_ST_ZERO;
	c->chunk_below = st.depth > 0;
	if (st.length < *n) {
		if (st.length >= c->grain)
			*n = st.length - st.length % c->grain;
		else
			*src_zero = false;	/* mixed: read it */
	}
	return 0;
}

/*
 * A chunk that counts for -p, as qemu-img counts: data (zeros too with
 * -S 0), not what the -B backing file gives.
 */
static bool counted(const struct convert *c, bool src_zero)
{
	return (!src_zero || !c->sparse) && !(c->backing && c->chunk_below);
}

/* -p after a counted chunk: with -c, cluster by cluster, as qemu-img. */
static void progress_chunk(struct convert *c, uint64_t n, uint64_t *done,
			   uint64_t all)
{
	uint64_t step = c->compress ? c->grain : n, i, k;

	for (i = 0; i < n; i += k) {
		k = min_u64(step, n - i);
		*done += k;
		progress_set_pct(&c->progress,
				 100.0 * (double)*done / (double)all);
	}
}

/* The bytes that count, by a pass over the chunks as the copy makes them. */
static int counted_bytes(struct convert *c, uint64_t *out)
{
	uint64_t off, n;
	bool src_zero;
	int ret;

	*out = 0;
	for (off = 0; off < c->total; off += n) {
		ret = next_chunk(c, off, &n, &src_zero);
		if (ret < 0)
			return ret;
		if (counted(c, src_zero))
			*out += n;
	}
	return 0;
}

int convert_copy(struct convert *c)
{
	uint64_t size = c->total, off, n, all = 0, done = 0;
	bool src_zero;
	int ret;

	if (c->progress.enabled && (ret = counted_bytes(c, &all)) < 0)
		return ret;
	for (off = 0; off < size; off += n) {
		ret = next_chunk(c, off, &n, &src_zero);
		if (ret < 0)
			return ret;
		ret = copy_chunk(c, off, n, src_zero);
		if (ret < 0)
			return ret;
		if (counted(c, src_zero))
			progress_chunk(c, n, &done, all);
	}
	return 0;
}
