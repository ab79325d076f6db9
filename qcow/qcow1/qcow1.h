/* SPDX-License-Identifier: MIT */
/* Legacy qcow (version 1): state shared by the files of qcow/qcow1/. */
#ifndef QCOW_QCOW1_H
#define QCOW_QCOW1_H

#include "meta_cache.h"
#include "layout.h"

#define Q1_COMPRESSED	(1ULL << 63)
/* L1 entries are written back in chunks of one sector */
#define Q1_L1_CHUNK	64

struct qcrypto_cipher;
struct qcrypt_job;

struct qcow1 {
	uint32_t cluster_bits;
	uint32_t l2_bits;
	uint32_t crypt_method;
	uint32_t l1_size;
	uint64_t l1_offset;
	uint64_t header_end;	/* the header and the backing file name */
	uint64_t *l1;
	struct meta_cache l2;
	/* writes: clusters are appended at file_end (the file's end at open) */
	uint64_t file_end;
	uint8_t *l1_dirty;	/* one flag per Q1_L1_CHUNK entries */
	/*
	 * Allocations and flushes run one at a time: the holder, and the
	 * requests waiting for it (first in, first out).
	 */
	struct qwaiter *alloc_owner;
	struct qwaiter *alloc_head, *alloc_tail;
	bool bg_flush;		/* a write-back for no request runs */
	struct qcrypto_cipher *cipher;	/* aes; NULL: none, or no_io */
};

#define Q1ERR(img, err, ...) qcow_set_error(err, (img)->filename, __VA_ARGS__)

static inline uint64_t q1_cluster_size(const struct qcow1 *s)
{
	return 1ULL << s->cluster_bits;
}

static inline uint64_t q1_l2_bytes(const struct qcow1 *s)
{
	return 8ULL << s->l2_bits;
}

/*
 * The L2 slice of the cluster at req->pos (held: meta_cache_put it), NULL
 * with *err 0 when there is no table, or -EAGAIN when parked.
 */
struct meta_slice *q1_l2_get(struct qcow_req *req, struct qcow1 *s, int *err);
/* Entry of the cluster at req->pos: 0 unallocated; -EAGAIN when parked. */
int q1_entry(struct qcow_req *req, struct qcow1 *s, uint64_t *entry);

/* Where a compressed cluster's bytes are, and how many (sizes in bytes). */
static inline void q1_compressed_span(const struct qcow1 *s, uint64_t e,
				      uint64_t *host, uint64_t *len)
{
	unsigned int shift = 63 - s->cluster_bits;

	*len = (e >> shift) & (q1_cluster_size(s) - 1);
	*host = e & ((1ULL << shift) - 1);
}

/* qcow1_write.c */
void q1_write_step(struct qcow_req *req, struct qcow1 *s);
/*
 * The allocation lock, held by a waiter: true when w holds it, else w is
 * queued and resumed holding it.  Unlocking a lock w does not hold is a
 * no-op.
 */
bool q1_alloc_lock(struct qcow1 *s, struct qwaiter *w);
void q1_alloc_unlock(struct qcow1 *s, struct qwaiter *w);
/* Anything written since the last flush that it must write back. */
bool q1_meta_dirty(const struct qcow1 *s);

/* qcow1_flush.c: the L2 tables, then the L1 entries, each after an fsync */
void qcow1_flush(struct qcow_req *req);
/* The same for no request, on ctx, unless one runs or nothing is dirty. */
void q1_writeback_start(struct qcow_image *img, struct qcow_ctx *ctx);
void qcow1_writeback(struct qcow_image *img);

/* The L2 table cache, sized from the L1 table (qcow1.c). */
int q1_l2_cache_init(struct qcow_image *img, struct qcow1 *s);

/* qcow1_empty.c: every cluster unmapped (commit) */
int qcow1_make_empty(struct qcow_image *img);

/*
 * qcow1_crypt.c: legacy AES, its IVs numbered by guest sector.  The
 * cipher from opts.key (none with no_io and no key); q1_crypt_read()
 * reads len guest bytes at host (req->pos's) into the request at boff,
 * decrypted; q1_crypt_submit() en- or decrypts the whole sectors of buf,
 * the guest's at guest, in place as a job of the crypto pool;
 * q1_crypt_write_in_place() writes [in, in + len) of the allocated
 * cluster e at req->pos, its sectors (read and decrypted when covered in
 * part: the allocation lock held then) overlaid, encrypted and written;
 * it continues the step.
 */
int q1_crypt_open(struct qcow_image *img, struct qcow1 *s);
enum qcow_crypto_backend q1_crypt_backend(const struct qcow1 *s);
void q1_crypt_close(struct qcow1 *s);
void q1_crypt_read(struct qcow_req *req, struct qcow1 *s, uint64_t boff,
		   uint64_t len, uint64_t host);
int q1_crypt_submit(struct qcow1 *s, struct qcow_ctx *ctx,
		    struct qcrypt_job *j, bool encrypt, uint64_t guest,
		    void *buf, uint64_t len);
void q1_crypt_write_in_place(struct qcow_req *req, struct qcow1 *s,
			     uint64_t e, uint64_t in, uint64_t len);

/* qcow1_create.c */
int qcow1_create(const char *path, const struct qcow_create_opts *opts);

#endif
