/* SPDX-License-Identifier: MIT */
/*
 * Secrets and image option strings, as qemu-img and qemu-io take them:
 * --object secret,id=ID,data=TEXT|file=PATH[,format=raw|base64] and
 * --image-opts driver=qcow2,file.filename=PATH,encrypt.key-secret=ID.
 * Secret bytes live until the program ends and are wiped then.
 */
#ifndef TOOLS_COMMON_SECRET_H
#define TOOLS_COMMON_SECRET_H

#include <stdbool.h>
#include <stddef.h>
#include "qcow.h"

/* backing.encrypt.key-secret, backing.backing...: the levels taken */
#define TOOL_BACKING_KEYS	16

/* One --object argument; -EINVAL after a message. */
int tool_object(const char *arg);

/* The bytes of secret id; -ENOENT after a message naming file. */
int tool_secret(const char *file, const char *id, const char **key,
		size_t *len);

/* An image named by an option string (or, plain, by its file name). */
struct tool_image {
	char *filename;
	char *driver;		/* NULL: not given */
	/*
	 * "driver=file,filename=NAME": the file itself, no format layer
	 * (driver then reads "raw")
	 */
	bool protocol;
	bool top_filename;	/* "filename" given */
	bool nested_file;	/* "file.filename" given */
	char *key_secret;	/* NULL: none */
	/* [0]: backing.encrypt.key-secret, [1]: backing.backing..., NULL */
	char *backing_secret[TOOL_BACKING_KEYS];
	unsigned int nr_backing;	/* entries up to the deepest given */
	struct qcow_key backing_keys[TOOL_BACKING_KEYS];
	/* the cache options given (l2-cache-size=...: qcow_cache_opt()) */
	struct qcow_open_opts cache;
	/* blkdebug:CONFIG:NAME or file.driver=blkdebug: the filter, or NULL */
	struct qcow_blkdebug *blkdebug;
	bool blkdebug_driver;	/* file.driver=blkdebug given */
};

/*
 * arg parsed as an --image-opts string when image_opts, else taken as
 * the file name.  -EINVAL after a message for unknown or missing keys
 * (naming shown, the image as the command line gave it, where qemu-img
 * names it).
 */
int tool_image_parse(const char *arg, bool image_opts, const char *shown,
		     struct tool_image *out);
void tool_image_free(struct tool_image *t);
/*
 * The secrets t names, resolved into o (key, backing_keys, which point
 * into t and the secrets: valid while t is); -ENOENT after a message.
 */
int tool_image_secrets(struct tool_image *t, struct qcow_open_opts *o);
/*
 * The passphrase arg gives the image depth levels down its chain (0:
 * the image itself), {NULL, 0} for none; -errno after a message.
 */
int tool_chain_key(const char *arg, unsigned int depth, struct qcow_key *key);

/* --image-opts was given: image names on the command line are options. */
void tool_image_opts_set(bool on);
bool tool_image_opts(void);

#endif
