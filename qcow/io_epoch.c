// SPDX-License-Identifier: MIT
/*
 * In-place I/O counted by epoch, as RCU counts readers: a checkpoint
 * frees host clusters released before the previous cut, and I/O that
 * could still reach them began before that cut.  Each cut starts a new
 * epoch, once the I/O of the epoch before the current one is done; so
 * when a cut is made, nothing begun before the previous one is in flight.
 * The hot path pays an increment when the I/O starts and a decrement when
 * it ends.
 */
#include "internal.h"

void qepoch_exit(struct qepoch *e, unsigned int slot)
{
	struct qwaiter *w = e->waiter;

	if (--e->n[slot] || slot == e->cur || !w)
		return;
	e->waiter = NULL;
	qwaiter_wake(w, 0);
}

bool qepoch_advance(struct qepoch *e, struct qwaiter *w)
{
	if (e->n[!e->cur]) {
		e->waiter = w;
		return false;
	}
	e->cur = !e->cur;
	return true;
}
