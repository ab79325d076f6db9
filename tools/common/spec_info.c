// SPDX-License-Identifier: MIT
/*
 * The "format-specific" part of image information.  Members are added in
 * the order of QEMU's ImageInfoSpecificQCow2 schema; qjson reorders them.
 */
#include <stdio.h>
#include "tools/common/qjson.h"
#include "tools/common/spec_info.h"

static void add_str(struct json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, json_object_new_string(v));
}

static void add_bool(struct json_object *o, const char *k, bool v)
{
	json_object_object_add(o, k, json_object_new_boolean(v));
}

static void add_u64(struct json_object *o, const char *k, uint64_t v)
{
	json_object_object_add(o, k, json_object_new_uint64(v));
}

/* QEMU's QCryptoBlockInfoLUKSSlot: iters and stripes of active slots */
static struct json_object *luks_slots(const struct qcow_luks_info *l)
{
	struct json_object *arr = json_object_new_array();
	unsigned int i;

	for (i = 0; arr && i < 8; i++) {
		const struct qcow_luks_slot *sl = &l->slots[i];
		struct json_object *o = json_object_new_object();

		add_bool(o, "active", sl->active);
		if (sl->active) {
			add_u64(o, "iters", sl->iters);
			add_u64(o, "stripes", sl->stripes);
		}
		add_u64(o, "key-offset", sl->key_offset);
		json_object_array_add(arr, o);
	}
	return arr;
}

static void add_luks(struct json_object *enc, const struct qcow_luks_info *l)
{
	add_str(enc, "cipher-alg", l->cipher_alg);
	add_str(enc, "cipher-mode", l->cipher_mode);
	add_str(enc, "ivgen-alg", l->ivgen_alg);
	if (l->ivgen_hash_alg[0])
		add_str(enc, "ivgen-hash-alg", l->ivgen_hash_alg);
	add_str(enc, "hash-alg", l->hash_alg);
	add_u64(enc, "payload-offset", l->payload_offset);
	add_u64(enc, "master-key-iters", l->master_key_iters);
	add_str(enc, "uuid", l->uuid);
	json_object_object_add(enc, "slots", luks_slots(l));
}

static void add_encrypt(struct json_object *data, const struct qcow_info *info)
{
	struct json_object *enc;

	if (!info->crypt_method)
		return;
	enc = json_object_new_object();
	add_str(enc, "format", info->crypt_method == 1 ? "aes" : "luks");
	if (info->luks && info->luks->cipher_alg[0])
		add_luks(enc, info->luks);
	json_object_object_add(data, "encrypt", enc);
}

/* Members in the order of QEMU's Qcow2BitmapInfo; flags as it names them. */
static struct json_object *bitmap_json(const struct qcow_bitmap_info *b)
{
	struct json_object *o = json_object_new_object();
	struct json_object *flags = json_object_new_array();

	if (!o || !flags) {
		json_object_put(o);
		json_object_put(flags);
		return NULL;
	}
	add_str(o, "name", b->name);
	json_object_object_add(o, "granularity",
			       json_object_new_uint64(b->granularity));
	if (b->in_use || b->broken)
		json_object_array_add(flags, json_object_new_string("in-use"));
	if (b->enabled)
		json_object_array_add(flags, json_object_new_string("auto"));
	json_object_object_add(o, "flags", flags);
	return o;
}

static void add_bitmaps(struct json_object *data,
			const struct spec_bitmaps *bm)
{
	struct json_object *arr;
	int i;

	if (!bm || bm->n <= 0)
		return;
	arr = json_object_new_array();
	if (!arr)
		return;
	for (i = 0; i < bm->n; i++)
		json_object_array_add(arr, bitmap_json(&bm->v[i]));
	json_object_object_add(data, "bitmaps", arr);
}

static struct json_object *qcow2_data(const struct qcow_info *info,
				      const struct spec_bitmaps *bm)
{
	struct json_object *data = json_object_new_object();
	bool v3 = info->version >= 3;

	if (!data)
		return NULL;
	add_str(data, "compat", v3 ? "1.1" : "0.10");
	if (v3 && info->data_file) {
		add_str(data, "data-file", info->data_file);
		add_bool(data, "data-file-raw", info->data_file_raw);
	}
	if (v3) {
		add_bool(data, "extended-l2", info->extended_l2);
		add_bool(data, "lazy-refcounts", info->lazy_refcounts);
		add_bool(data, "corrupt", info->corrupt);
	}
	json_object_object_add(data, "refcount-bits",
			       json_object_new_int64(info->refcount_bits));
	add_encrypt(data, info);
	if (v3)
		add_bitmaps(data, bm);
	add_str(data, "compression-type",
		info->compression_type == 1 ? "zstd" : "zlib");
	return data;
}

struct json_object *spec_info_json(const struct qcow_info *info,
				   const struct spec_bitmaps *bm)
{
	struct json_object *spec, *data;

	if (info->format != QCOW_FMT_QCOW2)
		return NULL;
	data = qcow2_data(info, bm);
	spec = json_object_new_object();
	if (!spec || !data) {
		json_object_put(spec);
		json_object_put(data);
		return NULL;
	}
	add_str(spec, "type", "qcow2");
	json_object_object_add(spec, "data", data);
	return spec;
}

void spec_info_dump(FILE *f, const struct qcow_info *info,
		    const struct spec_bitmaps *bm)
{
	struct json_object *spec = spec_info_json(info, bm);

	if (!spec)
		return;
	fprintf(f, "Format specific information:\n");
	qjson_dump_human(f, json_object_object_get(spec, "data"), 1);
	json_object_put(spec);
}

void spec_bitmaps_of(struct qcow_image *img, struct spec_bitmaps *bm)
{
	int n = qcow_bitmap_list(img, &bm->v);

	bm->n = n > 0 ? n : 0;
	if (n <= 0)
		bm->v = NULL;
}
