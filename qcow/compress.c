// SPDX-License-Identifier: MIT
/* Decompression of compressed clusters: raw deflate and zstd. */
#include <errno.h>
#include <pthread.h>
#include <libdeflate.h>
#include <zlib.h>
#include <zstd.h>
#include "internal.h"
#include "layout.h"

/* The stream may be followed by padding: stop once dst is full. */
static int inflate_zlib(uint8_t *dst, size_t dst_len, const uint8_t *src,
		       size_t src_len)
{
	z_stream z = { 0 };
	int ret;

	if (inflateInit2(&z, -12) != Z_OK)
		return -ENOMEM;
	z.next_in = (uint8_t *)src;
	z.avail_in = src_len;
	z.next_out = dst;
	z.avail_out = dst_len;
	ret = inflate(&z, Z_FINISH);
	inflateEnd(&z);
	if ((ret == Z_STREAM_END || ret == Z_BUF_ERROR) && z.avail_out == 0)
		return 0;
	return -EIO;
}

static pthread_key_t inflater_key;
static pthread_once_t inflater_once = PTHREAD_ONCE_INIT;
static bool inflater_key_ok;

static void inflater_free(void *d)
{
	libdeflate_free_decompressor(d);
}

static void inflater_key_init(void)
{
	inflater_key_ok = pthread_key_create(&inflater_key, inflater_free) == 0;
}

/* libdeflate's decompressor of this thread, freed when the thread ends. */
static struct libdeflate_decompressor *thread_inflater(void)
{
	static __thread struct libdeflate_decompressor *d;

	pthread_once(&inflater_once, inflater_key_init);
	if (d || !inflater_key_ok)
		return d;
	d = libdeflate_alloc_decompressor();
	if (d && pthread_setspecific(inflater_key, d)) {
		libdeflate_free_decompressor(d);
		d = NULL;
	}
	return d;
}

/*
 * libdeflate inflates a whole buffer about twice as fast as zlib.  A
 * stream that ends before filling dst is an error for both; one that
 * zlib accepts otherwise (no final block before dst is full, or more
 * data than dst) libdeflate refuses, and zlib then decides.
 */
static int inflate_raw(uint8_t *dst, size_t dst_len, const uint8_t *src,
		       size_t src_len)
{
	struct libdeflate_decompressor *d = thread_inflater();
	size_t got = 0;

	if (d && libdeflate_deflate_decompress(d, src, src_len, dst, dst_len,
					       &got) == LIBDEFLATE_SUCCESS)
		return got == dst_len ? 0 : -EIO;
	return inflate_zlib(dst, dst_len, src, src_len);
}

/* The smallest window a zstd frame can declare is 1 KiB. */
#define ZSTD_MIN_WINDOW_LOG	10

static unsigned long zstd_contexts;
static pthread_key_t dctx_key;
static pthread_once_t dctx_once = PTHREAD_ONCE_INIT;
static bool dctx_key_ok;

unsigned long qcow_zstd_contexts(void)
{
	return __atomic_load_n(&zstd_contexts, __ATOMIC_RELAXED);
}

static void dctx_free(void *dctx)
{
	ZSTD_freeDCtx(dctx);
}

static void dctx_key_init(void)
{
	dctx_key_ok = pthread_key_create(&dctx_key, dctx_free) == 0;
}

/*
 * One decompression context per thread, freed when the thread ends, reset
 * for each frame.  A cluster decompresses to at most dst_len bytes, so a
 * frame that declares a bigger window (which the context would allocate)
 * is refused.
 */
static ZSTD_DCtx *thread_dctx(size_t dst_len)
{
	static __thread ZSTD_DCtx *dctx;
	int log = ZSTD_MIN_WINDOW_LOG;

	pthread_once(&dctx_once, dctx_key_init);
	if (!dctx && dctx_key_ok) {
		dctx = ZSTD_createDCtx();
		if (!dctx)
			return NULL;
		__atomic_fetch_add(&zstd_contexts, 1, __ATOMIC_RELAXED);
		if (pthread_setspecific(dctx_key, dctx)) {
			ZSTD_freeDCtx(dctx);
			dctx = NULL;
			return NULL;
		}
	}
	if (!dctx)
		return NULL;
	while ((1ul << log) < dst_len)
		log++;
	ZSTD_DCtx_reset(dctx, ZSTD_reset_session_only);
	if (ZSTD_isError(ZSTD_DCtx_setParameter(dctx, ZSTD_d_windowLogMax,
						log)))
		return NULL;
	return dctx;
}

static int unzstd(uint8_t *dst, size_t dst_len, const uint8_t *src,
		  size_t src_len)
{
	ZSTD_DCtx *dctx = thread_dctx(dst_len);
	ZSTD_outBuffer out = { dst, dst_len, 0 };
	ZSTD_inBuffer in = { src, src_len, 0 };
	size_t ret = 0;

	if (!dctx)
		return -ENOMEM;
	while (out.pos < out.size && in.pos < in.size) {
		size_t before_in = in.pos, before_out = out.pos;

		ret = ZSTD_decompressStream(dctx, &out, &in);
		if (ZSTD_isError(ret))
			break;
		if (in.pos == before_in && out.pos == before_out)
			break;
	}
	if (ZSTD_isError(ret) || out.pos != out.size)
		return -EIO;
	return 0;
}

int qcow_decompress(int type, uint8_t *dst, size_t dst_len,
		    const uint8_t *src, size_t src_len)
{
	switch (type) {
	case QCOW2_COMPRESSION_ZLIB:
		return inflate_raw(dst, dst_len, src, src_len);
	case QCOW2_COMPRESSION_ZSTD:
		return unzstd(dst, dst_len, src, src_len);
	default:
		return -ENOTSUP;
	}
}

static int deflate_raw(uint8_t *dst, size_t dst_len, const uint8_t *src,
		       size_t src_len)
{
	z_stream z = { 0 };
	int ret;

	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -12, 9,
			 Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	z.next_in = (uint8_t *)src;
	z.avail_in = src_len;
	z.next_out = dst;
	z.avail_out = dst_len;
	ret = deflate(&z, Z_FINISH);
	deflateEnd(&z);
	if (ret != Z_STREAM_END)
		return -ENOSPC;
	return (int)(dst_len - z.avail_out);
}

static int zstd_one(uint8_t *dst, size_t dst_len, const uint8_t *src,
		    size_t src_len)
{
	size_t n = ZSTD_compress(dst, dst_len, src, src_len, 3);

	if (ZSTD_isError(n))
		return -ENOSPC;
	return (int)n;
}

int qcow_compress(int type, uint8_t *dst, size_t dst_len, const uint8_t *src,
		  size_t src_len)
{
	switch (type) {
	case QCOW2_COMPRESSION_ZLIB:
		return deflate_raw(dst, dst_len, src, src_len);
	case QCOW2_COMPRESSION_ZSTD:
		return zstd_one(dst, dst_len, src, src_len);
	default:
		return -ENOTSUP;
	}
}
