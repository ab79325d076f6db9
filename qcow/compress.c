// SPDX-License-Identifier: MIT
/* Decompression of compressed clusters: raw deflate and zstd. */
#include <errno.h>
#include <zlib.h>
#include <zstd.h>
#include "internal.h"
#include "layout.h"

/* The stream may be followed by padding: stop once dst is full. */
static int inflate_raw(uint8_t *dst, size_t dst_len, const uint8_t *src,
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

static int unzstd(uint8_t *dst, size_t dst_len, const uint8_t *src,
		  size_t src_len)
{
	ZSTD_DCtx *dctx = ZSTD_createDCtx();
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
	ZSTD_freeDCtx(dctx);
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
