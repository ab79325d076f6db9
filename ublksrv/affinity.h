/* SPDX-License-Identifier: MIT */
/*
 * Queue CPU affinity: the kernel sends the requests issued on a CPU to one
 * queue (GET_QUEUE_AFFINITY says which CPUs map to a queue), and that
 * queue's thread runs on those CPUs.
 */
#ifndef UBLKSRV_AFFINITY_H
#define UBLKSRV_AFFINITY_H

#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include "ctrl.h"

struct cpu_mask {
	cpu_set_t *set;		/* NULL: unknown */
	size_t size;		/* bytes */
};

/* Queue q_id's CPUs as the kernel maps them; 0 or -errno. */
int affinity_get(struct ublk_ctrl *c, uint32_t dev_id, uint16_t q_id,
		 struct cpu_mask *m);
void affinity_free(struct cpu_mask *m);
/* Restricts the calling thread to m's CPUs; 0 or -errno. */
int affinity_pin(const struct cpu_mask *m);
/* m as a CPU list ("0-3,6", as /proc's Cpus_allowed_list shows it). */
void affinity_format(const struct cpu_mask *m, char *buf, size_t len);

#endif
