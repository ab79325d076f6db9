// SPDX-License-Identifier: MIT
/*
 * blkdebug rules from QEMU's config file syntax ([inject-error] and
 * [set-state] groups of KEY = "VALUE" lines) and from the options
 * inject-error.N.KEY / set-state.N.KEY; errors in QEMU's words.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "blkdebug/blkdebug.h"

#define QBD_ALL_IOTYPES ((1u << QBD_IO_READ) | (1u << QBD_IO_WRITE) | \
			 (1u << QBD_IO_WRITE_ZEROES) | \
			 (1u << QBD_IO_DISCARD) | (1u << QBD_IO_FLUSH))

/* A rule read so far, added once its group ends with an event named. */
struct qbd_opt_rule {
	struct qbd_opt_rule *next;
	struct qbd_rule *rule;
	unsigned long index;
	bool has_event;
};

int qcow_blkdebug_new(struct qcow_blkdebug **out)
{
	struct qcow_blkdebug *d = calloc(1, sizeof(*d));

	if (!d)
		return qcow_set_error(-ENOMEM, NULL, "out of memory");
	d->state = 1;
	*out = d;
	return 0;
}

struct qbd_rule *qbd_rule_new(enum qbd_action action)
{
	struct qbd_rule *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->action = action;
	r->error = EIO;
	r->offset = -1;
	r->iotype_mask = QBD_ALL_IOTYPES;
	return r;
}

void qbd_rule_free(struct qbd_rule *r)
{
	if (!r)
		return;
	free(r->tag);
	free(r);
}

static int parse_number(const char *key, const char *value, int64_t *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(value, &end, 0);
	if (!*value || *end || errno)
		return qcow_set_error(-EINVAL, NULL,
				      "Parameter '%s' expects a number", key);
	*out = v;
	return 0;
}

static int parse_bool(const char *key, const char *value, bool *out)
{
	if (!strcmp(value, "on")) {
		*out = true;
		return 0;
	}
	if (!strcmp(value, "off")) {
		*out = false;
		return 0;
	}
	return qcow_set_error(-EINVAL, NULL,
			      "Parameter '%s' expects 'on' or 'off'", key);
}

static int set_inject(struct qbd_rule *r, const char *key, const char *value)
{
	int64_t n;
	int ret, t;

	if (!strcmp(key, "errno")) {
		ret = parse_number(key, value, &n);
		r->error = (int)n;
		return ret;
	}
	if (!strcmp(key, "sector")) {
		ret = parse_number(key, value, &n);
		r->offset = n < 0 ? -1 : n * 512;
		return ret;
	}
	if (!strcmp(key, "once"))
		return parse_bool(key, value, &r->once);
	if (!strcmp(key, "immediately"))
		return parse_bool(key, value, &r->immediately);
	if (!strcmp(key, "iotype")) {
		t = qbd_iotype_by_name(value);
		if (t < 0)
			return qcow_set_error(-EINVAL, NULL,
				"invalid parameter value: %s", value);
		r->iotype_mask = 1u << t;
		return 0;
	}
	return qcow_set_error(-EINVAL, NULL, "Invalid parameter '%s'", key);
}

/* One KEY = VALUE of a rule; the event is looked up at once, as QEMU's. */
int qbd_rule_set(struct qbd_rule *r, const char *key, const char *value,
		 bool *has_event)
{
	if (!strcmp(key, "event")) {
		r->event = qbd_event_by_name(value);
		*has_event = true;
		if (r->event < 0)
			return qcow_set_error(-EINVAL, NULL,
				"invalid parameter value: %s", value);
		return 0;
	}
	if (!strcmp(key, "state"))
		return parse_number(key, value, &r->state);
	if (r->action == QBD_INJECT)
		return set_inject(r, key, value);
	if (!strcmp(key, "new_state"))
		return parse_number(key, value, &r->new_state);
	return qcow_set_error(-EINVAL, NULL, "Invalid parameter '%s'", key);
}

void qbd_rule_add(struct qcow_blkdebug *d, struct qbd_rule *r)
{
	r->next = d->rules[r->event];
	d->rules[r->event] = r;
}

static void free_pending(struct qbd_opt_rule **list)
{
	struct qbd_opt_rule *p;

	while ((p = *list) != NULL) {
		*list = p->next;
		qbd_rule_free(p->rule);
		free(p);
	}
}

/* Pending rules become rules: each needs its event. */
static int add_pending(struct qcow_blkdebug *d, struct qbd_opt_rule **list)
{
	struct qbd_opt_rule *p;

	for (p = *list; p; p = p->next)
		if (!p->has_event)
			break;
	if (p) {
		free_pending(list);
		return qcow_set_error(-EINVAL, NULL,
				      "Missing event name for rule");
	}
	while ((p = *list) != NULL) {
		*list = p->next;
		qbd_rule_add(d, p->rule);
		free(p);
	}
	return 0;
}

static struct qbd_opt_rule *pending_new(struct qbd_opt_rule **list,
					enum qbd_action action,
					unsigned long index)
{
	struct qbd_opt_rule *p = calloc(1, sizeof(*p)), **pp;

	if (!p)
		return NULL;
	p->rule = qbd_rule_new(action);
	if (!p->rule) {
		free(p);
		return NULL;
	}
	p->index = index;
	for (pp = list; *pp; pp = &(*pp)->next)
		;
	*pp = p;
	return p;
}

static int group_action(const char *name, enum qbd_action *action)
{
	if (!strcmp(name, "inject-error"))
		*action = QBD_INJECT;
	else if (!strcmp(name, "set-state"))
		*action = QBD_SET_STATE;
	else
		return qcow_set_error(-EINVAL, NULL,
				      "There is no option group '%s'", name);
	return 0;
}

/*
 * One line of the file: a comment, "[group]" or "[group "id"]", or
 * KEY = "VALUE" (a value not in quotes reads as empty, as in QEMU).
 */
static int config_line(char *line, struct qbd_opt_rule **list,
		       struct qbd_opt_rule **cur)
{
	char key[64], group[64], value[1024];
	enum qbd_action action = QBD_INJECT;
	int ret;

	if (line[0] == '\n' || line[0] == '#' || line[0] == 0)
		return 0;
	if (line[0] == '[' && sscanf(line, "[%63[^] \"]", group) == 1) {
		ret = group_action(group, &action);
		if (ret < 0)
			return ret;
		*cur = pending_new(list, action, 0);
		return *cur ? 0 : qcow_set_error(-ENOMEM, NULL,
						 "out of memory");
	}
	value[0] = 0;
	if (sscanf(line, " %63s = \"%1023[^\"]\"", key, value) < 1)
		return qcow_set_error(-EINVAL, NULL, "parse error");
	if (!*cur)
		return qcow_set_error(-EINVAL, NULL, "no group defined");
	return qbd_rule_set((*cur)->rule, key, value, &(*cur)->has_event);
}

int qcow_blkdebug_read_config(struct qcow_blkdebug *d, const char *path)
{
	struct qbd_opt_rule *list = NULL, *cur = NULL;
	char line[1200];
	FILE *f = fopen(path, "r");
	int ret = 0;

	if (!f)
		return qcow_set_error(-errno, NULL, "Could not read blkdebug "
				      "config file: %s", strerror(errno));
	while (!ret && fgets(line, sizeof(line), f))
		ret = config_line(line, &list, &cur);
	fclose(f);
	if (ret < 0) {
		free_pending(&list);
		return ret;
	}
	return add_pending(d, &list);
}

/* "inject-error.N.KEY": the rule numbered N of that kind */
static int opt_rule(struct qcow_blkdebug *d, enum qbd_action action,
		    const char *rest, const char *value)
{
	struct qbd_opt_rule *p;
	unsigned long index;
	char *end;

	index = strtoul(rest, &end, 10);
	if (end == rest || *end != '.')
		return -ENOENT;
	for (p = d->opt_rules; p; p = p->next)
		if (p->index == index && p->rule->action == action)
			break;
	if (!p)
		p = pending_new(&d->opt_rules, action, index);
	if (!p)
		return qcow_set_error(-ENOMEM, NULL, "out of memory");
	return qbd_rule_set(p->rule, end + 1, value, &p->has_event);
}

int qcow_blkdebug_opt(struct qcow_blkdebug *d, const char *key,
		      const char *value)
{
	uint64_t align;
	char *end;

	if (!strncmp(key, "inject-error.", 13))
		return opt_rule(d, QBD_INJECT, key + 13, value);
	if (!strncmp(key, "set-state.", 10))
		return opt_rule(d, QBD_SET_STATE, key + 10, value);
	if (!strcmp(key, "config"))
		return qcow_blkdebug_read_config(d, value);
	if (strcmp(key, "align"))
		return -ENOENT;
	align = strtoull(value, &end, 0);
	if (!*value || *end || align >= 1u << 31 || (align & (align - 1)))
		return qcow_set_error(-EINVAL, NULL, "Cannot meet constraints "
				      "with align %s", value);
	d->align = align;
	return 0;
}

/* The options' rules join the file's; the chain is ready to open. */
int qbd_finish(struct qcow_blkdebug *d)
{
	return add_pending(d, &d->opt_rules);
}

void qcow_blkdebug_free(struct qcow_blkdebug *d)
{
	struct qbd_rule *r;
	struct qbd_parked *p;
	int i;

	if (!d)
		return;
	for (i = 0; i < QBD_NR_EVENTS; i++) {
		while ((r = d->rules[i]) != NULL) {
			d->rules[i] = r->next;
			qbd_rule_free(r);
		}
	}
	while ((p = d->parked) != NULL) {
		d->parked = p->next;
		free(p->tag);
		free(p);
	}
	free_pending(&d->opt_rules);
	free(d);
}
