// SPDX-License-Identifier: MIT
/*
 * Read-only consistency check of a qcow2 image, counting what qemu-img
 * check counts: every cluster's references are rebuilt from the metadata
 * and compared with the refcounts on disk.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include "qcow2_map.h"
#include "qcow2_write.h"
#include "qcow2_check.h"
#include "layout.h"

static void vreport(void (*report)(void *arg, const char *msg), void *arg,
		    const char *fmt, va_list ap)
{
	char msg[256];

	if (!report)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	report(arg, msg);
}

static void vsay(struct check *c, const char *fmt, va_list ap)
{
	vreport(c->report, c->arg, fmt, ap);
}

/* A repair made outside a check. */
void qcow2_check_report_fix(void (*report)(void *arg, const char *msg),
			    void *arg, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(report, arg, fmt, ap);
	va_end(ap);
}

/* A finding. */
static void say(struct check *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void say(struct check *c, const char *fmt, ...)
{
	va_list ap;

	if (c->quiet)
		return;
	va_start(ap, fmt);
	vsay(c, fmt, ap);
	va_end(ap);
}

/* A repair. */
void qcow2_check_say_fix(struct check *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(c, fmt, ap);
	va_end(ap);
}

static int grow_refs(struct check *c, uint64_t need)
{
	uint64_t n = MAX(need, MIN(c->nb_refs * 2, 1ULL << 26));
	uint64_t *p;

	/* 512 MiB of counters at most: 64 Mi clusters, 4 TiB of 64k ones */
	if (need > (QCOW_MAX_IMAGE_SIZE >> c->s->cluster_bits) ||
	    need > (1ULL << 26))
		return -EFBIG;
	p = realloc(c->refs, n * sizeof(*p));
	if (!p)
		return -ENOMEM;
	memset(p + c->nb_refs, 0, (n - c->nb_refs) * sizeof(*p));
	c->refs = p;
	c->nb_refs = n;
	return 0;
}

/* One more reference to every cluster touched by [off, off + len). */
static int inc_refs(struct check *c, uint64_t off, uint64_t len)
{
	uint64_t first, last, i;
	int ret;

	if (!len)
		return 0;
	if (off > QCOW_MAX_IMAGE_SIZE || len > QCOW_MAX_IMAGE_SIZE) {
		c->res->corruptions++;
		say(c, "ERROR: reference to %#" PRIx64 " is out of range", off);
		return 0;
	}
	if (off + len > c->s->img->file->size &&
	    off + len - c->s->img->file->size >= c->s->cluster_size) {
		say(c, "ERROR: counting reference for region exceeding the end "
		    "of the file by one cluster or more: offset %#" PRIx64
		    " size %#" PRIx64, off, len);
		c->res->corruptions++;
		return 0;
	}
	first = off >> c->s->cluster_bits;
	last = (off + len - 1) >> c->s->cluster_bits;
	if (last >= c->nb_refs) {
		ret = grow_refs(c, last + 1);
		if (ret < 0)
			return ret;
	}
	for (i = first; i <= last; i++) {
		if (c->refs[i] >= c->refcount_max) {
			say(c, "ERROR: overflow cluster offset=%#" PRIx64,
			    i << c->s->cluster_bits);
			c->res->corruptions++;
			continue;
		}
		c->refs[i]++;
	}
	return 0;
}

static int check_compressed(struct check *c, uint64_t l2e, uint64_t bitmap,
			    bool active)
{
	struct qcow2 *s = c->s;
	uint64_t off, len;

	if (s->has_data_file) {
		say(c, "ERROR: compressed cluster in an image with a data "
		    "file, entry %#" PRIx64, l2e);
		c->res->corruptions++;
		return 0;
	}
	if (l2e & QCOW_OFLAG_COPIED) {
		say(c, "ERROR: compressed cluster %#" PRIx64 " has the COPIED "
		    "flag set", l2e);
		c->res->corruptions++;
	}
	if (bitmap) {
		/* as qemu-img: an error, and the cluster is not counted */
		say(c, "ERROR: compressed cluster %#" PRIx64 " has a non-zero "
		    "subcluster bitmap", l2e);
		c->res->corruptions++;
		return 0;
	}
	qcow2_compressed_range(s, l2e, &off, &len);
	if (active) {
		c->res->allocated_clusters++;
		c->res->compressed_clusters++;
		c->res->fragmented_clusters++;
	}
	return inc_refs(c, ALIGN_DOWN(off, 512), ALIGN_UP(off + len, 512) -
			ALIGN_DOWN(off, 512));
}

static int check_mapped(struct check *c, uint64_t l2e, bool active)
{
	struct qcow2 *s = c->s;
	uint64_t host = l2e & L2E_OFFSET_MASK;

	if (qcow2_offset_into_cluster(s, host)) {
		/* reported, and the range it names still counted */
		say(c, "ERROR offset=%#" PRIx64 ": cluster is not properly "
		    "aligned; L2 entry corrupted", host);
		c->res->corruptions++;
	}
	if (active) {
		c->res->allocated_clusters++;
		if (c->next_contiguous && host != c->next_contiguous)
			c->res->fragmented_clusters++;
		c->next_contiguous = host + s->cluster_size;
	}
	if (s->has_data_file)
		return 0;
	return inc_refs(c, host, s->cluster_size);
}

/*
 * As qemu-img: an unaligned L2 entry that holds no data (a preallocated
 * zero cluster) is repaired into a plain zero entry and not counted.
 */
static bool fix_unaligned_zero(struct check *c, uint8_t *p)
{
	struct qcow2 *s = c->s;
	uint64_t l2e = get_be64(p);
	uint64_t bitmap = s->l2_entry_size == 16 ? get_be64(p + 8) : 0;
	uint64_t host = l2e & L2E_OFFSET_MASK;
	bool data = s->l2_entry_size == 16 ? bitmap & 0xffffffffULL :
					     !(l2e & QCOW_OFLAG_ZERO);

	if (!(c->fix & QCOW_REPAIR_ERRORS) || data ||
	    !qcow2_offset_into_cluster(s, host))
		return false;
	qcow2_check_say_fix(c, "Repairing offset=%#" PRIx64 ": preallocated "
			    "zero cluster is not properly aligned; L2 entry "
			    "corrupted", host);
	if (s->l2_entry_size == 16) {
		put_be64(p, 0);
		put_be64(p + 8, bitmap & ~0xffffffffULL);
	} else {
		put_be64(p, QCOW_OFLAG_ZERO);
	}
	c->l2_changed = true;
	c->res->corruptions_fixed++;
	return true;
}

static int check_l2_entry(struct check *c, uint8_t *p, bool active)
{
	struct qcow2 *s = c->s;
	uint64_t l2e = get_be64(p);
	uint64_t bitmap = s->l2_entry_size == 16 ? get_be64(p + 8) : 0;
	enum qcow2_sc_type t = qcow2_sc_type(s, l2e, bitmap, 0);
	unsigned int sc;

	if (t == SC_COMPRESSED)
		return check_compressed(c, l2e, bitmap, active);
	for (sc = 1; sc < QCOW_L2_SUBCLUSTERS && s->l2_entry_size == 16 &&
	     t != SC_INVALID; sc++)
		if (qcow2_sc_type(s, l2e, bitmap, sc) == SC_INVALID)
			t = SC_INVALID;
	if (!(l2e & QCOW_OFLAG_COMPRESSED) &&
	    (l2e & (L2E_RESERVED_MASK | (s->l2_entry_size == 16 ?
					 QCOW_OFLAG_ZERO : 0)))) {
		say(c, "ERROR found L2 entry with reserved bits set: %#"
		    PRIx64, l2e);
		c->res->corruptions++;
	}
	if (t == SC_INVALID) {
		say(c, "ERROR: invalid subcluster bitmap %#" PRIx64 " of L2 "
		    "entry %#" PRIx64, bitmap, l2e);
		c->res->corruptions++;
		/* a host cluster it names is still in use */
		if (l2e & L2E_OFFSET_MASK)
			return check_mapped(c, l2e, active);
		return 0;
	}
	if (type_is_mapped(t) && !fix_unaligned_zero(c, p))
		return check_mapped(c, l2e, active);
	return 0;
}

/*
 * An L2 table into buf, for a walk over its entries: 1 when there is
 * nothing to walk (a table past the end of the file reads as zeros), 0
 * when read, or a negative errno.
 */
int qcow2_check_read_l2(struct qcow2 *s, uint8_t *buf, uint64_t off)
{
	if (off >= s->img->file->size)
		return 1;
	return qfile_pread_sync(s->img->file, buf, s->cluster_size, off);
}

/* An all-zero entry: nothing allocated, nothing to check or fix. */
bool qcow2_check_l2_entry_unused(const struct qcow2 *s, const uint8_t *p)
{
	return !get_be64(p) && (s->l2_entry_size == 8 || !get_be64(p + 8));
}

static int write_back_l2(struct check *c, uint64_t l2_off)
{
	struct qcow2 *s = c->s;
	int ret;

	c->l2_changed = false;
	meta_cache_drop(&s->l2, l2_off, s->cluster_size);
	ret = qfile_pwrite_sync(s->img->file, c->l2, s->cluster_size, l2_off);
	return ret < 0 ? ret : qfile_fsync_sync(s->img->file);
}

static int check_l2(struct check *c, uint64_t l2_off, bool active)
{
	struct qcow2 *s = c->s;
	uint64_t n = 1ULL << s->l2_bits, i;
	int ret;

	c->next_contiguous = 0;	/* fragmentation counts per L2 table */
	ret = qcow2_check_read_l2(s, c->l2, l2_off);
	if (ret > 0)
		return 0;
	if (ret < 0) {
		c->res->check_errors++;
		say(c, "ERROR: cannot read L2 table at %#" PRIx64, l2_off);
		return 0;
	}
	for (i = 0; i < n; i++) {
		uint8_t *p = c->l2 + i * s->l2_entry_size;

		if (qcow2_check_l2_entry_unused(s, p))
			continue;
		ret = check_l2_entry(c, p, active);
		if (ret < 0)
			return ret;
	}
	return c->l2_changed ? write_back_l2(c, l2_off) : 0;
}

static int check_l1(struct check *c, uint64_t l1_off, uint32_t l1_size,
		    bool active)
{
	struct qcow2 *s = c->s;
	uint64_t *l1 = s->l1;
	uint32_t i;
	int ret = 0;

	ret = inc_refs(c, l1_off, (uint64_t)l1_size * 8);
	if (ret < 0 || !l1_size)
		return ret;
	if (!active) {
		l1 = malloc((size_t)l1_size * 8);
		if (!l1)
			return -ENOMEM;
		ret = qfile_pread_sync(s->img->file, l1, (uint64_t)l1_size * 8,
				       l1_off);
		if (ret < 0) {
			c->res->check_errors++;
			free(l1);
			return 0;
		}
		for (i = 0; i < l1_size; i++)
			l1[i] = be64toh(l1[i]);
	}
	for (i = 0; i < l1_size && !ret; i++) {
		uint64_t l2_off = l1[i] & L1E_OFFSET_MASK;

		if (l1[i] & L1E_RESERVED_MASK) {
			say(c, "ERROR found L1 entry with reserved bits set: %#"
			    PRIx64, l1[i]);
			c->res->corruptions++;
		}
		if (!l2_off)
			continue;
		/* reported, then counted and walked where it points */
		if (qcow2_offset_into_cluster(s, l2_off)) {
			say(c, "ERROR l2_offset=%#" PRIx64 ": table is not "
			    "cluster aligned; L1 entry corrupted", l2_off);
			c->res->corruptions++;
		}
		ret = inc_refs(c, l2_off, s->cluster_size);
		if (!ret)
			ret = check_l2(c, l2_off, active);
	}
	if (!active)
		free(l1);
	return ret;
}

static int check_refcount_table(struct check *c)
{
	struct qcow2 *s = c->s;
	uint64_t n = (uint64_t)s->rt_clusters * s->cluster_size / 8, i;
	uint8_t *rt = malloc((size_t)n * 8);
	int ret;

	if (!rt)
		return -ENOMEM;
	ret = qfile_pread_sync(s->img->file, rt, n * 8, s->rt_offset);
	if (!ret)
		ret = inc_refs(c, s->rt_offset, n * 8);
	for (i = 0; i < n && !ret; i++) {
		uint64_t off = get_be64(rt + i * 8) & REFT_OFFSET_MASK;

		if (get_be64(rt + i * 8) & REFT_RESERVED_MASK) {
			say(c, "ERROR refcount table entry %" PRIu64 " has "
			    "reserved bits set", i);
			c->res->corruptions++;
			c->rebuild = true;
			continue;
		}
		if (!off)
			continue;
		if (qcow2_offset_into_cluster(s, off)) {
			say(c, "ERROR refcount block %" PRIu64 " is not "
			    "cluster aligned; refcount table entry corrupted",
			    i);
			c->res->corruptions++;
			c->rebuild = true;
			ret = cluster_vec_push(&c->bad_blocks, i);
			continue;
		}
		if (off >= s->img->file->size) {
			say(c, "ERROR refcount block %" PRIu64 " is outside "
			    "image", i);
			c->res->corruptions++;
			c->rebuild = true;
			continue;
		}
		ret = inc_refs(c, off, s->cluster_size);
		if (!ret)
			ret = cluster_vec_push(&c->refblocks,
					       off >> s->cluster_bits);
	}
	free(rt);
	return ret;
}

/*
 * A refcount block is referenced by the table once and by nothing else;
 * one that shares its cluster takes a new refcount structure to repair.
 */
static void check_refblock_refcounts(struct check *c)
{
	size_t i;

	for (i = 0; i < c->refblocks.n; i++) {
		uint64_t cl = c->refblocks.v[i];
		uint64_t rc = cl < c->nb_refs ? c->refs[cl] : 0;

		if (rc == 1)
			continue;
		say(c, "ERROR refcount block %zu refcount=%" PRIu64, i, rc);
		c->res->corruptions++;
		c->rebuild = true;
	}
}

/* A range the metadata names that can be counted: aligned, in the file. */
static bool sane_range(struct qcow2 *s, uint64_t off, uint64_t len)
{
	return off && !qcow2_offset_into_cluster(s, off) &&
	       len <= QCOW_MAX_BITMAP_DIR && off <= QCOW_MAX_IMAGE_SIZE &&
	       off + len <= qcow2_file_end(s);
}

static void bitmap_error(struct check *c, const struct qcow2_bitmap *b,
			 const char *why)
{
	say(c, "ERROR bitmap '%s': %s", b->name, why);
	c->res->corruptions++;
}

/*
 * A bitmap's table and data clusters.  Those of broken metadata are
 * counted where they can be (so that a leak repair frees nothing another
 * entry may still name); valid and in-use ones have their entries checked.
 */
static int check_bitmap_table(struct check *c, struct qcow2_bitmap *b)
{
	struct qcow2 *s = c->s;
	uint64_t tlen = (uint64_t)b->table_size * 8;
	char why[200];
	uint64_t *t;
	uint32_t i;
	int ret;

	if (!b->table_offset || !sane_range(s, b->table_offset, tlen))
		return 0;
	t = malloc(tlen + 8);
	if (!t)
		return -ENOMEM;
	ret = qfile_pread_sync(s->img->file, t, tlen, b->table_offset);
	if (!ret)
		ret = inc_refs(c, b->table_offset, tlen);
	for (i = 0; i < b->table_size && !ret; i++)
		t[i] = be64toh(t[i]);
	if (!ret && !b->broken &&
	    qcow2_bitmap_check_table(s, b, t, why, sizeof(why)) < 0)
		bitmap_error(c, b, why);
	for (i = 0; i < b->table_size && !ret; i++) {
		uint64_t e = t[i] & BME_TABLE_OFFSET;

		if (e && sane_range(s, e, s->cluster_size))
			ret = inc_refs(c, e, s->cluster_size);
	}
	free(t);
	return ret;
}

static int check_bitmaps(struct check *c)
{
	struct qcow2 *s = c->s;
	struct qcow2_bitmaps *bm = &s->bm;
	unsigned int i;
	size_t g;
	int ret = 0;

	if (bm->dir_broken) {
		say(c, "ERROR bitmaps: %s", bm->dir_broken);
		c->res->corruptions++;
	}
	if (s->bitmap_ext && (s->autoclear & QCOW2_AUTOCLEAR_BITMAPS) &&
	    sane_range(s, s->bitmap_dir_offset, s->bitmap_dir_size))
		ret = inc_refs(c, s->bitmap_dir_offset, s->bitmap_dir_size);
	for (i = 0; i < bm->n && !ret; i++) {
		if (bm->v[i].broken)
			bitmap_error(c, &bm->v[i], bm->v[i].broken);
		ret = check_bitmap_table(c, &bm->v[i]);
	}
	/* removed in memory, still named on disk until the next store */
	for (g = 0; g < bm->nb_gone && !ret; g++)
		ret = inc_refs(c, bm->gone[2 * g], bm->gone[2 * g + 1]);
	return ret;
}

/* One past the last cluster with a reference. */
static uint64_t refs_end(struct check *c)
{
	uint64_t i;

	for (i = c->nb_refs; i > 0; i--)
		if (c->refs[i - 1])
			return i;
	return 0;
}

/* Refcounts under an unaligned refcount block cannot be read. */
static bool refcount_unreadable(struct check *c, uint64_t cluster)
{
	uint64_t idx = cluster / (((uint64_t)c->s->cluster_size * 8) >>
				  c->s->refcount_order);
	size_t lo = 0, hi = c->bad_blocks.n;

	/* the table is scanned in order: the indices are sorted */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (c->bad_blocks.v[mid] == idx)
			return true;
		if (c->bad_blocks.v[mid] < idx)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static void say_unreadable(struct check *c, uint64_t cluster)
{
	say(c, "ERROR cannot read the refcount of cluster %" PRIu64 ": its "
	    "refcount block is unaligned", cluster);
	c->res->check_errors++;
}

/* The file's clusters under unaligned refcount blocks, from cluster on. */
static void unreadable_from(struct check *c, uint64_t cluster)
{
	uint64_t per = ((uint64_t)c->s->cluster_size * 8) >>
		       c->s->refcount_order;
	uint64_t file = div_round_up(c->s->img->file->size,
				     c->s->cluster_size);
	size_t i;

	for (i = 0; i < c->bad_blocks.n; i++) {
		uint64_t j = MAX(c->bad_blocks.v[i] * per, cluster);
		uint64_t end = MIN((c->bad_blocks.v[i] + 1) * per, file);

		for (; j < end; j++)
			say_unreadable(c, j);
	}
}

static void compare_refcounts(struct check *c)
{
	struct qcow2 *s = c->s;
	uint64_t n = MAX(refs_end(c), c->nb_disk), i, highest = 0;

	for (i = 0; i < n; i++) {
		uint64_t disk = i < c->nb_disk ? c->disk[i] : 0;
		uint64_t refs = i < c->nb_refs ? c->refs[i] : 0;

		if (c->bad_blocks.n && refcount_unreadable(c, i)) {
			say_unreadable(c, i);
			continue;
		}
		if (disk || refs)
			highest = i;
		if (disk == refs)
			continue;
		say(c, "%s cluster %" PRIu64 " refcount=%" PRIu64
		    " reference=%" PRIu64, disk < refs ? "ERROR" : "Leaked",
		    i, disk, refs);
		if (disk < refs)
			c->res->corruptions++;
		else
			c->res->leaks++;
		/* a used cluster counted free: QEMU rebuilds the structure */
		if (!disk)
			c->rebuild = true;
	}
	unreadable_from(c, n);
	c->res->image_end_offset = (highest + 1) << s->cluster_bits;
}

static uint64_t disk_refcount(struct check *c, uint64_t off)
{
	uint64_t i = off >> c->s->cluster_bits;

	return i < c->nb_disk ? c->disk[i] : 0;
}

static int check_copied_l2(struct check *c, uint64_t l2_off)
{
	struct qcow2 *s = c->s;
	uint64_t n = 1ULL << s->l2_bits, i;

	if (qcow2_check_read_l2(s, c->l2, l2_off))
		return 0;
	for (i = 0; i < n; i++) {
		const uint8_t *p = c->l2 + i * s->l2_entry_size;
		uint64_t l2e = get_be64(p);
		uint64_t bitmap = s->l2_entry_size == 16 ? get_be64(p + 8) : 0;
		enum qcow2_sc_type t;
		uint64_t rc;

		if (qcow2_check_l2_entry_unused(s, p))
			continue;
		t = qcow2_sc_type(s, l2e, bitmap, 0);
		if (t == SC_COMPRESSED || t == SC_INVALID ||
		    !type_is_mapped(t))
			continue;
		if (!s->has_data_file && c->bad_blocks.n &&
		    refcount_unreadable(c, (l2e & L2E_OFFSET_MASK) >>
					s->cluster_bits))
			continue;	/* counted as a check error already */
		rc = s->has_data_file ? 1 :
			disk_refcount(c, l2e & L2E_OFFSET_MASK);
		if ((rc == 1) != !!(l2e & QCOW_OFLAG_COPIED)) {
			say(c, "ERROR OFLAG_COPIED data cluster: l2_entry=%"
			    PRIx64 " refcount=%" PRIu64, l2e, rc);
			c->res->corruptions++;
		}
	}
	return 0;
}

static void check_copied(struct check *c)
{
	struct qcow2 *s = c->s;
	uint32_t i;

	for (i = 0; i < s->l1_size; i++) {
		uint64_t l2_off = s->l1[i] & L1E_OFFSET_MASK;
		uint64_t rc;

		if (!l2_off || qcow2_offset_into_cluster(s, l2_off))
			continue;
		/* as qemu-img: an L2 table of unknown refcount is skipped */
		if (c->bad_blocks.n &&
		    refcount_unreadable(c, l2_off >> s->cluster_bits))
			continue;
		rc = disk_refcount(c, l2_off);
		if ((rc == 1) != !!(s->l1[i] & QCOW_OFLAG_COPIED)) {
			say(c, "ERROR OFLAG_COPIED L2 cluster: l1_index=%u "
			    "l1_entry=%" PRIx64 " refcount=%" PRIu64, i,
			    s->l1[i], rc);
			c->res->corruptions++;
		}
		check_copied_l2(c, l2_off);
	}
}

static int check_snapshot(struct check *c, unsigned int i)
{
	const struct qcow2_snapshot *sn = &c->s->snapshots[i];

	if (!sn->l1_bad)
		return check_l1(c, sn->l1_offset, sn->l1_size, false);
	say(c, "ERROR snapshot %u (%s): L1 table at %#" PRIx64 " with %u "
	    "entries is unaligned or too large; snapshot table entry "
	    "corrupted", i + 1, sn->name, sn->l1_offset, sn->l1_size);
	c->res->corruptions++;
	return 0;
}

static int collect_references(struct check *c)
{
	struct qcow2 *s = c->s;
	unsigned int i;
	int ret;

	ret = inc_refs(c, 0, s->cluster_size);
	if (!ret)
		ret = check_l1(c, s->l1_offset, s->l1_size, true);
	for (i = 0; i < s->nb_snapshots && !ret; i++)
		ret = check_snapshot(c, i);
	if (!ret && s->nb_snapshots)
		ret = inc_refs(c, s->snapshots_offset, s->snapshots_size);
	if (!ret)
		ret = check_refcount_table(c);
	if (!ret)
		ret = check_bitmaps(c);
	if (!ret && s->crypt_method == QCOW_CRYPT_LUKS)
		ret = inc_refs(c, s->crypto_offset, s->crypto_length);
	return ret;
}

/* The references of every host cluster, counted into c->refs. */
int qcow2_check_count(struct check *c)
{
	int ret;

	c->refcount_max = c->s->refcount_max;
	c->l2 = malloc(c->s->cluster_size);
	/* grows with the references found, not with a sparse file's size */
	ret = c->l2 ? grow_refs(c, 1024) : -ENOMEM;
	return ret < 0 ? ret : collect_references(c);
}

void qcow2_check_free(struct check *c)
{
	cluster_vec_free(&c->refblocks);
	cluster_vec_free(&c->bad_blocks);
	free(c->refs);
	free(c->disk);
	free(c->l2);
}

int qcow2_check(struct qcow_image *img, struct qcow_check_result *res,
		void (*report)(void *arg, const char *msg), void *arg)
{
	struct qcow2_check_opts o = { .copied = true };

	return qcow2_check_ex(img, res, report, arg, &o);
}

/* Without COPIED: a repair checks those after it fixed the refcounts. */
int qcow2_check_ex(struct qcow_image *img, struct qcow_check_result *res,
		   void (*report)(void *arg, const char *msg), void *arg,
		   struct qcow2_check_opts *o)
{
	struct qcow2 *s = qcow2_of(img);
	struct check c = { .s = s, .res = res, .report = report, .arg = arg };
	int ret;

	res->total_clusters = img_clusters(s);
	ret = qcow2_check_count(&c);
	if (!ret)
		ret = qcow2_load_refcounts(s, &c.disk, &c.nb_disk);
	if (!ret) {
		check_refblock_refcounts(&c);
		compare_refcounts(&c);
		if (o->copied)
			check_copied(&c);
	}
	o->rebuild = c.rebuild;
	qcow2_check_free(&c);
	return ret;
}

int qcow2_count_references(struct qcow2 *s, uint64_t **refs, uint64_t *nb)
{
	struct qcow_check_result res = { 0 };
	struct check c = { .s = s, .res = &res };
	int ret = qcow2_check_count(&c);

	if (!ret) {
		*nb = refs_end(&c);
		*refs = c.refs;
		c.refs = NULL;
	}
	qcow2_check_free(&c);
	return ret;
}
