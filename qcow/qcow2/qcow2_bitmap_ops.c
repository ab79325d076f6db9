// SPDX-License-Identifier: MIT
/*
 * The bitmaps in memory: the public calls (list, add, remove, clear,
 * enable, mark, range, store) and the tracking of writes.  Bits are set
 * with atomic ORs so that tracking needs no lock of its own.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include "qcow2.h"
#include "qcow2_bitmap.h"
#include "layout.h"

#define BERR(img, err, ...) qcow_set_error(err, (img)->filename, __VA_ARGS__)

static struct qcow2_bitmap *find(struct qcow2 *s, const char *name)
{
	unsigned int i;

	for (i = 0; i < s->bm.n; i++)
		if (!strcmp(s->bm.v[i].name, name))
			return &s->bm.v[i];
	return NULL;
}

static int lookup(struct qcow_image *img, const char *name,
		  struct qcow2_bitmap **out)
{
	struct qcow2 *s = qcow2_of(img);

	*out = name ? find(s, name) : NULL;
	if (!*out)
		return BERR(img, -ENOENT, "Dirty bitmap '%s' not found",
			    name ? name : "");
	return 0;
}

/* A consistent bitmap with its bits in memory. */
static int lookup_usable(struct qcow_image *img, const char *name,
			 bool write, struct qcow2_bitmap **out)
{
	struct qcow2 *s = qcow2_of(img);
	int ret = lookup(img, name, out);

	if (ret < 0)
		return ret;
	if (write && img->opts.read_only)
		return BERR(img, -EROFS, "the image is open read-only");
	ret = qcow2_bitmap_load(s, *out);
	if (ret < 0)
		return BERR(img, ret, "cannot read bitmap '%s': %s", name,
			    strerror(-ret));
	if (!qcow2_bitmap_consistent(*out))
		return BERR(img, -EINVAL, "Bitmap '%s' is inconsistent and "
			    "cannot be used", name);
	return 0;
}

static bool all_set(const uint64_t *w, uint64_t first, uint64_t last)
{
	uint64_t m = (~0ULL >> (63 - last % 64)) & (~0ULL << (first % 64));

	return first / 64 == last / 64 &&
	       (__atomic_load_n(&w[first / 64], __ATOMIC_RELAXED) & m) == m;
}

static void set_words(uint64_t *w, uint64_t first, uint64_t last)
{
	uint64_t wi = first / 64, wl = last / 64;

	if (wi == wl) {
		uint64_t m = (~0ULL >> (63 - last % 64)) & (~0ULL << (first % 64));

		__atomic_fetch_or(&w[wi], m, __ATOMIC_RELAXED);
		return;
	}
	__atomic_fetch_or(&w[wi], ~0ULL << (first % 64), __ATOMIC_RELAXED);
	for (wi++; wi < wl; wi++)
		if (w[wi] != ~0ULL)
			__atomic_fetch_or(&w[wi], ~0ULL, __ATOMIC_RELAXED);
	__atomic_fetch_or(&w[wl], ~0ULL >> (63 - last % 64), __ATOMIC_RELAXED);
}

/* [off, off + len) rounded out to the granularity, within the disk. */
void qcow2_bitmap_set_range(struct qcow2_bitmap *b, uint64_t off,
			    uint64_t len, uint64_t disk_size)
{
	uint64_t end, first, last;

	if (!b->words || off >= disk_size || !len)
		return;
	end = MIN(disk_size, off + len);
	first = off >> b->gran_bits;
	last = MIN((end - 1) >> b->gran_bits, b->nbits - 1);
	/* bits already set leave their chunk as it was written */
	if (all_set(b->words, first, last))
		return;
	set_words(b->words, first, last);
	qcow2_bitmap_mark_chunks(b, first, last);
}

int qcow2_bitmap_track(struct qcow_image *img, uint64_t off, uint64_t len)
{
	struct qcow2 *s = qcow2_of(img);
	unsigned int i;
	int ret;

	if (!s->writable || s->refcounts_damaged)
		return 0;
	if (!s->bm.marked) {
		ret = qcow2_bitmaps_mark_in_use(s);
		if (ret < 0)
			return ret;
	}
	for (i = 0; i < s->bm.n; i++) {
		struct qcow2_bitmap *b = &s->bm.v[i];

		if (b->enabled && qcow2_bitmap_consistent(b)) {
			qcow2_bitmap_set_range(b, off, len, img->size);
			s->bm.changed = true;
		}
	}
	return 0;
}

static uint64_t count_bits(const struct qcow2_bitmap *b)
{
	uint64_t i, n = 0;

	for (i = 0; i < div_round_up(b->nbits, 64); i++)
		n += (uint64_t)__builtin_popcountll(b->words[i]);
	return n;
}

static uint64_t granularity(const struct qcow2_bitmap *b)
{
	return b->gran_bits < 64 ? 1ULL << b->gran_bits : 0;
}

static int bm_list(struct qcow_image *img, const struct qcow_bitmap_info **out)
{
	struct qcow2 *s = qcow2_of(img);
	struct qcow_bitmap_info *inf;
	unsigned int i;

	if (!s->bm.n || s->bm.dir_broken) {
		*out = NULL;
		return 0;
	}
	inf = calloc(s->bm.n, sizeof(*inf));
	if (!inf)
		return -ENOMEM;
	for (i = 0; i < s->bm.n; i++) {
		struct qcow2_bitmap *b = &s->bm.v[i];

		if (qcow2_bitmap_load(s, b) < 0)
			qcow_log(img, "cannot read bitmap '%s'", b->name);
		inf[i].name = b->name;
		inf[i].granularity = granularity(b);
		inf[i].enabled = b->enabled;
		inf[i].in_use = !!(b->flags & BME_FLAG_IN_USE);
		inf[i].broken = b->broken;
		if (b->words)
			inf[i].dirty_bytes = MIN(img->size, count_bits(b) <<
						 b->gran_bits);
	}
	free(s->bm.infos);
	s->bm.infos = inf;
	*out = inf;
	return (int)s->bm.n;
}

static int check_new(struct qcow_image *img, const char *name,
		     uint64_t *gran)
{
	struct qcow2 *s = qcow2_of(img);

	if (s->version < 3)
		return BERR(img, -ENOTSUP, "Cannot store dirty bitmaps in "
			    "qcow2 v2 files");
	if (!name || !name[0])
		return BERR(img, -EINVAL, "Bitmap name cannot be empty");
	if (strlen(name) > QCOW_BITMAP_NAME_MAX)
		return BERR(img, -EINVAL, "Name length exceeds maximum (%u "
			    "characters)", QCOW_BITMAP_NAME_MAX);
	if (find(s, name))
		return BERR(img, -EEXIST, "Bitmap already exists: %s", name);
	if (s->bm.dir_broken)
		return BERR(img, -EINVAL, "bitmaps: %s; run 'qcow-img check "
			    "-r all'", s->bm.dir_broken);
	if (!*gran)
		*gran = MIN(MAX(s->cluster_size, 4096u), 65536u);
	if (*gran < 512 || (*gran & (*gran - 1)))
		return BERR(img, -EINVAL, "Granularity must be power of 2 "
			    "and at least 512");
	if (*gran > (1ULL << BME_MAX_GRAN_BITS))
		return BERR(img, -EINVAL, "Granularity exceeds maximum (%llu "
			    "bytes)", 1ULL << BME_MAX_GRAN_BITS);
	if (s->bm.n >= QCOW_BITMAP_MAX)
		return BERR(img, -ENOSPC, "Maximum number of persistent "
			    "bitmaps is already reached");
	return 0;
}

/* The directory as the next store writes it. */
static uint64_t dir_len(const struct qcow2 *s)
{
	uint64_t len = 0;
	unsigned int i;

	for (i = 0; i < s->bm.n; i++)
		len += qcow2_bitmap_entry_len(&s->bm.v[i]);
	return len;
}

static int bm_add(struct qcow_image *img, const char *name,
		  uint64_t gran, bool disabled)
{
	struct qcow2 *s = NULL;
	struct qcow2_bitmap *v, *b;
	int ret = qcow2_need_writable(img, &s);

	if (!ret)
		ret = check_new(img, name, &gran);
	if (ret < 0)
		return ret;
	v = realloc(s->bm.v, (s->bm.n + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	s->bm.v = v;
	b = &v[s->bm.n];
	memset(b, 0, sizeof(*b));
	b->name = strdup(name);
	b->gran_bits = (uint8_t)__builtin_ctzll(gran);
	b->type = BME_TYPE_DIRTY;
	b->enabled = !disabled;
	b->nbits = div_round_up(img->size, gran);
	if (!b->name || qcow2_bitmap_alloc_bits(s, b) < 0) {
		free(b->name);
		return -ENOMEM;
	}
	if (dir_len(s) + qcow2_bitmap_entry_len(b) > QCOW_MAX_BITMAP_DIR) {
		free(b->name);
		free(b->words);
		free(b->chunk_dirty);
		return BERR(img, -ENOSPC, "Not enough space in the bitmap "
			    "directory");
	}
	s->bm.n++;
	s->bm.changed = true;
	return 0;
}

static int gone_push(struct qcow2_bitmaps *bm, uint64_t off, uint64_t len)
{
	if (bm->nb_gone == bm->cap_gone) {
		size_t cap = bm->cap_gone ? bm->cap_gone * 2 : 64;
		uint64_t *g = realloc(bm->gone, cap * 16);

		if (!g)
			return -ENOMEM;
		bm->gone = g;
		bm->cap_gone = cap;
	}
	bm->gone[2 * bm->nb_gone] = off;
	bm->gone[2 * bm->nb_gone + 1] = len;
	bm->nb_gone++;
	return 0;
}

/*
 * The clusters a broken bitmap's table seems to name, where the table
 * can be read at all: after the store, those that nothing else references
 * are released (qcow2_bitmaps_store_sync()); the rest are left alone.
 */
static int suspect_clusters(struct qcow2 *s, struct qcow2_bitmap *b)
{
	uint64_t len = (uint64_t)b->table_size * 8, end = qcow2_file_end(s);
	uint64_t off = b->table_offset, c, *t;
	uint32_t i;
	int ret;

	if (!off || !len || qcow2_offset_into_cluster(s, off) ||
	    len > QCOW_MAX_BITMAP_DIR || off + len > end)
		return 0;
	t = malloc(len);
	if (!t)
		return -ENOMEM;
	ret = qfile_pread_sync(s->img->file, t, len, off);
	for (i = 0; !ret && i < b->table_size; i++) {
		uint64_t e = be64toh(t[i]) & BME_TABLE_OFFSET;

		if (e && !qcow2_offset_into_cluster(s, e) &&
		    e + s->cluster_size <= end)
			ret = cluster_vec_push(&s->bm.suspect,
					       e >> s->cluster_bits);
	}
	for (c = 0; !ret && c < len; c += s->cluster_size)
		ret = cluster_vec_push(&s->bm.suspect,
				       (off + c) >> s->cluster_bits);
	free(t);
	return ret < 0 ? ret : 0;
}

/*
 * The clusters of a removed bitmap, released once the directory without
 * it is on disk.  Those of broken metadata may point anywhere: see
 * suspect_clusters().
 */
static int forget_clusters(struct qcow2 *s, struct qcow2_bitmap *b)
{
	uint64_t *t = b->old_table;
	char why[200];
	uint32_t i;
	int ret = 0;

	if (b->broken)
		return suspect_clusters(s, b);
	if (!b->table_offset)
		return 0;
	if (!t) {
		t = calloc(b->table_size ? b->table_size : 1, 8);
		if (!t)
			return -ENOMEM;
		ret = qfile_pread_sync(s->img->file, t,
				       (uint64_t)b->table_size * 8,
				       b->table_offset);
		for (i = 0; i < b->table_size; i++)
			t[i] = be64toh(t[i]);
		if (!ret && qcow2_bitmap_check_table(s, b, t, why,
						     sizeof(why)) < 0)
			ret = 1;
	}
	for (i = 0; !ret && i < b->table_size; i++)
		if (t[i] & BME_TABLE_OFFSET)
			ret = gone_push(&s->bm, t[i] & BME_TABLE_OFFSET,
					s->cluster_size);
	if (!ret && b->table_size)
		ret = gone_push(&s->bm, b->table_offset,
				(uint64_t)b->table_size * 8);
	if (t != b->old_table)
		free(t);
	return ret < 0 ? ret : 0;
}

/* Entry i out of the directory in memory; stored at the next store. */
int qcow2_bitmap_remove_at(struct qcow2 *s, unsigned int i)
{
	struct qcow2_bitmap *b = &s->bm.v[i];
	int ret = forget_clusters(s, b);

	if (ret < 0)
		return ret;
	free(b->name);
	free(b->raw);
	free(b->broken);
	free(b->words);
	free(b->chunk_dirty);
	free(b->old_table);
	memmove(b, b + 1, (s->bm.n - i - 1) * sizeof(*b));
	s->bm.n--;
	s->bm.changed = true;
	return 0;
}

static int bm_remove(struct qcow_image *img, const char *name)
{
	struct qcow2 *s = NULL;
	struct qcow2_bitmap *b = NULL;
	int ret = qcow2_need_writable(img, &s);

	if (!ret)
		ret = lookup(img, name, &b);
	if (ret < 0)
		return ret;
	return qcow2_bitmap_remove_at(s, (unsigned int)(b - s->bm.v));
}

static int bm_clear(struct qcow_image *img, const char *name)
{
	struct qcow2_bitmap *b = NULL;
	int ret = lookup_usable(img, name, true, &b);

	if (ret < 0)
		return ret;
	memset(b->words, 0, div_round_up(b->nbits, 64) * 8);
	qcow2_bitmap_all_dirty(b);
	qcow2_of(img)->bm.changed = true;
	return 0;
}

static int bm_enable(struct qcow_image *img, const char *name, bool enable)
{
	struct qcow2_bitmap *b = NULL;
	int ret = lookup_usable(img, name, true, &b);

	if (ret < 0)
		return ret;
	b->enabled = enable;
	qcow2_of(img)->bm.changed = true;
	return 0;
}

static int bm_mark(struct qcow_image *img, const char *name, uint64_t off,
		   uint64_t len)
{
	struct qcow2_bitmap *b = NULL;
	int ret = lookup_usable(img, name, true, &b);

	if (ret < 0)
		return ret;
	qcow2_bitmap_set_range(b, off, len, img->size);
	qcow2_of(img)->bm.changed = true;
	return 0;
}

static bool test_bit(const uint64_t *w, uint64_t i)
{
	return (__atomic_load_n(&w[i / 64], __ATOMIC_RELAXED) >> (i % 64)) & 1;
}

/* The first bit from i on that differs from val, or n. */
static uint64_t next_other(const uint64_t *w, uint64_t i, uint64_t n,
			   bool val)
{
	while (i < n) {
		uint64_t x = __atomic_load_n(&w[i / 64], __ATOMIC_RELAXED);

		if (val)
			x = ~x;
		x &= ~0ULL << (i % 64);
		if (x)
			return MIN(n, ALIGN_DOWN(i, 64) +
				   (uint64_t)__builtin_ctzll(x));
		i = ALIGN_DOWN(i, 64) + 64;
	}
	return n;
}

static int bm_range(struct qcow_image *img, const char *name, uint64_t off,
		    uint64_t *len, bool *dirty)
{
	struct qcow2_bitmap *b = NULL;
	uint64_t bit, end;
	int ret = lookup_usable(img, name, false, &b);

	if (ret < 0)
		return ret;
	if (off >= img->size) {
		*len = 0;
		*dirty = false;
		return 0;
	}
	bit = off >> b->gran_bits;
	*dirty = test_bit(b->words, bit);
	end = next_other(b->words, bit, b->nbits, *dirty);
	end = end << b->gran_bits;
	*len = MIN(end, img->size) - off;
	return 0;
}

/*
 * Writes in flight could set bits the store misses and clear in_use over
 * them: the caller must have none.  What is cheap to see is refused (not
 * a request parked on a metadata load: that is the caller's duty).
 */
static int bm_store(struct qcow_image *img)
{
	struct qcow2 *s = qcow2_of(img);

	if (__atomic_load_n(&s->inflight, __ATOMIC_RELAXED) ||
	    __atomic_load_n(&s->io_epoch.n[0], __ATOMIC_RELAXED) ||
	    __atomic_load_n(&s->io_epoch.n[1], __ATOMIC_RELAXED))
		return BERR(img, -EBUSY, "cannot store the bitmaps with "
			    "requests in flight");
	return qcow2_bitmaps_store_sync(s);
}

const struct qcow_bitmap_ops qcow2_bitmap_ops = {
	.list = bm_list,
	.add = bm_add,
	.remove = bm_remove,
	.clear = bm_clear,
	.enable = bm_enable,
	.mark = bm_mark,
	.range = bm_range,
	.store = bm_store,
	.track = qcow2_bitmap_track,
};
