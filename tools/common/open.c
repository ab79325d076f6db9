// SPDX-License-Identifier: MIT
/* Opening an image named on the command line. */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tools/common/filename.h"
#include "tools/common/msg.h"
#include "tools/common/open.h"
#include "tools/common/secret.h"

int format_from_name(const char *name, enum qcow_format *fmt)
{
	static const struct {
		const char *name;
		enum qcow_format fmt;
	} names[] = {
		{ "raw", QCOW_FMT_RAW },
		{ "qcow2", QCOW_FMT_QCOW2 },
		{ "qcow", QCOW_FMT_QCOW },
	};
	size_t i;

	if (!name || !*name) {
		*fmt = QCOW_FMT_NONE;
		return 0;
	}
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!strcmp(name, names[i].name)) {
			*fmt = names[i].fmt;
			return 0;
		}
	}
	return -EINVAL;
}

static struct {
	bool untrusted;
	bool allow_block;
	const char **dirs;	/* NULL-terminated */
	int nr_dirs;
	enum qcow_crypto_backend crypto;
} trust;

static int crypto_option(const char *arg)
{
	enum qcow_crypto_backend b;
	int ret;

	if (qcow_crypto_backend_by_name(arg, &b) < 0) {
		tool_error("--crypto-backend: unknown backend '%s' (auto, "
			   "kernel, openssl or nettle)", arg);
		return -EINVAL;
	}
	ret = qcow_crypto_backend_probe(b);
	if (ret < 0) {
		tool_error("--crypto-backend: %s", qcow_strerror());
		return ret;
	}
	trust.crypto = b;
	return 0;
}

enum qcow_crypto_backend tool_crypto_backend(void)
{
	return trust.crypto;
}

int tool_trust_option(int c, const char *arg)
{
	const char **grown;

	switch (c) {
	case OPT_UNTRUSTED:
		trust.untrusted = true;
		break;
	case OPT_ALLOW_BLOCK:
		trust.allow_block = true;
		break;
	case OPT_ALLOW_DIR:
		grown = realloc(trust.dirs, (trust.nr_dirs + 2) *
				sizeof(*grown));
		if (!grown) {
			tool_error("out of memory");
			return -ENOMEM;
		}
		trust.dirs = grown;
		trust.dirs[trust.nr_dirs++] = arg;
		trust.dirs[trust.nr_dirs] = NULL;
		break;
	case OPT_OBJECT:
		return tool_object(arg);
	case OPT_IMAGE_OPTS:
		tool_image_opts_set(true);
		break;
	case OPT_CRYPTO_BACKEND:
		return crypto_option(arg);
	}
	return 0;
}

void tool_trust_apply(struct qcow_open_opts *opts)
{
	opts->untrusted = trust.untrusted;
	opts->allow_dirs = trust.dirs;
	opts->allow_block_devices = trust.allow_block;
	opts->crypto_backend = trust.crypto;
}

int tool_open(struct qcow_image **img, const char *path, const char *fmt_name,
	      const struct qcow_open_opts *opts)
{
	return tool_open_spec(img, path, tool_image_opts(), fmt_name, opts);
}

static int open_plain(struct qcow_image **img, const char *path,
		      const char *fmt_name, const struct qcow_open_opts *opts)
{
	struct qcow_open_opts o = *opts;
	int ret;

	if (format_from_name(fmt_name, &o.format) < 0) {
		tool_error("%s: unknown image format '%s'", path, fmt_name);
		return -EINVAL;
	}
	tool_trust_apply(&o);
	ret = qcow_open(img, path, &o);
	/* the image named first, also when a file of its chain is to blame */
	if (ret < 0) {
		tool_error("%s: %s", path, tool_reason(path, ret));
		return ret;
	}
	if (!o.read_only && qcow_format_probed(*img) &&
	    qcow_format(*img) == QCOW_FMT_RAW)
		tool_error("warning: %s: format not given, probed as raw: a "
			   "write that would make its first sector another "
			   "format's header is refused (give -f raw to allow "
			   "it)", path);
	return 0;
}

/* The images opened as the file itself ("driver": "file"), a few at most. */
#define PROTOCOL_MAX 8
static const struct qcow_image *protocol_imgs[PROTOCOL_MAX];

/* A new image at the address of a closed one is forgotten first. */
static void note_protocol(const struct qcow_image *img, bool protocol)
{
	size_t i;

	for (i = 0; i < PROTOCOL_MAX; i++)
		if (protocol_imgs[i] == img)
			protocol_imgs[i] = NULL;
	for (i = 0; protocol && i < PROTOCOL_MAX; i++)
		if (!protocol_imgs[i]) {
			protocol_imgs[i] = img;
			break;
		}
}

/* The cache options the image's string gives override the caller's. */
static void merge_cache(struct qcow_open_opts *o,
			const struct qcow_open_opts *c)
{
	if (c->l2_cache_size || (c->cache_set & QCOW_CACHE_L2))
		o->l2_cache_size = c->l2_cache_size;
	if (c->refcount_cache_size || (c->cache_set & QCOW_CACHE_REFCOUNT))
		o->refcount_cache_size = c->refcount_cache_size;
	if (c->cache_size || (c->cache_set & QCOW_CACHE_SIZE))
		o->cache_size = c->cache_size;
	if (c->l2_cache_entry_size || (c->cache_set & QCOW_CACHE_ENTRY))
		o->l2_cache_entry_size = c->l2_cache_entry_size;
	if (c->cache_set & QCOW_CACHE_CLEAN)
		o->cache_clean_interval = c->cache_clean_interval;
	o->cache_set |= c->cache_set;
}

int tool_open_spec(struct qcow_image **img, const char *arg, bool image_opts,
		   const char *fmt_name, const struct qcow_open_opts *opts)
{
	struct qcow_open_opts o = *opts;
	struct tool_image t;
	bool file_fmt;
	int ret;

	ret = tool_image_from_arg(arg, image_opts, &t);
	if (ret < 0)
		return ret;
	ret = tool_image_secrets(&t, &o);
	merge_cache(&o, &t.cache);
	if (!ret) {
		o.blkdebug = t.blkdebug;	/* qcow_open() takes it */
		t.blkdebug = NULL;
	}
	/* -f file: the file itself, as "driver": "file" */
	file_fmt = !t.driver && fmt_name && !strcmp(fmt_name, "file");
	if (!ret)
		ret = open_plain(img, t.filename, t.driver ? t.driver :
				 file_fmt ? "raw" : fmt_name, &o);
	if (!ret)
		note_protocol(*img, t.protocol || file_fmt);
	tool_image_free(&t);
	return ret;
}

const char *tool_format_name(const struct qcow_image *img)
{
	size_t i;

	for (i = 0; i < PROTOCOL_MAX; i++)
		if (protocol_imgs[i] == img)
			return "file";
	if (qcow_opened_as_file(img))
		return "file";
	return qcow_format_name(qcow_format(img));
}

const char *tool_reason(const char *path, int err)
{
	const char *why = qcow_strerror();
	size_t n = path ? strlen(path) : 0;

	if (!why || !*why || !strcmp(why, "no error"))
		return strerror(err < 0 ? -err : err);
	if (n && !strncmp(why, path, n) && !strncmp(why + n, ": ", 2))
		return why + n + 2;
	return why;
}

const char *open_error_text(const char *path, int err)
{
	static const char prefix[] = "cannot open: ";
	const char *why = tool_reason(path, err);

	if (!strncmp(why, prefix, sizeof(prefix) - 1))
		return why + sizeof(prefix) - 1;
	return why;
}

char *backing_path_of(const char *image, const char *name)
{
	return backing_path_fmt(image, name, NULL);
}

char *backing_path_fmt(const char *image, const char *name, const char *fmt)
{
	struct qcow_backing_ref ref;
	char *out;
	int ret;

	ret = qcow_backing_ref_parse(image, name, &ref);
	if (ret < 0) {
		if (ret != -ENOMEM)
			tool_error("%s: %s", image, tool_reason(image, ret));
		return NULL;
	}
	if (fmt && ref.file_driver) {
		/* the file protocol node cannot take a format on top */
		tool_error("%s: backing file '%s' (\"driver\":\"file\") with a format: A block device must be specified for \"file\"",
			   image, name);
		qcow_backing_ref_free(&ref);
		return NULL;
	}
	out = ref.path;
	ref.path = NULL;
	qcow_backing_ref_free(&ref);
	return out;
}

char *backing_shown_of(const char *image, const char *name)
{
	struct qcow_backing_ref ref;
	char *out;

	/* a name that does not parse is shown as it is, as qemu-img does */
	if (qcow_backing_ref_parse(image, name, &ref) < 0)
		return strdup(name);
	out = ref.shown;
	ref.shown = NULL;
	qcow_backing_ref_free(&ref);
	return out;
}
