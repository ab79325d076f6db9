// SPDX-License-Identifier: MIT
/*
 * Bitmaps on disk: read and validated at open, their bits loaded, marked
 * in use before the first write, stored with in use cleared.
 *
 * Marking (QEMU's in-place order, each step durable before the next):
 * autoclear bit 0 cleared in the header, the directory rewritten in place
 * with in_use set, bit 0 set again.  A crash between the first and the
 * last step leaves a stale extension: every bitmap is dropped at the next
 * read-write open, as QEMU does.
 *
 * While in use, checkpoints write the changed chunks in place
 * (qcow2_bitmap_flush.c).  Storing in place (the bitmaps on disk are the
 * ones in memory): one more checkpoint writes the chunks changed since the
 * last, then the directory is rewritten in place with in_use cleared, in
 * the marking's order.
 *
 * Storing to new clusters (bitmaps added, removed, resized, or not in
 * use on disk): bitmap data, tables and the directory go to new clusters,
 * the refcounts of those are written (a checkpoint), then one header write
 * switches to the new directory; only then are the old clusters released.
 * A crash before the header write leaves the old (in use) bitmaps and
 * leaked new clusters; after it, the new exact ones and leaked old ones.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include "qcow2.h"
#include "qcow2_bitmap.h"
#include "layout.h"

static int dir_broken(struct qcow2 *s, const char *fmt, const char *what)
{
	char msg[200];

	snprintf(msg, sizeof(msg), fmt, what);
	free(s->bm.dir_broken);
	s->bm.dir_broken = strdup(msg);
	return s->bm.dir_broken ? 0 : -ENOMEM;
}

static int read_directory(struct qcow2 *s)
{
	uint64_t len = s->bitmap_dir_size;
	uint8_t *dir;
	int ret;

	if (s->bm.dir_broken)
		return 0;
	dir = malloc(len ? len : 1);
	if (!dir)
		return -ENOMEM;
	ret = qfile_pread_sync(s->img->file, dir, len, s->bitmap_dir_offset);
	if (ret < 0) {
		free(dir);
		return dir_broken(s, "cannot read the bitmap directory: %s",
				  strerror(-ret));
	}
	ret = qcow2_bitmap_parse(s, dir, len, s->nb_bitmaps, &s->bm);
	if (ret < 0 || s->bm.dir_broken) {
		free(dir);
		return ret;
	}
	s->bm.disk_dir = dir;
	s->bm.disk_dir_len = len;
	return 0;
}

static int read_table(struct qcow2 *s, struct qcow2_bitmap *b, uint64_t **out)
{
	uint64_t *t = calloc(b->table_size ? b->table_size : 1, 8);
	uint32_t i;
	int ret;

	if (!t)
		return -ENOMEM;
	ret = qfile_pread_sync(s->img->file, t, (uint64_t)b->table_size * 8,
			       b->table_offset);
	for (i = 0; i < b->table_size; i++)
		t[i] = be64toh(t[i]);
	if (ret < 0)
		free(t);
	else
		*out = t;
	return ret;
}

static void set_broken(struct qcow2_bitmap *b, const char *why)
{
	free(b->broken);
	b->broken = strdup(why);
}

/* Bit i of a cluster of bitmap data is bit i % 8 of its byte i / 8. */
static void chunk_to_words(uint64_t *w, uint64_t first_bit,
			   const uint8_t *p, uint64_t bytes)
{
	uint64_t i;

	for (i = 0; i < bytes; i += 8) {
		uint64_t v = 0;
		unsigned int k;

		for (k = 0; k < 8 && i + k < bytes; k++)
			v |= (uint64_t)p[i + k] << (8 * k);
		w[(first_bit + i * 8) / 64] = v;
	}
}

void qcow2_bitmap_words_to_chunk(const uint64_t *w, uint64_t first_bit,
				 uint8_t *p, uint64_t bytes)
{
	uint64_t i;

	for (i = 0; i < bytes; i += 8) {
		uint64_t v = w[(first_bit + i * 8) / 64];
		unsigned int k;

		for (k = 0; k < 8 && i + k < bytes; k++)
			p[i + k] = (uint8_t)(v >> (8 * k));
	}
}

static uint64_t bitmap_bytes(const struct qcow2_bitmap *b)
{
	return div_round_up(b->nbits, 8);
}

static void clear_tail(struct qcow2_bitmap *b)
{
	uint64_t nw = div_round_up(b->nbits, 64);

	if (b->nbits % 64)
		b->words[nw - 1] &= (1ULL << (b->nbits % 64)) - 1;
}

static int load_chunks(struct qcow2 *s, struct qcow2_bitmap *b,
		       const uint64_t *t)
{
	uint64_t cs = s->cluster_size, bytes = bitmap_bytes(b), k;
	uint8_t *buf = malloc(cs);
	int ret = 0;

	if (!buf)
		return -ENOMEM;
	for (k = 0; k < b->table_size && k * cs < bytes && !ret; k++) {
		uint64_t n = MIN(cs, bytes - k * cs);
		uint64_t off = t[k] & BME_TABLE_OFFSET;

		if (!off)
			memset(buf, (t[k] & BME_TABLE_ALL_ONES) ? 0xff : 0, n);
		else
			ret = qfile_pread_sync(s->img->file, buf, n, off);
		if (!ret)
			chunk_to_words(b->words, k * cs * 8, buf, n);
	}
	free(buf);
	return ret;
}

/* The bits of a consistent bitmap into memory; a bad table breaks it. */
int qcow2_bitmap_load(struct qcow2 *s, struct qcow2_bitmap *b)
{
	uint64_t *t = NULL;
	char why[200];
	int ret;

	if (b->words || !qcow2_bitmap_consistent(b))
		return 0;
	ret = read_table(s, b, &t);
	if (ret < 0)
		return ret;
	if (qcow2_bitmap_check_table(s, b, t, why, sizeof(why)) < 0) {
		free(t);
		set_broken(b, why);
		return b->broken ? 0 : -ENOMEM;
	}
	b->nbits = div_round_up(s->img->size, 1ULL << b->gran_bits);
	ret = qcow2_bitmap_alloc_bits(s, b);
	if (!ret)
		ret = load_chunks(s, b, t);
	if (ret < 0) {
		free(t);
		free(b->words);
		free(b->chunk_dirty);
		b->words = NULL;
		b->chunk_dirty = NULL;
		return ret;
	}
	clear_tail(b);
	b->old_table = t;
	return 0;
}

static int first_broken(struct qcow2 *s, const char **name, const char **why)
{
	unsigned int i;

	if (s->bm.dir_broken) {
		*name = NULL;
		*why = s->bm.dir_broken;
		return 1;
	}
	for (i = 0; i < s->bm.n; i++) {
		if (s->bm.v[i].broken) {
			*name = s->bm.v[i].name;
			*why = s->bm.v[i].broken;
			return 1;
		}
	}
	return 0;
}

static int refuse_broken(struct qcow2 *s)
{
	const char *name, *why;
	const char *hint = "run 'qcow-img check -r all' or 'qcow-img bitmap "
			   "--remove'";

	if (!first_broken(s, &name, &why) || s->img->opts.allow_broken_bitmaps
	    || s->img->opts.repair)
		return 0;
	if (!name)
		return qcow_set_error(-EINVAL, s->img->filename, "bitmaps: %s;"
				      " %s", why, hint);
	return qcow_set_error(-EINVAL, s->img->filename, "bitmap '%s': %s; %s",
			      name, why, hint);
}

static void warn_broken(struct qcow2 *s)
{
	const char *name, *why;

	if (!first_broken(s, &name, &why))
		return;
	if (name)
		qcow_log(s->img, "bitmap '%s': %s", name, why);
	else
		qcow_log(s->img, "bitmaps: %s", why);
}

/*
 * At open, before anything is written: the directory read and validated;
 * read-write, the bits loaded and broken metadata refused.
 */
int qcow2_bitmaps_open(struct qcow2 *s)
{
	bool bit = !!(s->autoclear & QCOW2_AUTOCLEAR_BITMAPS);
	unsigned int i;
	int ret = 0;

	if (bit && !s->bitmap_ext)
		ret = dir_broken(s, "%s", "autoclear bit 0 (bitmaps) is set "
				 "without a bitmaps extension");
	else if (bit)
		ret = read_directory(s);
	if (ret < 0)
		return ret;
	if (!s->writable) {
		warn_broken(s);
		return 0;
	}
	for (i = 0; i < s->bm.n && !ret; i++)
		ret = qcow2_bitmap_load(s, &s->bm.v[i]);
	if (ret < 0)
		return qcow_set_error(ret, s->img->filename, "cannot read "
				      "bitmap '%s': %s", s->bm.v[i - 1].name,
				      strerror(-ret));
	return refuse_broken(s);
}

static int write_dir_in_place(struct qcow2 *s, const uint8_t *dir,
			      uint64_t len)
{
	uint64_t io = ALIGN_UP(len, s->img->file->align);
	uint8_t *buf = qalloc_aligned(io ? io : 1);
	int ret;

	if (!buf)
		return -ENOMEM;
	memset(buf, 0, io);
	memcpy(buf, dir, len);
	ret = qfile_pwrite_sync(s->img->file, buf, io, s->bitmap_dir_offset);
	free(buf);
	return ret < 0 ? ret : qfile_fsync_sync(s->img->file);
}

/* The on-disk directory with in_use set on every entry; false: no change */
static bool dir_set_in_use(struct qcow2_bitmaps *bm, uint32_t nb,
			   uint8_t *dir)
{
	uint64_t pos = 0;
	bool changed = false;
	unsigned int i;

	for (i = 0; i < nb && pos + BME_HEADER_LEN <= bm->disk_dir_len;
	     i++) {
		uint32_t flags = get_be32(dir + pos + 12);

		if (!(flags & BME_FLAG_IN_USE)) {
			put_be32(dir + pos + 12, flags | BME_FLAG_IN_USE);
			changed = true;
		}
		pos += ALIGN_UP(BME_HEADER_LEN +
				(uint64_t)get_be32(dir + pos + 20) +
				get_be16(dir + pos + 18), 8);
	}
	return changed;
}

/*
 * The directory rewritten in place, in QEMU's order: autoclear bit 0
 * cleared, the directory written, the bit set again, each durable.
 */
int qcow2_bitmap_rewrite_dir(struct qcow2 *s, const uint8_t *dir)
{
	int ret;

	qcow2_header_set_autoclear(s, s->autoclear & ~QCOW2_AUTOCLEAR_BITMAPS);
	ret = qcow2_header_write_sync(s);
	if (!ret)
		ret = write_dir_in_place(s, dir, s->bm.disk_dir_len);
	qcow2_header_set_autoclear(s, s->autoclear | QCOW2_AUTOCLEAR_BITMAPS);
	if (!ret)
		ret = qcow2_header_write_sync(s);
	return ret;
}

int qcow2_bitmaps_mark_in_use(struct qcow2 *s)
{
	uint8_t *dir;
	int ret;

	if (s->bm.marked)
		return 0;
	if (!s->bm.disk_dir || !(s->autoclear & QCOW2_AUTOCLEAR_BITMAPS)) {
		s->bm.marked = true;
		return 0;
	}
	dir = malloc(s->bm.disk_dir_len);
	if (!dir)
		return -ENOMEM;
	memcpy(dir, s->bm.disk_dir, s->bm.disk_dir_len);
	if (!dir_set_in_use(&s->bm, s->nb_bitmaps, dir)) {
		free(dir);
		s->bm.marked = true;
		return 0;
	}
	ret = qcow2_bitmap_rewrite_dir(s, dir);
	if (ret < 0) {
		free(dir);
		return qcow_set_error(ret, s->img->filename, "cannot mark the"
				      " bitmaps in use: %s", strerror(-ret));
	}
	free(s->bm.clean_dir);
	s->bm.clean_dir = s->bm.disk_dir;
	s->bm.disk_dir = dir;
	s->bm.marked = true;
	return 0;
}

/*
 * Marked in use but nothing changed since: the directory as it was before
 * the marking goes back, and the file is as the open found it.
 */
static int unmark(struct qcow2 *s)
{
	struct qcow2_bitmaps *bm = &s->bm;
	int ret;

	if (!bm->marked || !bm->clean_dir)
		return 0;
	ret = qcow2_bitmap_rewrite_dir(s, bm->clean_dir);
	if (ret < 0)
		return qcow_set_error(ret, s->img->filename, "cannot clear "
				      "the bitmaps' in-use flags: %s",
				      strerror(-ret));
	free(bm->disk_dir);
	bm->disk_dir = bm->clean_dir;
	bm->clean_dir = NULL;
	bm->marked = false;
	return 0;
}

/* ---- storing ---- */

static int write_new(struct qcow2 *s, const void *data, uint64_t len,
		     uint64_t *off)
{
	uint64_t n = div_round_up(len, s->cluster_size);
	uint64_t io = n << s->cluster_bits;
	int64_t at = qcow2_alloc_clusters(s, n);
	uint8_t *buf;
	int ret;

	if (at < 0)
		return (int)at;
	buf = qalloc_aligned(io);
	if (!buf) {
		qcow2_alloc_undo(s, at, n);
		return -ENOMEM;
	}
	memset(buf + len, 0, io - len);
	memcpy(buf, data, len);
	ret = qfile_pwrite_sync(s->img->file, buf, io, at);
	free(buf);
	if (ret < 0)
		return ret;
	*off = at;
	return 0;
}

static bool all_zero(const uint8_t *p, uint64_t n)
{
	return !n || (p[0] == 0 && !memcmp(p, p + 1, n - 1));
}

struct new_table {
	uint64_t *t;		/* host order */
	uint32_t size;
	uint64_t offset;
};

static int write_bitmap(struct qcow2 *s, struct qcow2_bitmap *b,
			struct new_table *nt)
{
	uint64_t cs = s->cluster_size, bytes = bitmap_bytes(b), k;
	uint8_t *buf = malloc(cs), *tb = NULL;
	int ret = 0;

	nt->size = (uint32_t)qcow2_bitmap_table_size(s, b->gran_bits);
	nt->t = calloc(nt->size ? nt->size : 1, 8);
	if (!buf || !nt->t) {
		free(buf);
		return -ENOMEM;
	}
	for (k = 0; k < nt->size && !ret; k++) {
		uint64_t n = MIN(cs, bytes - k * cs);

		qcow2_bitmap_words_to_chunk(b->words, k * cs * 8, buf, n);
		if (!all_zero(buf, n))
			ret = write_new(s, buf, n, &nt->t[k]);
	}
	free(buf);
	if (ret < 0)
		return ret;
	tb = malloc((uint64_t)nt->size * 8 + 8);
	if (!tb)
		return -ENOMEM;
	for (k = 0; k < nt->size; k++)
		put_be64(tb + k * 8, nt->t[k]);
	ret = write_new(s, tb, (uint64_t)nt->size * 8, &nt->offset);
	free(tb);
	return ret;
}

static int release_table(struct qcow2 *s, uint64_t off, uint32_t size,
			 const uint64_t *t)
{
	uint32_t i;
	int ret = 0;

	for (i = 0; t && i < size && !ret; i++)
		if (t[i] & BME_TABLE_OFFSET)
			ret = qcow2_release_later(s, t[i] & BME_TABLE_OFFSET,
						  s->cluster_size);
	if (!ret && off && size)
		ret = qcow2_release_later(s, off, (uint64_t)size * 8);
	return ret;
}

static int put_header(struct qcow2 *s, uint32_t nb, uint64_t dir_off,
		      uint64_t dir_len)
{
	struct qcow2_header_change chg = {
		.set_bitmaps = true, .nb_bitmaps = nb,
		.bitmap_dir_offset = dir_off, .bitmap_dir_size = dir_len,
	};
	uint64_t old = s->autoclear;
	int ret;

	if (nb)
		s->autoclear |= QCOW2_AUTOCLEAR_BITMAPS;
	else
		s->autoclear &= ~QCOW2_AUTOCLEAR_BITMAPS;
	ret = qcow2_header_rewrite(s, &chg);
	if (ret < 0) {
		s->autoclear = old;
		return ret;
	}
	s->nb_bitmaps = nb;
	s->bitmap_dir_offset = dir_off;
	s->bitmap_dir_size = dir_len;
	s->bitmap_ext = nb > 0;
	return 0;
}

/* The old directory and every replaced or removed table, after the cut. */
static int release_old(struct qcow2 *s, struct new_table *nts,
		       uint64_t old_dir, uint64_t old_dir_len)
{
	struct qcow2_bitmaps *bm = &s->bm;
	unsigned int i;
	size_t g;
	int ret = 0;

	if (old_dir && old_dir_len)
		ret = qcow2_release_later(s, old_dir, old_dir_len);
	for (i = 0; i < bm->n && !ret; i++) {
		struct qcow2_bitmap *b = &bm->v[i];

		if (!nts[i].t)
			continue;
		ret = release_table(s, b->table_offset, b->table_size,
				    b->old_table);
		free(b->old_table);
		b->old_table = nts[i].t;
		nts[i].t = NULL;
		b->table_offset = nts[i].offset;
		b->table_size = nts[i].size;
	}
	for (g = 0; g < bm->nb_gone && !ret; g++)
		ret = qcow2_release_later(s, bm->gone[2 * g],
					  bm->gone[2 * g + 1]);
	bm->nb_gone = 0;
	return ret;
}

static void undo_new(struct qcow2 *s, struct new_table *nts, unsigned int n)
{
	unsigned int i;

	/* leaked at worst: nothing on disk points to them yet */
	for (i = 0; i < n; i++) {
		if (nts[i].t && nts[i].offset)
			release_table(s, nts[i].offset, nts[i].size, nts[i].t);
		else if (nts[i].t)
			release_table(s, 0, nts[i].size, nts[i].t);
		free(nts[i].t);
		nts[i].t = NULL;
	}
}

/* Exchanges b's on-disk table with the new one nt describes. */
static void swap_table(struct qcow2_bitmap *b, struct new_table *nt)
{
	uint64_t off = b->table_offset;
	uint32_t size = b->table_size;

	b->table_offset = nt->offset;
	b->table_size = nt->size;
	nt->offset = off;
	nt->size = size;
}

static int write_all(struct qcow2 *s, struct new_table *nts,
		     uint8_t **dir, uint64_t *dir_len, uint64_t *dir_off)
{
	struct qcow2_bitmaps *bm = &s->bm;
	unsigned int i;
	int ret = 0;

	for (i = 0; i < bm->n && !ret; i++)
		if (bm->v[i].words && qcow2_bitmap_consistent(&bm->v[i]))
			ret = write_bitmap(s, &bm->v[i], &nts[i]);
	if (ret < 0)
		return ret;
	for (i = 0; i < bm->n; i++)
		if (nts[i].t)
			swap_table(&bm->v[i], &nts[i]);
	ret = qcow2_bitmap_serialize(bm, false, dir, dir_len);
	for (i = 0; i < bm->n; i++)
		if (nts[i].t)
			swap_table(&bm->v[i], &nts[i]);
	if (ret < 0)
		return ret;
	*dir_off = 0;
	if (*dir_len)
		ret = write_new(s, *dir, *dir_len, dir_off);
	if (!ret)
		ret = qfile_fsync_sync(s->img->file);
	return ret;
}

/*
 * The clusters of removed broken bitmaps that no reference names now that
 * the directory without them is on disk, released; the others (named by
 * an L2 table, say) stay as they are.
 */
static int release_suspects(struct qcow2 *s)
{
	struct cluster_vec *v = &s->bm.suspect;
	uint64_t *refs = NULL, nb = 0;
	size_t i;
	int ret;

	if (!v->n)
		return 0;
	cluster_vec_sort_unique(v);
	ret = qcow2_count_references(s, &refs, &nb);
	for (i = 0; !ret && i < v->n; i++) {
		uint64_t c = v->v[i];

		if ((c < nb && refs[c]) || !qcow2_refcount_of(s, c))
			continue;
		ret = qcow2_release_later(s, c << s->cluster_bits,
					  s->cluster_size);
	}
	free(refs);
	v->n = 0;
	return ret < 0 ? ret : qcow2_ckpt_settle(s);
}

/*
 * The bitmaps on disk are those in memory, in use, written in place by
 * the checkpoints: one more writes the chunks changed since the last (new
 * clusters' refcounts before the tables naming them), then a directory
 * with in_use cleared goes to a new cluster and one header write names
 * it (a crash leaves them in use or exact, never dropped); the old
 * directory is released after.  1: not so, store to new clusters.
 */
static int store_in_place(struct qcow2 *s)
{
	struct qcow2_bitmaps *bm = &s->bm;
	uint64_t len = 0, off = 0, old = s->bitmap_dir_offset;
	uint8_t *dir = NULL;
	unsigned int i;
	int ret;

	if (!qcow2_bitmaps_in_place(s) || bm->nb_gone || bm->suspect.n)
		return 1;
	for (i = 0; i < bm->n; i++)
		if (qcow2_bitmap_consistent(&bm->v[i]) &&
		    !qcow2_bitmap_live(&bm->v[i]))
			return 1;
	if (qcow2_bitmap_serialize(bm, false, &dir, &len) < 0 ||
	    len != bm->disk_dir_len) {
		free(dir);
		return 1;
	}
	ret = qcow2_ckpt_settle(s);
	if (!ret)
		ret = write_new(s, dir, len, &off);
	if (!ret)
		ret = qfile_fsync_sync(s->img->file);
	/* on failure the new directory leaks at worst */
	if (!ret)
		ret = put_header(s, bm->n, off, len);
	if (ret < 0) {
		free(dir);
		return qcow_set_error(ret, s->img->filename, "cannot store "
				      "the bitmaps: %s", strerror(-ret));
	}
	ret = qcow2_release_later(s, old, len);
	free(bm->disk_dir);
	free(bm->clean_dir);
	bm->clean_dir = NULL;
	bm->disk_dir = dir;
	bm->marked = false;
	bm->changed = false;
	return ret < 0 ? ret : qcow2_ckpt_settle(s);
}

/* After a store to new clusters: what is on disk is what memory holds. */
static void stored_new(struct qcow2_bitmaps *bm, bool ok)
{
	unsigned int i;

	for (i = 0; i < bm->n; i++) {
		struct qcow2_bitmap *b = &bm->v[i];

		if (b->chunk_dirty && ok)
			memset(b->chunk_dirty, 0,
			       div_round_up(b->nchunks, 64) * 8);
		b->table_dirty = false;
	}
	bm->storing = false;
	if (ok)
		bm->resized = false;
}

static bool store_needed(const struct qcow2 *s)
{
	return s->bm.changed || s->bm.nb_gone ||
	       (s->bitmap_ext && !(s->autoclear & QCOW2_AUTOCLEAR_BITMAPS));
}

/*
 * Every bitmap out, consistent ones with in_use cleared; in-use and
 * broken ones keep their entries and tables as they are.
 */
int qcow2_bitmaps_store_sync(struct qcow2 *s)
{
	struct qcow2_bitmaps *bm = &s->bm;
	uint64_t old_dir = s->bitmap_ext ? s->bitmap_dir_offset : 0;
	uint64_t old_len = s->bitmap_ext ? s->bitmap_dir_size : 0;
	struct new_table *nts;
	uint64_t dir_len = 0, dir_off = 0;
	uint8_t *dir = NULL;
	int ret;

	if (!s->writable || s->refcounts_damaged || s->corrupt)
		return 0;
	if (!store_needed(s))
		return unmark(s);
	ret = store_in_place(s);
	if (ret <= 0)
		return ret;
	bm->storing = true;
	/* stale or unusable: its clusters are leaked (check -r frees them) */
	if (!(s->autoclear & QCOW2_AUTOCLEAR_BITMAPS) || bm->dir_dropped)
		old_dir = old_len = 0;
	nts = calloc(bm->n + 1, sizeof(*nts));
	if (!nts)
		return -ENOMEM;
	ret = write_all(s, nts, &dir, &dir_len, &dir_off);
	if (ret < 0) {
		if (dir_off)
			qcow2_release_later(s, dir_off, dir_len);
		undo_new(s, nts, bm->n);
	} else {
		/* did the header reach the disk?  The new clusters stay */
		ret = put_header(s, bm->n, dir_off, dir_len);
	}
	if (ret < 0) {
		for (unsigned int i = 0; i < bm->n; i++)
			free(nts[i].t);
		free(nts);
		free(dir);
		stored_new(bm, false);
		return qcow_set_error(ret, s->img->filename, "cannot store "
				      "the bitmaps: %s", strerror(-ret));
	}
	stored_new(bm, true);
	ret = release_old(s, nts, old_dir, old_len);
	free(nts);
	free(bm->disk_dir);
	free(bm->clean_dir);
	bm->clean_dir = NULL;
	bm->disk_dir = dir;
	bm->disk_dir_len = dir_len;
	bm->marked = false;
	bm->changed = false;
	bm->dir_dropped = false;
	if (!ret)
		ret = qcow2_ckpt_settle(s);
	return ret < 0 ? ret : release_suspects(s);
}

/*
 * Read-write, before the first write: a stale extension dropped (as
 * QEMU does: its clusters leak), the bitmaps on disk marked in use.
 */
int qcow2_bitmaps_start(struct qcow2 *s)
{
	int ret;

	if (s->bitmap_ext && !(s->autoclear & QCOW2_AUTOCLEAR_BITMAPS)) {
		qcow_log(s->img, "dropping a stale bitmaps extension (the "
			 "image was modified by a program without bitmap "
			 "support)");
		ret = put_header(s, 0, 0, 0);
		if (ret < 0)
			return qcow_set_error(ret, s->img->filename, "cannot "
					      "drop the stale bitmaps "
					      "extension: %s", strerror(-ret));
	}
	return qcow2_bitmaps_mark_in_use(s);
}

/*
 * The disk is now new_size bytes: consistent bitmaps follow it, as
 * qemu-img resize does (granules past the old end clean); in-use and
 * broken ones are left as they are.
 */
static int resize_chunks(struct qcow2 *s, struct qcow2_bitmap *b)
{
	uint64_t n = div_round_up(div_round_up(b->nbits, 8), s->cluster_size);
	uint64_t *cd = calloc(div_round_up(n, 64) + 1, 8);

	if (!cd)
		return -ENOMEM;
	free(b->chunk_dirty);
	b->chunk_dirty = cd;
	b->nchunks = n;
	return 0;
}

int qcow2_bitmaps_resize(struct qcow2 *s, uint64_t new_size)
{
	unsigned int i;
	int ret;

	/* the tables no longer fit: the next store writes new ones */
	s->bm.resized = true;
	for (i = 0; i < s->bm.n; i++) {
		struct qcow2_bitmap *b = &s->bm.v[i];
		uint64_t nbits = div_round_up(new_size, 1ULL << b->gran_bits);
		uint64_t old_w = div_round_up(b->nbits, 64);
		uint64_t new_w = div_round_up(nbits, 64);
		uint64_t *w;

		if (!b->words)
			continue;
		w = realloc(b->words, (new_w + 1) * 8);
		if (!w)
			return -ENOMEM;
		if (new_w + 1 > old_w)
			memset(w + old_w, 0, (new_w + 1 - old_w) * 8);
		b->words = w;
		if (nbits < b->nbits) {
			b->nbits = nbits;
			clear_tail(b);
		} else {
			clear_tail(b);	/* bits past the old end */
			b->nbits = nbits;
		}
		ret = resize_chunks(s, b);
		if (ret < 0)
			return ret;
	}
	s->bm.changed = true;
	return 0;
}
