/* SPDX-License-Identifier: MIT */
/* The "    (42.00/100%)" progress line of qemu-img -p, on stdout. */
#ifndef TOOLS_COMMON_PROGRESS_H
#define TOOLS_COMMON_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

struct progress {
	bool enabled;
	uint64_t total;
	uint64_t done;
	double step;		/* redraw after this many percent */
	double shown;
	double current;		/* progress_add_pct()'s count */
};

void progress_start(struct progress *p, bool enabled, uint64_t total,
		    double step);
void progress_add(struct progress *p, uint64_t bytes);
/*
 * delta percent more, as qemu-img counts some loops (per step, whatever
 * its length): at most 100, which is drawn each time it is reached.
 */
void progress_add_pct(struct progress *p, double delta);
/* The same, at pct percent. */
void progress_set_pct(struct progress *p, double pct);
/*
 * At pct percent, computed in float as qemu-img does: drawn when it
 * moved by more than the step either way, or is 0 or 100.
 */
void progress_print_f(struct progress *p, float pct);
/* Draws 100% (again). */
void progress_complete(struct progress *p);
/* Ends the line. */
void progress_end(struct progress *p);

#endif
