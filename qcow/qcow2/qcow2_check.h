/* SPDX-License-Identifier: MIT */
/*
 * The check's state and helpers, shared with what is built on its count
 * of references: the repairs (qcow2_repair.c) and the refcounts of a dirty
 * image set from the references (qcow2_refcount_rebuild.c).
 */
#ifndef QCOW_QCOW2_CHECK_H
#define QCOW_QCOW2_CHECK_H

#include "qcow2.h"

struct check {
	struct qcow2 *s;
	struct qcow_check_result *res;
	void (*report)(void *arg, const char *msg);
	void *arg;
	uint64_t *refs;		/* references found, per host cluster */
	uint64_t nb_refs;
	uint64_t *disk;		/* refcounts on disk */
	uint64_t nb_disk;
	uint64_t refcount_max;
	uint64_t next_contiguous;
	uint8_t *l2;
	bool l2_changed;		/* c->l2 repaired: write it back */
	unsigned int fix;		/* QCOW_REPAIR_*: repair L2 entries */
	bool rebuild;			/* refcount structure damaged */
	bool quiet;			/* say() only what is repaired */
	struct cluster_vec refblocks;	/* clusters of the refcount blocks */
	struct cluster_vec bad_blocks;	/* table indices of unaligned ones */
};

/* The references to every cluster, as the check counts them, into c. */
int qcow2_check_count(struct check *c);
void qcow2_check_free(struct check *c);
/* A repair, reported; one made outside a check. */
void qcow2_check_say_fix(struct check *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void qcow2_check_report_fix(void (*report)(void *arg, const char *msg),
			    void *arg, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int qcow2_check_read_l2(struct qcow2 *s, uint8_t *buf, uint64_t off);
bool qcow2_check_l2_entry_unused(const struct qcow2 *s, const uint8_t *p);

#endif
