/* SPDX-License-Identifier: MIT */
#ifndef QCOW_QCOW2_WRITE_H
#define QCOW_QCOW2_WRITE_H

#include "qcow2.h"

struct alloc_op;
struct l2_copy;

void qcow2_write_step(struct qcow_req *req);
void qcow2_zero_step(struct qcow_req *req);
/* Parks req when an allocation in flight covers its next clusters. */
bool qcow2_write_park(struct qcow_req *req, uint64_t end);
/*
 * Makes the L2 table for req->pos one the image owns alone (new, or a
 * copy of a shared one).  0 when it is, -EAGAIN when req was parked.
 */
int qcow2_l2_prepare(struct qcow_req *req);
/* The host cluster(s) of an old L2 entry lose a reference after the cut. */
void qcow2_release_entry(struct qcow2 *s, uint64_t old);
void qcow2_mark_l1_dirty(struct qcow2 *s, uint64_t l1_index);
/*
 * A new, larger L1 table of entries entries written whole, then named by
 * the header with the disk size size; with no request in flight.
 */
int qcow2_grow_l1(struct qcow2 *s, uint32_t entries, uint64_t size);

#endif
