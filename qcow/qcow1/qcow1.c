// SPDX-License-Identifier: MIT
/*
 * Legacy qcow (version 1) images: a two-level table without refcounts;
 * compressed clusters carry their size in bytes.  Opening and reading;
 * writes are in qcow1_write.c, encrypted data in qcow1_crypt.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "qcow1.h"

static int qcow1_header(struct qcow_image *img, struct qcow1 *s)
{
	uint8_t h[Q1H_LENGTH];
	uint64_t bo, shift;
	uint32_t bs;
	int ret;

	if (img->file->size < Q1H_LENGTH)
		return Q1ERR(img, -EINVAL, "file is too short for a qcow "
			     "header");
	ret = qfile_pread_sync(img->file, h, sizeof(h), 0);
	if (ret < 0)
		return ret;
	if (get_be32(h) != QCOW_MAGIC)
		return Q1ERR(img, -EINVAL, "magic: not a qcow image");
	if (get_be32(h + 4) != 1)
		return Q1ERR(img, -ENOTSUP, "version: qcow version %u is not "
			     "supported", get_be32(h + 4));
	img->size = get_be64(h + Q1H_SIZE);
	s->cluster_bits = h[Q1H_CLUSTER_BITS];
	s->l2_bits = h[Q1H_L2_BITS];
	s->crypt_method = get_be32(h + Q1H_CRYPT_METHOD);
	s->l1_offset = get_be64(h + Q1H_L1_OFFSET);
	if (s->cluster_bits < 9 || s->cluster_bits > 16)
		return Q1ERR(img, -EINVAL, "cluster_bits: %u is out of range "
			     "(9-16)", s->cluster_bits);
	/* QEMU: L2 tables of 512 bytes to 64 KiB */
	if (s->l2_bits < 6 || s->l2_bits > 13)
		return Q1ERR(img, -EINVAL, "l2_bits: %u is out of range "
			     "(6-13)", s->l2_bits);
	if (s->crypt_method > QCOW_CRYPT_AES)
		return Q1ERR(img, -EINVAL, "crypt_method: unknown method %u",
			     s->crypt_method);
	if (img->size > QCOW_MAX_IMAGE_SIZE)
		return Q1ERR(img, -EINVAL, "size: %" PRIu64 " is too large",
			     img->size);
	if (img->size < 2)
		return Q1ERR(img, -EINVAL, "size: %" PRIu64 " is too small "
			     "(QEMU needs at least 2 bytes)", img->size);
	shift = s->cluster_bits + s->l2_bits;
	if (div_round_up(img->size, 1ULL << shift) * 8 > QCOW_MAX_L1_SIZE)
		return Q1ERR(img, -EFBIG, "size: the L1 table would exceed "
			     "the 32 MiB limit");
	s->l1_size = div_round_up(img->size, 1ULL << shift);
	if (s->l1_size && (s->l1_offset > img->file->size ||
			   (uint64_t)s->l1_size * 8 >
			   img->file->size - s->l1_offset))
		return Q1ERR(img, -EINVAL, "l1_table_offset: %#" PRIx64
			     " is past the end of the file", s->l1_offset);
	if (s->l1_size && !IS_ALIGNED(s->l1_offset, 8))
		return Q1ERR(img, -EINVAL, "l1_table_offset: %#" PRIx64
			     " is not aligned", s->l1_offset);
	bo = get_be64(h + Q1H_BACKING_OFFSET);
	bs = get_be32(h + Q1H_BACKING_SIZE);
	s->header_end = Q1H_LENGTH;
	if (!bo || !bs)
		return 0;
	if (bs > QCOW_MAX_BACKING_NAME || bo > img->file->size ||
	    bs > img->file->size - bo)
		return Q1ERR(img, -EINVAL, "backing_file_size: %u bytes at "
			     "%#" PRIx64 " are invalid", bs, bo);
	s->header_end = MAX(s->header_end, bo + bs);
	img->backing_name = calloc(1, bs + 1);
	if (!img->backing_name)
		return -ENOMEM;
	return qfile_pread_sync(img->file, img->backing_name, bs, bo);
}

int q1_l2_cache_init(struct qcow_image *img, struct qcow1 *s)
{
	uint64_t want = MIN((uint64_t)s->l1_size << (s->l2_bits + 3),
			    32u << 20);

	if (img->opts.l2_cache_size || (img->opts.cache_set & QCOW_CACHE_L2))
		want = MIN((uint64_t)s->l1_size << (s->l2_bits + 3),
			   img->opts.l2_cache_size);
	return meta_cache_init(&s->l2, img->file, q1_l2_bytes(s), want);
}

static void qcow1_caches(struct qcow_image *img, struct meta_cache **l2,
			 struct meta_cache **refcount)
{
	struct qcow1 *s = img->priv;

	*l2 = &s->l2;
	*refcount = NULL;
}

static int qcow1_open(struct qcow_image *img)
{
	struct qcow1 *s = calloc(1, sizeof(*s));
	uint32_t i;
	int ret;

	if (!s)
		return -ENOMEM;
	img->priv = s;
	ret = qcow1_header(img, s);
	if (ret < 0)
		return ret;
	ret = q1_crypt_open(img, s);
	if (ret < 0)
		return ret;
	s->file_end = img->file->size;
	s->l1_dirty = calloc(s->l1_size / Q1_L1_CHUNK + 1, 1);
	if (!s->l1_dirty)
		return -ENOMEM;
	s->l1 = calloc(s->l1_size ? s->l1_size : 1, 8);
	if (!s->l1)
		return -ENOMEM;
	ret = qfile_pread_sync(img->file, s->l1, (uint64_t)s->l1_size * 8,
			       s->l1_offset);
	if (ret < 0)
		return ret;
	for (i = 0; i < s->l1_size; i++)
		s->l1[i] = be64toh(s->l1[i]);
	ret = q1_l2_cache_init(img, s);
	if (ret < 0)
		return ret;
	return qcow_open_backing(img);
}

static void qcow1_close(struct qcow_image *img)
{
	struct qcow1 *s = img->priv;
	int ret;

	if (!img->opts.read_only && s->l1_dirty && q1_meta_dirty(s)) {
		ret = qcow_flush(img);
		if (ret < 0)
			qcow_log(img, "closing: metadata write-back failed: %s",
				 strerror(-ret));
	}

	meta_cache_destroy(&s->l2);
	q1_crypt_close(s);
	free(s->l1_dirty);
	free(s->l1);
	free(s);
	img->priv = NULL;
}

struct q1_comp {
	struct qio_op op;
	struct qcow_req *req;
	uint8_t *cbuf;
	uint64_t clen;
	uint64_t boff;
	uint64_t len;
	uint64_t skip;
	uint32_t cluster_size;
};

static void q1_comp_done(struct qio_op *op, int res)
{
	struct q1_comp *c = (struct q1_comp *)op;
	uint8_t *out = NULL;

	if (res >= 0) {
		out = malloc(c->cluster_size);
		res = out ? qcow_decompress(0, out, c->cluster_size, c->cbuf,
					    c->clen) : -ENOMEM;
	}
	if (res >= 0) {
		qreq_data_put_owned(c->req, c->boff, out, c->skip, c->len);
		out = NULL;
	} else {
		qreq_fail(c->req, -EIO);
	}
	free(out);
	free(c->cbuf);
	qreq_put(c->req);
	free(c);
}

static void q1_read_compressed(struct qcow_req *req, struct qcow1 *s,
			       uint64_t e, uint64_t boff, uint64_t len)
{
	struct q1_comp *c = calloc(1, sizeof(*c));
	uint64_t host;

	if (!c) {
		qreq_fail(req, -ENOMEM);
		return;
	}
	c->cluster_size = 1u << s->cluster_bits;
	q1_compressed_span(s, e, &host, &c->clen);
	c->cbuf = malloc(c->clen + 1);
	if (!c->cbuf) {
		free(c);
		qreq_fail(req, -ENOMEM);
		return;
	}
	c->req = req;
	c->boff = boff;
	c->len = len;
	c->skip = req->pos & (c->cluster_size - 1);
	c->op.cb = q1_comp_done;
	qreq_get(req);
	qfile_submit(req->ctx, req->img->file, &c->op, QIO_READ, c->cbuf,
		     c->clen, host);
}

struct meta_slice *q1_l2_get(struct qcow_req *req, struct qcow1 *s, int *err)
{
	uint64_t l1_idx = req->pos >> (s->cluster_bits + s->l2_bits);
	uint64_t l2 = l1_idx < s->l1_size ? s->l1[l1_idx] : 0;
	struct meta_slice *sl;

	*err = 0;
	if (!l2)
		return NULL;
	/* file_end: tables this image appended may not be written yet */
	if (l2 > s->file_end || s->l2.slice_size > s->file_end - l2) {
		qcow_log(req->img, "L2 table offset %#" PRIx64 " is past the "
			 "end of the file", l2);
		*err = -EIO;
		return NULL;
	}
	sl = meta_cache_get(&s->l2, req->ctx, &req->waiter, l2, err);
	if (!sl && !*err)
		*err = -EAGAIN;
	return sl;
}

int q1_entry(struct qcow_req *req, struct qcow1 *s, uint64_t *entry)
{
	uint64_t l2_idx = (req->pos >> s->cluster_bits) &
			  ((1ULL << s->l2_bits) - 1);
	struct meta_slice *sl;
	int ret;

	*entry = 0;
	sl = q1_l2_get(req, s, &ret);
	if (!sl)
		return ret;
	*entry = get_be64(sl->data + l2_idx * 8);
	meta_cache_put(&s->l2, sl);
	return 0;
}

static void q1_status(struct qcow_req *req, uint64_t e, uint64_t len)
{
	struct qcow_status *st = req->status;
	struct qcow_image *b = req->img->backing;
	struct qcow1 *s = req->img->priv;

	st->length = len;
	st->file = req->img->filename;
	if (e & Q1_COMPRESSED) {
		st->flags = QCOW_ST_DATA | QCOW_ST_ALLOCATED |
			    QCOW_ST_COMPRESSED;
	} else if (e && s->crypt_method) {
		/* as QEMU's: the file's bytes are not the guest's */
		st->flags = QCOW_ST_DATA | QCOW_ST_ALLOCATED;
	} else if (e) {
		st->flags = QCOW_ST_DATA | QCOW_ST_ALLOCATED |
			    QCOW_ST_OFFSET_VALID;
		st->offset = e + (req->pos & ((1ULL << s->cluster_bits) - 1));
	} else if (!b || req->pos >= b->size) {
		st->flags = QCOW_ST_ZERO;
	}
}

static void qcow1_step(struct qcow_req *req)
{
	struct qcow1 *s = req->img->priv;
	uint64_t end = req->offset + req->length, e, len, boff;
	int ret;

	switch (req->op) {
	case QCOW_OP_WRITE:
	case QCOW_OP_WRITE_ZEROES:
	case QCOW_OP_WRITE_COMPRESSED:
		q1_write_step(req, s);
		return;
	case QCOW_OP_FLUSH:
		qcow1_flush(req);
		return;
	case QCOW_OP_DISCARD:
		/* QEMU's qcow driver has no discard: a request to drop nothing */
		qreq_put(req);
		return;
	default:
		break;
	}

	while (req->pos < end && !req->error) {
		ret = q1_entry(req, s, &e);
		if (ret == -EAGAIN)
			return;
		if (ret < 0) {
			qreq_fail(req, ret);
			break;
		}
		len = MIN(end, ALIGN_DOWN(req->pos, 1ULL << s->cluster_bits) +
			  (1ULL << s->cluster_bits)) - req->pos;
		if (req->op == QCOW_OP_STATUS) {
			q1_status(req, e, len);
			break;
		}
		boff = req->pos - req->offset;
		if (e & Q1_COMPRESSED)
			q1_read_compressed(req, s, e, boff, len);
		else if (e && s->crypt_method)
			q1_crypt_read(req, s, boff, len, e +
				      (req->pos &
				       ((1ULL << s->cluster_bits) - 1)));
		else if (e)
			qreq_data_read_file(req, req->img->file, boff, len, e +
					    (req->pos &
					     ((1ULL << s->cluster_bits) - 1)));
		else
			qreq_data_backing(req, boff, req->pos, len);
		req->pos += len;
	}
	qreq_put(req);
}

static int qcow1_get_info(const struct qcow_image *img, struct qcow_info *info)
{
	const struct qcow1 *s = img->priv;

	info->version = 1;
	info->cluster_size = 1u << s->cluster_bits;
	info->crypt_method = s->crypt_method;
	info->crypto_backend = q1_crypt_backend(s);
	return 0;
}

const struct qcow_driver qcow1_driver = {
	.caches = qcow1_caches,
	.name = "qcow",
	.open = qcow1_open,
	.close = qcow1_close,
	.step = qcow1_step,
	.flush = qcow1_flush,
	.writeback = qcow1_writeback,
	.get_info = qcow1_get_info,
	.create = qcow1_create,
	.make_empty = qcow1_make_empty,
};
