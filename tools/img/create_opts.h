/* SPDX-License-Identifier: MIT */
/* qemu-img create's -o options for qcow2, qcow and raw images. */
#ifndef TOOLS_IMG_CREATE_OPTS_H
#define TOOLS_IMG_CREATE_OPTS_H

#include <stdbool.h>
#include "qcow.h"
#include "tools/img/opts.h"

#define CRYPT_AES 1	/* qcow2 crypt_method values */
#define CRYPT_LUKS 2

struct create_spec {
	const char *file;
	struct qcow_create_opts o;
	const struct img_opts *opts;	/* as given, for the Formatting line */
	bool has_size;
};

/*
 * Checks the option names and the syntax of typed values (sizes, bools,
 * numbers), and fills s->o except the size when the options have none.
 * Errors are the ones qemu-img reports before its "Formatting" line.
 */
int create_spec_parse(struct create_spec *s, const char *file,
		      enum qcow_format fmt, const struct img_opts *opts);

/*
 * Parses the enumerated values (compat, preallocation, compression_type)
 * and checks what qemu-img rejects after printing its "Formatting" line.
 */
int create_spec_finish(struct create_spec *s);

/* "Formatting 'FILE', fmt=qcow2 cluster_size=65536 ..." */
void create_spec_print(const struct create_spec *s);

/* Opens the image named by s->o.backing_file to learn its size. */
int create_backing_size(const struct create_spec *s, uint64_t *size);

#endif
