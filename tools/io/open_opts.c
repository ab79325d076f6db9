// SPDX-License-Identifier: MIT
/*
 * open -o and reopen -o: the block driver options qemu-io 7.2 takes there
 * for qcow2, raw and the file, as KEY=VALUE[,KEY=VALUE...].  The ones the
 * engine has (cache sizes, read-only, cache.direct, discard, the driver)
 * change the open; the others are checked and change nothing here.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tools/common/msg.h"
#include "tools/io/io.h"

/* qcow2's own keys: checked against the format once it is open. */
static const char *const qcow2_keys[] = {
	"lazy-refcounts", "pass-discard-request", "pass-discard-snapshot",
	"pass-discard-other", "overlap-check", "l2-cache-size",
	"refcount-cache-size", "cache-size", "l2-cache-entry-size",
	"cache-clean-interval", NULL,
};

static const char *const overlap_parts[] = {
	"template", "main-header", "active-l1", "active-l2",
	"refcount-table", "refcount-block", "snapshot-table", "inactive-l1",
	"inactive-l2", "bitmap-directory", NULL,
};

static bool in_list(const char *const *list, const char *s)
{
	for (; *list; list++)
		if (!strcmp(*list, s))
			return true;
	return false;
}

/* QEMU's booleans: on/off, yes/no, true/false. */
static int parse_bool(const char *key, const char *val, bool *out)
{
	static const char *const on[] = { "on", "yes", "true", "y", NULL };
	static const char *const off[] = { "off", "no", "false", "n", NULL };

	if (in_list(on, val)) {
		*out = true;
		return 0;
	}
	if (in_list(off, val)) {
		*out = false;
		return 0;
	}
	tool_error("option '%s' takes on or off, not '%s'", key, val);
	return -EINVAL;
}

static int one_of(const char *key, const char *val, const char *const *ok)
{
	if (in_list(ok, val))
		return 0;
	tool_error("option '%s' does not take the value '%s'", key, val);
	return -EINVAL;
}

static bool is_qcow2_key(const char *key)
{
	return in_list(qcow2_keys, key) ||
	       (!strncmp(key, "overlap-check.", 14) &&
		in_list(overlap_parts, key + 14));
}

static int unchangeable(const char *key)
{
	tool_error("reopen: option '%s' cannot change on an open image", key);
	return -EINVAL;
}

static int set_read_only(struct io_open *o, struct io_opts_seen *seen,
			 const char *val)
{
	bool ro;

	if (parse_bool("read-only", val, &ro) < 0)
		return -EINVAL;
	if (seen->reopen && seen->rw_flag) {
		tool_error("reopen: -r or -w and read-only= exclude each other");
		return -EINVAL;
	}
	/* the image is used for writing unless opened with -r */
	if (ro && !o->read_only) {
		tool_error("read-only=on: the image is opened for writing (use -r)");
		return -EINVAL;
	}
	if (seen->reopen)
		o->read_only = ro;
	return 0;
}

static int set_cache(struct io_open *o, struct io_opts_seen *seen,
		     const char *key, const char *val)
{
	bool on;

	if (parse_bool(key, val, &on) < 0)
		return -EINVAL;
	if (seen->reopen && seen->cache_flag) {
		tool_error("reopen: -c and the cache.* options exclude each other");
		return -EINVAL;
	}
	if (!strcmp(key, "cache.direct"))
		o->direct = on;
	return 0;	/* cache.no-flush: a flush costs little here */
}

static int file_option(const char *key, const char *val,
		       struct io_opts_seen *seen)
{
	static const char *const drivers[] = { "file", NULL };
	static const char *const locking[] = { "on", "off", "auto", NULL };
	static const char *const aio[] = { "threads", "native", "io_uring",
					   NULL };

	if (!strcmp(key, "driver"))
		return one_of("file.driver", val, drivers);
	if (seen->reopen)
		return unchangeable(key);
	if (!strcmp(key, "locking"))
		return one_of("file.locking", val, locking);
	if (!strcmp(key, "aio"))
		return one_of("file.aio", val, aio);
	tool_error("option 'file.%s' is not supported here", key);
	return -ENOTSUP;
}

static int driver_option(struct io_open *o, struct io_opts_seen *seen,
			 const char *val)
{
	char *fmt;

	if (seen->reopen) {
		if (!seen->format || strcmp(seen->format, val))
			return unchangeable("driver");
		return 0;
	}
	fmt = strdup(val);
	if (!fmt) {
		tool_error("out of memory");
		return -ENOMEM;
	}
	free(o->fmt);
	o->fmt = fmt;
	return 0;
}

static int qcow2_option(struct io_open *o, struct io_opts_seen *seen,
			const char *key, const char *val)
{
	static const char *const overlap[] = { "none", "constant", "cached",
					       "all", NULL };
	bool b;
	int ret;

	if (!o->qcow2_key[0])
		snprintf(o->qcow2_key, sizeof(o->qcow2_key), "%s", key);
	if (!strcmp(key, "overlap-check"))
		return one_of(key, val, overlap);
	if (!strcmp(key, "lazy-refcounts"))
		return parse_bool(key, val, &o->lazy_refcounts);
	ret = qcow_cache_opt(&o->cache, key, val);
	if (ret == -ENOENT)	/* pass-discard-*, overlap-check.* */
		return parse_bool(key, val, &b);
	if (ret < 0)
		tool_error("%s", qcow_strerror());
	return ret;
}

/* backing= (empty): no backing file, as QEMU's deprecated spelling. */
static int backing_option(struct io_open *o, struct io_opts_seen *seen,
			  const char *val)
{
	if (*val || seen->reopen) {
		tool_error("option 'backing' names a block node; there are none "
			   "here (backing= opens without the backing file)");
		return -EINVAL;
	}
	tool_error("warning: backing= (empty): the image opens without its "
		   "backing file (QEMU deprecates this spelling for null)");
	o->no_backing = true;
	return 0;
}

static int generic_option(struct io_open *o, struct io_opts_seen *seen,
			  const char *key, const char *val)
{
	static const char *const discard[] = { "ignore", "off", "unmap", "on",
					       NULL };
	static const char *const zeroes[] = { "off", "on", "unmap", NULL };
	bool b;

	if (!strcmp(key, "discard")) {
		if (one_of(key, val, discard) < 0)
			return -EINVAL;
		return io_parse_discard(val, &o->no_discard);
	}
	if (!strcmp(key, "detect-zeroes"))
		return one_of(key, val, zeroes);
	if (!strcmp(key, "force-share")) {
		if (seen->reopen)
			return unchangeable(key);
		if (parse_bool(key, val, &b) < 0)
			return -EINVAL;
		if (b && !o->read_only) {
			tool_error("force-share=on needs a read-only open (-r)");
			return -EINVAL;
		}
		o->force_share = b;
		return 0;
	}
	if (!strcmp(key, "backing"))
		return backing_option(o, seen, val);
	if (!strcmp(key, "encrypt.key-secret")) {
		if (strlen(val) >= sizeof(o->key_secret)) {
			tool_error("secret id '%s' is too long", val);
			return -EINVAL;
		}
		strcpy(o->key_secret, val);
		return 0;
	}
	if (!strcmp(key, "auto-read-only"))
		return parse_bool(key, val, &b);
	if (!strcmp(key, "node-name"))
		return seen->reopen ? unchangeable(key) : 0;
	tool_error("option '%s' is not supported here", key);
	return -ENOTSUP;
}

static int one_option(struct io_open *o, struct io_opts_seen *seen,
		      const char *key, const char *val)
{
	if (!strcmp(key, "driver"))
		return driver_option(o, seen, val);
	if (!strcmp(key, "read-only"))
		return set_read_only(o, seen, val);
	if (!strncmp(key, "cache.", 6) && (!strcmp(key + 6, "direct") ||
					   !strcmp(key + 6, "no-flush")))
		return set_cache(o, seen, key, val);
	if (!strncmp(key, "file.", 5))
		return file_option(key + 5, val, seen);
	if (is_qcow2_key(key))
		return qcow2_option(o, seen, key, val);
	return generic_option(o, seen, key, val);
}

int io_open_options(const char *arg, struct io_open *o,
		    struct io_opts_seen *seen)
{
	char *copy = strdup(arg), *p, *next, *eq;
	int ret = 0;

	if (!copy) {
		tool_error("out of memory");
		return -ENOMEM;
	}
	for (p = copy; p && !ret; p = next) {
		next = strchr(p, ',');
		if (next)
			*next++ = '\0';
		if (!*p && !next)
			break;
		eq = strchr(p, '=');
		if (!eq) {
			tool_error("option '%s' needs a value (KEY=VALUE)", p);
			ret = -EINVAL;
			break;
		}
		*eq = '\0';
		ret = one_option(o, seen, p, eq + 1);
	}
	free(copy);
	return ret;
}

int io_check_option_format(struct qcow_image *img, const struct io_open *o)
{
	struct qcow_info info;

	if (o->key_secret[0] && qcow_format(img) == QCOW_FMT_RAW) {
		tool_error("%s: option 'encrypt.key-secret' is for encrypted "
			   "formats, the image is raw", qcow_filename(img));
		return -EINVAL;
	}
	if (!o->qcow2_key[0])
		return 0;
	if (qcow_format(img) != QCOW_FMT_QCOW2) {
		tool_error("%s: option '%s' is qcow2's, the image is %s",
			   qcow_filename(img), o->qcow2_key,
			   qcow_format_name(qcow_format(img)));
		return -EINVAL;
	}
	if (o->lazy_refcounts && !qcow_get_info(img, &info) &&
	    info.version < 3) {
		tool_error("%s: lazy-refcounts=on needs a version 3 (compat "
			   "1.1) image", qcow_filename(img));
		return -EINVAL;
	}
	return 0;
}
