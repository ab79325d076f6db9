// SPDX-License-Identifier: MIT
/*
 * Bitmaps written in place at each checkpoint while they are in use.
 *
 * A bitmap marked in use on disk may hold anything, so its table and data
 * clusters are rewritten in place: each checkpoint writes the clusters of
 * bitmap data (chunks) whose bits changed since the cut before, so that a
 * clean close has only the last few to write before it clears in_use
 * (qcow2_bitmap_store.c).  A chunk with no cluster yet (all zeros, or all
 * ones, when the bitmap was stored) gets one at the cut; the cut's
 * allocations are in the refcounts this checkpoint writes, and the chunks
 * are written and synced, before the table naming them goes out with the
 * L2 slices (with lazy refcounts the header's dirty bit comes first
 * instead, as for L2), so a crash at any point leaves at worst a leaked
 * cluster, and no table names a cluster past the end of the file.
 *
 * Tracking stays atomic ORs: a write sets its bits, then its chunk's bit
 * (release); the cut exchanges the chunk bits for zero (acquire) before
 * it copies the words, so a bit set after the copy is in the next cut.
 */
#include <errno.h>
#include <stdlib.h>
#include "qcow2.h"
#include "qcow2_bitmap.h"
#include "qcow2_checkpoint.h"
#include "layout.h"

int qcow2_bitmap_alloc_bits(struct qcow2 *s, struct qcow2_bitmap *b)
{
	b->chunk_shift = (uint8_t)(s->cluster_bits + 3);
	b->nchunks = div_round_up(div_round_up(b->nbits, 8), s->cluster_size);
	b->words = calloc(div_round_up(b->nbits, 64) + 1, 8);
	b->chunk_dirty = calloc(div_round_up(b->nchunks, 64) + 1, 8);
	if (b->words && b->chunk_dirty)
		return 0;
	free(b->words);
	free(b->chunk_dirty);
	b->words = NULL;
	b->chunk_dirty = NULL;
	return -ENOMEM;
}

void qcow2_bitmap_mark_chunks(struct qcow2_bitmap *b, uint64_t first_bit,
			      uint64_t last_bit)
{
	uint64_t c, last;

	if (!b->chunk_dirty || !b->nchunks)
		return;
	last = MIN(last_bit >> b->chunk_shift, b->nchunks - 1);
	for (c = first_bit >> b->chunk_shift; c <= last; c++) {
		uint64_t m = 1ULL << (c % 64);

		if (!(__atomic_load_n(&b->chunk_dirty[c / 64],
				      __ATOMIC_RELAXED) & m))
			__atomic_fetch_or(&b->chunk_dirty[c / 64], m,
					  __ATOMIC_RELEASE);
	}
}

void qcow2_bitmap_all_dirty(struct qcow2_bitmap *b)
{
	if (b->nchunks)
		qcow2_bitmap_mark_chunks(b, 0, (b->nchunks << b->chunk_shift)
					 - 1);
}

/* Its table and chunks are on disk, in use, and written in place. */
bool qcow2_bitmap_live(const struct qcow2_bitmap *b)
{
	return b->words && b->chunk_dirty && b->old_table &&
	       b->table_offset && qcow2_bitmap_consistent(b) &&
	       b->nchunks <= b->table_size;
}

/* Every bitmap on disk is marked in use and has its tables as loaded. */
bool qcow2_bitmaps_in_place(const struct qcow2 *s)
{
	const struct qcow2_bitmaps *bm = &s->bm;

	return bm->marked && bm->disk_dir && !bm->resized && !bm->storing &&
	       !bm->dir_dropped && s->bitmap_ext && !s->corrupt &&
	       (s->autoclear & QCOW2_AUTOCLEAR_BITMAPS);
}

/* A chunk a table entry without offset describes: zeros or all ones. */
static bool as_entry(const uint8_t *p, uint64_t n, uint64_t e)
{
	uint8_t v = (e & BME_TABLE_ALL_ONES) ? 0xff : 0;
	uint64_t i;

	for (i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

static int queue_chunk(struct qcow2 *s, struct qcow2_bitmap *b, uint64_t k,
		       struct wb_list *out)
{
	uint64_t cs = s->cluster_size, e = b->old_table[k];
	uint64_t n = MIN(cs, div_round_up(b->nbits, 8) - k * cs);
	/* a new cluster is written whole: the file covers it */
	uint64_t io = (e & BME_TABLE_OFFSET) ? ALIGN_UP(n, s->img->file->align)
					      : cs;
	struct wb_item it = {
		.off = e & BME_TABLE_OFFSET, .len = (uint32_t)io,
		.file = s->img->file,
	};
	int64_t at;

	it.data = qalloc_aligned(io);
	if (!it.data)
		return -ENOMEM;
	memset(it.data, 0, io);
	qcow2_bitmap_words_to_chunk(b->words, k * cs * 8, it.data, n);
	if (!it.off && as_entry(it.data, n, e)) {
		free(it.data);
		return 0;
	}
	if (!it.off) {
		at = qcow2_alloc_clusters(s, 1);
		if (at < 0) {
			free(it.data);
			return (int)at;
		}
		it.off = (uint64_t)at;
		b->old_table[k] = (uint64_t)at;
		b->table_dirty = true;
	}
	if (wb_push(out, &it) < 0) {
		free(it.data);
		return -ENOMEM;
	}
	return 0;
}

static int queue_table(struct qcow2 *s, struct qcow2_bitmap *b,
		       struct wb_list *out)
{
	uint64_t len = (uint64_t)b->table_size * 8, i;
	uint64_t io = ALIGN_UP(len, s->img->file->align);
	struct wb_item it = {
		.off = b->table_offset, .len = (uint32_t)io,
		.file = s->img->file,
	};

	it.data = qalloc_aligned(io);
	if (!it.data)
		return -ENOMEM;
	memset(it.data, 0, io);
	for (i = 0; i < b->table_size; i++)
		put_be64(it.data + i * 8, b->old_table[i]);
	if (wb_push(out, &it) < 0) {
		free(it.data);
		return -ENOMEM;
	}
	b->table_dirty = false;
	return 0;
}

static int cut_chunks(struct qcow2 *s, struct qcow2_bitmap *b,
		      struct wb_list *out)
{
	uint64_t w, k, bits;
	int ret;

	for (w = 0; w < div_round_up(b->nchunks, 64); w++) {
		bits = __atomic_exchange_n(&b->chunk_dirty[w], 0,
					   __ATOMIC_ACQUIRE);
		for (; bits; bits &= bits - 1) {
			k = w * 64 + (uint64_t)__builtin_ctzll(bits);
			if (k >= b->nchunks)
				break;
			ret = queue_chunk(s, b, k, out);
			if (ret < 0) {
				__atomic_fetch_or(&b->chunk_dirty[w], bits,
						  __ATOMIC_RELAXED);
				return ret;
			}
		}
	}
	return 0;
}

/*
 * At a checkpoint's cut, before its allocations are taken: the chunks
 * changed since the last cut as writes for data, and the tables that
 * gained a cluster for tables (the L2 list: lazy refcounts set the dirty
 * bit first).
 */
int qcow2_bitmaps_ckpt_cut(struct qcow2 *s, struct wb_list *data,
			   struct wb_list *tables)
{
	unsigned int i;
	int ret = 0;

	if (!qcow2_bitmaps_in_place(s))
		return 0;
	for (i = 0; i < s->bm.n && !ret; i++) {
		struct qcow2_bitmap *b = &s->bm.v[i];

		if (!qcow2_bitmap_live(b))
			continue;
		ret = cut_chunks(s, b, data);
		if (!ret && b->table_dirty)
			ret = queue_table(s, b, tables);
	}
	return ret;
}

/* A checkpoint failed: the next one writes every chunk and table again. */
void qcow2_bitmaps_ckpt_failed(struct qcow2 *s)
{
	unsigned int i;

	for (i = 0; i < s->bm.n; i++) {
		struct qcow2_bitmap *b = &s->bm.v[i];

		qcow2_bitmap_all_dirty(b);
		if (b->old_table)
			b->table_dirty = true;
	}
}
