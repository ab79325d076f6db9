/* SPDX-License-Identifier: MIT */
/* The "format-specific" part of image information, as QEMU reports it. */
#ifndef TOOLS_COMMON_SPEC_INFO_H
#define TOOLS_COMMON_SPEC_INFO_H

#include <stdio.h>
#include <json-c/json.h>
#include "qcow.h"

/* {"type": "qcow2", "data": {...}}, or NULL when the format has none. */
struct json_object *spec_info_json(const struct qcow_info *info);

/* "Format specific information:" and its tree, when there is one. */
void spec_info_dump(FILE *f, const struct qcow_info *info);

#endif
