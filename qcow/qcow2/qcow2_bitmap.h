/* SPDX-License-Identifier: MIT */
/*
 * Persistent dirty bitmaps (the "bitmaps" header extension): the directory
 * as parsed and validated (qcow2_bitmap.c), the bits in memory and the
 * public calls on them (qcow2_bitmap_ops.c), and their life on disk:
 * load, in-use marking, store (qcow2_bitmap_store.c).
 */
#ifndef QCOW_QCOW2_BITMAP_H
#define QCOW_QCOW2_BITMAP_H

#include <stdbool.h>
#include <stdint.h>
#include "qcow2_alloc.h"

struct qcow2;
struct qcow_image;

#define BME_FLAG_IN_USE		(1u << 0)
#define BME_FLAG_AUTO		(1u << 1)
#define BME_FLAG_EXTRA_COMPAT	(1u << 2)
#define BME_FLAGS_KNOWN		0x7u
#define BME_TYPE_DIRTY		1
#define BME_MIN_GRAN_BITS	9
#define BME_MAX_GRAN_BITS	31
#define BME_HEADER_LEN		24
#define BME_TABLE_RESERVED	0xff000000000001feULL
#define BME_TABLE_OFFSET	0x00fffffffffffe00ULL
#define BME_TABLE_ALL_ONES	1ULL

struct qcow2_bitmap {
	char *name;
	uint32_t flags;		/* as on disk, in_use as found at open */
	uint8_t type;
	uint8_t gran_bits;
	uint64_t table_offset;	/* 0: nothing on disk yet */
	uint32_t table_size;
	uint8_t *raw;		/* the entry as on disk (kept for broken) */
	uint32_t raw_len;
	char *broken;		/* why its metadata is invalid, or NULL */
	bool enabled;
	uint64_t *words;	/* the bits, NULL until loaded */
	uint64_t nbits;
	uint64_t *old_table;	/* the table on disk (host order) */
	/*
	 * One bit a cluster of bitmap data (a chunk, 1 << chunk_shift bits):
	 * set after the words change, taken by the checkpoint that writes
	 * the chunk in place (qcow2_bitmap_flush.c).
	 */
	uint64_t *chunk_dirty;
	uint64_t nchunks;
	uint8_t chunk_shift;
	bool table_dirty;	/* old_table names a cluster the disk lacks */
};

struct qcow2_bitmaps {
	struct qcow2_bitmap *v;
	unsigned int n;
	struct qcow_bitmap_info *infos;
	char *dir_broken;	/* the directory as a whole is unusable */
	/* the on-disk directory as last read or written, for in-use marking */
	uint8_t *disk_dir;
	uint64_t disk_dir_len;
	uint8_t *clean_dir;	/* the directory before the marking */
	bool marked;		/* on disk every bitmap is in use */
	bool changed;		/* memory differs from the disk */
	bool dir_dropped;	/* a broken directory given up (repair) */
	bool resized;		/* tables no longer fit: no in-place write */
	bool storing;		/* a store runs: checkpoints leave them */
	/* clusters of bitmaps removed, released once a new header is out */
	uint64_t *gone;		/* offset, length pairs */
	size_t nb_gone, cap_gone;
	/* clusters a removed broken bitmap named: freed if unreferenced */
	struct cluster_vec suspect;
};

/* qcow2_bitmap.c */
int qcow2_bitmap_parse(struct qcow2 *s, const uint8_t *dir, uint64_t len,
		       uint32_t nb, struct qcow2_bitmaps *bm);
/* Problems of one directory entry (0: valid) into why[]. */
void qcow2_bitmap_validate(struct qcow2 *s, struct qcow2_bitmap *b,
			   char *why, size_t why_len);
uint64_t qcow2_bitmap_table_size(const struct qcow2 *s, uint8_t gran_bits);
uint32_t qcow2_bitmap_entry_len(const struct qcow2_bitmap *b);
/* The directory for bm, the in_use flag of the loaded ones as in_use. */
int qcow2_bitmap_serialize(const struct qcow2_bitmaps *bm, bool in_use,
			   uint8_t **out, uint64_t *len);
bool qcow2_bitmap_consistent(const struct qcow2_bitmap *b);
void qcow2_bitmaps_free(struct qcow2_bitmaps *bm);
int qcow2_bitmap_check_table(struct qcow2 *s, struct qcow2_bitmap *b,
			     const uint64_t *t, char *why, size_t why_len);

/* qcow2_bitmap_store.c */
int qcow2_bitmaps_open(struct qcow2 *s);
int qcow2_bitmaps_start(struct qcow2 *s);
int qcow2_bitmaps_mark_in_use(struct qcow2 *s);
int qcow2_bitmaps_store_sync(struct qcow2 *s);
int qcow2_bitmap_load(struct qcow2 *s, struct qcow2_bitmap *b);
int qcow2_bitmaps_resize(struct qcow2 *s, uint64_t new_size);
int qcow2_bitmap_rewrite_dir(struct qcow2 *s, const uint8_t *dir);
void qcow2_bitmap_words_to_chunk(const uint64_t *w, uint64_t first_bit,
				 uint8_t *p, uint64_t bytes);

/* qcow2_bitmap_flush.c */
struct wb_list;
int qcow2_bitmap_alloc_bits(struct qcow2 *s, struct qcow2_bitmap *b);
void qcow2_bitmap_mark_chunks(struct qcow2_bitmap *b, uint64_t first_bit,
			      uint64_t last_bit);
void qcow2_bitmap_all_dirty(struct qcow2_bitmap *b);
int qcow2_bitmaps_ckpt_cut(struct qcow2 *s, struct wb_list *data,
			   struct wb_list *tables);
void qcow2_bitmaps_ckpt_failed(struct qcow2 *s);
bool qcow2_bitmaps_in_place(const struct qcow2 *s);
bool qcow2_bitmap_live(const struct qcow2_bitmap *b);

/* qcow2_bitmap_ops.c */
void qcow2_bitmap_set_range(struct qcow2_bitmap *b, uint64_t off,
			    uint64_t len, uint64_t disk_size);
int qcow2_bitmap_remove_at(struct qcow2 *s, unsigned int i);
int qcow2_bitmap_track(struct qcow_image *img, uint64_t off, uint64_t len);
extern const struct qcow_bitmap_ops qcow2_bitmap_ops;

#endif
