// SPDX-License-Identifier: MIT
/*
 * The LUKS1 header of a qcow2 image (crypt_method 2).  Its key slots are
 * not unlocked yet: LUKS images open for info (no_io) only.
 */
#include <errno.h>
#include "qcow2.h"

int qcow2_luks_open(struct qcow2 *s, struct qcow_luks_info *info,
		    struct qcrypto_cipher **out)
{
	*out = NULL;
	if (s->img->opts.no_io)
		return 0;
	return qcow_set_error(-ENOTSUP, s->img->filename, "crypt_method: "
			      "LUKS images are not supported yet");
}

int qcow2_luks_create(const char *path, const struct qcow_create_opts *o,
		      uint8_t **area, size_t *len)
{
	return qcow_set_error(-ENOTSUP, path, "encrypt.format: LUKS images "
			      "cannot be created yet");
}
