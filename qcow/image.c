// SPDX-License-Identifier: MIT
/*
 * Opening images: format probing, the backing chain, error reporting;
 * every format operation goes to the image's driver.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <libgen.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
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
	/* no name: a message about no image (an option's value) */
	snprintf(open_error, sizeof(open_error), "%s%s%s", name ? name : "",
		 name ? ": " : "", msg);
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

enum qcow_format qcow_probe_header(const uint8_t *hdr)
{
	if (get_be32(hdr) != QCOW_MAGIC)
		return QCOW_FMT_RAW;
	if (get_be32(hdr + 4) == 1)
		return QCOW_FMT_QCOW;
	return QCOW_FMT_QCOW2;
}

static int probe_format(struct qfile *f, enum qcow_format *fmt)
{
	uint8_t hdr[QCOW_PROBE_LEN];
	int ret;

	if (f->size < sizeof(hdr)) {
		*fmt = QCOW_FMT_RAW;
		return 0;
	}
	ret = qfile_pread_sync(f, hdr, sizeof(hdr), 0);
	if (ret < 0)
		return ret;
	*fmt = qcow_probe_header(hdr);
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

enum qcow_format qcow_format_by_name(const char *name)
{
	if (!name)
		return QCOW_FMT_NONE;
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

static bool untrusted(const struct qcow_open_opts *o)
{
	return o->untrusted || (o->allow_dirs && o->allow_dirs[0]);
}

/* real is a resolved path: inside one of the allowed folders? */
static bool in_allowed_dir(const struct qcow_open_opts *o, const char *real)
{
	const char *const *d;
	char dir[PATH_MAX];
	size_t n;

	for (d = o->allow_dirs; d && *d; d++) {
		if (!realpath(*d, dir))
			continue;
		n = strlen(dir);
		if (n == 1 || (!strncmp(real, dir, n) && real[n] == '/'))
			return true;
	}
	return false;
}

int qcow_check_external(const struct qcow_image *img, const char *path,
			const char *what)
{
	const struct qcow_open_opts *o = &img->opts;
	char real[PATH_MAX];
	struct stat st;
	int err;

	if (!untrusted(o))
		return 0;
	if (!o->allow_dirs || !o->allow_dirs[0])
		return qcow_set_error(-EPERM, img->filename, "%s '%s': refused "
				      "(untrusted image)", what, path);
	if (!realpath(path, real)) {
		err = errno;
		return qcow_set_error(-err, img->filename, "%s '%s': %s",
				      what, path, strerror(err));
	}
	if (!in_allowed_dir(o, real))
		return qcow_set_error(-EPERM, img->filename, "%s '%s': refused "
				      "(untrusted image): '%s' is outside the "
				      "allowed folders", what, path, real);
	if (stat(real, &st) < 0) {
		err = errno;
		return qcow_set_error(-err, img->filename, "%s '%s': %s",
				      what, path, strerror(err));
	}
	if (S_ISBLK(st.st_mode) && !o->allow_block_devices)
		return qcow_set_error(-EPERM, img->filename, "%s '%s': refused "
				      "(untrusted image): a block device",
				      what, path);
	return 0;
}

const char *qcow_key_option(const struct qcow_image *img, char *buf,
			    size_t len)
{
	size_t n = 0;
	int i;

	for (i = 0; i < img->chain_depth && n + 8 < len; i++, n += 8)
		memcpy(buf + n, "backing.", 8);
	snprintf(buf + n, len - n, "encrypt.key-secret");
	return buf;
}

int qcow_need_key(const struct qcow_image *img, const char *what)
{
	char opt[QCOW_KEY_OPTION_LEN];

	qcow_key_option(img, opt, sizeof(opt));
	if (!img->chain_depth)
		return qcow_set_error(-EACCES, img->filename, "the image is "
				      "encrypted (%s): its data needs a "
				      "passphrase (%s)", what, opt);
	return qcow_set_error(-EACCES, img->filename, "a backing file "
			      "encrypted (%s), and no passphrase was given "
			      "for it (%s)", what, opt);
}

static int open_backing_ref(struct qcow_image *img,
			    const struct qcow_backing_ref *ref,
			    enum qcow_format fmt)
{
	struct qcow_open_opts bo = img->opts;
	int ret;

	if (img->chain_depth + 1 >= QCOW_MAX_CHAIN_DEPTH)
		return qcow_set_error(-ELOOP, img->filename,
			"backing chain deeper than %d images",
			QCOW_MAX_CHAIN_DEPTH);
	ret = qcow_check_external(img, ref->path, "backing file");
	if (ret < 0)
		return ret;
	bo.blkdebug = NULL;	/* the top image's filter only */
	bo.format = fmt;
	bo.format_probed = false;
	bo.read_only = true;
	bo.data_file = NULL;
	bo.snapshot_id = NULL;	/* a snapshot view is of the top image only */
	bo.snapshot_name = NULL;
	/* a backing file has a secret of its own, or none */
	bo.key = NULL;
	bo.key_len = 0;
	if (bo.nr_backing_keys) {
		bo.key = bo.backing_keys[0].data;
		bo.key_len = bo.key ? bo.backing_keys[0].len : 0;
		bo.backing_keys++;
		bo.nr_backing_keys--;
	}
	ret = open_one(&img->backing, ref->path, &bo, img,
		       img->chain_depth + 1);
	if (!ret)
		img->backing->file_driver = ref->file_driver;
	return ret;
}

int qcow_open_backing(struct qcow_image *img)
{
	struct qcow_backing_ref ref;
	enum qcow_format fmt;
	int ret;

	if (!img->backing_name || img->opts.no_backing)
		return 0;
	/* QEMU would open the filter (and read a config file) from here */
	if (!strncmp(img->backing_name, "blkdebug:", 9))
		return qcow_set_error(-EPERM, img->filename, "backing file "
			"'%s': refused: blkdebug is taken from the command "
			"line only, never from an image", img->backing_name);
	ret = qcow_backing_ref_parse(img->filename, img->backing_name, &ref);
	if (ret < 0)
		return ret;
	img->backing_path = ref.shown;
	ref.shown = NULL;
	fmt = ref.format;
	if (img->backing_format && ref.file_driver)
		ret = qcow_set_error(-EINVAL, img->filename, "backing file "
				     "'%s': \"driver\":\"file\" with a backing "
				     "format: A block device must be specified "
				     "for \"file\"", img->backing_name);
	else if (img->backing_format)
		fmt = qcow_format_by_name(img->backing_format);
	if (!ret && img->backing_format && fmt == QCOW_FMT_NONE)
		ret = qcow_set_error(-ENOTSUP, img->filename,
			"backing file format '%s' is not supported",
			img->backing_format);
	if (!ret)
		ret = open_backing_ref(img, &ref, fmt);
	qcow_backing_ref_free(&ref);
	return ret;
}

/* A snapshot is opened read-only, and only qcow2 has them. */
static int check_snapshot_view(const struct qcow_image *img)
{
	if (!img->opts.snapshot_id && !img->opts.snapshot_name)
		return 0;
	if (img->format != QCOW_FMT_QCOW2)
		return qcow_set_error(-ENOTSUP, img->filename, "the %s format "
				      "has no internal snapshots",
				      img->drv->name);
	if (!img->opts.read_only)
		return qcow_set_error(-EINVAL, img->filename, "a snapshot can "
				      "only be opened read-only");
	return 0;
}

static int open_one(struct qcow_image **out, const char *path,
		    const struct qcow_open_opts *opts,
		    const struct qcow_image *child, int depth)
{
	struct qcow_image *img;
	int ret;

	img = calloc(1, sizeof(*img));
	if (!img) {
		qcow_blkdebug_free(opts->blkdebug);
		return qcow_set_error(-ENOMEM, path, "out of memory");
	}
	img->opts = *opts;
	img->child = child;
	img->chain_depth = depth;
	img->lock = child ? child->lock : qlock_new();
	if (!img->lock) {
		free(img);
		return qcow_set_error(-ENOMEM, path, "out of memory");
	}
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
	img->file->dbg = opts->blkdebug;
	img->opts.blkdebug = NULL;
	if (child && chain_has_loop(child, img->file)) {
		ret = qcow_set_error(-ELOOP, child->filename,
			"backing file '%s' makes a loop in the chain", path);
		goto err;
	}
	img->format = opts->format;
	img->probed = img->format == QCOW_FMT_NONE || opts->format_probed;
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
	ret = check_snapshot_view(img);
	if (ret < 0)
		goto err;
	ret = qcow_lock_image(img);
	if (ret < 0)
		goto err;
	img->child = NULL;
	img->child = child;
	ret = img->drv->open(img);
	/* the caller's bytes: no reference kept */
	img->opts.key = NULL;
	img->opts.key_len = 0;
	img->opts.backing_keys = NULL;
	img->opts.nr_backing_keys = 0;
	if (ret < 0)
		goto err;
	img->child = NULL;
	*out = img;
	return 0;
err:
	if (!img->file)		/* else the file's close frees it */
		qcow_blkdebug_free(opts->blkdebug);
	img->child = NULL;
	qcow_close(img);
	return ret;
}

int qcow_open(struct qcow_image **out, const char *path,
	      const struct qcow_open_opts *opts)
{
	struct qcow_open_opts def = { 0 };
	int ret = 0;

	open_error[0] = 0;
	if (opts && opts->force_share && !opts->read_only)
		ret = qcow_set_error(-EINVAL, path, "force share (-U) is only "
				     "for read-only opens");
	if (!ret && opts && opts->blkdebug)
		ret = qbd_finish(opts->blkdebug);
	if (ret < 0) {
		qcow_blkdebug_free(opts->blkdebug);
		return ret;
	}
	return open_one(out, path, opts ? opts : &def, NULL, 0);
}

void qcow_close(struct qcow_image *img)
{
	if (!img)
		return;
	if (img->drv && img->priv)
		img->drv->close(img);
	qcow_close(img->backing);
	if (img->file)
		qcow_blkdebug_free(img->file->dbg);
	qfile_close(img->file);
	free(img->backing_name);
	free(img->backing_path);
	free(img->backing_format);
	free(img->filename);
	if (!img->chain_depth)
		qlock_free(img->lock);
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

bool qcow_opened_as_file(const struct qcow_image *img)
{
	return img->file_driver;
}

bool qcow_format_probed(const struct qcow_image *img)
{
	return img->probed;
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
