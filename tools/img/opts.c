// SPDX-License-Identifier: MIT
/* "-o" option lists. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "tools/common/msg.h"
#include "tools/common/size.h"
#include "tools/img/opts.h"

static int add(struct img_opts *o, char *key, char *val)
{
	struct img_opt *grown = realloc(o->v, (o->n + 1) * sizeof(*grown));

	if (!grown) {
		free(key);
		free(val);
		return -ENOMEM;
	}
	o->v = grown;
	o->v[o->n].key = key;
	o->v[o->n].val = val;
	o->n++;
	return 0;
}

/* Copies up to the next single comma (",," is a literal one). */
static char *take_value(const char **p)
{
	const char *s = *p;
	char *out = malloc(strlen(s) + 1), *d = out;

	if (!out)
		return NULL;
	while (*s) {
		if (*s == ',' && s[1] != ',')
			break;
		if (*s == ',')
			s++;
		*d++ = *s++;
	}
	*d = 0;
	*p = s;
	return out;
}

static int parse_pair(struct img_opts *o, const char **p)
{
	const char *s = *p, *eq = strpbrk(s, "=,");
	char *key, *val;

	if (!eq || *eq != '=' || eq == s)
		return -EINVAL;
	key = strndup(s, eq - s);
	s = eq + 1;
	val = take_value(&s);
	if (!key || !val) {
		free(key);
		free(val);
		return -ENOMEM;
	}
	*p = s;
	return add(o, key, val);
}

int img_opts_parse(struct img_opts *o, const char *list)
{
	const char *p = list;
	int ret;

	for (;;) {
		ret = parse_pair(o, &p);
		if (ret == -EINVAL || (!ret && *p == ',' && !p[1])) {
			tool_usage_error("-o '%s' is not a list of NAME=VALUE pairs separated by commas",
					 list);
			return -EINVAL;
		}
		if (ret < 0)
			return ret;
		if (!*p)
			return 0;
		p++;
	}
}

void img_opts_free(struct img_opts *o)
{
	int i;

	for (i = 0; i < o->n; i++) {
		free(o->v[i].key);
		free(o->v[i].val);
	}
	free(o->v);
	o->v = NULL;
	o->n = 0;
}

const char *img_opts_get(const struct img_opts *o, const char *key)
{
	int i;

	for (i = o->n - 1; i >= 0; i--)
		if (!strcmp(o->v[i].key, key))
			return o->v[i].val;
	return NULL;
}

int img_opts_set(struct img_opts *o, const char *key, const char *val)
{
	char *k = strdup(key), *v = strdup(val);

	if (!k || !v) {
		free(k);
		free(v);
		return -ENOMEM;
	}
	return add(o, k, v);
}

const char *img_opts_unknown(const struct img_opts *o,
			     const char *const *known)
{
	const char *const *k;
	int i;

	for (i = 0; i < o->n; i++) {
		for (k = known; *k; k++)
			if (!strcmp(o->v[i].key, *k))
				break;
		if (!*k)
			return o->v[i].key;
	}
	return NULL;
}

int opt_bool(const char *file, const char *key, const char *val, bool *out)
{
	if (!strcmp(val, "on") || !strcmp(val, "yes") || !strcmp(val, "true")) {
		*out = true;
		return 0;
	}
	if (!strcmp(val, "off") || !strcmp(val, "no") ||
	    !strcmp(val, "false")) {
		*out = false;
		return 0;
	}
	tool_error("%s: Parameter '%s' expects 'on' or 'off'", file, key);
	return -EINVAL;
}

int opt_number(const char *file, const char *key, const char *val,
	       uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(val, &end, 0);
	if (!errno && end != val && !*end && val[0] != '-')
		return 0;
	tool_error("%s: Parameter '%s' expects a number, not '%s'", file, key,
		   val);
	return -EINVAL;
}

int opt_size(const char *file, const char *key, const char *val,
	     uint64_t *out)
{
	if (parse_size(val, out) == 0 && val[0] != '-')
		return 0;
	tool_error("%s: Parameter '%s' expects a non-negative number below 2^64 (optional suffix k, M, G, T, P or E), not '%s'",
		   file, key, val);
	return -EINVAL;
}

char *opt_escape(const char *val)
{
	char *out = malloc(2 * strlen(val) + 1), *d = out;

	if (!out)
		return NULL;
	for (; *val; val++) {
		*d++ = *val;
		if (*val == ',')
			*d++ = ',';
	}
	*d = 0;
	return out;
}
