// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "affinity.h"

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

int affinity_pin(const struct cpu_mask *m)
{
	if (!m->set || !CPU_COUNT_S(m->size, m->set))
		return -EINVAL;
	if (sched_setaffinity(0, m->size, m->set) < 0)
		return -errno;
	return 0;
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
