// SPDX-License-Identifier: MIT
/*
 * Free lists of the objects every piece of I/O needs (a data op, an
 * allocating write's state, a backing read): kept by the chain lock held
 * where they are taken and given back, so the hot paths call no
 * allocator.  Sanitizer builds allocate every time, so that a use after
 * free is still caught.
 */
#include <stdlib.h>
#include "internal.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define QPOOL_OFF 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define QPOOL_OFF 1
#endif
#endif

struct qpool_item {
	struct qpool_item *next;
};

void *qpool_get(enum qpool_kind k, size_t size)
{
	struct qlock *lk = qcow_lock_is_shared() ? NULL : qcow_current_lock();
	struct qpool_item *it = lk ? lk->pool[k] : NULL;

	if (!it)
		return calloc(1, size);
	lk->pool[k] = it->next;
	lk->pool_n[k]--;
	memset(it, 0, size);
	return it;
}

void qpool_put(enum qpool_kind k, void *p)
{
	struct qlock *lk = qcow_lock_is_shared() ? NULL : qcow_current_lock();
	struct qpool_item *it = p;

#ifdef QPOOL_OFF
	lk = NULL;
#endif
	if (!lk || lk->pool_n[k] >= QPOOL_MAX) {
		free(p);
		return;
	}
	it->next = lk->pool[k];
	lk->pool[k] = it;
	lk->pool_n[k]++;
}

void qpool_drain(struct qlock *lk)
{
	struct qpool_item *it;
	int k;

	for (k = 0; k < QPOOL_NR; k++) {
		while ((it = lk->pool[k])) {
			lk->pool[k] = it->next;
			free(it);
		}
		lk->pool_n[k] = 0;
	}
}
