/* SPDX-License-Identifier: MIT */
/*
 * A checkpoint's state (qcow2_checkpoint.c), shared with the refcount
 * updates it runs (qcow2_refcount.c).
 */
#ifndef QCOW_QCOW2_CHECKPOINT_H
#define QCOW_QCOW2_CHECKPOINT_H

#include <stdlib.h>
#include "qcow2.h"

enum ckpt_phase {
	CK_CUT,
	CK_DIRTY_BIT,
	CK_REFCOUNTS,
	CK_REFBLOCKS,
	CK_REFTABLE,
	CK_HEADER,
	CK_L2,
	CK_L1,
	CK_LAST_SYNC,
	CK_PUNCH,
	CK_DONE,
};

struct wb_item {
	uint64_t off;
	uint32_t len;
	uint8_t *data;
	struct meta_slice *slice;
	struct meta_cache *cache;
	struct qfile *file;
};

struct wb_list {
	struct wb_item *v;
	size_t n;
	size_t cap;
};

struct ckpt {
	struct qcow2 *s;
	struct qcow_ctx *ctx;
	enum ckpt_phase phase;
	int pending;
	int error;
	bool refcounts;		/* this checkpoint writes refcounts */
	bool wrote;
	bool sync_after;	/* fsync once the writes are done */
	bool synced;		/* an fsync completed since the cut */
	bool dropped;		/* released references taken off in memory */
	bool set_dirty_bit;	/* this checkpoint set the lazy dirty bit */
	bool moved_rt;		/* ... named a new refcount table */
	struct qwaiter waiter;
	struct qwaiter *waiters;	/* completed with this checkpoint */
	struct cluster_vec touched;
	struct cluster_vec freed;
	struct cluster_vec released;	/* taken at the cut */
	size_t touched_pos;
	struct wb_list l2;
	struct wb_list l1;
	struct wb_list bm_data;		/* bitmap chunks, durable before L2 */
	bool bm_data_done;
	struct wb_list io;		/* refblocks, table, header */
	uint64_t *new_rt;
	uint64_t new_rt_entries;
	uint64_t new_rt_offset;
};

static inline int wb_push(struct wb_list *l, const struct wb_item *it)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 32;
		struct wb_item *p = realloc(l->v, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		l->v = p;
		l->cap = cap;
	}
	l->v[l->n++] = *it;
	return 0;
}

/*
 * qcow2_refcount.c: the refcount of every touched cluster put into its
 * refcount block slice, blocks and table grown as needed (-EAGAIN while a
 * slice is loading: c->waiter resumes the checkpoint); the references
 * released before the previous cut dropped in memory; the refcount table
 * queued for writing (chunks, or a new table whole); a table chunk a
 * failed checkpoint was writing marked dirty again.
 */
int qcow2_ckpt_apply_refcounts(struct ckpt *c);
void qcow2_ckpt_prepare_freed(struct ckpt *c);
int qcow2_ckpt_queue_reftable(struct ckpt *c);
void qcow2_keep_reftable_chunk(struct qcow2 *s, uint64_t off);

#endif
