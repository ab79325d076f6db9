// SPDX-License-Identifier: MIT
/*
 * In-place I/O counted by epoch, as RCU counts readers: a checkpoint
 * frees host clusters released before the previous cut, and I/O that
 * could still reach them began before that cut.  Each cut starts a new
 * epoch, once the I/O of the epoch before the current one is done; so
 * when a cut is made, nothing begun before the previous one is in flight.
 * The hot path pays an increment when the I/O starts and a decrement when
 * it ends.
 *
 * The read fast path ends its I/O with no lock, so the counts are atomic
 * and a drain is noticed as in Dekker's algorithm: qepoch_advance()
 * publishes its waiter before it reads the count, an exit decrements the
 * count before it reads the waiter (all sequentially consistent), so at
 * least one of them sees the other; qepoch_wake() decides under the lock.
 */
#include "internal.h"

void qepoch_wake(struct qepoch *e, unsigned int slot)
{
	struct qwaiter *w = __atomic_load_n(&e->waiter, __ATOMIC_SEQ_CST);

	if (!w || slot == e->cur ||
	    __atomic_load_n(&e->n[slot], __ATOMIC_SEQ_CST))
		return;
	__atomic_store_n(&e->waiter, NULL, __ATOMIC_SEQ_CST);
	qwaiter_wake(w, 0);
}

bool qepoch_exit_unlocked(struct qepoch *e, unsigned int slot)
{
	if (__atomic_sub_fetch(&e->n[slot], 1, __ATOMIC_SEQ_CST))
		return false;
	return __atomic_load_n(&e->waiter, __ATOMIC_SEQ_CST) != NULL;
}

void qepoch_exit(struct qepoch *e, unsigned int slot)
{
	if (qepoch_exit_unlocked(e, slot))
		qepoch_wake(e, slot);
}

bool qepoch_advance(struct qepoch *e, struct qwaiter *w)
{
	__atomic_store_n(&e->waiter, w, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&e->n[!e->cur], __ATOMIC_SEQ_CST))
		return false;
	__atomic_store_n(&e->waiter, NULL, __ATOMIC_SEQ_CST);
	__atomic_store_n(&e->cur, !e->cur, __ATOMIC_RELAXED);
	return true;
}
