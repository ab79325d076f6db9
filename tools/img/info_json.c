// SPDX-License-Identifier: MIT
/*
 * qcow-img info --output=json: members added in the order of QEMU's
 * ImageInfo and SnapshotInfo schemas (qjson prints them in qemu-img's).
 */
#include "tools/common/spec_info.h"
#include "tools/img/info.h"

#define NSEC_PER_SEC 1000000000ULL

static void add_u64(struct json_object *o, const char *k, uint64_t v)
{
	json_object_object_add(o, k, json_object_new_uint64(v));
}

static void add_str(struct json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, json_object_new_string(v));
}

static struct json_object *snapshot_json(const struct qcow_snapshot_info *s)
{
	struct json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	add_str(o, "id", s->id);
	add_str(o, "name", s->name);
	add_u64(o, "vm-state-size", s->vm_state_size);
	add_u64(o, "date-sec", s->date_sec);
	add_u64(o, "date-nsec", s->date_nsec);
	add_u64(o, "vm-clock-sec", s->vm_clock_nsec / NSEC_PER_SEC);
	add_u64(o, "vm-clock-nsec", s->vm_clock_nsec % NSEC_PER_SEC);
	if (s->icount != UINT64_MAX)
		add_u64(o, "icount", s->icount);
	return o;
}

static struct json_object *snapshots_json(const struct qcow_info *info)
{
	struct json_object *arr = json_object_new_array();
	unsigned int i;

	if (!arr)
		return NULL;
	for (i = 0; i < info->nb_snapshots; i++)
		json_object_array_add(arr, snapshot_json(&info->snapshots[i]));
	return arr;
}

static void add_backing(struct json_object *o, const struct image_report *r)
{
	const struct qcow_info *info = &r->info;

	if (!info->backing_file)
		return;
	add_str(o, "backing-filename", info->backing_file);
	if (r->full_backing)
		add_str(o, "full-backing-filename", r->full_backing);
	if (info->backing_format)
		add_str(o, "backing-filename-format", info->backing_format);
}

struct json_object *image_report_json(const struct image_report *r)
{
	const struct qcow_info *info = &r->info;
	struct json_object *o = json_object_new_object();
	struct json_object *spec;

	if (!o)
		return NULL;
	add_str(o, "filename", r->filename);
	add_str(o, "format", r->format);
	json_object_object_add(o, "dirty-flag",
			       json_object_new_boolean(info->dirty));
	if (r->has_actual_size)
		add_u64(o, "actual-size", r->actual_size);
	add_u64(o, "virtual-size", info->virtual_size);
	if (info->cluster_size)
		add_u64(o, "cluster-size", info->cluster_size);
	if (info->crypt_method)
		json_object_object_add(o, "encrypted",
				       json_object_new_boolean(true));
	add_backing(o, r);
	if (info->nb_snapshots)
		json_object_object_add(o, "snapshots", snapshots_json(info));
	spec = spec_info_json(info, &r->bitmaps);
	if (spec)
		json_object_object_add(o, "format-specific", spec);
	return o;
}
