/* SPDX-License-Identifier: MIT */
/*
 * A byte model: what every byte of an image must read as, updated by a
 * test beside each write, zero write and discard it makes, and compared
 * with the image read back whole.  Header only, as testlib.h.
 */
#ifndef TESTS_ENGINE_MODEL_H
#define TESTS_ENGINE_MODEL_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "qcow.h"

struct tl_model {
	uint8_t *bytes;
	uint64_t size;		/* the image's size: bytes compared */
};

/* cap bytes (at least the largest size to be set), all byte; 0 or -ENOMEM */
static inline int tl_model_init(struct tl_model *m, uint64_t cap,
				uint8_t byte)
{
	m->bytes = malloc(cap ? cap : 1);
	m->size = cap;
	if (!m->bytes)
		return -ENOMEM;
	memset(m->bytes, byte, cap);
	return 0;
}

static inline void tl_model_free(struct tl_model *m)
{
	free(m->bytes);
	m->bytes = NULL;
}

/* A write of buf. */
static inline void tl_model_put(struct tl_model *m, uint64_t off,
				const void *buf, uint64_t len)
{
	memcpy(m->bytes + off, buf, len);
}

/* A write of len copies of byte (0: a zero write). */
static inline void tl_model_set(struct tl_model *m, uint64_t off,
				uint8_t byte, uint64_t len)
{
	memset(m->bytes + off, byte, len);
}

/*
 * A discard: the clusters of cs bytes it covers whole (a partial last
 * cluster counts when the range reaches the end) read as byte.
 */
static inline void tl_model_discard(struct tl_model *m, uint64_t off,
				    uint64_t len, uint32_t cs, uint8_t byte)
{
	uint64_t a = (off + cs - 1) / cs * cs;
	uint64_t b = (off + len) / cs * cs;

	if (off + len == m->size)
		b = m->size;
	if (a < b)
		memset(m->bytes + a, byte, b - a);
}

/*
 * The image read whole into back (m->size bytes): 0 if it equals the
 * model, 1 if it differs, the read's -errno if it failed.
 */
static inline int tl_model_differs(const struct tl_model *m,
				   struct qcow_image *img, uint8_t *back)
{
	int ret = qcow_pread(img, back, m->size, 0);

	if (ret)
		return ret < 0 ? ret : -EIO;
	return memcmp(back, m->bytes, m->size) ? 1 : 0;
}

#endif
