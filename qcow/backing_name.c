// SPDX-License-Identifier: MIT
/*
 * Backing file names as QEMU 7.2 reads them, from a header or a command
 * line: a plain name (relative to the image's folder), "file:NAME" and
 * "json:{...}" (both taken as they are, relative to the working folder,
 * as QEMU does).  Only local files are followed: a json: name may say
 * the format ("driver": qcow2, qcow, raw) and the file ("file" object or
 * "file.filename", its driver "file"), or be the file itself ("driver":
 * "file", "filename"); any other key, and any other protocol ("nbd:",
 * "http:", a colon before the first slash), is refused, so that no
 * header makes the host reach beyond a file it could name plainly.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "internal.h"

struct json_ref {
	const char *driver, *file_driver, *filename, *file_filename;
	bool bad;
};

static const char *json_str(struct json_object *v, bool *bad)
{
	if (!json_object_is_type(v, json_type_string)) {
		*bad = true;
		return NULL;
	}
	return json_object_get_string(v);
}

static void json_file_obj(struct json_object *o, struct json_ref *r)
{
	if (!json_object_is_type(o, json_type_object)) {
		r->bad = true;	/* a node name, to QEMU */
		return;
	}
	json_object_object_foreach(o, key, val) {
		if (!strcmp(key, "driver"))
			r->file_driver = json_str(val, &r->bad);
		else if (!strcmp(key, "filename"))
			r->file_filename = json_str(val, &r->bad);
		else
			r->bad = true;
	}
}

static void json_keys(struct json_object *o, struct json_ref *r)
{
	json_object_object_foreach(o, key, val) {
		if (!strcmp(key, "driver"))
			r->driver = json_str(val, &r->bad);
		else if (!strcmp(key, "filename"))
			r->filename = json_str(val, &r->bad);
		else if (!strcmp(key, "file.filename"))
			r->file_filename = json_str(val, &r->bad);
		else if (!strcmp(key, "file.driver"))
			r->file_driver = json_str(val, &r->bad);
		else if (!strcmp(key, "file"))
			json_file_obj(val, r);
		else
			r->bad = true;
	}
}

/* r's fields into ref: one local file, its format if the name says it */
static int json_local(const struct json_ref *r, struct qcow_backing_ref *ref)
{
	const char *name;

	if (r->bad || (r->file_driver && strcmp(r->file_driver, "file")))
		return -ENOTSUP;
	if (r->driver && !strcmp(r->driver, "file")) {
		if (!r->filename || r->file_filename || r->file_driver)
			return -ENOTSUP;
		ref->file_driver = true;
		ref->format = QCOW_FMT_RAW;
		name = r->filename;
	} else {
		if (r->filename || !r->file_filename)
			return -ENOTSUP;
		if (r->driver) {
			ref->format = qcow_format_by_name(r->driver);
			if (ref->format == QCOW_FMT_NONE)
				return -ENOTSUP;
		}
		name = r->file_filename;
	}
	ref->path = strdup(name);
	return ref->path ? 0 : -ENOMEM;
}

static int parse_json(const char *image, const char *name,
		      struct qcow_backing_ref *ref)
{
	struct json_object *o = json_tokener_parse(name + 5);
	struct json_ref r = { 0 };
	int ret;

	if (!o || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return qcow_set_error(-EINVAL, image, "backing file '%s': "
				      "not a JSON object", name);
	}
	json_keys(o, &r);
	ret = json_local(&r, ref);
	json_object_put(o);
	if (ret == -ENOTSUP)
		return qcow_set_error(ret, image, "backing file '%s': only "
				      "local files are followed (driver, "
				      "file.driver \"file\", file.filename)",
				      name);
	return ret;
}

/* "proto:" before any slash, as QEMU tells a protocol from a file */
static size_t protocol_len(const char *name)
{
	const char *colon = strchr(name, ':'), *slash = strchr(name, '/');

	if (!colon || (slash && slash < colon))
		return 0;
	return (size_t)(colon - name);
}

int qcow_backing_ref_parse(const char *image, const char *name,
			   struct qcow_backing_ref *ref)
{
	size_t n = protocol_len(name);
	int ret;

	memset(ref, 0, sizeof(*ref));
	ref->format = QCOW_FMT_NONE;
	ref->shown = strdup(name);
	if (!ref->shown)
		return -ENOMEM;
	if (n == 4 && !strncmp(name, "json", 4))
		ret = parse_json(image, name, ref);
	else if (n == 4 && !strncmp(name, "file", 4))
		ret = (ref->path = strdup(name + 5)) ? 0 : -ENOMEM;
	else if (n)
		ret = qcow_set_error(-ENOTSUP, image, "backing file '%s': "
				     "Unknown protocol '%.*s' (only local "
				     "files are followed)", name, (int)n,
				     name);
	else
		ret = 0;
	if (!ret && !n) {
		free(ref->shown);
		ref->shown = qcow_path_relative_to(image, name);
		ref->path = ref->shown ? strdup(ref->shown) : NULL;
		if (!ref->path)
			ret = -ENOMEM;
	}
	if (ret < 0)
		qcow_backing_ref_free(ref);
	return ret;
}

void qcow_backing_ref_free(struct qcow_backing_ref *ref)
{
	free(ref->path);
	free(ref->shown);
	ref->path = NULL;
	ref->shown = NULL;
}
