/* SPDX-License-Identifier: MIT */
/*
 * Sector ciphers (and decompression) run off the request's thread: a small
 * pool of worker threads takes jobs, and each job's waiter resumes on the context that
 * submitted it (its mailbox and eventfd, as any cross-thread wake-up).
 * A context without a ring runs the job at once.
 */
#ifndef QCOW_CRYPT_POOL_H
#define QCOW_CRYPT_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include "internal.h"
#include "crypto/crypto.h"

#ifndef container_of
#define container_of(p, type, member) \
	((type *)((char *)(p) - offsetof(type, member)))
#endif

#define QCRYPT_POOL_MAX	4	/* worker threads at most */

struct qcrypt_job {
	struct qwaiter w;		/* resume set by the caller */
	/* other CPU work (decompression) runs in the cipher's place */
	int (*run)(struct qcrypt_job *j);
	struct qcrypto_cipher *cipher;
	bool encrypt;
	uint64_t sector;		/* of buf's first sector */
	void *buf;
	size_t len;
	struct qcrypt_job *next;
	struct qlock *lock;		/* the submitter's chain lock */
	/* not a cipher: the submitting context may take it back and run it */
	bool submitter_may_run;
};

/*
 * Under the chain lock.  job->w.resume(&job->w, err) runs later on ctx's
 * thread (or before this returns, without a ring or a pool).
 */
void qcrypt_submit(struct qcow_ctx *ctx, struct qcrypt_job *job);
/*
 * Without a lock, on ctx's thread (qcow_ctx_run_deferred()): the jobs of
 * ctx marked submitter_may_run that no worker has taken yet, run here and
 * resumed at once.  Returns how many.
 */
int qcrypt_run_own(struct qcow_ctx *ctx);
/*
 * Fills job and submits it: buf's len bytes, sector the IV of its first
 * sector; offs (the byte offsets they stand for, or'ed together) and len
 * must be sector aligned.  -EACCES without a cipher (no passphrase).
 */
int qcrypt_start(struct qcow_ctx *ctx, struct qcrypt_job *job,
		 struct qcrypto_cipher *cipher, bool encrypt, uint64_t sector,
		 uint64_t offs, void *buf, uint64_t len);

/*
 * (crypt_backend.c) The crypto library's backend for the caller's
 * choice, after qcow_crypto_backend_probe() (error set naming file).
 */
int qcrypt_backend(enum qcow_crypto_backend b, const char *file,
		   enum qcrypto_backend *out);
enum qcow_crypto_backend qcrypt_backend_public(enum qcrypto_backend b);
/*
 * -ENOTSUP, the error "cipher NAME: not in crypto backend B" (with AUTO:
 * what each backend has) set naming file
 */
int qcrypt_cipher_missing(const char *file, const char *cipher,
			  enum qcow_crypto_backend b);

#endif
