// SPDX-License-Identifier: MIT
/*
 * The blkdebug filter at work: an op tagged with an event raises it when
 * it is started (set-state rules change the state, inject-error rules
 * become the active ones, a breakpoint parks the op), then every op on
 * the file is checked against the active rules and may end with -errno
 * instead of reaching the file.  The engine's state machines see an op
 * that failed, or one that takes longer.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "blkdebug/blkdebug.h"

static void unlink_rule(struct qcow_blkdebug *d, struct qbd_rule *r)
{
	struct qbd_rule **pp;

	for (pp = &d->rules[r->event]; *pp; pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	}
	for (pp = &d->active; *pp; pp = &(*pp)->active_next) {
		if (*pp == r) {
			*pp = r->active_next;
			break;
		}
	}
}

/* The suspend rule the event fires, if any (removed: it fires once). */
static struct qbd_rule *process_event(struct qcow_blkdebug *d, int event)
{
	struct qbd_rule *r, *suspend = NULL;
	int64_t new_state = d->state;
	bool injected = false;

	for (r = d->rules[event]; r; r = r->next) {
		if (r->state && r->state != d->state)
			continue;
		switch (r->action) {
		case QBD_INJECT:
			if (!injected)
				d->active = NULL;
			injected = true;
			r->active_next = d->active;
			d->active = r;
			break;
		case QBD_SET_STATE:
			new_state = r->new_state;
			break;
		case QBD_SUSPEND:
			if (!suspend)
				suspend = r;
			break;
		}
	}
	d->state = new_state;
	if (suspend)
		unlink_rule(d, suspend);
	return suspend;
}

void qbd_event(struct qcow_blkdebug *d, int event)
{
	struct qbd_rule *suspend = process_event(d, event);

	/* with no op to park, a breakpoint here stays set */
	if (suspend)
		qbd_rule_add(d, suspend);
}

static int iotype_of(const struct qio_op *op)
{
	switch (op->kind) {
	case QIO_READ:
		return QBD_IO_READ;
	case QIO_WRITE:
		return QBD_IO_WRITE;
	case QIO_FSYNC:
		return QBD_IO_FLUSH;
	case QIO_PUNCH:
		return QBD_IO_DISCARD;
	case QIO_ZERO:
		return QBD_IO_WRITE_ZEROES;
	default:
		return -1;	/* growing the file: no request in QEMU */
	}
}

/* The error of the first active rule that covers the op, or 0. */
static int rule_check(struct qcow_blkdebug *d, const struct qio_op *op)
{
	uint64_t len = op->kind == QIO_FSYNC ? 0 : op->len;
	int type = iotype_of(op), err;
	struct qbd_rule *r;

	if (type < 0)
		return 0;
	for (r = d->active; r; r = r->active_next) {
		if ((r->offset == -1 ||
		     (len && (uint64_t)r->offset >= op->off &&
		      (uint64_t)r->offset < op->off + len)) &&
		    (r->iotype_mask & (1u << type)))
			break;
	}
	if (!r || !r->error)
		return 0;
	err = r->error;
	if (r->once) {
		unlink_rule(d, r);
		qbd_rule_free(r);
	}
	return err;
}

/* A synchronous file op (the reads of an open): rules, no events. */
int qbd_check_sync(struct qcow_blkdebug *d, enum qio_kind kind,
		   uint64_t off, uint64_t len)
{
	struct qio_op op = { .kind = kind, .off = off, .len = len };

	return -rule_check(d, &op);
}

static bool park(struct qcow_blkdebug *d, struct qbd_rule *rule,
		 struct qio_op *op)
{
	struct qbd_parked *p = calloc(1, sizeof(*p)), **pp;

	if (!p) {
		qbd_rule_free(rule);
		return false;
	}
	p->op = op;
	p->tag = rule->tag;
	rule->tag = NULL;
	qbd_rule_free(rule);
	for (pp = &d->parked; *pp; pp = &(*pp)->next)
		;
	*pp = p;
	op->ctx->inflight++;
	if (d->notify)
		d->notify(d->notify_arg, p->tag, true);
	return true;
}

bool qbd_filter(struct qcow_blkdebug *d, struct qio_op *op)
{
	struct qbd_rule *suspend = NULL;
	int ev = op->ev, err;

	op->ev = QBD_NONE_TAG;	/* raised once, not again when resumed */
	/* as QEMU's write generation: a flush after no write is no request */
	if (op->kind == QIO_FSYNC && !d->written)
		return false;
	if (op->kind == QIO_FSYNC)
		d->written = false;
	else if (op->kind != QIO_READ)
		d->written = true;
	/*
	 * flush_to_disk is raised before QEMU's flush reaches the filter,
	 * yet the rules it makes active take the next request, not it
	 */
	if (op->kind == QIO_FSYNC) {
		err = rule_check(d, op);
		if (ev != QBD_NONE_TAG)
			process_event(d, ev);
	} else {
		if (ev != QBD_NONE_TAG)
			suspend = process_event(d, ev);
		if (suspend && park(d, suspend, op))
			return true;
		err = rule_check(d, op);
	}
	if (!err)
		return false;
	/* immediately=on or off: either way the op ends with the error */
	op->res = -err;
	qctx_defer(op->ctx, op);
	return true;
}

/* ---- breakpoints: QEMU's bdrv_debug_* on the image's file ---- */

static struct qcow_blkdebug *image_blkdebug(struct qcow_image *img)
{
	return img && img->file ? img->file->dbg : NULL;
}

void qcow_blkdebug_set_notify(struct qcow_blkdebug *d,
			      void (*notify)(void *arg, const char *tag,
					     bool suspended),
			      void *arg)
{
	d->notify = notify;
	d->notify_arg = arg;
}

int qcow_blkdebug_break(struct qcow_image *img, const char *event,
			const char *tag)
{
	struct qcow_blkdebug *d = image_blkdebug(img);
	struct qbd_rule *r;
	int ev;

	if (!d)
		return -ENOTSUP;
	ev = qbd_event_by_name(event);
	if (ev < 0)
		return -ENOENT;
	r = qbd_rule_new(QBD_SUSPEND);
	if (!r)
		return -ENOMEM;
	r->tag = strdup(tag);
	if (!r->tag) {
		qbd_rule_free(r);
		return -ENOMEM;
	}
	r->event = ev;
	qbd_rule_add(d, r);
	return 0;
}

/* Starts a parked op again: its ring takes it from here. */
static void unpark(struct qcow_image *img, struct qcow_blkdebug *d,
		   struct qbd_parked **pp)
{
	struct qbd_parked *p = *pp;
	struct qio_op *op = p->op;
	struct qlock_save prev;

	*pp = p->next;
	if (d->notify)
		d->notify(d->notify_arg, p->tag, false);
	free(p->tag);
	free(p);
	prev = qcow_lock(op->ctx, img->lock);
	op->ctx->inflight--;
	qio_start(op);
	qcow_unlock(prev);
}

int qcow_blkdebug_resume(struct qcow_image *img, const char *tag)
{
	struct qcow_blkdebug *d = image_blkdebug(img);
	struct qbd_parked **pp;

	if (!d)
		return -ENOTSUP;
	for (pp = &d->parked; *pp; pp = &(*pp)->next) {
		if (!tag || !strcmp((*pp)->tag, tag)) {
			unpark(img, d, pp);
			return 0;
		}
	}
	return -ENOENT;
}

int qcow_blkdebug_remove_break(struct qcow_image *img, const char *tag)
{
	struct qcow_blkdebug *d = image_blkdebug(img);
	struct qbd_rule *r, *next;
	struct qbd_parked **pp;
	int i, ret = -ENOENT;

	if (!d)
		return -ENOTSUP;
	for (i = 0; i < QBD_NR_EVENTS; i++) {
		for (r = d->rules[i]; r; r = next) {
			next = r->next;
			if (r->action == QBD_SUSPEND && !strcmp(r->tag, tag)) {
				unlink_rule(d, r);
				qbd_rule_free(r);
				ret = 0;
			}
		}
	}
	/* what it parked resumes; as in QEMU 7.2 that alone is -ENOENT */
	pp = &d->parked;
	while (*pp) {
		if (!strcmp((*pp)->tag, tag)) {
			unpark(img, d, pp);
		} else {
			pp = &(*pp)->next;
		}
	}
	return ret;
}

int qcow_blkdebug_suspended(struct qcow_image *img, const char *tag)
{
	struct qcow_blkdebug *d = image_blkdebug(img);
	struct qbd_parked *p;
	int n = 0;

	if (!d)
		return -ENOTSUP;
	for (p = d->parked; p; p = p->next)
		if (!tag || !strcmp(p->tag, tag))
			n++;
	return n;
}
