// SPDX-License-Identifier: MIT
/* The progress line of qemu-img -p. */
#include <stdio.h>
#include "tools/common/progress.h"

static void show(struct progress *p, double pct)
{
	printf("    (%3.2f/100%%)\r", pct);
	fflush(stdout);
	p->shown = pct;
}

void progress_start(struct progress *p, bool enabled, uint64_t total,
		    double step)
{
	p->enabled = enabled;
	p->total = total;
	p->done = 0;
	p->current = 0.0;
	p->step = step;
	if (enabled)
		show(p, 0.0);
}

void progress_add(struct progress *p, uint64_t bytes)
{
	double pct;

	if (!p->enabled)
		return;
	p->done += bytes;
	pct = p->total ? (double)p->done * 100.0 / (double)p->total : 100.0;
	if (pct > 100.0)
		pct = 100.0;
	if (pct > p->shown + p->step || pct == 100.0)
		show(p, pct);
}

void progress_add_pct(struct progress *p, double delta)
{
	progress_set_pct(p, p->current + delta);
}

void progress_set_pct(struct progress *p, double pct)
{
	if (!p->enabled)
		return;
	p->current = pct;
	if (p->current > 100.0)
		p->current = 100.0;
	if (p->current > p->shown + p->step ||
	    p->current < p->shown - p->step || p->current == 100.0)
		show(p, p->current);
}

void progress_complete(struct progress *p)
{
	if (p->enabled)
		show(p, 100.0);
}

void progress_end(struct progress *p)
{
	if (p->enabled)
		putchar('\n');
}

void progress_print_f(struct progress *p, float pct)
{
	float last = (float)p->shown, step = (float)p->step;

	if (!p->enabled)
		return;
	if (pct > last + step || pct < last - step || pct == 100.f ||
	    pct == 0.f)
		show(p, pct);
}
