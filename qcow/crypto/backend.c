// SPDX-License-Identifier: MIT
/*
 * QCRYPTO_BACKEND_AUTO: the kernel's cipher where AF_ALG works and it
 * encrypts faster than userspace's (libcrypto where it has the cipher,
 * else nettle), measured once per cipher and mode on 64 KiB; userspace
 * otherwise.
 */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "crypto_internal.h"

#define AUTO_BYTES	(64u * 1024)
#define AUTO_ROUNDS	4

static pthread_mutex_t auto_lock = PTHREAD_MUTEX_INITIALIZER;
/* 0: not measured */
static enum qcrypto_backend auto_choice[QCRYPTO_NR_ALGOS][QCRYPTO_NR_MODES];

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* the best of a few rounds of 64 KiB; UINT64_MAX when it cannot run */
static uint64_t time_backend(const struct qcrypto_alg *a,
			     enum qcrypto_backend b, uint8_t *buf)
{
	uint8_t key[QCRYPTO_MAX_KEY];
	struct qcrypto_cipher *c;
	struct qcrypto_alg alg = *a;
	uint64_t best = UINT64_MAX, t;
	unsigned int i;
	int ret = 0;

	for (i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(i * 7 + 1);
	alg.ivgen = alg.mode == QCRYPTO_ECB ? QCRYPTO_IV_NONE :
		    QCRYPTO_IV_PLAIN64;
	if (qcrypto_cipher_alloc(&alg, key, b, &c) < 0)
		return best;
	for (i = 0; i < AUTO_ROUNDS && !ret; i++) {
		t = now_ns();
		ret = qcrypto_encrypt(c, i, buf, AUTO_BYTES);
		t = now_ns() - t;
		if (t < best)
			best = t;
	}
	qcrypto_cipher_free(c);
	return ret ? UINT64_MAX : best;
}

enum qcrypto_backend qcrypto_backend_auto(const struct qcrypto_alg *a)
{
	enum qcrypto_backend b;
	uint64_t tk, to;
	uint8_t *buf;

	pthread_mutex_lock(&auto_lock);
	b = auto_choice[a->algo][a->mode];
	if (b) {
		pthread_mutex_unlock(&auto_lock);
		return b;
	}
	b = QCRYPTO_BACKEND_USERSPACE;
	buf = calloc(1, AUTO_BYTES);
	if (buf && qcrypto_backend_probe(QCRYPTO_BACKEND_KCAPI) == 0) {
		tk = time_backend(a, QCRYPTO_BACKEND_KCAPI, buf);
		to = time_backend(a, QCRYPTO_BACKEND_USERSPACE, buf);
		if (tk < to)
			b = QCRYPTO_BACKEND_KCAPI;
	}
	free(buf);
	auto_choice[a->algo][a->mode] = b;
	pthread_mutex_unlock(&auto_lock);
	return b;
}
