// SPDX-License-Identifier: MIT
/*
 * The bitmap directory: parsed from and serialized to its on-disk form,
 * each entry validated with QEMU's limits.  An entry that breaks a rule
 * is kept with the reason (b->broken) and its bytes as they were.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include "qcow2.h"
#include "qcow2_bitmap.h"
#include "layout.h"

static void bitmap_free(struct qcow2_bitmap *b);

uint32_t qcow2_bitmap_entry_len(const struct qcow2_bitmap *b)
{
	if (b->raw)
		return b->raw_len;
	return ALIGN_UP(BME_HEADER_LEN + strlen(b->name), 8);
}

/* Clusters of bitmap data needed for the disk at granularity 2^gran_bits. */
uint64_t qcow2_bitmap_table_size(const struct qcow2 *s, uint8_t gran_bits)
{
	uint64_t bits = div_round_up(s->img->size, 1ULL << gran_bits);
	uint64_t bytes = div_round_up(bits, 8);

	return div_round_up(bytes, s->cluster_size);
}

bool qcow2_bitmap_consistent(const struct qcow2_bitmap *b)
{
	return !b->broken && !(b->flags & BME_FLAG_IN_USE);
}

static bool name_taken(const struct qcow2_bitmaps *bm, unsigned int upto,
		       const char *name)
{
	unsigned int i;

	for (i = 0; i < upto; i++)
		if (bm->v[i].name && !strcmp(bm->v[i].name, name))
			return true;
	return false;
}

void qcow2_bitmap_validate(struct qcow2 *s, struct qcow2_bitmap *b,
			   char *why, size_t n)
{
	uint64_t file_end = qcow2_file_end(s);
	uint64_t want;

	why[0] = 0;
	if (b->flags & ~BME_FLAGS_KNOWN)
		snprintf(why, n, "flags %#x has reserved bits set", b->flags);
	else if (b->type != BME_TYPE_DIRTY)
		snprintf(why, n, "type %u is not 1 (dirty tracking)", b->type);
	else if (b->gran_bits < BME_MIN_GRAN_BITS ||
		 b->gran_bits > BME_MAX_GRAN_BITS)
		snprintf(why, n, "granularity_bits %u out of range (%u-%u)",
			 b->gran_bits, BME_MIN_GRAN_BITS, BME_MAX_GRAN_BITS);
	else if (qcow2_offset_into_cluster(s, b->table_offset) ||
		 !b->table_offset)
		snprintf(why, n, "bitmap_table_offset %#" PRIx64 " is not "
			 "cluster aligned", b->table_offset);
	else if ((uint64_t)b->table_size * 8 > QCOW_MAX_L1_SIZE ||
		 b->table_offset + (uint64_t)b->table_size * 8 > file_end)
		snprintf(why, n, "bitmap table at %#" PRIx64 " (%u entries) is"
			 " past the end of the file", b->table_offset,
			 b->table_size);
	if (why[0] || (b->flags & BME_FLAG_IN_USE))
		return;
	want = qcow2_bitmap_table_size(s, b->gran_bits);
	if (b->table_size != want)
		snprintf(why, n, "bitmap_table_size %u does not match the "
			 "disk size (%" PRIu64 ")", b->table_size, want);
}

/* The table entries (host order) of a valid entry b. */
int qcow2_bitmap_check_table(struct qcow2 *s, struct qcow2_bitmap *b,
			     const uint64_t *t, char *why, size_t n)
{
	uint64_t file_end = qcow2_file_end(s);
	uint32_t i;

	for (i = 0; i < b->table_size; i++) {
		uint64_t e = t[i], off = e & BME_TABLE_OFFSET;

		if (e & BME_TABLE_RESERVED) {
			snprintf(why, n, "bitmap table entry %u (%#" PRIx64
				 ") has reserved bits set", i, e);
			return -EINVAL;
		}
		if ((e & BME_TABLE_ALL_ONES) && off) {
			snprintf(why, n, "bitmap table entry %u (%#" PRIx64
				 ") has all-ones set with an offset", i, e);
			return -EINVAL;
		}
		if (off && (qcow2_offset_into_cluster(s, off) ||
			    off + s->cluster_size > file_end)) {
			snprintf(why, n, "bitmap table entry %u offset %#"
				 PRIx64 " is unaligned or past the end of the "
				 "file", i, off);
			return -EINVAL;
		}
	}
	return 0;
}

static int parse_entry(struct qcow2 *s, struct qcow2_bitmaps *bm,
		       const uint8_t *p, uint64_t room)
{
	struct qcow2_bitmap *b = &bm->v[bm->n];
	uint32_t name_size, extra;
	uint64_t len;
	char why[200];

	if (room < BME_HEADER_LEN)
		return 1;
	b->table_offset = get_be64(p);
	b->table_size = get_be32(p + 8);
	b->flags = get_be32(p + 12);
	b->type = p[16];
	b->gran_bits = p[17];
	name_size = get_be16(p + 18);
	extra = get_be32(p + 20);
	len = ALIGN_UP(BME_HEADER_LEN + (uint64_t)extra + name_size, 8);
	if (len > room)
		return 1;
	b->raw_len = (uint32_t)len;
	b->raw = malloc(len);
	b->name = malloc(name_size + 1);
	if (!b->raw || !b->name)
		return -ENOMEM;
	memcpy(b->raw, p, len);
	memcpy(b->name, p + BME_HEADER_LEN + extra, name_size);
	b->name[name_size] = 0;
	b->enabled = !!(b->flags & BME_FLAG_AUTO);
	bm->n++;
	qcow2_bitmap_validate(s, b, why, sizeof(why));
	if (!why[0] && extra)
		snprintf(why, sizeof(why), "extra_data_size %u is not 0",
			 extra);
	if (!why[0] && (!name_size || name_size > QCOW_BITMAP_NAME_MAX))
		snprintf(why, sizeof(why), "name_size %u out of range "
			 "(1-%u)", name_size, QCOW_BITMAP_NAME_MAX);
	if (!why[0] && strlen(b->name) != name_size)
		snprintf(why, sizeof(why), "name contains a NUL byte");
	if (!why[0] && name_taken(bm, bm->n - 1, b->name))
		snprintf(why, sizeof(why), "name is not unique");
	if (!why[0]) {
		uint64_t used = BME_HEADER_LEN + (uint64_t)extra + name_size;
		uint64_t i;

		for (i = used; i < len; i++)
			if (p[i])
				snprintf(why, sizeof(why), "padding after the "
					 "name is not zero");
	}
	if (why[0]) {
		b->broken = strdup(why);
		if (!b->broken)
			return -ENOMEM;
	}
	return 0;
}

/*
 * The entries of dir into bm.  A directory that cannot be walked (too
 * short, entry count wrong) sets bm->dir_broken and keeps no entry.
 */
int qcow2_bitmap_parse(struct qcow2 *s, const uint8_t *dir, uint64_t len,
		       uint32_t nb, struct qcow2_bitmaps *bm)
{
	uint64_t pos = 0;
	char why[200] = "";
	int ret = 0;

	bm->v = calloc(nb ? nb : 1, sizeof(*bm->v));
	if (!bm->v)
		return -ENOMEM;
	while (bm->n < nb) {
		ret = parse_entry(s, bm, dir + pos, len - pos);
		if (ret < 0)
			return ret;
		if (ret > 0) {
			snprintf(why, sizeof(why), "bitmap directory entry %u"
				 " runs past bitmap_directory_size %" PRIu64,
				 bm->n, len);
			break;
		}
		pos += bm->v[bm->n - 1].raw_len;
	}
	if (!why[0] && pos != len)
		snprintf(why, sizeof(why), "bitmap_directory_size %" PRIu64
			 " does not match nb_bitmaps %u (%" PRIu64 " bytes)",
			 len, nb, pos);
	if (why[0]) {
		while (bm->n)
			bitmap_free(&bm->v[--bm->n]);
		bm->dir_broken = strdup(why);
		return bm->dir_broken ? 0 : -ENOMEM;
	}
	return 0;
}

static void put_entry(const struct qcow2_bitmap *b, bool in_use, uint8_t *p)
{
	uint32_t len = qcow2_bitmap_entry_len(b);
	uint32_t flags;

	if (b->broken) {
		memcpy(p, b->raw, len);
		return;
	}
	flags = b->flags & ~(BME_FLAG_AUTO | BME_FLAG_IN_USE);
	if (b->enabled)
		flags |= BME_FLAG_AUTO;
	if (in_use || (b->flags & BME_FLAG_IN_USE))
		flags |= BME_FLAG_IN_USE;
	memset(p, 0, len);
	put_be64(p, b->table_offset);
	put_be32(p + 8, b->table_size);
	put_be32(p + 12, flags);
	p[16] = BME_TYPE_DIRTY;
	p[17] = b->gran_bits;
	put_be16(p + 18, (uint16_t)strlen(b->name));
	memcpy(p + BME_HEADER_LEN, b->name, strlen(b->name));
}

int qcow2_bitmap_serialize(const struct qcow2_bitmaps *bm, bool in_use,
			   uint8_t **out, uint64_t *len)
{
	uint64_t total = 0, pos = 0;
	unsigned int i;
	uint8_t *d;

	for (i = 0; i < bm->n; i++)
		total += qcow2_bitmap_entry_len(&bm->v[i]);
	if (total > QCOW_MAX_BITMAP_DIR)
		return -EFBIG;
	d = calloc(1, total ? total : 1);
	if (!d)
		return -ENOMEM;
	for (i = 0; i < bm->n; i++) {
		put_entry(&bm->v[i], in_use, d + pos);
		pos += qcow2_bitmap_entry_len(&bm->v[i]);
	}
	*out = d;
	*len = total;
	return 0;
}

static void bitmap_free(struct qcow2_bitmap *b)
{
	free(b->name);
	free(b->raw);
	free(b->broken);
	free(b->words);
	free(b->chunk_dirty);
	free(b->old_table);
}

void qcow2_bitmaps_free(struct qcow2_bitmaps *bm)
{
	unsigned int i;

	for (i = 0; i < bm->n; i++)
		bitmap_free(&bm->v[i]);
	free(bm->v);
	free(bm->infos);
	free(bm->dir_broken);
	free(bm->disk_dir);
	free(bm->clean_dir);
	cluster_vec_free(&bm->suspect);
	free(bm->gone);
	memset(bm, 0, sizeof(*bm));
}
