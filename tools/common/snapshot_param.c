// SPDX-License-Identifier: MIT
/* Selecting an internal snapshot on the command line. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "tools/common/filename.h"
#include "tools/common/msg.h"
#include "tools/common/open.h"
#include "tools/common/secret.h"
#include "tools/common/snapshot_param.h"

#define SNAPSHOT_PREFIX "snapshot."

static int set_str(char **dst, const char *src, size_t len)
{
	char *s = strndup(src, len);

	if (!s) {
		tool_error("out of memory");
		return -ENOMEM;
	}
	free(*dst);
	*dst = s;
	return 0;
}

/* One KEY=VALUE of the option list; a bare KEY means KEY=on. */
static int parse_pair(struct snapshot_param *p, const char *s, size_t len,
		      const char *arg)
{
	const char *eq = memchr(s, '=', len);
	size_t klen = eq ? (size_t)(eq - s) : len;
	const char *val = eq ? eq + 1 : "on";
	size_t vlen = eq ? len - klen - 1 : 2;

	if (klen == strlen("snapshot.id") && !strncmp(s, "snapshot.id", klen))
		return set_str(&p->id, val, vlen);
	if (klen == strlen("snapshot.name") &&
	    !strncmp(s, "snapshot.name", klen))
		return set_str(&p->name, val, vlen);
	tool_error("Invalid parameter '%.*s'", (int)klen, s);
	tool_error("Failed in parsing snapshot param '%s'", arg);
	return -EINVAL;
}

int snapshot_param_parse(struct snapshot_param *p, const char *arg)
{
	const char *s = arg, *comma;
	int ret;

	snapshot_param_free(p);
	if (strncmp(arg, SNAPSHOT_PREFIX, strlen(SNAPSHOT_PREFIX)))
		return set_str(&p->id_or_name, arg, strlen(arg));
	while (*s) {
		comma = strchrnul(s, ',');
		if (comma > s) {
			ret = parse_pair(p, s, comma - s, arg);
			if (ret < 0)
				return ret;
		}
		s = *comma ? comma + 1 : comma;
	}
	return 0;
}

void snapshot_param_free(struct snapshot_param *p)
{
	free(p->id);
	free(p->name);
	free(p->id_or_name);
	memset(p, 0, sizeof(*p));
}

bool snapshot_param_set(const struct snapshot_param *p)
{
	return p->id || p->name || p->id_or_name;
}

int tool_open_snapshot(struct qcow_image **img, const char *path,
		       const char *fmt_name, const struct qcow_open_opts *opts,
		       const struct snapshot_param *p)
{
	struct qcow_open_opts o = *opts;
	struct tool_image t;
	int ret;

	if (!p->id_or_name) {
		o.snapshot_id = p->id;
		o.snapshot_name = p->name;
		return tool_open(img, path, fmt_name, &o);
	}
	ret = tool_image_from_arg(path, tool_image_opts(), &t);
	if (ret < 0)
		return ret;
	if (t.driver)
		fmt_name = t.driver;
	if (tool_image_secrets(&t, &o) < 0) {
		ret = -EINVAL;
		goto out;
	}
	if (format_from_name(fmt_name, &o.format) < 0) {
		ret = tool_open(img, path, fmt_name, &o);	/* the error */
		goto out;
	}
	tool_trust_apply(&o);
	o.snapshot_id = p->id_or_name;
	ret = qcow_open(img, t.filename, &o);
	if (ret < 0 && ret != -ENOENT)
		tool_error("%s: %s", t.filename, tool_reason(t.filename, ret));
	if (ret == -ENOENT) {
		o = *opts;
		o.snapshot_name = p->id_or_name;
		ret = tool_open(img, path, fmt_name, &o);
	}
out:
	tool_image_free(&t);
	return ret;
}
