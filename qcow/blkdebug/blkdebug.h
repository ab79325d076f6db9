/* SPDX-License-Identifier: MIT */
/*
 * The blkdebug filter (QEMU's): rules read from a config file or options,
 * acted on when the engine submits a file op that carries an event tag.
 */
#ifndef QCOW_BLKDEBUG_H
#define QCOW_BLKDEBUG_H

#include <stdbool.h>
#include <stdint.h>
#include "internal.h"

/* What an op does to the file, as an inject-error rule's iotype names it. */
enum qbd_iotype { QBD_IO_READ, QBD_IO_WRITE, QBD_IO_WRITE_ZEROES,
		  QBD_IO_DISCARD, QBD_IO_FLUSH, QBD_IO_BLOCK_STATUS,
		  QBD_NR_IOTYPES };

enum qbd_action { QBD_INJECT, QBD_SET_STATE, QBD_SUSPEND };

struct qbd_rule {
	struct qbd_rule *next;		/* the rules of one event */
	struct qbd_rule *active_next;	/* active inject-error rules */
	enum qbd_action action;
	int event;
	int64_t state;			/* 0: any state */
	/* inject-error */
	int error;
	bool once;
	bool immediately;
	int64_t offset;			/* -1: any */
	unsigned int iotype_mask;
	/* set-state */
	int64_t new_state;
	/* suspend */
	char *tag;
};

struct qio_op;

struct qbd_parked {
	struct qbd_parked *next;
	struct qio_op *op;
	char *tag;
};

struct qcow_blkdebug {
	struct qbd_rule *rules[QBD_NR_EVENTS];
	struct qbd_rule *active;
	struct qbd_parked *parked;
	int64_t state;
	bool written;		/* since the last flush */
	uint64_t align;
	void (*notify)(void *arg, const char *tag, bool suspended);
	void *notify_arg;
	/* options given as inject-error.N.KEY / set-state.N.KEY */
	struct qbd_opt_rule *opt_rules;
};

/* blkdebug_event.c */
int qbd_event_by_name(const char *name);
const char *qbd_event_name(int event);
int qbd_iotype_by_name(const char *name);

/* blkdebug_config.c: a rule of action from "KEY" = "VALUE" pairs */
struct qbd_rule *qbd_rule_new(enum qbd_action action);
int qbd_rule_set(struct qbd_rule *r, const char *key, const char *value,
		 bool *has_event);
void qbd_rule_add(struct qcow_blkdebug *d, struct qbd_rule *r);
void qbd_rule_free(struct qbd_rule *r);



#endif
