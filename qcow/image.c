// SPDX-License-Identifier: MIT
/*
 * Opening images: format probing, the backing chain, error reporting;
 * every format operation goes to the image's driver.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <libgen.h>
#include "internal.h"
#include "layout.h"

#define QCOW_MAX_CHAIN_DEPTH 256

static __thread char open_error[512];

const char *qcow_strerror(void)
{
	return open_error[0] ? open_error : "no error";
}

int qcow_set_error(int err, const char *name, const char *fmt, ...)
{
	char msg[400], *p;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(open_error, sizeof(open_error), "%s: %s", name ? name : "?",
		 msg);
	/* one line, whatever the image's strings hold */
	for (p = open_error; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return err;
}

void qcow_log(const struct qcow_image *img, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "qcow: %s: ", img ? img->filename : "?");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

const char *qcow_format_name(enum qcow_format fmt)
{
	switch (fmt) {
	case QCOW_FMT_RAW:
		return "raw";
	case QCOW_FMT_QCOW2:
		return "qcow2";
	case QCOW_FMT_QCOW:
		return "qcow";
	default:
		return "unknown";
	}
}

static int probe_format(struct qfile *f, enum qcow_format *fmt)
{
	uint8_t hdr[8];
	int ret;

	if (f->size < sizeof(hdr)) {
		*fmt = QCOW_FMT_RAW;
		return 0;
	}
	ret = qfile_pread_sync(f, hdr, sizeof(hdr), 0);
	if (ret < 0)
		return ret;
	if (get_be32(hdr) != QCOW_MAGIC)
		*fmt = QCOW_FMT_RAW;
	else if (get_be32(hdr + 4) == 1)
		*fmt = QCOW_FMT_QCOW;
	else
		*fmt = QCOW_FMT_QCOW2;
	return 0;
}

static const struct qcow_driver *driver_for(enum qcow_format fmt)
{
	switch (fmt) {
	case QCOW_FMT_RAW:
		return &qcow_raw_driver;
	case QCOW_FMT_QCOW2:
		return &qcow2_driver;
	case QCOW_FMT_QCOW:
		return &qcow1_driver;
	default:
		return NULL;
	}
}

static enum qcow_format format_by_name(const char *name)
{
	if (!strcmp(name, "raw"))
		return QCOW_FMT_RAW;
	if (!strcmp(name, "qcow2"))
		return QCOW_FMT_QCOW2;
	if (!strcmp(name, "qcow"))
		return QCOW_FMT_QCOW;
	return QCOW_FMT_NONE;
}

char *qcow_path_relative_to(const char *image, const char *name)
{
	char *copy, *dir, *out;

	if (name[0] == '/' || !strchr(image, '/'))
		return strdup(name);
	copy = strdup(image);
	if (!copy)
		return NULL;
	dir = dirname(copy);
	if (asprintf(&out, "%s/%s", dir, name) < 0)
		out = NULL;
	free(copy);
	return out;
}

static int chain_has_loop(const struct qcow_image *img, const struct qfile *f)
{
	for (; img; img = img->child)
		if (img->file && img->file->dev == f->dev &&
		    img->file->ino == f->ino)
			return 1;
	return 0;
}

static int open_one(struct qcow_image **out, const char *path,
		    const struct qcow_open_opts *opts,
		    const struct qcow_image *child, int depth);

int qcow_open_backing(struct qcow_image *img)
{
	struct qcow_open_opts bo = img->opts;
	enum qcow_format fmt = QCOW_FMT_NONE;
	int ret;

	if (!img->backing_name || img->opts.no_backing)
		return 0;
	img->backing_path = qcow_path_relative_to(img->filename,
						  img->backing_name);
	if (!img->backing_path)
		return -ENOMEM;
	if (img->backing_format) {
		fmt = format_by_name(img->backing_format);
		if (fmt == QCOW_FMT_NONE)
			return qcow_set_error(-ENOTSUP, img->filename,
				"backing file format '%s' is not supported",
				img->backing_format);
	}
	if (img->chain_depth + 1 >= QCOW_MAX_CHAIN_DEPTH)
		return qcow_set_error(-ELOOP, img->filename,
			"backing chain deeper than %d images",
			QCOW_MAX_CHAIN_DEPTH);
	bo.format = fmt;
	bo.read_only = true;
	bo.data_file = NULL;
	ret = open_one(&img->backing, img->backing_path, &bo, img,
		       img->chain_depth + 1);
	return ret;
}

static int open_one(struct qcow_image **out, const char *path,
		    const struct qcow_open_opts *opts,
		    const struct qcow_image *child, int depth)
{
	struct qcow_image *img;
	int ret;

	img = calloc(1, sizeof(*img));
	if (!img)
		return qcow_set_error(-ENOMEM, path, "out of memory");
	img->opts = *opts;
	img->child = child;
	img->chain_depth = depth;
	img->filename = strdup(path);
	if (!img->filename) {
		ret = qcow_set_error(-ENOMEM, path, "out of memory");
		goto err;
	}
	ret = qfile_open(&img->file, path, opts->read_only, opts->direct);
	if (ret < 0) {
		qcow_set_error(ret, path, "cannot open: %s", strerror(-ret));
		goto err;
	}
	if (child && chain_has_loop(child, img->file)) {
		ret = qcow_set_error(-ELOOP, child->filename,
			"backing file '%s' makes a loop in the chain", path);
		goto err;
	}
	img->format = opts->format;
	if (img->format == QCOW_FMT_NONE) {
		ret = probe_format(img->file, &img->format);
		if (ret < 0) {
			qcow_set_error(ret, path, "cannot read: %s",
				       strerror(-ret));
			goto err;
		}
	}
	img->drv = driver_for(img->format);
	if (!img->drv) {
		ret = qcow_set_error(-EINVAL, path, "unknown image format");
		goto err;
	}
	ret = qcow_lock_image(img);
	if (ret < 0)
		goto err;
	img->child = NULL;
	img->child = child;
	ret = img->drv->open(img);
	if (ret < 0)
		goto err;
	img->child = NULL;
	*out = img;
	return 0;
err:
	img->child = NULL;
	qcow_close(img);
	return ret;
}

int qcow_open(struct qcow_image **out, const char *path,
	      const struct qcow_open_opts *opts)
{
	struct qcow_open_opts def = { 0 };

	open_error[0] = 0;
	if (opts && opts->force_share && !opts->read_only)
		return qcow_set_error(-EINVAL, path, "force share (-U) is only "
				      "for read-only opens");
	return open_one(out, path, opts ? opts : &def, NULL, 0);
}

void qcow_close(struct qcow_image *img)
{
	if (!img)
		return;
	if (img->drv && img->priv)
		img->drv->close(img);
	qcow_close(img->backing);
	qfile_close(img->file);
	free(img->backing_name);
	free(img->backing_path);
	free(img->backing_format);
	free(img->filename);
	free(img);
}

uint64_t qcow_size(const struct qcow_image *img)
{
	return img->size;
}

enum qcow_format qcow_format(const struct qcow_image *img)
{
	return img->format;
}

const char *qcow_filename(const struct qcow_image *img)
{
	return img->filename;
}

struct qcow_image *qcow_backing(const struct qcow_image *img)
{
	return img->backing;
}

int qcow_get_info(const struct qcow_image *img, struct qcow_info *info)
{
	memset(info, 0, sizeof(*info));
	info->format = img->format;
	info->virtual_size = img->size;
	info->backing_file = img->backing_name;
	info->backing_path = img->backing_path;
	info->backing_format = img->backing_format;
	if (img->drv->get_info)
		return img->drv->get_info(img, info);
	return 0;
}

int qcow_check(struct qcow_image *img, struct qcow_check_result *res,
	       void (*report)(void *arg, const char *msg), void *arg)
{
	memset(res, 0, sizeof(*res));
	if (!img->drv->check)
		return -ENOTSUP;
	return img->drv->check(img, res, report, arg);
}

/* What qcow.h's image-wide operations answer for a format without them. */
static int unsupported(const struct qcow_image *img)
{
	return qcow_set_error(-ENOTSUP, img->filename, "this operation "
			      "needs a qcow2 image");
}

int qcow_create(const char *path, const struct qcow_create_opts *o)
{
	const struct qcow_driver *drv = driver_for(o->format);

	if (!drv || !drv->create)
		return qcow_set_error(-ENOTSUP, path, "creating %s images is "
				      "not supported",
				      qcow_format_name(o->format));
	return drv->create(path, o);
}

int qcow_resize(struct qcow_image *img, uint64_t size, bool allow_shrink)
{
	if (!img->drv->resize)
		return unsupported(img);
	return img->drv->resize(img, size, allow_shrink);
}

int qcow_amend(struct qcow_image *img, const struct qcow_amend_opts *o)
{
	if (!img->drv->amend)
		return unsupported(img);
	return img->drv->amend(img, o);
}

int qcow_set_backing(struct qcow_image *img, const char *name,
		     const char *format)
{
	if (!img->drv->set_backing)
		return unsupported(img);
	return img->drv->set_backing(img, name, format);
}

int qcow_make_empty(struct qcow_image *img)
{
	if (!img->drv->make_empty)
		return unsupported(img);
	return img->drv->make_empty(img);
}

int qcow_repair(struct qcow_image *img, unsigned int flags,
		struct qcow_check_result *res,
		void (*report)(void *arg, const char *msg), void *arg)
{
	memset(res, 0, sizeof(*res));
	if (!img->drv->repair)
		return unsupported(img);
	return img->drv->repair(img, flags, res, report, arg);
}
