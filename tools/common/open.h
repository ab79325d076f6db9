/* SPDX-License-Identifier: MIT */
/* Opening an image named on the command line, with an optional -f name. */
#ifndef TOOLS_COMMON_OPEN_H
#define TOOLS_COMMON_OPEN_H

#include "qcow.h"

/* "raw", "qcow2", "qcow"; NULL or "" probes.  -EINVAL when unknown. */
int format_from_name(const char *name, enum qcow_format *fmt);

/*
 * Opens path with opts (whose format is replaced by fmt_name's, and the
 * untrusted-image options added); when that fails, prints one line naming
 * path and why (and which file of its chain is to blame).  A read-write
 * open that probed raw prints a warning, as qemu-img does.
 */
int tool_open(struct qcow_image **img, const char *path, const char *fmt_name,
	      const struct qcow_open_opts *opts);
/*
 * tool_open() of an image named by arg: an --image-opts string when
 * image_opts (its driver the format, its encrypt.key-secret the key),
 * else a file name; fmt_name is used when the string names no driver.
 */
int tool_open_spec(struct qcow_image **img, const char *arg, bool image_opts,
		   const char *fmt_name, const struct qcow_open_opts *opts);

/*
 * The format qemu-img names for img: "file" when it was opened as the
 * file itself ("driver": "file" at the top of its options), else its own.
 */
const char *tool_format_name(const struct qcow_image *img);

/*
 * Why an engine call on path failed: the engine's message without its
 * leading "PATH: " (other files keep their name), or strerror(-err) when
 * the engine gave none.
 */
const char *tool_reason(const char *path, int err);

/*
 * Why qcow_open(path) failed: tool_reason(), or just the system's reason
 * ("No such file or directory") when path itself cannot be opened.
 */
const char *open_error_text(const char *path, int err);

/*
 * Untrusted images, for every image opened with tool_open():
 * --untrusted refuses backing and data files the images name,
 * --allow-dir DIR (repeatable) allows those inside DIR,
 * --allow-block-devices allows block devices there.  Each verb lists
 * TRUST_LONGOPTS and hands the codes OPT_TRUST_FIRST..LAST to
 * tool_trust_option().
 */
enum {
	OPT_TRUST_FIRST = 0x1000,
	OPT_UNTRUSTED = OPT_TRUST_FIRST,
	OPT_ALLOW_DIR,
	OPT_ALLOW_BLOCK,
	OPT_OBJECT,
	OPT_IMAGE_OPTS,
	OPT_CRYPTO_BACKEND,
	OPT_TRUST_LAST = OPT_CRYPTO_BACKEND,
};

/*
 * With them, every verb takes secrets and image option strings
 * (tools/common/secret.h): --object secret,id=ID,data=...|file=PATH and
 * --image-opts, after which tool_open() reads its path as
 * "driver=qcow2,file.filename=PATH,encrypt.key-secret=ID", and
 * --crypto-backend.
 */
#define TRUST_LONGOPTS \
	{ "untrusted", no_argument, NULL, OPT_UNTRUSTED }, \
	{ "allow-dir", required_argument, NULL, OPT_ALLOW_DIR }, \
	{ "allow-block-devices", no_argument, NULL, OPT_ALLOW_BLOCK }, \
	{ "object", required_argument, NULL, OPT_OBJECT }, \
	{ "image-opts", no_argument, NULL, OPT_IMAGE_OPTS }, \
	{ "crypto-backend", required_argument, NULL, OPT_CRYPTO_BACKEND }

/* -ENOMEM or -EINVAL with a message, else 0. */
int tool_trust_option(int c, const char *arg);
/* What those options asked for, into opts. */
void tool_trust_apply(struct qcow_open_opts *opts);
/*
 * --crypto-backend=auto|kernel|openssl|nettle: where the ciphers of
 * encrypted images run (opens and creates); the kernel's where it cannot run
 * fails the option with one line.
 */
enum qcow_crypto_backend tool_crypto_backend(void);

/*
 * The file a backing file name stored in (or given for) image opens
 * (malloc'ed): json:, file: and plain names as qemu-img reads them
 * (qcow_backing_ref_parse()); NULL after a one-line error, or -ENOMEM.
 */
char *backing_path_of(const char *image, const char *name);
/* the same, opened as format fmt (NULL: probed), as qemu-img refuses it */
char *backing_path_fmt(const char *image, const char *name, const char *fmt);
/* qemu-img info's full-backing-filename of name (malloc'ed) */
char *backing_shown_of(const char *image, const char *name);

#endif
