/* SPDX-License-Identifier: MIT */
/* State of an open qcow2 image, shared by the qcow2_*.c files. */
#ifndef QCOW_QCOW2_H
#define QCOW_QCOW2_H

#include "internal.h"
#include "meta_cache.h"
#include "qcow2_alloc.h"
#include "qcow2_bitmap.h"

struct qcow2_ext {
	uint32_t type;
	uint32_t len;
	uint8_t *data;
	struct qcow2_ext *next;
};

struct qcow2_feature_name {
	uint8_t type;
	uint8_t bit;
	char name[47];
};

struct qcow2_snapshot {
	uint64_t l1_offset;
	uint32_t l1_size;
	bool l1_bad;		/* unaligned or too large: never read */
	struct qcow_snapshot_info info;
	char *id;
	char *name;
	uint32_t extra_size;
	uint8_t *extra;		/* extra_size bytes as on disk */
};

struct qcow2 {
	struct qcow_image *img;
	uint32_t version;
	uint32_t cluster_bits;
	uint32_t cluster_size;
	uint32_t header_length;
	uint32_t crypt_method;
	uint32_t refcount_order;
	uint64_t refcount_max;
	uint8_t compression_type;
	uint64_t incompatible;
	uint64_t compatible;
	uint64_t autoclear;

	uint64_t backing_offset;

	uint32_t l1_size;
	uint64_t l1_offset;
	uint64_t *l1;			/* host order */
	uint32_t l2_bits;		/* log2 entries per L2 table */
	uint32_t l2_entry_size;		/* 8, or 16 with extended L2 */
	uint32_t subcluster_bits;	/* == cluster_bits without ext L2 */

	uint64_t rt_offset;
	uint64_t rt_move_to;	/* new table a failed checkpoint left to write */
	uint32_t rt_clusters;

	uint32_t nb_snapshots;
	uint64_t snapshots_offset;
	uint64_t snapshots_size;
	struct qcow2_snapshot *snapshots;
	struct qcow_snapshot_info *snapshot_infos;
	bool snapshot_view;	/* l1 is a snapshot's (read-only open) */

	uint32_t nb_bitmaps;		/* the extension as on disk */
	uint64_t bitmap_dir_size;
	uint64_t bitmap_dir_offset;
	bool bitmap_ext;		/* the header has one */
	struct qcow2_bitmaps bm;
	uint64_t crypto_offset;
	uint64_t crypto_length;
	struct qcow2_crypt *crypt;	/* crypt_method != 0 */

	char *data_file_name;
	struct qfile *data_file;	/* == img->file without one */
	bool has_data_file;

	struct qcow2_feature_name *features;
	unsigned int nb_features;
	struct qcow2_ext *unknown_exts;

	struct meta_cache l2;
	struct meta_cache rb;		/* refcount block slices */
	uint64_t rb_cache_bytes;	/* its size, from the options */
	uint64_t *rt;			/* refcount table, host order */
	uint64_t rt_entries;
	struct qcow2_alloc alloc;
	struct alloc_op *inflight;	/* allocating writes in flight */
	struct qepoch io_epoch;		/* in-place reads and writes */
	struct l2_copy *l2_copies;	/* shared L2 tables being copied */
	uint64_t *l1_dirty;		/* bitmap of L1 chunks */
	uint32_t l1_chunk_entries;
	bool l1_any_dirty;
	uint64_t *rt_dirty;		/* bitmap of refcount table chunks */
	uint32_t rt_chunk_entries;
	uint64_t rt_dirty_chunks;
	bool rt_any_dirty;
	bool lazy;			/* lazy refcounts, writable */
	bool writable;
	uint8_t *hdr_raw;		/* the header cluster as on disk */
	struct ckpt *ckpt;		/* the write-back running */
	struct qwaiter *next_waiters;	/* for the one after it */
	struct qcow_ctx *next_ctx;
	bool next_wanted;
	bool next_refcounts;
	uint64_t comp_next;		/* next free byte for compressed data */
	bool no_zero_range;		/* QIO_ZERO refused: zeros are written */
	struct shared_map meta;		/* metadata clusters (writable) */
	uint64_t file_reserved;		/* file grown to here; 0: never */
	uint64_t file_size_at_open;
	bool corrupt;			/* found inconsistent: no writes */
	/* opened for repair with damaged refcount structures: no writes */
	bool refcounts_damaged;
	char *damage_msg;		/* why, as the open would have said */
	/* refcounts of a dirty image the open set right, for qcow_repair */
	uint64_t dirty_leaks_fixed, dirty_corruptions_fixed;

	bool prealloc_checked;
	bool metadata_prealloc;
};

static inline struct qcow2 *qcow2_of(const struct qcow_image *img)
{
	return img->priv;
}

static inline uint64_t qcow2_offset_into_cluster(const struct qcow2 *s,
						 uint64_t off)
{
	return off & (s->cluster_size - 1);
}

static inline uint64_t img_clusters(const struct qcow2 *s)
{
	return div_round_up(s->img->size, s->cluster_size);
}

/* Where the image file ends, counting clusters allocated but not written. */
static inline uint64_t qcow2_file_end(const struct qcow2 *s)
{
	return MAX(s->img->file->size,
		   s->alloc.end << s->cluster_bits);
}

/* qcow2_corrupt.c */
enum {
	QCOW2_META_HEADER = 1,
	QCOW2_META_L1,
	QCOW2_META_REFTABLE,
	QCOW2_META_REFBLOCK,
	QCOW2_META_L2,
	QCOW2_META_SNAPSHOTS,
	QCOW2_META_SNAPSHOT_L1,
	QCOW2_META_CRYPTO,
};

int qcow2_meta_init(struct qcow2 *s);
int qcow2_meta_add(struct qcow2 *s, uint64_t off, uint64_t len, int type);
int qcow2_meta_overlap(struct qcow2 *s, uint64_t off, uint64_t len);
int qcow2_signal_corruption(struct qcow2 *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* guest UINT64_MAX: an allocation; returns -EIO after marking corrupt */
int qcow2_check_write(struct qcow2 *s, uint64_t guest, uint64_t off,
		      uint64_t len);

/* qcow2_header.c */
int qcow2_read_header(struct qcow_image *img, struct qcow2 *s);
void qcow2_free_header(struct qcow2 *s);

void qcow2_header_set_dirty(struct qcow2 *s, bool dirty);
void qcow2_header_set_reftable(struct qcow2 *s);
void qcow2_header_set_autoclear(struct qcow2 *s, uint64_t autoclear);
uint32_t qcow2_header_io_len(const struct qcow2 *s);
int qcow2_header_write_sync(struct qcow2 *s);

/* qcow2_header_rewrite.c: the whole header cluster, extensions kept */
struct qcow2_header_change {
	bool set_backing;
	const char *backing;		/* NULL: none */
	const char *backing_format;
	bool set_data_file;
	const char *data_file;
	int version;			/* 0: keep */
	bool set_bitmaps;		/* nb_bitmaps 0: no extension */
	uint32_t nb_bitmaps;
	uint64_t bitmap_dir_offset;
	uint64_t bitmap_dir_size;
};

int qcow2_header_rewrite(struct qcow2 *s,
			 const struct qcow2_header_change *chg);

/* qcow2_checkpoint.c */
struct ckpt;
void qcow2_ckpt_kick(struct qcow2 *s, struct qcow_ctx *ctx);
void qcow2_ckpt_request(struct qcow2 *s, struct qcow_ctx *ctx,
			struct qwaiter *w, bool refcounts);
void qcow2_ckpt_maybe(struct qcow2 *s, struct qcow_ctx *ctx);
void qcow2_flush_step(struct qcow_req *req);
void qcow2_writeback(struct qcow_image *img);
int qcow2_ckpt_sync(struct qcow2 *s, bool refcounts);
int qcow2_ckpt_settle(struct qcow2 *s);
/* qcow2_refcount_rebuild.c: refcounts in memory set from the references */
int qcow2_rebuild_refcounts(struct qcow2 *s);
/*
 * qcow2_repair.c: the two add what they fix to fixed's leaks_fixed and
 * corruptions_fixed
 */
int qcow2_fix_refcounts(struct qcow2 *s, unsigned int flags,
			struct qcow_check_result *fixed,
			void (*report)(void *arg, const char *msg), void *arg);
int qcow2_fix_copied(struct qcow2 *s, struct qcow_check_result *fixed,
		     void (*report)(void *arg, const char *msg), void *arg);

static inline int qcow2_full_discard_sync(struct qcow2 *s, uint64_t off,
					  uint64_t len)
{
	return qcow_pdiscard_flags(s->img, len, off, QCOW_REQ_FULL_DISCARD);
}

/* qcow2_snapshot.c */
int qcow2_read_snapshots(struct qcow_image *img, struct qcow2 *s);
void qcow2_free_snapshots(struct qcow2 *s);
/* qcow2_snapshot_table.c: a new table written, then named by the header */
/* Frees n entries of v, their strings and extra data, and v. */
void qcow2_snapshot_entries_free(struct qcow2_snapshot *v, uint32_t n);
int qcow2_snapshot_table_replace(struct qcow2 *s, struct qcow2_snapshot *v,
				 uint32_t n);
/*
 * qcow2_snapshot_refs.c: addend -1 releases, 0 only sets COPIED flags, 1
 * raises, 2 fails with -ERANGE when raising would overflow a refcount
 */
int qcow2_snapshot_refs(struct qcow2 *s, uint64_t *l1, uint32_t l1_size,
			int addend, bool set_copied);
/* qcow2_snapshot_ops.c */
extern const struct qcow_snapshot_ops qcow2_snapshot_ops;

/* qcow2_snapshot_load.c: opts.snapshot_id/name select the L1 table read */
int qcow2_snapshot_load(struct qcow2 *s);

/*
 * qcow2_crypt.c: the data cipher from opts.key (none with no_io and no
 * key); qcow2_crypt_read() reads len guest bytes at host into the request
 * at boff, decrypted; qcow2_crypt_submit() en- or decrypts whole sectors
 * of buf in place as a job of the crypto pool (crypt_pool.h), numbered by
 * guest or host offset as the method wants: 0 and j->w.resume runs later
 * on ctx's thread, or -errno and it never runs.
 */
struct qcow2_crypt;
struct qcrypto_cipher;
struct qcrypt_job;
int qcow2_crypt_open(struct qcow2 *s);
void qcow2_crypt_close(struct qcow2 *s);
/* -EACCES with the reason set when opts has no passphrase */
int qcow2_crypt_need_key(struct qcow2 *s);
const struct qcow_luks_info *qcow2_crypt_luks_info(const struct qcow2 *s);
/* the data cipher's backend; QCOW_CRYPTO_AUTO when there is none */
enum qcow_crypto_backend qcow2_crypt_backend(const struct qcow2 *s);
void qcow2_crypt_read(struct qcow_req *req, uint64_t boff, uint64_t len,
		      uint64_t host);
int qcow2_crypt_submit(struct qcow2 *s, struct qcow_ctx *ctx,
		       struct qcrypt_job *j, bool encrypt, uint64_t guest,
		       uint64_t host, void *buf, uint64_t len);
/* qcow2_crypt_luks.c: info filled; *out NULL with no_io and no key */
int qcow2_luks_open(struct qcow2 *s, struct qcow_luks_info *info,
		    struct qcrypto_cipher **out);
/* qcow2_luks_amend.c: key slots added or erased (o->luks_state) */
int qcow2_luks_amend(struct qcow2 *s, const struct qcow_amend_opts *o);
/* a new LUKS header for o's passphrase and options: *area, *len bytes */
int qcow2_luks_create(const char *path, const struct qcow_create_opts *o,
		      uint8_t **area, size_t *len);

/* qcow2_read.c */
void qcow2_read_step(struct qcow_req *req);
/* qcow2_read_fast.c */
bool qcow2_read_fast(struct qcow_req *req);

/* qcow2_refcount.c */
int qcow2_load_refcounts(struct qcow2 *s, uint64_t **out, uint64_t *nb);
int qcow2_walk_refcounts(struct qcow2 *s,
			 void (*fn)(void *arg, uint64_t cluster, uint64_t rc),
			 void *arg);
uint64_t qcow2_refcount_entry(const struct qcow2 *s, const uint8_t *block,
			      uint64_t index);
void qcow2_refcount_put(uint32_t order, uint8_t *block, uint64_t i,
			uint64_t v);
/* qcow2_refcount_rebuild.c: amend refcount_bits; repair */
int qcow2_change_refcount_order(struct qcow2 *s, uint32_t order);
int qcow2_rebuild_refcount_structure(struct qcow2 *s);

bool qcow2_metadata_prealloc(struct qcow2 *s);

/*
 * The driver's image-wide operations: qcow2_create.c, qcow2_resize.c,
 * qcow2_amend.c, qcow2_backing.c, qcow2_repair.c.  They need a writable
 * qcow2 image (qcow2.c: -ENOTSUP or -EROFS with the reason set).
 */
int qcow2_need_writable(struct qcow_image *img, struct qcow2 **out);
int qcow2_create(const char *path, const struct qcow_create_opts *o);
int qcow2_resize(struct qcow_image *img, uint64_t size, bool allow_shrink);
int qcow2_amend(struct qcow_image *img, const struct qcow_amend_opts *o);
int qcow2_set_backing(struct qcow_image *img, const char *name,
		      const char *format);
int qcow2_make_empty(struct qcow_image *img);
/* qcow2_vmstate.c: the driver's vmstate hook */
int qcow2_vmstate(struct qcow_image *img, uint64_t pos, uint64_t len,
		  bool write, uint64_t *guest);
int qcow2_repair(struct qcow_image *img, unsigned int flags,
		 struct qcow_check_result *res,
		 void (*report)(void *arg, const char *msg), void *arg);

/* qcow2_check.c */
int qcow2_check(struct qcow_image *img, struct qcow_check_result *res,
		void (*report)(void *arg, const char *msg), void *arg);
struct qcow2_check_opts {
	bool copied;		/* COPIED flags too */
	bool rebuild;		/* out: the refcount structure is damaged */
};
int qcow2_check_ex(struct qcow_image *img, struct qcow_check_result *res,
		   void (*report)(void *arg, const char *msg), void *arg,
		   struct qcow2_check_opts *o);
/* References to every host cluster, as the check counts them. */
int qcow2_count_references(struct qcow2 *s, uint64_t **refs, uint64_t *nb);
/* qcow2.c: a damaged refcount structure noted by a repair open */
int qcow2_note_damage(struct qcow2 *s, int err);

#endif
