// SPDX-License-Identifier: MIT
/*
 * Where the queue threads run: the CPUs the kernel maps to each queue
 * (GET_QUEUE_AFFINITY), and the thread's place relative to them.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "affinity.h"
#include "ctrl.h"

/* The kernel wants a mask as wide as its possible CPUs, at least. */
#define MIN_MASK_CPUS	8192

static size_t mask_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_CONF);

	return n > MIN_MASK_CPUS ? (size_t)n : MIN_MASK_CPUS;
}

int affinity_get(struct ublk_ctrl *c, uint32_t dev_id, uint16_t q_id,
		 struct cpu_mask *m)
{
	size_t cpus = mask_cpus();
	int ret;

	m->size = CPU_ALLOC_SIZE(cpus);
	m->set = CPU_ALLOC(cpus);
	if (!m->set || m->size > UINT16_MAX) {
		affinity_free(m);
		return -ENOMEM;
	}
	ret = ublk_ctrl_get_queue_affinity(c, dev_id, q_id, m->set, m->size);
	if (ret < 0)
		affinity_free(m);
	return ret;
}

void affinity_free(struct cpu_mask *m)
{
	if (m->set)
		CPU_FREE(m->set);
	m->set = NULL;
	m->size = 0;
}

static const char *const affinity_names[] = {
	[UBLK_AFFINITY_QUEUE] = "queue",
	[UBLK_AFFINITY_ANY] = "any",
	[UBLK_AFFINITY_OTHERS] = "others",
};
#define NR_AFFINITY (sizeof(affinity_names) / sizeof(affinity_names[0]))

const char *ublk_affinity_name(enum ublk_affinity a)
{
	return (unsigned int)a < NR_AFFINITY ?
	       affinity_names[a] : "queue";
}

int ublk_affinity_by_name(const char *name, enum ublk_affinity *a)
{
	unsigned int i;

	for (i = 0; i < NR_AFFINITY; i++) {
		if (!strcmp(name, affinity_names[i])) {
			*a = (enum ublk_affinity)i;
			return 0;
		}
	}
	return -EINVAL;
}

/* Restricts the calling thread to m's CPUs; 0 or -errno. */
static int affinity_pin(const struct cpu_mask *m)
{
	if (!m->set || !CPU_COUNT_S(m->size, m->set))
		return -EINVAL;
	if (sched_setaffinity(0, m->size, m->set) < 0)
		return -errno;
	return 0;
}

/*
 * The CPUs this thread may use now without the queue's own: 0, or 1 when
 * that leaves none (a single queue), or -errno.
 */
static int affinity_others(const struct cpu_mask *q, struct cpu_mask *out)
{
	size_t cpu, nbits = q->size * 8;

	out->size = q->size;
	out->set = CPU_ALLOC(nbits);
	if (!out->set)
		return -ENOMEM;
	if (sched_getaffinity(0, out->size, out->set) < 0) {
		affinity_free(out);
		return -errno;
	}
	for (cpu = 0; cpu < nbits; cpu++)
		if (CPU_ISSET_S(cpu, q->size, q->set))
			CPU_CLR_S(cpu, out->size, out->set);
	if (CPU_COUNT_S(out->size, out->set))
		return 0;
	affinity_free(out);
	return 1;
}

/* The end of the run of CPUs in m starting at cpu. */
static size_t run_end(const struct cpu_mask *m, size_t cpu, size_t nbits)
{
	while (cpu + 1 < nbits && CPU_ISSET_S(cpu + 1, m->size, m->set))
		cpu++;
	return cpu;
}

void affinity_format(const struct cpu_mask *m, char *buf, size_t len)
{
	size_t nbits = m->size * 8, cpu, end, pos = 0;
	int n;

	buf[0] = 0;
	for (cpu = 0; m->set && cpu < nbits && pos < len; cpu++) {
		if (!CPU_ISSET_S(cpu, m->size, m->set))
			continue;
		end = run_end(m, cpu, nbits);
		if (end == cpu)
			n = snprintf(buf + pos, len - pos, "%s%zu",
				     pos ? "," : "", cpu);
		else
			n = snprintf(buf + pos, len - pos, "%s%zu-%zu",
				     pos ? "," : "", cpu, end);
		if (n < 0)
			break;
		pos += n;
		cpu = end;
	}
}

int affinity_apply(enum ublk_affinity a, const struct cpu_mask *queue)
{
	struct cpu_mask others = { 0 };
	int ret;

	if (!queue->set || a == UBLK_AFFINITY_ANY)
		return 0;
	if (a == UBLK_AFFINITY_QUEUE)
		return affinity_pin(queue);
	ret = affinity_others(queue, &others);
	if (ret == 0)
		ret = affinity_pin(&others);
	affinity_free(&others);
	return ret < 0 ? ret : 0;
}
