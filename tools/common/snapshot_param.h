/* SPDX-License-Identifier: MIT */
/* Selecting an internal snapshot on the command line (-l, as qemu-img). */
#ifndef TOOLS_COMMON_SNAPSHOT_PARAM_H
#define TOOLS_COMMON_SNAPSHOT_PARAM_H

#include <stdbool.h>
#include "qcow.h"

struct snapshot_param {
	char *id;		/* snapshot.id=, or the ID tried first */
	char *name;		/* snapshot.name= */
	char *id_or_name;	/* a plain -l NAME */
};

/*
 * 'snapshot.id=ID,snapshot.name=NAME' (either, any order, the last of a
 * key winning) or a plain ID_OR_NAME, into p (freed by
 * snapshot_param_free()).  Prints qemu-img's message and returns -EINVAL
 * on an unknown key.
 */
int snapshot_param_parse(struct snapshot_param *p, const char *arg);
void snapshot_param_free(struct snapshot_param *p);
bool snapshot_param_set(const struct snapshot_param *p);

/*
 * tool_open() of the snapshot p selects (read-only): an ID_OR_NAME is
 * looked up as an ID, then as a name, as qemu-img does.
 */
int tool_open_snapshot(struct qcow_image **img, const char *path,
		       const char *fmt_name, const struct qcow_open_opts *opts,
		       const struct snapshot_param *p);

#endif
