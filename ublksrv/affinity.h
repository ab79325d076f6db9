/* SPDX-License-Identifier: MIT */
/*
 * Queue CPU affinity: the kernel sends the requests issued on a CPU to one
 * queue (GET_QUEUE_AFFINITY says which CPUs map to a queue).  By default
 * that queue's thread runs on the other queues' CPUs, so that it never
 * takes turns with the program submitting to it (docs/ublk.md has the
 * figures); -o affinity= can put it on the queue's CPUs, as ublksrv
 * does, or anywhere.
 */
#ifndef UBLKSRV_AFFINITY_H
#define UBLKSRV_AFFINITY_H

#include <sched.h>
#include <stddef.h>
#include <stdint.h>

struct ublk_ctrl;

struct cpu_mask {
	cpu_set_t *set;		/* NULL: unknown */
	size_t size;		/* bytes */
};

enum ublk_affinity {
	UBLK_AFFINITY_QUEUE,	/* the queue's CPUs */
	UBLK_AFFINITY_ANY,	/* no restriction */
	UBLK_AFFINITY_OTHERS,	/* the CPUs not mapped to the queue */
};
#define UBLK_DEFAULT_AFFINITY	UBLK_AFFINITY_OTHERS

const char *ublk_affinity_name(enum ublk_affinity a);
/* 0 and *a, or -EINVAL for a name that is none of them */
int ublk_affinity_by_name(const char *name, enum ublk_affinity *a);

/* Queue q_id's CPUs as the kernel maps them; 0 or -errno. */
int affinity_get(struct ublk_ctrl *c, uint32_t dev_id, uint16_t q_id,
		 struct cpu_mask *m);
void affinity_free(struct cpu_mask *m);
/* m as a CPU list ("0-3,6", as /proc's Cpus_allowed_list shows it). */
void affinity_format(const struct cpu_mask *m, char *buf, size_t len);
/*
 * Places the calling thread, that serves the queue of CPUs queue, as a
 * says (nothing when queue is unknown); 0 or -errno.
 */
int affinity_apply(enum ublk_affinity a, const struct cpu_mask *queue);

#endif
