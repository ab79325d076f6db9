// SPDX-License-Identifier: MIT
/*
 * Image file names as qemu-img reads them: "json:{...}" holds the options
 * --image-opts takes (nested objects as dotted keys), "file:NAME" is NAME,
 * and any other name with a colon before its first slash starts with a
 * protocol, which only "file" is here ("./a:b" is a plain name).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "tools/common/blkdebug.h"
#include "tools/common/filename.h"
#include "tools/common/msg.h"
#include "tools/common/secret.h"

struct optbuf {
	char *s;
	size_t len, cap;
};

static int opt_add(struct optbuf *b, const char *text, bool escape)
{
	for (; *text; text++) {
		size_t need = b->len + 4;

		if (need > b->cap) {
			size_t cap = need * 2;
			char *s = realloc(b->s, cap);

			if (!s)
				return -ENOMEM;
			b->s = s;
			b->cap = cap;
		}
		if (escape && *text == ',')
			b->s[b->len++] = ',';
		b->s[b->len++] = *text;
		b->s[b->len] = 0;
	}
	return 0;
}

/* What --image-opts takes (its parser checks the values). */
static bool known_key(const char *key)
{
	static const char secret[] = "encrypt.key-secret";
	size_t n = strlen(key), m = sizeof(secret) - 1;
	struct qcow_open_opts scratch = { 0 };

	return !strcmp(key, "driver") || !strcmp(key, "file.driver") ||
	       tool_blkdebug_key(key) ||
	       !strcmp(key, "file.filename") || !strcmp(key, "file") ||
	       !strcmp(key, "filename") ||
	       qcow_cache_opt(&scratch, key, "0") != -ENOENT ||
	       (n >= m && !strcmp(key + n - m, secret));
}

static int flatten(const char *arg, struct json_object *o, const char *prefix,
		   struct optbuf *b);

/* blkdebug's lists of rules: the objects as PREFIX.N.KEY... */
static int flatten_array(const char *arg, struct json_object *a,
			 const char *prefix, struct optbuf *b)
{
	size_t i, n = json_object_array_length(a);
	char *name;
	int ret = 0;

	for (i = 0; i < n && !ret; i++) {
		struct json_object *e = json_object_array_get_idx(a, i);

		if (json_object_get_type(e) != json_type_object) {
			tool_error("%s: option '%s': a list of objects is "
				   "expected", arg, prefix);
			return -EINVAL;
		}
		if (asprintf(&name, "%s.%zu", prefix, i) < 0)
			return -ENOMEM;
		ret = flatten(arg, e, name, b);
		free(name);
	}
	return ret;
}

/* Scalars as KEY=VALUE, objects as PREFIX.KEY..., in the order given. */
static int flatten(const char *arg, struct json_object *o, const char *prefix,
		   struct optbuf *b)
{
	json_object_object_foreach(o, key, val) {
		char *name;
		int ret;

		if (asprintf(&name, "%s%s%s", prefix, *prefix ? "." : "",
			     key) < 0)
			return -ENOMEM;
		if (json_object_get_type(val) == json_type_array &&
		    (!strcmp(name, "file.inject-error") ||
		     !strcmp(name, "file.set-state"))) {
			ret = flatten_array(arg, val, name, b);
			free(name);
			if (ret < 0)
				return ret;
			continue;
		}
		if (json_object_get_type(val) != json_type_object &&
		    !known_key(name)) {
			tool_error("%s: unsupported option '%s'", arg, name);
			free(name);
			return -EINVAL;
		}
		switch (json_object_get_type(val)) {
		case json_type_object:
			ret = flatten(arg, val, name, b);
			break;
		case json_type_string:
		case json_type_int:
		case json_type_boolean:
		case json_type_double:
			ret = opt_add(b, b->len ? "," : "", false);
			if (!ret)
				ret = opt_add(b, name, true);
			if (!ret)
				ret = opt_add(b, "=", false);
			if (!ret)
				ret = opt_add(b, json_object_get_string(val),
					      true);
			break;
		default:
			tool_error("%s: option '%s': a string, number or "
				   "object is expected", arg, name);
			ret = -EINVAL;
		}
		free(name);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int from_json(const char *arg, char **opts)
{
	enum json_tokener_error jerr;
	struct json_object *o = json_tokener_parse_verbose(arg + 5, &jerr);
	struct optbuf b = { 0 };
	int ret;

	if (!o || json_object_get_type(o) != json_type_object) {
		tool_error("%s: Could not parse the JSON options: %s", arg,
			   o ? "not an object" : json_tokener_error_desc(jerr));
		json_object_put(o);
		return -EINVAL;
	}
	ret = flatten(arg, o, "", &b);
	json_object_put(o);
	if (!ret && !b.s)
		ret = opt_add(&b, "", false);
	if (ret < 0) {
		if (ret == -ENOMEM)
			tool_error("out of memory");
		free(b.s);
		return ret;
	}
	*opts = b.s;
	return 0;
}

static int filename_parse(const char *arg, char **opts, const char **name)
{
	const char *colon = strchr(arg, ':'), *slash = strchr(arg, '/');

	*opts = NULL;
	*name = arg;
	if (!strncmp(arg, "json:", 5))
		return from_json(arg, opts);
	if (!colon || (slash && slash < colon))
		return 0;
	if (!strncmp(arg, "file:", 5)) {
		*name = arg + 5;
		return 0;
	}
	tool_error("%s: Unknown protocol '%.*s' (only file: names are "
		   "supported)", arg, (int)(colon - arg), arg);
	return -EINVAL;
}

char *tool_filename_show(const char *arg, const char *name)
{
	const char *colon = strchr(name, ':'), *slash = strchr(name, '/');
	char *out;

	/* the filter's name, as qemu-img shows it */
	if (!strncmp(arg, "blkdebug:", 9))
		return strdup(arg);
	if (strncmp(arg, "file:", 5) || !colon || (slash && slash < colon))
		return strdup(name);
	if (asprintf(&out, "./%s", name) < 0)
		return NULL;
	return out;
}

int tool_filename_new(const char *arg, const char **name)
{
	const char *colon = strchr(arg, ':'), *slash = strchr(arg, '/');

	*name = arg;
	if (!colon || (slash && slash < colon))
		return 0;
	if (!strncmp(arg, "file:", 5)) {
		*name = arg + 5;
		return 0;
	}
	tool_error("%s: Unknown protocol '%.*s' (only file: names are "
		   "supported for a new image)", arg, (int)(colon - arg), arg);
	return -EINVAL;
}

/* blkdebug:CONFIG:IMAGE: IMAGE opened under the filter */
static int from_blkdebug(const char *arg, struct tool_image *t)
{
	const char *colon = strchr(arg + 9, ':'), *image;
	int ret;

	ret = tool_image_parse(colon ? colon + 1 : "", false, arg, t);
	if (ret < 0)
		return ret;
	ret = tool_blkdebug_name(arg, t, &image);
	if (ret < 0)
		tool_image_free(t);
	return ret < 0 ? ret : 0;
}

int tool_image_from_arg(const char *arg, bool image_opts, struct tool_image *t)
{
	const char *shown = arg;
	char *json = NULL;
	int ret;

	if (!image_opts && !strncmp(arg, "blkdebug:", 9))
		return from_blkdebug(arg, t);
	if (!image_opts) {
		ret = filename_parse(arg, &json, &arg);
		if (ret < 0)
			return ret;
	}
	ret = tool_image_parse(json ? json : arg, image_opts || json, shown, t);
	free(json);
	return ret;
}
