/* SPDX-License-Identifier: MIT */
/*
 * JSON output laid out as qemu-img 7.2 prints it.
 *
 * qemu-img keeps object members in a hash table and prints them in bucket
 * order, so its key order looks random but is fixed.  Build objects with
 * the members in the order of QEMU's QAPI schema and qjson_print() or
 * qjson_dump_human() put them in qemu-img's order.
 */
#ifndef TOOLS_COMMON_QJSON_H
#define TOOLS_COMMON_QJSON_H

#include <stdio.h>
#include <json-c/json.h>

/* A new reference to obj with members (recursively) in qemu-img's order. */
struct json_object *qjson_order(struct json_object *obj);

/* Pretty JSON, four spaces per level, and a newline. */
int qjson_print(FILE *f, struct json_object *obj);

/*
 * The "key: value" tree qemu-img prints for format specific information:
 * dashes in keys become spaces, lists print "[i]:", four spaces per level.
 */
void qjson_dump_human(FILE *f, struct json_object *obj, int indent);

#endif
