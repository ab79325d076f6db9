// SPDX-License-Identifier: MIT
/* The qcow2 driver: open, close and what info reports. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>
#include "qcow2_write.h"
#include "layout.h"

#define L2_CACHE_DEFAULT_MAX	(32u << 20)
#define L2_SLICE_DEFAULT	4096u

static int read_l1(struct qcow2 *s)
{
	uint32_t i;
	int ret;

	s->l1 = calloc(s->l1_size ? s->l1_size : 1, sizeof(uint64_t));
	if (!s->l1)
		return -ENOMEM;
	ret = qfile_pread_sync(s->img->file, s->l1, (uint64_t)s->l1_size * 8,
			       s->l1_offset);
	if (ret < 0)
		return qcow_set_error(ret, s->img->filename, "cannot read the "
				      "L1 table: %s", strerror(-ret));
	for (i = 0; i < s->l1_size; i++)
		s->l1[i] = be64toh(s->l1[i]);
	return 0;
}

static int open_data_file(struct qcow2 *s)
{
	struct qcow_image *img = s->img;
	const char *name = img->opts.data_file;
	char *path;
	int ret;

	if (!s->has_data_file) {
		s->data_file = img->file;
		return 0;
	}
	path = name ? strdup(name) :
		qcow_path_relative_to(img->filename, s->data_file_name);
	if (!path)
		return -ENOMEM;
	ret = name ? 0 : qcow_check_external(img, path, "data file");
	if (ret < 0) {
		free(path);
		return ret;
	}
	ret = qfile_open(&s->data_file, path, img->opts.read_only,
			 img->opts.direct);
	if (ret < 0)
		qcow_set_error(ret, img->filename, "cannot open data file "
			       "'%s': %s", path, strerror(-ret));
	else
		ret = qcow_lock_data_file(img, s->data_file);
	free(path);
	return ret;
}

/*
 * Under O_DIRECT, writes that cover a block in part are read-modify-writes
 * ordered against the other asynchronous writes (io_direct.c), so data
 * subclusters may be smaller than a block.  Clusters may not: metadata
 * written synchronously (the header) would then share blocks with them.
 */
static int check_direct_granularity(struct qcow2 *s)
{
	unsigned int align = s->img->file->align;

	if (s->img->opts.read_only || s->cluster_size >= align)
		return 0;
	return qcow_set_error(-EINVAL, s->img->filename, "O_DIRECT writes need "
			      "clusters of at least %u bytes, the image has %u"
			      " (open it without O_DIRECT, or read-only)",
			      align, s->cluster_size);
}

#define RB_CACHE_DEFAULT	(1u << 20)
#define RB_CACHE_MIN_CLUSTERS	4

/*
 * QEMU's rules for l2-cache-size, refcount-cache-size and cache-size:
 * at most two given; with cache-size, the other is what is left, and
 * alone it goes to L2 first.  L2 never gets more than covers the image.
 */
static int cache_sizes(struct qcow2 *s, uint64_t *l2, uint64_t *rb)
{
	const struct qcow_open_opts *o = &s->img->opts;
	bool l2_set = o->l2_cache_size || (o->cache_set & QCOW_CACHE_L2);
	bool rb_set = o->refcount_cache_size ||
		      (o->cache_set & QCOW_CACHE_REFCOUNT);
	bool all_set = o->cache_size || (o->cache_set & QCOW_CACHE_SIZE);
	uint64_t need = img_clusters(s) * s->l2_entry_size;
	uint64_t rb_min = (uint64_t)RB_CACHE_MIN_CLUSTERS * s->cluster_size;
	uint64_t l2_max = l2_set ? o->l2_cache_size : L2_CACHE_DEFAULT_MAX;

	*l2 = MIN(need, l2_max);
	*rb = rb_set ? o->refcount_cache_size : RB_CACHE_DEFAULT;
	if (!all_set)
		return 0;
	if (l2_set && rb_set)
		return -EDOM;
	if (l2_set && o->l2_cache_size > o->cache_size)
		return -ERANGE;
	if (rb_set && o->refcount_cache_size > o->cache_size)
		return -EOVERFLOW;
	if (l2_set) {
		*rb = o->cache_size - *l2;
	} else if (rb_set) {
		*l2 = o->cache_size - *rb;
	} else if (o->cache_size >= need + rb_min) {
		*l2 = need;
		*rb = o->cache_size - need;
	} else {
		*rb = MIN(o->cache_size, rb_min);
		*l2 = o->cache_size - *rb;
	}
	return 0;
}

static int cache_error(struct qcow2 *s, int err)
{
	const char *msg = "cache-size, l2-cache-size and refcount-cache-size "
			  "may not be set at the same time";

	if (err == -ERANGE)
		msg = "l2-cache-size may not exceed cache-size";
	else if (err == -EOVERFLOW)
		msg = "refcount-cache-size may not exceed cache-size";
	return qcow_set_error(-EINVAL, s->img->filename, "%s", msg);
}

static int init_l2_cache(struct qcow2 *s)
{
	const struct qcow_open_opts *o = &s->img->opts;
	uint64_t slice = MIN(s->cluster_size, L2_SLICE_DEFAULT), l2, rb;
	int ret;

	if (o->l2_cache_entry_size || (o->cache_set & QCOW_CACHE_ENTRY))
		slice = o->l2_cache_entry_size;
	if (slice < 512 || slice > s->cluster_size || (slice & (slice - 1)))
		return qcow_set_error(-EINVAL, s->img->filename, "L2 cache "
				      "entry size must be a power of two "
				      "between 512 and the cluster size (%u)",
				      s->cluster_size);
	ret = cache_sizes(s, &l2, &rb);
	if (ret < 0)
		return cache_error(s, ret);
	if (l2 / slice > INT_MAX)
		return qcow_set_error(-EINVAL, s->img->filename,
				      "L2 cache size too big");
	if (rb / MIN(s->cluster_size, 4096u) > INT_MAX)
		return qcow_set_error(-EINVAL, s->img->filename,
				      "Refcount cache size too big");
	s->rb_cache_bytes = rb;
	ret = meta_cache_init(&s->l2, s->img->file, (uint32_t)slice, l2);
	s->l2.load_ev = QBD_L2_LOAD;
	return ret;
}

static int read_reftable(struct qcow2 *s)
{
	uint64_t i;
	int ret;

	s->rt_entries = (uint64_t)s->rt_clusters * s->cluster_size / 8;
	s->rt = calloc(s->rt_entries, 8);
	if (!s->rt)
		return -ENOMEM;
	qfile_event(s->img->file, QBD_REFTABLE_LOAD);
	ret = qfile_pread_sync(s->img->file, s->rt, s->rt_entries * 8,
			       s->rt_offset);
	for (i = 0; i < s->rt_entries && !ret; i++) {
		s->rt[i] = be64toh(s->rt[i]);
		if (!(s->rt[i] & (REFT_RESERVED_MASK | (s->cluster_size - 1))))
			continue;
		ret = qcow_set_error(-EINVAL, s->img->filename,
			"refcount table entry %" PRIu64 " (%#" PRIx64
			") is not cluster aligned; run check -r all",
			i, s->rt[i]);
		s->rt[i] = 0;
		ret = qcow2_note_damage(s, ret);
	}
	return ret;
}

/*
 * A repair open goes on past a damaged refcount structure, which the
 * repair rebuilds; until then nothing is written.  Other opens refuse.
 */
int qcow2_note_damage(struct qcow2 *s, int err)
{
	if (!s->img->opts.repair)
		return err;
	if (!s->damage_msg)
		s->damage_msg = strdup(qcow_strerror());
	s->refcounts_damaged = true;
	return 0;
}

static int dirty_bitmaps(struct qcow2 *s)
{
	uint32_t chunk = MIN(s->cluster_size, 4096u);
	uint64_t l1_chunks, rt_chunks;

	s->l1_chunk_entries = chunk / 8;
	s->rt_chunk_entries = chunk / 8;
	l1_chunks = div_round_up(s->l1_size, s->l1_chunk_entries);
	rt_chunks = QCOW_MAX_REFTABLE_SIZE / chunk;
	s->rt_dirty_chunks = rt_chunks;
	s->l1_dirty = calloc(div_round_up(l1_chunks, 64) + 1, 8);
	s->rt_dirty = calloc(div_round_up(rt_chunks, 64) + 1, 8);
	return s->l1_dirty && s->rt_dirty ? 0 : -ENOMEM;
}

/* Runs a write-back on the thread's private context until it is done. */
struct sync_flush {
	struct qwaiter w;
	bool done;
	int err;
};

static void sync_flush_resume(struct qwaiter *w, int err)
{
	struct sync_flush *f = (struct sync_flush *)w;

	f->err = err;
	f->done = true;
}

int qcow2_ckpt_sync(struct qcow2 *s, bool refcounts)
{
	struct qcow_ctx *ctx = qcow_sync_ctx();
	struct sync_flush f = { .w.resume = sync_flush_resume };
	struct qlock_save prev;
	int ret;

	if (!ctx)
		return -ENOMEM;
	if (s->refcounts_damaged)
		return -EIO;
	prev = qcow_lock(ctx, s->img->lock);
	qcow2_ckpt_request(s, ctx, &f.w, refcounts);
	qcow_unlock(prev);
	ret = qcow_sync_drive(ctx, &f.done);
	return ret < 0 ? ret : f.err;
}

/* Write-backs until releases are on disk too (they take a second one). */
int qcow2_ckpt_settle(struct qcow2 *s)
{
	int rounds = 0, ret;

	do {
		ret = qcow2_ckpt_sync(s, true);
	} while (!ret && ++rounds < 4 && (s->alloc.dec.n ||
					  s->alloc.dec_ready.n ||
					  s->alloc.inc.n));
	return ret;
}

static int clear_autoclear(struct qcow2 *s)
{
	uint64_t keep = s->autoclear & (QCOW2_AUTOCLEAR_DATA_FILE_RAW |
					QCOW2_AUTOCLEAR_BITMAPS);

	if (s->autoclear == keep || s->version < 3)
		return 0;
	/* writers that do not maintain a feature must drop its bit */
	qcow_log(s->img, "clearing unknown autoclear bits %#" PRIx64
		 " before the first write", s->autoclear & ~keep);
	qcow2_header_set_autoclear(s, keep);
	return qcow2_header_write_sync(s);
}

static int repair_dirty(struct qcow2 *s)
{
	struct qcow_check_result fixed = { 0 };
	int ret;

	if (!(s->incompatible & QCOW2_INCOMPAT_DIRTY))
		return 0;
	ret = qcow2_rebuild_refcounts(s);
	/* a crash inside a snapshot operation leaves COPIED flags to set */
	if (!ret)
		ret = qcow2_fix_copied(s, &fixed, NULL, NULL);
	if (!ret)
		ret = qcow2_ckpt_sync(s, true);
	if (ret < 0)
		return qcow_set_error(ret, s->img->filename, "cannot repair "
				      "the refcounts of this dirty image: %s",
				      strerror(-ret));
	qcow2_header_set_dirty(s, false);
	return qcow2_header_write_sync(s);
}

static int qcow2_open_rw(struct qcow2 *s)
{
	int ret;

	s->writable = true;
	s->lazy = !!(s->compatible & QCOW2_COMPAT_LAZY_REFCOUNTS);
	ret = read_reftable(s);
	if (!ret)
		ret = dirty_bitmaps(s);
	if (!ret)
		ret = meta_cache_init(&s->rb, s->img->file,
				      MIN(s->cluster_size, 4096u),
				      s->rb_cache_bytes);
	s->rb.load_ev = QBD_REFBLOCK_LOAD;
	if (!ret)
		ret = qcow2_alloc_init(s);
	if (!ret)
		ret = qcow2_meta_init(s);
	s->file_size_at_open = s->img->file->size;
	if (!s->img->opts.no_preallocate)
		s->file_reserved = MAX(s->img->file->size,
				       s->alloc.end << s->cluster_bits);
	if (ret < 0) {
		if (!strstr(qcow_strerror(), s->img->filename))
			qcow_set_error(ret, s->img->filename, "cannot read the "
				       "refcounts: %s", strerror(-ret));
		s->writable = false;
		return ret;
	}
	ret = qcow2_bitmaps_open(s);
	if (ret < 0 || s->refcounts_damaged) {
		if (ret < 0)
			s->writable = false;
		return ret;
	}
	ret = clear_autoclear(s);
	if (!ret)
		ret = repair_dirty(s);
	if (!ret)
		ret = qcow2_bitmaps_start(s);
	if (ret < 0)
		s->writable = false;	/* close must not write back */
	return ret;
}

static void qcow2_dispatch(struct qcow_req *req)
{
	struct qcow2 *s = qcow2_of(req->img);

	if ((s->corrupt || s->refcounts_damaged) && req->op != QCOW_OP_READ &&
	    req->op != QCOW_OP_STATUS) {
		/* a zero write's finished chain probe (qcow2_zero.c) */
		free(req->drv_state);
		req->drv_state = NULL;
		qreq_fail(req, -EIO);
		req->pos = req->offset + req->length;
		qreq_put(req);
		return;
	}
	switch (req->op) {
	case QCOW_OP_WRITE:
	case QCOW_OP_WRITE_COMPRESSED:
		qcow2_write_step(req);
		break;
	case QCOW_OP_WRITE_ZEROES:
	case QCOW_OP_DISCARD:
		qcow2_zero_step(req);
		break;
	case QCOW_OP_FLUSH:
		qcow2_flush_step(req);
		break;
	default:
		qcow2_read_step(req);
		break;
	}
}

static int qcow2_open(struct qcow_image *img)
{
	struct qcow2 *s = calloc(1, sizeof(*s));
	int ret;

	if (!s)
		return -ENOMEM;
	img->priv = s;
	s->img = img;
	ret = qcow2_read_header(img, s);
	if (!ret)
		ret = qcow2_crypt_open(s);
	if (ret < 0)
		return ret;
	ret = qcow2_read_snapshots(img, s);
	if (!ret)
		ret = qcow2_snapshot_load(s);
	if (ret < 0)
		return ret;
	ret = read_l1(s);
	if (ret < 0)
		return ret;
	ret = open_data_file(s);
	if (ret < 0)
		return ret;
	ret = check_direct_granularity(s);
	if (ret < 0)
		return ret;
	ret = init_l2_cache(s);
	if (ret < 0)
		return ret;
	if (!img->opts.read_only)
		ret = qcow2_open_rw(s);
	else if (!s->snapshot_view)	/* bitmaps describe the active image */
		ret = qcow2_bitmaps_open(s);
	if (ret < 0)
		return ret;
	return qcow_open_backing(img);
}

/* Space reserved ahead of the allocator and never used goes back. */
static void trim_file(struct qcow2 *s)
{
	uint64_t end = MAX(s->alloc.end << s->cluster_bits,
			   s->file_size_at_open);

	if (s->img->file->size > end &&
	    ftruncate(s->img->file->fd, end) == 0)
		s->img->file->size = end;
}

static void qcow2_close(struct qcow_image *img)
{
	struct qcow2 *s = qcow2_of(img);
	int ret;

	if (s->writable && s->hdr_raw && !s->refcounts_damaged) {
		ret = qcow2_bitmaps_store_sync(s);
		if (ret < 0)
			qcow_log(img, "closing: %s", qcow_strerror());

		ret = qcow2_ckpt_settle(s);
		if (!ret && (s->incompatible & QCOW2_INCOMPAT_DIRTY)) {
			qcow2_header_set_dirty(s, false);
			ret = qcow2_header_write_sync(s);
		}
		if (ret < 0)
			qcow_log(img, "closing: metadata write-back failed: "
				 "%s", strerror(-ret));
		else
			trim_file(s);
	}
	meta_cache_destroy(&s->l2);
	meta_cache_destroy(&s->rb);
	qcow2_alloc_free(s);
	free(s->rt);
	free(s->l1_dirty);
	free(s->rt_dirty);
	if (s->data_file && s->data_file != img->file)
		qfile_close(s->data_file);
	qcow2_free_snapshots(s);
	qcow2_bitmaps_free(&s->bm);
	qcow2_free_header(s);
	qcow2_crypt_close(s);
	free(s->damage_msg);
	free(s->l1);
	free(s);
	img->priv = NULL;
}

static int qcow2_get_info(const struct qcow_image *img, struct qcow_info *info)
{
	const struct qcow2 *s = qcow2_of(img);

	info->version = s->version;
	info->cluster_size = s->cluster_size;
	info->refcount_bits = 1u << s->refcount_order;
	info->l1_size = s->l1_size;
	info->refcount_table_entries = (uint64_t)s->rt_clusters *
				       s->cluster_size / 8;
	info->incompatible = s->incompatible;
	info->compatible = s->compatible;
	info->autoclear = s->autoclear;
	info->crypt_method = s->crypt_method;
	info->compression_type = s->compression_type;
	info->dirty = !!(s->incompatible & QCOW2_INCOMPAT_DIRTY);
	info->corrupt = !!(s->incompatible & QCOW2_INCOMPAT_CORRUPT);
	info->lazy_refcounts = !!(s->compatible & QCOW2_COMPAT_LAZY_REFCOUNTS);
	info->extended_l2 = s->l2_entry_size == 16;
	info->data_file = s->has_data_file ? s->data_file_name : NULL;
	info->data_file_raw = !!(s->autoclear & QCOW2_AUTOCLEAR_DATA_FILE_RAW);
	info->nb_bitmaps = s->bm.n;	/* as qcow_bitmap_list() lists them */
	info->nb_snapshots = s->nb_snapshots;
	info->snapshots = s->snapshot_infos;
	info->luks = qcow2_crypt_luks_info(s);
	info->crypto_backend = qcow2_crypt_backend(s);
	return 0;
}

int qcow2_need_writable(struct qcow_image *img, struct qcow2 **out)
{
	if (img->format != QCOW_FMT_QCOW2)
		return qcow_set_error(-ENOTSUP, img->filename, "this operation "
				      "needs a qcow2 image");
	if (img->opts.read_only)
		return qcow_set_error(-EROFS, img->filename, "the image is "
				      "open read-only");
	*out = qcow2_of(img);
	return 0;
}

static struct qfile *qcow2_data_file(struct qcow_image *img)
{
	struct qcow2 *s = qcow2_of(img);

	return s->has_data_file ? s->data_file : NULL;
}

static void qcow2_caches(struct qcow_image *img, struct meta_cache **l2,
			 struct meta_cache **refcount)
{
	struct qcow2 *s = qcow2_of(img);

	*l2 = &s->l2;
	*refcount = &s->rb;
}

const struct qcow_driver qcow2_driver = {
	.caches = qcow2_caches,
	.name = "qcow2",
	.open = qcow2_open,
	.close = qcow2_close,
	.step = qcow2_dispatch,
	.read_fast = qcow2_read_fast,
	.flush = qcow2_flush_step,
	.writeback = qcow2_writeback,
	.get_info = qcow2_get_info,
	.check = qcow2_check,
	.create = qcow2_create,
	.resize = qcow2_resize,
	.amend = qcow2_amend,
	.set_backing = qcow2_set_backing,
	.make_empty = qcow2_make_empty,
	.repair = qcow2_repair,
	.data_file = qcow2_data_file,
	.vmstate = qcow2_vmstate,
	.snapshot = &qcow2_snapshot_ops,
	.bitmap = &qcow2_bitmap_ops,
};
