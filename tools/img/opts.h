/* SPDX-License-Identifier: MIT */
/* "-o key=value,key=value" option lists, as qemu-img parses them. */
#ifndef TOOLS_IMG_OPTS_H
#define TOOLS_IMG_OPTS_H

#include <stdbool.h>
#include <stdint.h>

struct img_opt {
	char *key;
	char *val;
};

struct img_opts {
	struct img_opt *v;
	int n;
};

/*
 * Appends the pairs of list ("a=1,b=x,,y": ",," is a comma in a value).
 * -EINVAL with qemu-img's "Invalid option list" message.
 */
int img_opts_parse(struct img_opts *o, const char *list);
void img_opts_free(struct img_opts *o);

/* The last value given for key, or NULL. */
const char *img_opts_get(const struct img_opts *o, const char *key);

/* Sets key (replacing every earlier value). */
int img_opts_set(struct img_opts *o, const char *key, const char *val);

/* The first key not in known (a NULL-terminated list), or NULL. */
const char *img_opts_unknown(const struct img_opts *o,
			     const char *const *known);

/*
 * Values of -o options; each returns -EINVAL after a message naming file
 * and key.  on/off/yes/no/true/false:
 */
int opt_bool(const char *file, const char *key, const char *val, bool *out);
/* A whole number (decimal, 0x hex or 0 octal), no suffix. */
int opt_number(const char *file, const char *key, const char *val,
	       uint64_t *out);
/* A size with suffixes. */
int opt_size(const char *file, const char *key, const char *val,
	     uint64_t *out);

/* val with every comma doubled, as qemu-img prints option values. */
char *opt_escape(const char *val);

#endif
