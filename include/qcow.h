/* SPDX-License-Identifier: MIT */
/*
 * Public interface of the qcow image engine.
 *
 * The engine is asynchronous: requests are state machines that issue their
 * disk I/O on an io_uring owned by the caller (through a struct qcow_ctx) and
 * complete through a callback.  Tools use the synchronous wrappers at the end
 * of this header, which drive a private context until the request is done.
 *
 * All functions return 0 or a positive count on success and a negative errno
 * on failure.
 */
#ifndef QCOW_QCOW_H
#define QCOW_QCOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct io_uring;
struct io_uring_cqe;
struct qcow_image;
struct qcow_ctx;
struct qlock;
struct qepoch;

enum qcow_format {
	QCOW_FMT_NONE = 0,	/* probe */
	QCOW_FMT_RAW,
	QCOW_FMT_QCOW2,
	QCOW_FMT_QCOW,		/* legacy version 1 */
};

/*
 * Where the ciphers of an encrypted image run: AUTO takes the kernel's
 * where AF_ALG works and it measured faster here, else OpenSSL where it
 * has the cipher, else nettle.  A backend without the image's cipher
 * fails the open with -ENOTSUP and one line naming both.
 */
enum qcow_crypto_backend {
	QCOW_CRYPTO_AUTO = 0,
	QCOW_CRYPTO_KERNEL,		/* the kernel's crypto API (AF_ALG) */
	QCOW_CRYPTO_OPENSSL,		/* OpenSSL's libcrypto: aes, sm4 */
	QCOW_CRYPTO_NETTLE,		/* nettle: aes, twofish, serpent, cast5 */
};

/* "auto", "kernel", "openssl", "nettle" */
const char *qcow_crypto_backend_name(enum qcow_crypto_backend b);
/* -EINVAL for any other name */
int qcow_crypto_backend_by_name(const char *name,
				enum qcow_crypto_backend *b);
/*
 * 0 when b can run here; -ENOTSUP, with the reason in qcow_strerror(),
 * for the kernel's on a kernel without AF_ALG.
 */
int qcow_crypto_backend_probe(enum qcow_crypto_backend b);
/*
 * For a program about to hold a passphrase or an encrypted image's keys
 * (the ciphers' key schedules live on the heap): the process is made
 * not dumpable (PR_SET_DUMPABLE 0) and its RLIMIT_CORE 0, so no core
 * dump holds them.  Call it before reading the passphrase.
 */
int qcow_no_core_dumps(void);

/* A passphrase: len bytes, not a C string; data NULL for none. */
struct qcow_key {
	const char *data;
	size_t len;
};

struct qcow_open_opts {
	enum qcow_format format;	/* QCOW_FMT_NONE: probe the file */
	bool read_only;
	bool direct;			/* O_DIRECT on image and data files */
	bool no_backing;		/* do not open the backing chain */
	bool no_io;			/* metadata only (info on encrypted) */
	/*
	 * The metadata caches, with QEMU's qcow2 options and meanings
	 * (qcow_cache_opt() parses them): l2_cache_size, the L2 cache's
	 * most (default: what covers the image, at most 32 MiB);
	 * refcount_cache_size (default 1 MiB); cache_size, both together,
	 * as much as can be to L2; l2_cache_entry_size, a power of two from
	 * 512 to the cluster size (default 4 KiB or the cluster).  A size
	 * counts as given when non-zero or its QCOW_CACHE_* bit is in
	 * cache_set.  cache_clean_interval (QCOW_CACHE_CLEAN set, else 600
	 * seconds, 0: never) is for the caller, who calls qcow_cache_clean()
	 * that often.  qcow2 takes them all, legacy qcow the L2 size.
	 */
	uint64_t l2_cache_size;
	uint64_t refcount_cache_size;
	uint64_t cache_size;
	uint64_t l2_cache_entry_size;
	uint64_t cache_clean_interval;
	unsigned int cache_set;		/* QCOW_CACHE_* given */
	const char *data_file;		/* overrides the data file name */
	bool no_preallocate;		/* do not grow the file ahead */
	/*
	 * Open for qcow_repair(): damaged refcount structures (unaligned
	 * table entries, refcount blocks over other metadata) do not refuse
	 * the open; writes fail until a repair has rebuilt them.
	 */
	bool repair;
	/*
	 * Files are locked as QEMU locks them: an image in use by another
	 * process (ours or QEMU's) fails to open with -EBUSY.  force_share
	 * (qemu's -U, read-only opens only) denies others nothing; no_lock
	 * takes no lock at all, for a second handle of a file this process
	 * already locked (see qcow_lock_for_write()); deny_write keeps
	 * others from writing even a raw image (qemu-img convert's source).
	 */
	bool force_share;
	bool no_lock;
	bool deny_write;
	/*
	 * format names what an earlier open of this file probed (ublk-qcow
	 * recover reopening what add probed): no probing, but the image
	 * behaves as probed (qcow_format_probed()).
	 */
	bool format_probed;
	/*
	 * Untrusted images.  With untrusted, or a non-empty allow_dirs
	 * (NULL-terminated folders), a backing file or external data file
	 * that the image names is refused (-EPERM, one line naming the image
	 * and the field) before it is opened, unless its real path lies
	 * inside one of allow_dirs; there, a block device is refused unless
	 * allow_block_devices.  A data file given in data_file is the
	 * caller's own and not checked.  Without them, as QEMU: any file.
	 */
	bool untrusted;
	const char *const *allow_dirs;
	bool allow_block_devices;
	/*
	 * A read-write open refuses an image whose bitmap metadata is broken
	 * (one line naming the bitmap and the field); with this (or repair)
	 * it opens, keeping the broken entries, which can only be removed.
	 */
	bool allow_broken_bitmaps;
	/*
	 * Opens an internal snapshot instead of the active image, read-only
	 * (qemu-img convert -l, qemu-io -l): the entry whose ID is
	 * snapshot_id and whose name is snapshot_name, a NULL field matching
	 * any (both NULL: the active image).  -ENOENT when none matches.
	 */
	const char *snapshot_id;
	const char *snapshot_name;
	/*
	 * Encrypted images (qcow2 aes and luks): the passphrase, key_len
	 * bytes (not a C string).  The engine reads it during qcow_open()
	 * only and keeps no copy of it; what it derives (the data key) is
	 * wiped when the image closes.  The caller wipes its own bytes.
	 * Without one an encrypted image opens only with no_io.
	 */
	const char *key;
	size_t key_len;
	/*
	 * The passphrases of the backing chain's encrypted images, as QEMU's
	 * backing.encrypt.key-secret, backing.backing.encrypt.key-secret...:
	 * backing_keys[0] for the backing file, [1] for its backing file,
	 * nr_backing_keys of them (an entry without data: none).  Read
	 * during qcow_open() only, as key is.
	 */
	const struct qcow_key *backing_keys;
	unsigned int nr_backing_keys;
	/*
	 * The backend of every cipher the image makes (LUKS key slots
	 * too); the kernel's where AF_ALG is missing fails the open with
	 * -ENOTSUP and one line saying so.
	 */
	enum qcow_crypto_backend crypto_backend;
	/*
	 * QEMU's blkdebug filter between the top image's format and its file
	 * (qemu-io's blkdebug:CONFIG:IMAGE), made with qcow_blkdebug_new().
	 * qcow_open() takes it, open or not; the backing chain has none.
	 */
	struct qcow_blkdebug *blkdebug;
};

#define QCOW_CACHE_L2		(1u << 0)
#define QCOW_CACHE_REFCOUNT	(1u << 1)
#define QCOW_CACHE_SIZE		(1u << 2)
#define QCOW_CACHE_ENTRY	(1u << 3)
#define QCOW_CACHE_CLEAN	(1u << 4)
#define QCOW_CACHE_CLEAN_DEFAULT 600

/*
 * Sets the cache option key ("l2-cache-size", "refcount-cache-size",
 * "cache-size", "l2-cache-entry-size": bytes with an optional k, M, G, T
 * suffix; "cache-clean-interval": seconds) in o.  -ENOENT for another
 * key; -EINVAL for a bad value, one line in qemu's words in
 * qcow_strerror().  Combinations are checked by qcow_open().
 */
int qcow_cache_opt(struct qcow_open_opts *o, const char *key,
		   const char *value);
/* Seconds between qcow_cache_clean() calls the options ask for; 0: none. */
unsigned int qcow_cache_clean_interval(const struct qcow_open_opts *o);

/*
 * blkdebug (QEMU's filter for tests): rules from a config file in QEMU's
 * syntax ([inject-error] and [set-state] groups) and from QEMU's options
 * (inject-error.N.KEY, set-state.N.KEY, config, align; -ENOENT for
 * another key), errors (-EINVAL) in qemu's words in qcow_strerror().
 * Set notify before the open: it is called with a breakpoint's tag as a
 * request parks on it and as it resumes.
 */
struct qcow_blkdebug;
int qcow_blkdebug_new(struct qcow_blkdebug **out);
int qcow_blkdebug_read_config(struct qcow_blkdebug *d, const char *path);
int qcow_blkdebug_opt(struct qcow_blkdebug *d, const char *key,
		      const char *value);
void qcow_blkdebug_set_notify(struct qcow_blkdebug *d,
			      void (*notify)(void *arg, const char *tag,
					     bool suspended),
			      void *arg);
void qcow_blkdebug_free(struct qcow_blkdebug *d);
/*
 * qemu-io's break, remove_break, resume, wait_break on the blkdebug of
 * img's file: -ENOTSUP without one; -ENOENT for an unknown event or tag.
 * A breakpoint parks the next file op of its event until resumed (it
 * counts as in flight on its context); qcow_blkdebug_suspended() counts
 * the ops parked on tag.  A NULL tag: resume the first parked op, count
 * them all.
 */
int qcow_blkdebug_break(struct qcow_image *img, const char *event,
			const char *tag);
int qcow_blkdebug_remove_break(struct qcow_image *img, const char *tag);
int qcow_blkdebug_resume(struct qcow_image *img, const char *tag);
int qcow_blkdebug_suspended(struct qcow_image *img, const char *tag);

/* What the metadata caches of one image hold (qcow_cache_stats()). */
struct qcow_cache_stats {
	uint64_t l2_max;		/* bytes: the cap the options gave */
	uint64_t l2_bytes;		/* bytes of memory the cache holds */
	uint64_t l2_entry_size;
	unsigned int l2_entries;	/* slices cached */
	uint64_t refcount_max;		/* 0 for a read-only open */
	uint64_t refcount_bytes;
	unsigned int refcount_entries;
	uint64_t hits, misses;		/* of L2 slices */
};

/* This image's caches only (not its backing files'); 0 or -ENOTSUP. */
int qcow_cache_stats(struct qcow_image *img, struct qcow_cache_stats *st);
/*
 * Drops the cache entries of img and its backing chain that no request
 * used since the previous call, and frees their memory; entries in use
 * or dirty stay.  Any thread; returns how many were dropped.
 */
unsigned int qcow_cache_clean(struct qcow_image *img);

/*
 * Takes on the files of img, open read-only (a backing file), the locks of
 * a read-write open, as QEMU does when it commits into a backing file; the
 * caller then opens the file read-write with no_lock.  -EBUSY (with the
 * reason in qcow_strerror()) when another process uses it.
 */
int qcow_lock_for_write(struct qcow_image *img);

/* Error text of the last failed qcow_open() on this thread. */
const char *qcow_strerror(void);

int qcow_open(struct qcow_image **out, const char *path,
	      const struct qcow_open_opts *opts);
void qcow_close(struct qcow_image *img);

uint64_t qcow_size(const struct qcow_image *img);
enum qcow_format qcow_format(const struct qcow_image *img);
const char *qcow_filename(const struct qcow_image *img);
struct qcow_image *qcow_backing(const struct qcow_image *img);
const char *qcow_format_name(enum qcow_format fmt);
/* "raw", "qcow2", "qcow"; QCOW_FMT_NONE for anything else (or NULL). */
enum qcow_format qcow_format_by_name(const char *name);

/*
 * A backing file name as QEMU 7.2 reads it, in image's header or given
 * for image: a plain name, relative to image's folder; "file:NAME" and
 * "json:{...}" naming one local file, taken as they are.  Other
 * protocols and json: options fail with -ENOTSUP (a bad JSON -EINVAL),
 * one line in qcow_strerror() naming image.  Free with _free().
 */
struct qcow_backing_ref {
	char *path;		/* the file to open */
	char *shown;		/* qemu-img info's full-backing-filename */
	enum qcow_format format;	/* the json: driver's, or NONE */
	bool file_driver;	/* "driver":"file": the file's own bytes */
};
int qcow_backing_ref_parse(const char *image, const char *name,
			   struct qcow_backing_ref *ref);
void qcow_backing_ref_free(struct qcow_backing_ref *ref);
/* a backing file opened by such a "driver":"file" name (QEMU's "file") */
bool qcow_opened_as_file(const struct qcow_image *img);
/*
 * True when the format was probed, not given (or format_probed).  A
 * probed raw image refuses with -EPERM a write after which its first
 * bytes would probe as another format, as QEMU does: the guest of a raw
 * image must not turn it into a qcow2 image naming host files.
 */
bool qcow_format_probed(const struct qcow_image *img);

/*
 * A context binds the engine to one io_uring.  The ring belongs to the
 * caller, who reaps completions and passes every CQE whose user_data does
 * not have QCOW_USER_DATA_FOREIGN set to qcow_ctx_complete().  With a NULL
 * ring the context performs I/O synchronously (tools, tests); with one it
 * still does so for files in memory that io_uring would hand to its
 * worker threads (tmpfs).  The engine may leave the ring's submission
 * queue full (what did not fit waits for qcow_ctx_run_deferred()): a
 * caller that finds no free SQE submits first.
 */
#define QCOW_USER_DATA_FOREIGN	(1ULL << 63)

int qcow_ctx_new(struct qcow_ctx **out, struct io_uring *ring);
/*
 * Contexts on several threads may share images (one context per thread).
 * Work that another thread finds for this context is queued to it: the
 * eventfd becomes readable, and the owner calls qcow_ctx_run_deferred().
 * The ciphers of encrypted images run on the engine's worker threads and
 * come back this way too: a context with a ring that serves encrypted
 * images must watch the eventfd (a POLL_ADD on its ring, as ublksrv).
 */
int qcow_ctx_event_fd(struct qcow_ctx *ctx);
void qcow_ctx_free(struct qcow_ctx *ctx);
void qcow_ctx_complete(struct qcow_ctx *ctx, struct io_uring_cqe *cqe);
/*
 * Runs callbacks deferred by synchronous I/O, the wake-ups queued to the
 * context, and the decompressions of its reads that no worker thread has
 * started yet (on the caller's thread); returns how many ran.  What ran
 * may have completed requests with nothing left on the ring: a caller
 * checks for that before it waits for a completion.
 */
int qcow_ctx_run_deferred(struct qcow_ctx *ctx);
/*
 * Non-zero while the engine has work on this context (I/O on its ring,
 * write-back it runs, wake-ups queued to it): keep reaping until zero
 * before the thread stops driving it.
 */
unsigned int qcow_ctx_inflight(const struct qcow_ctx *ctx);

enum qcow_op {
	QCOW_OP_READ,
	QCOW_OP_WRITE,
	QCOW_OP_FLUSH,
	QCOW_OP_DISCARD,
	QCOW_OP_WRITE_ZEROES,
	QCOW_OP_STATUS,
	QCOW_OP_WRITE_COMPRESSED,	/* whole clusters, unallocated before */
};

/* Block status of a guest range, as qemu's block layer reports it. */
#define QCOW_ST_DATA		(1u << 0)	/* reads from a host extent */
#define QCOW_ST_ZERO		(1u << 1)	/* reads as zeros */
#define QCOW_ST_OFFSET_VALID	(1u << 2)	/* offset names the host bytes */
#define QCOW_ST_ALLOCATED	(1u << 3)	/* decided at this layer */
#define QCOW_ST_COMPRESSED	(1u << 4)
#define QCOW_ST_RECURSE		(1u << 5)	/* ask the file for holes */

struct qcow_status {
	uint64_t length;	/* bytes from the start with this status */
	uint64_t offset;	/* host offset when OFFSET_VALID */
	unsigned int flags;
	int depth;		/* layer that decided: 0 = this image */
	const char *file;	/* name of the file holding offset */
};

/* Something waiting for a metadata load or an allocation (engine use). */
struct qwaiter {
	void (*resume)(struct qwaiter *w, int err);
	struct qwaiter *next;
	struct qcow_ctx *ctx;		/* the thread that resumes it */
	int err;
	struct qlock *lock;		/* (engine) held to resume it */
};

/*
 * One request.  The caller owns the memory until done() runs; done()
 * receives 0 (or the status length for QCOW_OP_STATUS) or -errno.  It
 * runs on the thread of the request's context, before the call that
 * completed it (qcow_ctx_complete(), qcow_ctx_run_deferred(), or the
 * submit itself on an early failure) returns, with no engine lock held:
 * it may submit.
 */
#define QCOW_REQ_FUA	(1u << 0)	/* durable when done */
#define QCOW_REQ_UNMAP	(1u << 1)	/* write-zeroes may free clusters */
#define QCOW_REQ_FUA_DONE (1u << 16)	/* engine use */
#define QCOW_REQ_FULL_DISCARD (1u << 17) /* engine use: unmap, no zero flag */
#define QCOW_REQ_META	(1u << 18)	/* engine use: FUA needs metadata */
#define QCOW_REQ_VMSTATE (1u << 19)	/* engine use: past the disk */
#define QCOW_REQ_OUTER	(1u << 20)	/* engine use: done with no lock */

struct qcow_req {
	void (*done)(struct qcow_req *req, int res);
	void *priv;
	unsigned int flags;		/* QCOW_REQ_*, set before submit */

	/* engine private below */
	struct qcow_image *img;
	struct qcow_ctx *ctx;
	enum qcow_op op;
	uint8_t *buf;
	const struct qcow_fixed *fixed;	/* data in fx, from fixed_addr */
	uint64_t fixed_addr;
	uint64_t offset;
	uint64_t length;
	uint64_t pos;
	int pending;
	int error;
	struct qcow_status *status;
	struct qwaiter waiter;
	void *drv_state;
	struct qepoch *epoch;		/* counts the data I/O, if set */
	struct qcow_req *done_next;	/* waiting for the locks to go */
};

int qcow_submit(struct qcow_ctx *ctx, struct qcow_image *img,
		struct qcow_req *req, enum qcow_op op, void *buf,
		uint64_t offset, uint64_t length);

/*
 * Request data the CPU cannot touch (ublk zero copy): buffer `index` of
 * the io_uring fixed-buffer table of the context's ring, where address
 * addr0 + n names byte n.  The engine moves file data with READ_FIXED and
 * WRITE_FIXED; what it must compute (zeros, decompressed clusters, the
 * guest part of a copy-on-write) it copies with pread/pwrite on copy_fd
 * at copy_off + n (ublk user copy).
 */
struct qcow_fixed {
	int index;
	uint64_t addr0;
	int copy_fd;
	uint64_t copy_off;
};

/*
 * qcow_submit() of a READ or WRITE whose data is [addr, addr + length)
 * of fx; fx must outlive the request.  -EINVAL without a ring.
 */
int qcow_submit_fixed(struct qcow_ctx *ctx, struct qcow_image *img,
		      struct qcow_req *req, enum qcow_op op,
		      const struct qcow_fixed *fx, uint64_t addr,
		      uint64_t offset, uint64_t length);

/*
 * Starts writing dirty metadata back on ctx's ring when there is any and
 * no write-back runs; for callers with an idle timer.  Nothing waits for
 * it: a FLUSH still gives the guarantee.
 */
void qcow_writeback(struct qcow_ctx *ctx, struct qcow_image *img);

/* What qcow-img info reports. Strings point into the image. */
struct qcow_snapshot_info {
	const char *id;
	const char *name;
	uint64_t vm_state_size;
	uint32_t date_sec;
	uint32_t date_nsec;
	uint64_t vm_clock_nsec;
	uint64_t icount;	/* UINT64_MAX when not recorded */
	uint64_t disk_size;
};

/* A LUKS1 header as qemu-img info shows it. */
struct qcow_luks_slot {
	bool active;
	uint32_t iters;			/* active slots only */
	uint64_t key_offset;		/* bytes from the header */
	uint32_t stripes;
};

struct qcow_luks_info {
	char cipher_alg[32];		/* QEMU's names: "aes-256" */
	char cipher_mode[16];		/* "xts" */
	char ivgen_alg[16];		/* "plain64" */
	char ivgen_hash_alg[16];	/* essiv only, else "" */
	char hash_alg[16];		/* "sha256" */
	char uuid[40];
	uint64_t payload_offset;	/* bytes */
	uint32_t master_key_iters;
	struct qcow_luks_slot slots[8];
};

struct qcow_info {
	enum qcow_format format;
	uint32_t version;
	uint64_t virtual_size;
	uint32_t cluster_size;
	uint32_t refcount_bits;
	uint32_t l1_size;		/* qcow2: the active L1's entries */
	uint64_t refcount_table_entries;	/* qcow2: as the header says */
	uint64_t incompatible;
	uint64_t compatible;
	uint64_t autoclear;
	uint32_t crypt_method;		/* 0 none, 1 aes, 2 luks */
	int compression_type;		/* 0 zlib, 1 zstd */
	bool dirty;
	bool corrupt;
	bool lazy_refcounts;
	bool extended_l2;
	const char *backing_file;	/* as stored in the image */
	const char *backing_path;	/* resolved */
	const char *backing_format;	/* header extension, or NULL */
	const char *data_file;		/* as stored in the image */
	bool data_file_raw;
	unsigned int nb_bitmaps;
	unsigned int nb_snapshots;
	const struct qcow_snapshot_info *snapshots;
	const struct qcow_luks_info *luks;	/* crypt_method 2, else NULL */
	/* the data cipher's backend, KERNEL or OPENSSL; AUTO: no cipher */
	enum qcow_crypto_backend crypto_backend;
};

int qcow_get_info(const struct qcow_image *img, struct qcow_info *info);

/* Consistency check, as qemu-img check reports it. */
struct qcow_check_result {
	uint64_t corruptions;
	uint64_t leaks;
	uint64_t check_errors;
	uint64_t corruptions_fixed;
	uint64_t leaks_fixed;
	uint64_t image_end_offset;
	uint64_t total_clusters;
	uint64_t allocated_clusters;
	uint64_t fragmented_clusters;
	uint64_t compressed_clusters;
	bool rebuilt;			/* qcow_repair rebuilt the refcounts */
};

/* Messages go to report(); returns 0 when the check ran. */
int qcow_check(struct qcow_image *img, struct qcow_check_result *res,
	       void (*report)(void *arg, const char *msg), void *arg);

/* Creating images, with qemu-img create's options. */
enum qcow_prealloc {
	QCOW_PREALLOC_OFF,
	QCOW_PREALLOC_METADATA,
	QCOW_PREALLOC_FALLOC,
	QCOW_PREALLOC_FULL,
};

struct qcow_create_opts {
	enum qcow_format format;	/* QCOW_FMT_QCOW2, QCOW_FMT_QCOW or RAW */
	uint64_t size;
	uint32_t cluster_size;		/* 0: 64 KiB */
	int compat;			/* 2 (0.10) or 3 (1.1); 0: 3 */
	uint32_t refcount_bits;		/* 0: 16 */
	bool lazy_refcounts;
	bool extended_l2;
	int compression_type;		/* 0 zlib, 1 zstd */
	enum qcow_prealloc prealloc;
	const char *backing_file;	/* stored as given */
	const char *backing_format;
	const char *data_file;		/* stored as given */
	bool data_file_raw;
	/*
	 * Encryption (qcow2): crypt_method 1 aes or 2 luks,
	 * with the passphrase key/key_len; luks fields as QEMU's
	 * encrypt.* options, empty or 0 for QEMU's defaults.
	 */
	uint32_t crypt_method;
	const char *key;
	size_t key_len;
	char luks_cipher_alg[32];
	char luks_cipher_mode[16];
	char luks_ivgen_alg[16];
	char luks_ivgen_hash_alg[16];
	char luks_hash_alg[16];
	uint64_t luks_iter_time_ms;
	enum qcow_crypto_backend crypto_backend;
};

/* Errors are reported through qcow_strerror(). */
int qcow_create(const char *path, const struct qcow_create_opts *opts);
/*
 * The bytes of the LUKS header and key material qcow_create() writes for
 * opts (crypt_method 2), without deriving a key; path names it in errors.
 */
int qcow_luks_area_size(const char *path, const struct qcow_create_opts *opts,
			uint64_t *len);

/*
 * Image-wide operations for qcow-img, synchronous.  Errors are negative
 * errnos; a one-line reason is available through qcow_strerror().
 */

/* Whole clusters, compressed with the image's compression type. */
int qcow_pwrite_compressed(struct qcow_image *img, const void *buf,
			   uint64_t len, uint64_t off);
/* New virtual size; shrinking needs allow_shrink and drops the tail. */
int qcow_resize(struct qcow_image *img, uint64_t size, bool allow_shrink);
/* Unmaps every cluster: the image reads as its backing file (commit). */
int qcow_make_empty(struct qcow_image *img);
/* Rewrites the backing file name and format in the header (NULL: none). */
int qcow_set_backing(struct qcow_image *img, const char *name,
		     const char *format);

#define QCOW_REPAIR_LEAKS	(1u << 0)
#define QCOW_REPAIR_ERRORS	(1u << 1)
/* rebuild damaged refcount structures (implied by QCOW_REPAIR_ERRORS) */
#define QCOW_REPAIR_REBUILD	(1u << 2)
/*
 * Check, then fix what flags allow; res holds the findings of a check
 * after the repair and, as qemu-img counts them, the leaks and corruptions
 * fixed (with those the open fixed in a dirty image; rebuilt: the refcount
 * structure was rebuilt).
 */
int qcow_repair(struct qcow_image *img, unsigned int flags,
		struct qcow_check_result *res,
		void (*report)(void *arg, const char *msg), void *arg);

/* qemu-img amend: fields left at -1 (or NULL) keep their value. */
struct qcow_amend_opts {
	int compat;			/* 2 or 3 */
	int lazy_refcounts;		/* 0 or 1 */
	int refcount_bits;
	int data_file_raw;		/* 0 or 1 */
	const char *data_file;
	/*
	 * LUKS key slots, as qemu-img 7.2's -o encrypt.*: luks_state
	 * QCOW_LUKS_ACTIVE adds new_key in luks_keyslot (-1: the first
	 * inactive one) with the master key that key (the passphrase the
	 * image was opened with) unlocks, PBKDF2 for luks_iter_time_ms (0:
	 * 2000); QCOW_LUKS_INACTIVE erases luks_keyslot, or every slot
	 * old_key opens.  Without force, an active slot is never
	 * overwritten nor the last active ones erased.  A refusal or a
	 * wrong passphrase writes nothing.
	 */
	enum { QCOW_LUKS_KEEP, QCOW_LUKS_ACTIVE, QCOW_LUKS_INACTIVE }
		luks_state;
	int luks_keyslot;
	uint64_t luks_iter_time_ms;
	struct qcow_key key, new_key, old_key;
	bool force;
};

int qcow_amend(struct qcow_image *img, const struct qcow_amend_opts *opts);

/*
 * Persistent dirty bitmaps (the qcow2 v3 "bitmaps" extension), as QEMU
 * keeps them.  A read-write open marks every bitmap in use on disk before
 * the first write; writes, zero writes and discards (from any context) set
 * the bits of enabled bitmaps before they complete; qcow_bitmaps_store()
 * and a clean qcow_close() write them out with in use cleared.  A bitmap
 * found in use at open, or with broken metadata, is inconsistent: it can
 * only be removed.  Changes made with the calls below stay in memory until
 * then.  Names are 1-1023 bytes; errors set qcow_strerror() in qemu-img's
 * words ("Bitmap 'b0' is inconsistent and cannot be used").
 */
#define QCOW_BITMAP_NAME_MAX	1023
#define QCOW_BITMAP_MAX		65535

struct qcow_bitmap_info {
	const char *name;
	uint64_t granularity;	/* bytes, a power of two, 512 B-2 GiB */
	bool enabled;		/* "auto": tracks writes */
	bool in_use;		/* inconsistent: was in use when opened */
	const char *broken;	/* NULL, or why its metadata is invalid */
	uint64_t dirty_bytes;	/* bytes of the disk marked dirty */
};

/*
 * The image's bitmaps in directory order; *out stays valid until the next
 * bitmap call or qcow_close().  Returns how many (0 for formats without).
 */
int qcow_bitmap_list(struct qcow_image *img,
		     const struct qcow_bitmap_info **out);
/* A new enabled (or disabled), empty bitmap; granularity 0: the default. */
int qcow_bitmap_add(struct qcow_image *img, const char *name,
		    uint64_t granularity, bool disabled);
/* Works on in-use and broken bitmaps too. */
int qcow_bitmap_remove(struct qcow_image *img, const char *name);
int qcow_bitmap_clear(struct qcow_image *img, const char *name);
int qcow_bitmap_enable(struct qcow_image *img, const char *name,
		       bool enable);
/* Marks [off, off + len) dirty, rounded out to the granularity (merge). */
int qcow_bitmap_mark(struct qcow_image *img, const char *name, uint64_t off,
		     uint64_t len);
/*
 * From off: *len bytes (to the end of the disk at most) that are all dirty
 * or all clean, *dirty saying which.  Reads the bits on first use (a
 * read-only open too).
 */
int qcow_bitmap_range(struct qcow_image *img, const char *name, uint64_t off,
		      uint64_t *len, bool *dirty);
/*
 * Writes every bitmap out now, consistent, in use cleared, as close does;
 * the image stays open and writable and marks them in use again before
 * the next write.  No request may be in flight on the image (-EBUSY
 * where the engine sees one).
 */
int qcow_bitmaps_store(struct qcow_image *img);

/*
 * Internal snapshots (qcow2), as qemu-img snapshot makes them.  A snapshot
 * is found by ID first, then by name, as qemu-img does.  The calls are
 * synchronous and need an image open read-write with no request in
 * flight (a device quiesces its queues first); they write back what is
 * dirty before they start and leave the image consistent after a crash
 * at any point.  qcow_get_info() lists the snapshots afterwards.
 */
struct qcow_snapshot_create_opts {
	const char *name;
	uint32_t date_sec;		/* 0 and 0: now */
	uint32_t date_nsec;
	uint64_t vm_clock_nsec;
	uint64_t icount;		/* UINT64_MAX: not recorded */
};

/* The new snapshot's ID, as QEMU allocates it, goes to id (if not NULL). */
int qcow_snapshot_create(struct qcow_image *img,
			 const struct qcow_snapshot_create_opts *opts,
			 char *id, size_t id_size);
int qcow_snapshot_delete(struct qcow_image *img, const char *id_or_name);
/* Makes the snapshot's L1 table and disk size those of the active image. */
int qcow_snapshot_apply(struct qcow_image *img, const char *id_or_name);

/* Synchronous wrappers on a private context. */
int qcow_pread(struct qcow_image *img, void *buf, uint64_t len, uint64_t off);
int qcow_pwrite(struct qcow_image *img, const void *buf, uint64_t len,
		uint64_t off);
int qcow_pwrite_zeroes(struct qcow_image *img, uint64_t len, uint64_t off,
		       unsigned int flags);
int qcow_pdiscard(struct qcow_image *img, uint64_t len, uint64_t off);
int qcow_flush(struct qcow_image *img);
/*
 * The VM state area of a qcow2 image (QEMU's savevm and loadvm; qemu-io's
 * read -b and write -b): guest space past the disk, mapped by L1 entries
 * past the disk's, that the virtual size does not include.  Byte pos of
 * the area; -ENOTSUP for other formats, -EIO past 2^63 - 2^30 bytes,
 * -EFBIG when the L1 table would pass 32 MiB.  A write may grow the L1
 * table: call it with no request in flight, as qcow_resize().
 */
#define QCOW_VMSTATE_MAX	((1ULL << 63) - (1ULL << 30))
int qcow_vmstate_pread(struct qcow_image *img, void *buf, uint64_t len,
		       uint64_t pos);
int qcow_vmstate_pwrite(struct qcow_image *img, const void *buf, uint64_t len,
			uint64_t pos);
/* Status of this layer only (depth 0) at off, up to len bytes. */
int qcow_block_status(struct qcow_image *img, uint64_t off, uint64_t len,
		      struct qcow_status *st);

#endif
