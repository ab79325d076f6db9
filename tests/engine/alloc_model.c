// SPDX-License-Identifier: MIT
/*
 * The cluster allocator (qcow2_alloc.c) against a model: random runs of
 * 1 to 80 clusters allocated, single clusters freed, allocations undone.
 * Every allocation must be the first run of free clusters (first fit, or
 * the end when none is free below it), as a plain scan of the model
 * finds it: the search hints that keep allocation from rescanning may
 * skip only what holds no such run.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "qcow2/qcow2.h"
#include "testlib.h"

#define NCL	8000

struct model {
	bool used[NCL + 200];
	uint64_t end;
};

static uint64_t first_fit(const struct model *m, uint64_t n)
{
	uint64_t c, run = 0;

	for (c = 0; c < m->end; c++) {
		run = m->used[c] ? 0 : run + 1;
		if (run == n)
			return c + 1 - n;
	}
	return m->end;
}

static void model_set(struct model *m, uint64_t first, uint64_t n, bool v)
{
	uint64_t i;

	for (i = 0; i < n; i++)
		m->used[first + i] = v;
	if (v && first + n > m->end)
		m->end = first + n;
}

static uint64_t pick_n(uint64_t *seed)
{
	uint64_t r = tl_rnd(seed) % 100;

	if (r < 60)
		return 1;
	if (r < 90)
		return 2 + tl_rnd(seed) % 8;
	return 10 + tl_rnd(seed) % 71;	/* past the hints' last length */
}

static const char *run(uint64_t seed, unsigned int steps, char *why,
		       size_t len)
{
	struct qcow2 *s = calloc(1, sizeof(*s));
	struct model *m = calloc(1, sizeof(*m));
	unsigned int i;

	why[0] = 0;
	if (!s || !m) {
		snprintf(why, len, "out of memory");
		goto out;
	}
	s->cluster_bits = 16;
	s->cluster_size = 65536;
	for (i = 0; i < steps && !why[0]; i++) {
		uint64_t r = tl_rnd(&seed) % 100, n, want, c;
		int64_t got;

		if (r < 55 || m->end < 10) {
			n = pick_n(&seed);
			want = first_fit(m, n);
			if (want + n > NCL)
				continue;
			got = qcow2_alloc_clusters(s, n);
			if (got < 0 || (uint64_t)got != want << 16) {
				snprintf(why, len, "step %u: %" PRIu64 " clusters "
					 "at %" PRId64 ", first fit %" PRIu64,
					 i, n, got < 0 ? got : got >> 16, want);
				break;
			}
			model_set(m, want, n, true);
			if (r % 7 == 0) {	/* given back at once */
				qcow2_alloc_undo(s, (uint64_t)got, n);
				model_set(m, want, n, false);
				if (m->end == want + n)
					m->end = want;
			}
			continue;
		}
		/* free a cluster in use, or a short run of them */
		c = 1 + tl_rnd(&seed) % (m->end - 1);
		for (n = 0; n < 1 + tl_rnd(&seed) % 4 && c + n < m->end; n++) {
			if (!m->used[c + n])
				continue;
			qcow2_cluster_set_free(s, c + n);
			m->used[c + n] = false;
		}
	}
	if (!why[0] && m->end != s->alloc.end)
		snprintf(why, len, "end %" PRIu64 ", model %" PRIu64,
			 s->alloc.end, m->end);
out:
	if (s)
		qcow2_alloc_free(s);
	free(s);
	free(m);
	return why;
}

int main(int argc, char **argv)
{
	char why[256];
	uint64_t seed;

	tl_init(argc, argv);
	for (seed = 1; seed <= 6; seed++) {
		tl_begin("first-fit-seed-%" PRIu64, seed);
		if (run(seed, 20000, why, sizeof(why))[0])
			tl_fail("%s", why);
		else
			tl_pass();
	}
	return tl_finish();
}
