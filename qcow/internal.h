/* SPDX-License-Identifier: MIT */
/* Engine internals shared between the files of qcow/. */
#ifndef QCOW_INTERNAL_H
#define QCOW_INTERNAL_H

#include <stdarg.h>
#include <sys/types.h>
#include "qcow.h"
#include "util.h"
#include "file_backend.h"

/*
 * ---- files (file.c), asynchronous I/O (io.c), contexts and the chain
 * locks (ctx.c) ----
 */

#include <pthread.h>

#define QIO_DIRECT_ALIGN 4096	/* memory alignment of O_DIRECT buffers */

struct qfile {
	int fd;
	char *name;
	unsigned int align;	/* 1, or the O_DIRECT alignment */
	uint64_t size;		/* length when opened */
	dev_t dev;
	ino_t ino;
	unsigned int lock_perm;		/* QPERM_* held (lock.c) */
	unsigned int lock_unshared;	/* QPERM_* denied to others */
	bool lock_off;			/* the file system has no OFD locks */
	/* a raw image: a read-modify-write must not make it longer */
	bool keep_size;
	bool zero_by_punch;	/* QIO_ZERO: no FALLOC_FL_ZERO_RANGE here */
	bool sync_io;		/* in memory, no nowait I/O: not on the ring */
	/* O_DIRECT writes (io_direct.c): in flight, waiting, RMW running */
	unsigned int dwrites;
	struct qio_op *dq_head, *dq_tail;
	bool drmw;
	struct qcow_blkdebug *dbg;	/* the filter over it, or NULL */
};

/*
 * QIO_ZERO: the range reads as zeros after it (FALLOC_FL_ZERO_RANGE, or a
 * punched hole where the file system has no zero range); it fails with
 * -EOPNOTSUPP where neither works.
 */
enum qio_kind { QIO_READ, QIO_WRITE, QIO_FSYNC, QIO_PUNCH, QIO_FALLOC,
		QIO_ZERO };

/*
 * What qcow_ctx_run_deferred() does with an op on the deferred list:
 * finish it with op->res; or first, without the lock, do its I/O at once,
 * read the blocks of its read-modify-write, or wait for a free SQE.
 */
enum qio_defer { QIO_DEF_FINISH, QIO_DEF_SYNC, QIO_DEF_RMW, QIO_DEF_SQE };

/* Free lists of per-I/O objects (pool.c), one set per chain lock. */
enum qpool_kind { QPOOL_DATA_IO, QPOOL_ALLOC_OP, QPOOL_CHILD, QPOOL_NR };
#define QPOOL_MAX	256	/* objects kept of each kind */

/*
 * One open chain's lock: exclusive (recursive: callbacks may submit) for
 * everything but the read fast path, which takes it shared (ctx.c).
 */
struct qlock {
	pthread_rwlock_t rw;
	unsigned long owner;		/* pthread_self() of the exclusive */
	unsigned int depth;		/* holder, and its nesting */
	struct qpool_item *pool[QPOOL_NR];
	unsigned int pool_n[QPOOL_NR];
};

/*
 * Under a chain lock: a zeroed object of a kind (always of the same
 * size), and one given back; qpool_drain() frees the lock's lists.
 */
void *qpool_get(enum qpool_kind k, size_t size);
void qpool_put(enum qpool_kind k, void *p);
void qpool_drain(struct qlock *lk);

struct qio_op {
	void (*cb)(struct qio_op *op, int res);
	void *data;
	struct qio_op *next;
	struct qcow_ctx *ctx;
	struct qlock *lock;		/* of the chain it was started for */
	bool lockless;			/* fast path: completes without it */
	enum qio_defer defer;
	struct qfile *file;		/* NULL: a copy through fd */
	int fd;
	bool fixed;			/* buffer buf_index, at fixed_addr */
	int buf_index;
	uint64_t fixed_addr;
	enum qio_kind kind;
	uint8_t ev;			/* its blkdebug event (blkdebug.h) */
	int res;
	uint8_t *buf;
	uint64_t len;
	uint64_t off;
	/* the range really submitted: an aligned bounce under O_DIRECT */
	uint8_t *bounce;
	uint8_t *io_buf;
	uint64_t io_len;
	uint64_t io_off;
	uint64_t io_done;
	/* O_DIRECT writes: read-modify-write of the bounce, counted */
	bool rmw;
	bool tracked;
	bool held;			/* kept by the file backend */
	struct qwaiter wake;		/* started from another thread */
};

struct qcow_ctx {
	struct io_uring *ring;
	struct qio_op *defer_head;
	struct qio_op *defer_tail;
	unsigned int inflight;		/* on the ring (owner thread only) */
	unsigned int owned;		/* engine work running: atomic */
	int event_fd;			/* -1 until asked for */
	pthread_mutex_t mail_mu;	/* the mailbox, filled by others */
	struct qwaiter *mail_head;	/* woken by other threads */
	struct qwaiter *mail_tail;
	void *fast_free;		/* the read fast path's ops, reused */
	unsigned int fast_nr;
};

/* Engine work of ctx running elsewhere (a worker, a checkpoint). */
static inline void qctx_own(struct qcow_ctx *ctx, int n)
{
	__atomic_add_fetch(&ctx->owned, n, __ATOMIC_RELAXED);
}

static inline unsigned int qctx_owned(const struct qcow_ctx *ctx)
{
	return __atomic_load_n(&ctx->owned, __ATOMIC_ACQUIRE);
}

/*
 * The end of such work, after its waiters are woken: an owner that saw
 * the count fall to 0 sees their mail too, and one asleep on its eventfd
 * is woken.
 */
void qctx_disown(struct qcow_ctx *ctx);

bool qctx_has_mail(struct qcow_ctx *ctx);

/*
 * The chain locks (ctx.c): every entry point holds the lock of the chain
 * it works on, so contexts on several threads can share images.
 * qcow_current_ctx() is the context whose thread is inside,
 * qcow_current_lock() the lock it holds.  lk NULL: a process-wide lock
 * (for what belongs to no chain).
 */
struct qlock_save {
	struct qcow_ctx *ctx;
	struct qlock *lock;
	bool shared;
};

struct qlock *qlock_new(void);
void qlock_free(struct qlock *lk);
struct qlock_save qcow_lock(struct qcow_ctx *ctx, struct qlock *lk);
/*
 * Shared, for the read fast path only: false when this thread holds lk
 * already (it must take the exclusive path).  qcow_unlock() ends both.
 */
bool qcow_lock_shared(struct qcow_ctx *ctx, struct qlock *lk,
		      struct qlock_save *prev);
void qcow_unlock(struct qlock_save prev);
/* The thread holds a lock shared: no pools, no waiters, no callbacks. */
bool qcow_lock_is_shared(void);
struct qcow_ctx *qcow_current_ctx(void);
struct qlock *qcow_current_lock(void);
/* Resumes w now when its context is the current one, else queues it. */
void qwaiter_wake(struct qwaiter *w, int err);
/*
 * From a thread of no context holding no lock (a pool worker): queues w
 * to its context, to resume under lk; the chain is not touched here.
 */
void qwaiter_post(struct qwaiter *w, int err, struct qlock *lk);
/* A worker's last touch of w's context: the post, and the work disowned. */
void qwaiter_post_disown(struct qwaiter *w, int err, struct qlock *lk);

int qfile_open(struct qfile **out, const char *name, bool read_only,
	       bool direct);
void qfile_close(struct qfile *f);
/* op->cb and op->data must be set; the op is freed by the caller in cb. */
void qfile_submit(struct qcow_ctx *ctx, struct qfile *f, struct qio_op *op,
		  enum qio_kind kind, void *buf, uint64_t len, uint64_t off);
/*
 * The same, tagged with a blkdebug event (QBD_*, below):
 * the QEMU event the op stands for, raised when it starts if a blkdebug
 * filter is over f.  The untagged ops raise none (FSYNC: flush_to_disk).
 */
void qfile_submit_ev(struct qcow_ctx *ctx, struct qfile *f,
		     struct qio_op *op, enum qio_kind kind, void *buf,
		     uint64_t len, uint64_t off, int ev);
/* An event with no op of its own (cluster_alloc...) on f's filter. */
void qfile_event(struct qfile *f, int ev);
int qfile_pread_sync(struct qfile *f, void *buf, uint64_t len, uint64_t off);
/*
 * io_direct.c: writes to an O_DIRECT file go through qdirect_write(), which
 * starts them with qio_start() in an order that keeps a read-modify-write
 * (a write not aligned to the file's blocks) alone on the file;
 * qdirect_write_done() is called as each ends.
 */
void qio_start(struct qio_op *op);
/* Appends op to a list of ops linked through op->next. */
static inline void qio_list_append(struct qio_op **head, struct qio_op **tail,
				   struct qio_op *op)
{
	op->next = NULL;
	if (*tail)
		(*tail)->next = op;
	else
		*head = op;
	*tail = op;
}
void qdirect_write(struct qio_op *op);
void qdirect_write_done(struct qio_op *op);
/*
 * READ_FIXED / WRITE_FIXED of [addr, addr + len) of fixed buffer index;
 * reads must not reach past the end of the file (-EIO).  Needs a ring.
 */
void qfile_submit_fixed(struct qcow_ctx *ctx, struct qfile *f,
			struct qio_op *op, enum qio_kind kind, int index,
			uint64_t addr, uint64_t len, uint64_t off, int ev);
/* READ or WRITE of exactly len bytes on a descriptor that is no image. */
void qfd_submit(struct qcow_ctx *ctx, int fd, struct qio_op *op,
		enum qio_kind kind, void *buf, uint64_t len, uint64_t off);
void qfd_submit_fixed(struct qcow_ctx *ctx, int fd, struct qio_op *op,
		      enum qio_kind kind, int index, uint64_t addr,
		      uint64_t len, uint64_t off);
/* Data/hole status of a host range (SEEK_DATA/SEEK_HOLE). */
int qfile_seek_status(struct qfile *f, uint64_t off, uint64_t *len,
		      bool *zero, bool *eof);
uint64_t qfile_allocated_size(struct qfile *f);
void *qalloc_aligned(size_t size);

int qfile_pwrite_sync(struct qfile *f, const void *buf, uint64_t len,
		      uint64_t off);
int qfile_fsync_sync(struct qfile *f);
/*
 * Files being created, before any open: all of buf at off; the data of a
 * preallocated image (a sparse tail, allocated, or zeros).
 */
int qfd_pwrite_all(int fd, const void *buf, size_t len, uint64_t off);
int qfd_preallocate(int fd, enum qcow_prealloc mode, uint64_t off,
		    uint64_t len);

/* run a callback later from qcow_ctx_run_deferred() */
void qctx_defer(struct qcow_ctx *ctx, struct qio_op *op);
/* the blocking part of op later, without the lock (enum qio_defer) */
void qctx_defer_work(struct qcow_ctx *ctx, struct qio_op *op,
		     enum qio_defer what);
/* io.c: the I/O of op done at once; an SQE for it */
int qio_sync(struct qio_op *op);
struct io_uring_sqe;
void qio_prep(struct io_uring_sqe *sqe, struct qio_op *op);
/* io_direct.c: a read-modify-write's blocks read, the data merged */
int qdirect_rmw_fill(struct qio_op *op);
/* an op's end: results checked, bounce copied back, then op->cb (io.c) */
void qio_finish(struct qio_op *op, int res);

/*
 * In-place I/O in flight, counted by epoch (io_epoch.c): host clusters
 * are freed only once the I/O begun while they were mapped is done.
 */
struct qepoch {
	unsigned int cur;		/* the current epoch's slot, 0 or 1 */
	unsigned int n[2];		/* I/O in flight begun in each slot */
	struct qwaiter *waiter;		/* for the other slot to drain */
};

/*
 * The slot of I/O that starts now, for qepoch_exit() when it ends.  The
 * counts are atomic: the read fast path enters under the chain lock held
 * shared and exits with no lock (io_epoch.c).
 */
static inline unsigned int qepoch_enter(struct qepoch *e)
{
	unsigned int cur = __atomic_load_n(&e->cur, __ATOMIC_RELAXED);

	__atomic_add_fetch(&e->n[cur], 1, __ATOMIC_SEQ_CST);
	return cur;
}

/* Under the chain lock (exclusive). */
void qepoch_exit(struct qepoch *e, unsigned int slot);
/*
 * With no lock: true when the caller must take the chain lock and call
 * qepoch_wake() (a checkpoint may wait for the slot to drain).
 */
bool qepoch_exit_unlocked(struct qepoch *e, unsigned int slot);
void qepoch_wake(struct qepoch *e, unsigned int slot);
/*
 * A new epoch, once no I/O begun in the one before the current one is in
 * flight: true, or false and w is woken when it may be asked again.
 */
bool qepoch_advance(struct qepoch *e, struct qwaiter *w);

/*
 * ---- the blkdebug filter (blkdebug/): the events that tag file ops ----
 */

/* QEMU 7.2's BlkdebugEvent, in its order (blkdebug_event.c names them). */
enum qbd_event {
	QBD_NONE_TAG,		/* an op that raises no event */
	QBD_L1_UPDATE,
	QBD_L1_GROW_ALLOC_TABLE,
	QBD_L1_GROW_WRITE_TABLE,
	QBD_L1_GROW_ACTIVATE_TABLE,
	QBD_L2_LOAD,
	QBD_L2_UPDATE,
	QBD_L2_UPDATE_COMPRESSED,
	QBD_L2_ALLOC_COW_READ,
	QBD_L2_ALLOC_WRITE,
	QBD_READ_AIO,
	QBD_READ_BACKING_AIO,
	QBD_READ_COMPRESSED,
	QBD_WRITE_AIO,
	QBD_WRITE_COMPRESSED,
	QBD_VMSTATE_LOAD,
	QBD_VMSTATE_SAVE,
	QBD_COW_READ,
	QBD_COW_WRITE,
	QBD_REFTABLE_LOAD,
	QBD_REFTABLE_GROW,
	QBD_REFTABLE_UPDATE,
	QBD_REFBLOCK_LOAD,
	QBD_REFBLOCK_UPDATE,
	QBD_REFBLOCK_UPDATE_PART,
	QBD_REFBLOCK_ALLOC,
	QBD_REFBLOCK_ALLOC_HOOKUP,
	QBD_REFBLOCK_ALLOC_WRITE,
	QBD_REFBLOCK_ALLOC_WRITE_BLOCKS,
	QBD_REFBLOCK_ALLOC_WRITE_TABLE,
	QBD_REFBLOCK_ALLOC_SWITCH_TABLE,
	QBD_CLUSTER_ALLOC,
	QBD_CLUSTER_ALLOC_BYTES,
	QBD_CLUSTER_FREE,
	QBD_FLUSH_TO_OS,
	QBD_FLUSH_TO_DISK,
	QBD_PWRITEV_RMW_HEAD,
	QBD_PWRITEV_RMW_AFTER_HEAD,
	QBD_PWRITEV_RMW_TAIL,
	QBD_PWRITEV_RMW_AFTER_TAIL,
	QBD_PWRITEV,
	QBD_PWRITEV_ZERO,
	QBD_PWRITEV_DONE,
	QBD_EMPTY_IMAGE_PREPARE,
	QBD_L1_SHRINK_WRITE_TABLE,
	QBD_L1_SHRINK_FREE_L2_CLUSTERS,
	QBD_COR_WRITE,
	QBD_CLUSTER_ALLOC_SPACE,
	QBD_NONE,		/* QEMU's "none": raised once at open */
	QBD_NR_EVENTS
};

/* the options' rules added; the filter is ready (blkdebug_config.c) */
int qbd_finish(struct qcow_blkdebug *d);
/*
 * An op starts on a file with a filter: true when it was taken (failed
 * or parked).
 */
bool qbd_filter(struct qcow_blkdebug *d, struct qio_op *op);
/* an event with no op of its own */
void qbd_event(struct qcow_blkdebug *d, int event);
/* -errno when an active rule covers a synchronous op, else 0 */
int qbd_check_sync(struct qcow_blkdebug *d, enum qio_kind kind,
		   uint64_t off, uint64_t len);

/* ---- image locking, QEMU's way (lock.c) ---- */

#define QPERM_CONSISTENT_READ	(1u << 0)
#define QPERM_WRITE		(1u << 1)
#define QPERM_WRITE_UNCHANGED	(1u << 2)
#define QPERM_RESIZE		(1u << 3)

int qfile_lock(struct qfile *f, unsigned int perm, unsigned int unshared);
/* The locks of an open of img's own file, and of its external data file. */
int qcow_lock_image(struct qcow_image *img);
int qcow_lock_data_file(struct qcow_image *img, struct qfile *f);

/* ---- images and drivers (image.c) ---- */

/*
 * Internal snapshots behind qcow.h's qcow_snapshot_*() (snapshot.c
 * dispatches, checking that the image is writable).
 */
struct qcow_snapshot_ops {
	int (*create)(struct qcow_image *img,
		      const struct qcow_snapshot_create_opts *opts,
		      char *id, size_t id_size);
	int (*remove)(struct qcow_image *img, const char *id_or_name);
	int (*apply)(struct qcow_image *img, const char *id_or_name);
};

/*
 * Persistent dirty bitmaps behind qcow.h's qcow_bitmap_*() (bitmap.c
 * dispatches, holding the chain lock).  track runs once for every write,
 * zero write and discard before the driver starts it.
 */
struct qcow_bitmap_ops {
	int (*list)(struct qcow_image *img,
		    const struct qcow_bitmap_info **out);
	int (*add)(struct qcow_image *img, const char *name,
		   uint64_t granularity, bool disabled);
	int (*remove)(struct qcow_image *img, const char *name);
	int (*clear)(struct qcow_image *img, const char *name);
	int (*enable)(struct qcow_image *img, const char *name, bool enable);
	int (*mark)(struct qcow_image *img, const char *name, uint64_t off,
		    uint64_t len);
	int (*range)(struct qcow_image *img, const char *name, uint64_t off,
		     uint64_t *len, bool *dirty);
	int (*store)(struct qcow_image *img);
	int (*track)(struct qcow_image *img, uint64_t off, uint64_t len);
};

struct meta_cache;

struct qcow_driver {
	const char *name;
	int (*open)(struct qcow_image *img);
	void (*close)(struct qcow_image *img);
	/* advance a request; called again after it was parked */
	void (*step)(struct qcow_req *req);
	/*
	 * Optional: start a read under the chain lock held shared, with no
	 * side effect when it returns false (then step runs, exclusive).
	 */
	bool (*read_fast)(struct qcow_req *req);
	/* makes everything written so far durable, then puts req */
	void (*flush)(struct qcow_req *req);
	/* background write-back of dirty metadata, if any */
	void (*writeback)(struct qcow_image *img);
	int (*get_info)(const struct qcow_image *img, struct qcow_info *info);
	int (*check)(struct qcow_image *img, struct qcow_check_result *res,
		     void (*report)(void *arg, const char *msg), void *arg);
	/*
	 * The image-wide operations behind qcow.h's functions of the same
	 * names (image.c dispatches).  NULL: the format does not support
	 * it, and the public function fails with -ENOTSUP.
	 */
	int (*create)(const char *path, const struct qcow_create_opts *opts);
	int (*resize)(struct qcow_image *img, uint64_t size,
		      bool allow_shrink);
	int (*amend)(struct qcow_image *img,
		     const struct qcow_amend_opts *opts);
	int (*set_backing)(struct qcow_image *img, const char *name,
			   const char *format);
	int (*make_empty)(struct qcow_image *img);
	int (*repair)(struct qcow_image *img, unsigned int flags,
		      struct qcow_check_result *res,
		      void (*report)(void *arg, const char *msg), void *arg);
	/* its metadata caches (cache.c); NULL where it has none */
	void (*caches)(struct qcow_image *img, struct meta_cache **l2,
		       struct meta_cache **refcount);
	/* the external data file of an open image, NULL if none (lock.c) */
	struct qfile *(*data_file)(struct qcow_image *img);
	/*
	 * The VM state area (QEMU's savevm and loadvm): the guest offset of
	 * its byte pos, the guest space up to pos + len made writable first
	 * when write.  NULL: the format has none (-ENOTSUP).
	 */
	int (*vmstate)(struct qcow_image *img, uint64_t pos, uint64_t len,
		       bool write, uint64_t *guest);
	/* NULL: the format has no internal snapshots */
	const struct qcow_snapshot_ops *snapshot;
	/* NULL: the format has no bitmaps (list finds none) */
	const struct qcow_bitmap_ops *bitmap;
};

struct qcow_image {
	const struct qcow_driver *drv;
	enum qcow_format format;
	char *filename;
	struct qfile *file;
	uint64_t size;
	struct qcow_image *backing;
	struct qlock *lock;	/* the chain's: the top image owns it */
	char *backing_name;	/* as stored in the image */
	char *backing_path;	/* resolved against the image's folder */
	bool file_driver;	/* opened by a json: "driver":"file" name */
	char *backing_format;
	int chain_depth;
	struct qcow_open_opts opts;
	void *priv;
	/* chain of files opened above this one, for loop detection */
	const struct qcow_image *child;
	bool probed;		/* the format was not given */
	bool guard_logged;	/* a first-sector write was refused */
};

extern const struct qcow_driver qcow_raw_driver;
extern const struct qcow_driver qcow2_driver;
extern const struct qcow_driver qcow1_driver;

/* Records "NAME: message" as the open error of this thread. */
int qcow_set_error(int err, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Runtime problems (a bad table met by a request) go to stderr. */
void qcow_log(const struct qcow_image *img, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

int qcow_open_backing(struct qcow_image *img);
/* An untrusted image's backing or data file (what) may be opened. */
int qcow_check_external(const struct qcow_image *img, const char *path,
			const char *what);

/* The first bytes of a file decide its probed format. */
#define QCOW_PROBE_LEN	8
enum qcow_format qcow_probe_header(const uint8_t *hdr);
/*
 * -EACCES: an encrypted image (what: "aes", "luks") opened without its
 * passphrase; the error names the option that gives it (for a backing
 * file, backing.encrypt.key-secret, one "backing." per level).
 */
int qcow_need_key(const struct qcow_image *img, const char *what);
/* that option's name, in buf (QCOW_KEY_OPTION_LEN covers 16 levels) */
#define QCOW_KEY_OPTION_LEN	160
const char *qcow_key_option(const struct qcow_image *img, char *buf,
			    size_t len);
char *qcow_path_relative_to(const char *image, const char *name);

/* the thread's private context, and driving it until *done */
struct qcow_ctx *qcow_sync_ctx(void);
int qcow_sync_drive(struct qcow_ctx *ctx, const bool *done);
int qcow_pdiscard_flags(struct qcow_image *img, uint64_t len, uint64_t off,
			unsigned int flags);

/* ---- request plumbing (request.c) ---- */

void qreq_get(struct qcow_req *req);
void qreq_put(struct qcow_req *req);
/*
 * The caller's done().  A request submitted by a thread holding no lock
 * (QCOW_REQ_OUTER) is done once its thread holds none again, so that its
 * done() may submit the next read on the fast path (ctx.c).
 */
void qreq_done(struct qcow_req *req);
void qcow_done_later(struct qcow_req *req);
void qreq_fail(struct qcow_req *req, int err);

/*
 * The request's own data, bytes [boff, boff + len) from its start, in
 * caller memory or a fixed buffer (req_data.c).  Each helper takes one
 * reference on req for the I/O it starts and records failures in req.
 */
void qreq_data_read_file(struct qcow_req *req, struct qfile *f, uint64_t boff,
			 uint64_t len, uint64_t host);
void qreq_data_write_file(struct qcow_req *req, struct qfile *f,
			  uint64_t boff, uint64_t len, uint64_t host);
void qreq_data_zero(struct qcow_req *req, uint64_t boff, uint64_t len);
/* zeros to a file, from page-aligned memory (O_DIRECT takes it) */
void qreq_write_zeroes_file(struct qcow_req *req, struct qfile *f,
			    uint64_t len, uint64_t host);
/* QCOW_ZERO_SOURCE_LEN read-only zeros that cost no memory, or NULL */
#define QCOW_ZERO_SOURCE_LEN	(2u << 20)
const uint8_t *qcow_zero_source(void);
/* Writes the data with op (its cb set by the caller): no reference. */
void qreq_data_submit_write(struct qcow_req *req, struct qio_op *op,
			    struct qfile *f, uint64_t boff, uint64_t len,
			    uint64_t host);
/* [pos, pos + len) of the image's backing chain (zeros past its end) */
void qreq_data_backing(struct qcow_req *req, uint64_t boff, uint64_t pos,
		       uint64_t len);
/* mem[skip, skip + len) into the data; mem (malloc'd) is freed after */
void qreq_data_put_owned(struct qcow_req *req, uint64_t boff, void *mem,
			 uint64_t skip, uint64_t len);
/*
 * The data into dst: false when already copied (memory), true when op
 * (its cb set by the caller) was started to copy it out of a fixed buffer.
 */
bool qreq_data_get(struct qcow_req *req, struct qio_op *op, uint64_t boff,
		   void *dst, uint64_t len);

/* ---- compression (compress.c) ---- */

int qcow_decompress(int type, uint8_t *dst, size_t dst_len,
		    const uint8_t *src, size_t src_len);
/* zstd decompression contexts created so far (tests) */
unsigned long qcow_zstd_contexts(void);
/* Compressed length, or -ENOSPC when it would not fit in dst_len. */
int qcow_compress(int type, uint8_t *dst, size_t dst_len, const uint8_t *src,
		  size_t src_len);

#endif
