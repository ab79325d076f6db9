// SPDX-License-Identifier: MIT
/*
 * qemu-img amend -p: the operations report their own progress (work
 * done out of a total), scaled so that the operations of one amend
 * share the line: the total of those not started yet is projected from
 * the ones seen so far.
 */
#include <stdint.h>
#include "tools/img/amend_progress.h"

enum amend_op { OP_NONE, OP_UPGRADE, OP_REFCOUNT, OP_DOWNGRADE };

struct ops {
	struct progress *p;
	int total;
	int completed;
	int64_t offset_completed;
	enum amend_op current, last;
	int64_t last_work;
};

static void report(struct ops *o, int64_t offset, int64_t work)
{
	int64_t cur, projected, total;

	if (o->current != o->last) {
		if (o->last != OP_NONE) {
			o->offset_completed += o->last_work;
			o->completed++;
		}
		o->last = o->current;
	}
	o->last_work = work;
	cur = o->offset_completed + work;
	projected = cur * (o->total - o->completed - 1) / (o->completed + 1);
	total = cur + projected;
	progress_print_f(o->p, 100.f * (o->offset_completed + offset) / total);
}

/* A new refcount width: two passes over the table, then one writing. */
static void refcount_steps(struct ops *o, int64_t entries)
{
	const int walks = 3;
	int64_t i;
	int w;

	o->current = OP_REFCOUNT;
	for (w = 0; w < walks; w++) {
		for (i = 0; i < entries; i++)
			report(o, w * entries + i, walks * entries);
		report(o, (w + 1) * entries, walks * entries);
	}
}

void amend_progress_steps(struct progress *p, const struct qcow_info *before,
			  const struct qcow_amend_opts *a)
{
	bool up = a->compat > 0 && (uint32_t)a->compat > before->version;
	bool down = a->compat > 0 && (uint32_t)a->compat < before->version;
	bool refcount = a->refcount_bits > 0 &&
			(uint32_t)a->refcount_bits != before->refcount_bits;
	struct ops o = { .p = p };
	uint32_t i;

	if (!p->enabled)
		return;
	o.total = (up || down) + refcount;
	if (up) {
		o.current = OP_UPGRADE;
		for (i = 0; i <= 2; i++)
			report(&o, i, 2);
	}
	if (refcount)
		refcount_steps(&o, before->refcount_table_entries);
	if (down) {
		o.current = OP_DOWNGRADE;
		for (i = 1; i <= before->l1_size; i++)
			report(&o, i, before->l1_size);
	}
}
