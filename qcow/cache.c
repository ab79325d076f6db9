// SPDX-License-Identifier: MIT
/*
 * The metadata caches' options, as QEMU's qcow2 driver takes them, their
 * statistics, and the clean that cache-clean-interval asks for.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "meta_cache.h"

/* qemu's size syntax: a number with an optional B, k, M, G, T, P, E suffix */
static int parse_size(const char *v, uint64_t *out)
{
	static const char units[] = "bkmgtpe";
	const char *u;
	char *end;
	double d, mult;

	if (*v < '0' || *v > '9')
		return -EINVAL;
	errno = 0;
	*out = strtoull(v, &end, 10);
	if (errno)
		return -EINVAL;
	if (!*end)
		return 0;
	u = end[1] ? NULL : strchr(units, *end | 0x20);
	if (*end == '.') {
		d = strtod(v, &end);
		u = end[0] && !end[1] ? strchr(units, *end | 0x20) : NULL;
	} else {
		d = (double)*out;
	}
	if (!u)
		return -EINVAL;
	mult = (double)(1ull << (10 * (u - units)));
	if (d * mult >= 18446744073709551616.0)
		return -EINVAL;
	*out = (uint64_t)(d * mult);
	return 0;
}

static int size_error(const char *key)
{
	return qcow_set_error(-EINVAL, NULL, "Parameter '%s' expects "
			      "a non-negative number below 2^64 (optional "
			      "suffix k, M, G, T, P or E)", key);
}

int qcow_cache_opt(struct qcow_open_opts *o, const char *key,
		   const char *value)
{
	static const struct {
		const char *key;
		unsigned int bit;
		size_t field;
	} keys[] = {
		{ "l2-cache-size", QCOW_CACHE_L2,
		  offsetof(struct qcow_open_opts, l2_cache_size) },
		{ "refcount-cache-size", QCOW_CACHE_REFCOUNT,
		  offsetof(struct qcow_open_opts, refcount_cache_size) },
		{ "cache-size", QCOW_CACHE_SIZE,
		  offsetof(struct qcow_open_opts, cache_size) },
		{ "l2-cache-entry-size", QCOW_CACHE_ENTRY,
		  offsetof(struct qcow_open_opts, l2_cache_entry_size) },
		{ "cache-clean-interval", QCOW_CACHE_CLEAN,
		  offsetof(struct qcow_open_opts, cache_clean_interval) },
	};
	uint64_t v;
	char *end;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(keys); i++)
		if (!strcmp(key, keys[i].key))
			break;
	if (i == ARRAY_SIZE(keys))
		return -ENOENT;
	if (keys[i].bit == QCOW_CACHE_CLEAN) {
		errno = 0;
		v = strtoull(value, &end, 0);
		if (!*value || *end || isspace((unsigned char)*value))
			return qcow_set_error(-EINVAL, NULL,
					      "Parameter '%s' expects a number",
					      key);
		/* a negative number wraps, as in qemu */
		if (v > UINT_MAX || errno || strchr(value, '-'))
			return qcow_set_error(-EINVAL, NULL,
					      "Cache clean interval too big");
	} else if (parse_size(value, &v) < 0) {
		return size_error(key);
	}
	*(uint64_t *)((char *)o + keys[i].field) = v;
	o->cache_set |= keys[i].bit;
	return 0;
}

unsigned int qcow_cache_clean_interval(const struct qcow_open_opts *o)
{
	if (o->cache_set & QCOW_CACHE_CLEAN)
		return (unsigned int)o->cache_clean_interval;
	return QCOW_CACHE_CLEAN_DEFAULT;
}

int qcow_cache_stats(struct qcow_image *img, struct qcow_cache_stats *st)
{
	struct meta_cache *l2 = NULL, *rc = NULL;
	struct qlock_save prev;

	memset(st, 0, sizeof(*st));
	if (!img->drv->caches)
		return -ENOTSUP;
	prev = qcow_lock(NULL, img->lock);
	img->drv->caches(img, &l2, &rc);
	if (l2 && l2->hash) {
		st->l2_max = (uint64_t)l2->max_slices * l2->slice_size;
		st->l2_bytes = meta_cache_bytes(l2);
		st->l2_entry_size = l2->slice_size;
		st->l2_entries = l2->nb_slices;
		st->hits = l2->hits;
		st->misses = l2->misses;
	}
	if (rc && rc->hash) {
		st->refcount_max = (uint64_t)rc->max_slices * rc->slice_size;
		st->refcount_bytes = meta_cache_bytes(rc);
		st->refcount_entries = rc->nb_slices;
	}
	qcow_unlock(prev);
	return 0;
}

unsigned int qcow_cache_clean(struct qcow_image *img)
{
	struct meta_cache *l2, *rc;
	struct qlock_save prev;
	unsigned int n = 0;

	prev = qcow_lock(NULL, img->lock);
	for (; img; img = img->backing) {
		if (!img->drv->caches)
			continue;
		l2 = rc = NULL;
		img->drv->caches(img, &l2, &rc);
		if (l2)
			n += meta_cache_clean(l2);
		if (rc)
			n += meta_cache_clean(rc);
	}
	qcow_unlock(prev);
	return n;
}
