// SPDX-License-Identifier: MIT
/*
 * qcow-img convert --bitmaps: the source's persistent bitmaps, with their
 * granularity, enabled state and dirty bits, into a qcow2 v3 target.
 * Everything that would refuse them is checked before the data is copied.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tools/common/bitmap_copy.h"
#include "tools/common/msg.h"
#include "tools/common/open.h"
#include "tools/img/convert.h"

static void free_list(struct convert *c)
{
	int i;

	for (i = 0; i < c->nr_bitmaps; i++)
		free(c->bitmaps[i].name);
	free(c->bitmaps);
	c->bitmaps = NULL;
	c->nr_bitmaps = 0;
}

/* The source's usable bitmaps, copied: its list changes with each call. */
static int keep(struct convert *c, const struct qcow_bitmap_info *b)
{
	struct convert_bitmap *k = &c->bitmaps[c->nr_bitmaps];

	k->name = strdup(b->name);
	if (!k->name)
		return -ENOMEM;
	k->granularity = b->granularity;
	k->enabled = b->enabled;
	c->nr_bitmaps++;
	return 0;
}

static bool inconsistent(const struct qcow_bitmap_info *b)
{
	return b->in_use || b->broken;
}

/*
 * Refused, or with --skip-broken-bitmaps skipped with one warning line
 * naming them all (qemu-img names them last first, a line each).
 */
static int check_inconsistent(struct convert *c,
			      const struct qcow_bitmap_info *v, int n)
{
	char *names = NULL, *grown;
	int i;

	for (i = n - 1; i >= 0; i--) {
		if (!inconsistent(&v[i]))
			continue;
		if (!c->skip_broken_bitmaps) {
			tool_error("%s: cannot copy inconsistent bitmap '%s': give --skip-broken-bitmaps, or delete it with 'qcow-img bitmap --remove'",
				   c->src, v[i].name);
			return -EINVAL;
		}
		if (asprintf(&grown, "%s%s'%s'", names ? names : "",
			     names ? ", " : "", v[i].name) < 0) {
			free(names);
			return -ENOMEM;
		}
		free(names);
		names = grown;
	}
	if (names)
		tool_error("warning: %s: skipping inconsistent bitmaps %s",
			   c->src, names);
	free(names);
	return 0;
}

int convert_bitmaps_source(struct convert *c)
{
	const struct qcow_bitmap_info *v;
	int n, i, ret;

	if (qcow_format(c->img) != QCOW_FMT_QCOW2) {
		tool_error("%s: --bitmaps: a %s image has no bitmaps to copy",
			   c->src, qcow_format_name(qcow_format(c->img)));
		return -EINVAL;
	}
	n = qcow_bitmap_list(c->img, &v);
	if (n < 0) {
		tool_error("%s: cannot list bitmaps: %s", c->src,
			   tool_reason(c->src, n));
		return n;
	}
	ret = check_inconsistent(c, v, n);
	if (ret < 0)
		return ret;
	c->bitmaps = calloc(n ? n : 1, sizeof(*c->bitmaps));
	if (!c->bitmaps)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		if (!inconsistent(&v[i]) && keep(c, &v[i]) < 0)
			return -ENOMEM;
	return 0;
}

int convert_bitmaps_target(struct convert *c)
{
	struct qcow_info info;
	int i;

	if (qcow_get_info(c->out, &info) < 0 ||
	    info.format != QCOW_FMT_QCOW2 || info.version < 3) {
		tool_error("%s: --bitmaps needs a qcow2 v3 (compat=1.1) target",
			   c->dst);
		return -EINVAL;
	}
	for (i = 0; i < c->nr_bitmaps; i++) {
		if (bitmap_find(c->out, c->bitmaps[i].name)) {
			tool_error("%s: cannot create bitmap '%s': Bitmap already exists: %s",
				   c->dst, c->bitmaps[i].name,
				   c->bitmaps[i].name);
			return -EEXIST;
		}
	}
	return 0;
}

static int copy_one(struct convert *c, const struct convert_bitmap *b)
{
	int ret;

	ret = qcow_bitmap_add(c->out, b->name, b->granularity, !b->enabled);
	if (!ret)
		ret = bitmap_copy_dirty(c->img, b->name, c->out, b->name);
	if (ret < 0)
		tool_error("%s: cannot copy bitmap '%s': %s", c->dst, b->name,
			   tool_reason(c->dst, ret));
	return ret;
}

/* After the data: the copy's own writes must not dirty them. */
int convert_bitmaps_copy(struct convert *c)
{
	int i, ret = 0;

	for (i = 0; i < c->nr_bitmaps && !ret; i++)
		ret = copy_one(c, &c->bitmaps[i]);
	if (!ret && c->nr_bitmaps) {
		ret = qcow_bitmaps_store(c->out);
		if (ret < 0)
			tool_error("%s: cannot write the bitmaps: %s", c->dst,
				   tool_reason(c->dst, ret));
	}
	free_list(c);
	return ret;
}

void convert_bitmaps_free(struct convert *c)
{
	free_list(c);
}
