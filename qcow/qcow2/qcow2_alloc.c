// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include "qcow2.h"
#include "layout.h"

int cluster_vec_push(struct cluster_vec *v, uint64_t c)
{
	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 64;
		uint64_t *p = realloc(v->v, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		v->v = p;
		v->cap = cap;
	}
	v->v[v->n++] = c;
	return 0;
}

void cluster_vec_free(struct cluster_vec *v)
{
	free(v->v);
	memset(v, 0, sizeof(*v));
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

void cluster_vec_sort_unique(struct cluster_vec *v)
{
	size_t i, n = 0;

	if (v->n < 2)
		return;
	qsort(v->v, v->n, sizeof(*v->v), cmp_u64);
	for (i = 0; i < v->n; i++)
		if (!n || v->v[n - 1] != v->v[i])
			v->v[n++] = v->v[i];
	v->n = n;
}

/* ---- a map of cluster index to value (open addressing) ---- */

static size_t shared_slot(const struct shared_map *m, uint64_t key)
{
	size_t i = (size_t)((key * 0x9e3779b97f4a7c15ULL) >> 17) &
		   (m->cap - 1);

	while (m->keys[i] && m->keys[i] != key)
		i = (i + 1) & (m->cap - 1);
	return i;
}

static int shared_grow(struct shared_map *m)
{
	struct shared_map n = { .cap = m->cap ? m->cap * 2 : 1024 };
	size_t i;

	n.keys = calloc(n.cap, sizeof(*n.keys));
	n.vals = calloc(n.cap, sizeof(*n.vals));
	if (!n.keys || !n.vals) {
		free(n.keys);
		free(n.vals);
		return -ENOMEM;
	}
	for (i = 0; i < m->cap; i++) {
		if (m->keys[i]) {
			size_t j = shared_slot(&n, m->keys[i]);

			n.keys[j] = m->keys[i];
			n.vals[j] = m->vals[i];
			n.n++;
		}
	}
	free(m->keys);
	free(m->vals);
	*m = n;
	return 0;
}

uint64_t cmap_get(const struct shared_map *m, uint64_t c)
{
	size_t i;

	if (!m->cap)
		return 0;
	i = shared_slot(m, c + 1);
	return m->keys[i] ? m->vals[i] : 0;
}

/* Deleting from linear probing: re-insert the rest of the cluster. */
void cmap_del(struct shared_map *m, uint64_t c)
{
	size_t i, j;

	if (!m->cap)
		return;
	i = shared_slot(m, c + 1);
	if (!m->keys[i])
		return;
	m->keys[i] = 0;
	m->n--;
	for (j = (i + 1) & (m->cap - 1); m->keys[j]; j = (j + 1) & (m->cap - 1)) {
		uint64_t k = m->keys[j], val = m->vals[j];
		size_t to;

		m->keys[j] = 0;
		to = shared_slot(m, k);
		m->keys[to] = k;
		m->vals[to] = val;
	}
}

void cmap_free(struct shared_map *m)
{
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof(*m));
}

int cmap_set(struct shared_map *m, uint64_t c, uint64_t val)
{
	size_t i;
	int ret;

	if ((m->n + 1) * 2 > m->cap) {
		ret = shared_grow(m);
		if (ret < 0)
			return ret;
	}
	i = shared_slot(m, c + 1);
	if (!m->keys[i])
		m->n++;
	m->keys[i] = c + 1;
	m->vals[i] = val;
	return 0;
}

/* Refcounts above one; one and zero are the bitmap's business. */
static int shared_set(struct shared_map *m, uint64_t c, uint64_t rc)
{
	if (rc <= 1) {
		cmap_del(m, c);
		return 0;
	}
	return cmap_set(m, c, rc);
}

/* ---- the bitmap ---- */

static bool bit_get(const struct qcow2_alloc *a, uint64_t c)
{
	return c < a->bits && (a->used[c / 64] >> (c % 64)) & 1;
}

static int bits_grow(struct qcow2_alloc *a, uint64_t need)
{
	uint64_t bits = MAX(need, a->bits * 2), words = div_round_up(bits, 64);
	uint64_t *p;

	if (need <= a->bits)
		return 0;
	if (need > (QCOW_MAX_IMAGE_SIZE >> 9))
		return -EFBIG;
	p = realloc(a->used, words * 8);
	if (!p)
		return -ENOMEM;
	memset(p + div_round_up(a->bits, 64), 0,
	       (words - div_round_up(a->bits, 64)) * 8);
	a->used = p;
	a->bits = words * 64;
	return 0;
}

static int bit_set(struct qcow2_alloc *a, uint64_t c)
{
	int ret = bits_grow(a, c + 1);

	if (ret < 0)
		return ret;
	a->used[c / 64] |= 1ULL << (c % 64);
	if (c >= a->end)
		a->end = c + 1;
	if (a->end > a->fresh)
		a->fresh = a->end;
	return 0;
}

static void bit_clear(struct qcow2_alloc *a, uint64_t c)
{
	if (c < a->bits)
		a->used[c / 64] &= ~(1ULL << (c % 64));
}

uint64_t qcow2_refcount_of(const struct qcow2 *s, uint64_t c)
{
	uint64_t rc;

	if (!bit_get(&s->alloc, c))
		return 0;
	rc = cmap_get(&s->alloc.shared, c);
	return rc ? rc : 1;
}

int qcow2_refcount_set(struct qcow2 *s, uint64_t c, uint64_t rc)
{
	int ret;

	if (!rc) {
		bit_clear(&s->alloc, c);
		cmap_del(&s->alloc.shared, c);
		return 0;
	}
	ret = bit_set(&s->alloc, c);
	if (!ret)
		ret = shared_set(&s->alloc.shared, c, rc);
	return ret;
}

bool qcow2_refcount_drop(struct qcow2 *s, uint64_t c)
{
	uint64_t rc = qcow2_refcount_of(s, c);

	if (rc > 1) {
		shared_set(&s->alloc.shared, c, rc - 1);
		return false;
	}
	/*
	 * Decided free: packing compressed data is the only way to take a
	 * reference to a cluster in use, and it must not take this one.
	 */
	if (rc == 1 && s->comp_next >> s->cluster_bits == c)
		s->comp_next = 0;
	return rc == 1;
}

/*
 * Cluster c became free: a run of k through it starts at c - (k - 1) or
 * later, since the free clusters left of it made no run of k before.
 */
static void hints_lower(struct qcow2_alloc *a, uint64_t c)
{
	unsigned int k;

	for (k = 1; k <= QCOW2_ALLOC_HINTS; k++) {
		uint64_t from = c >= k - 1 ? c - (k - 1) : 0;

		if (from < a->hint[k - 1])
			a->hint[k - 1] = from;
	}
}

/* No free run of n or more clusters starts below pos. */
static void hints_raise(struct qcow2_alloc *a, uint64_t n, uint64_t pos)
{
	unsigned int k;

	if (n > QCOW2_ALLOC_HINTS)
		return;
	for (k = (unsigned int)n; k <= QCOW2_ALLOC_HINTS; k++)
		if (pos > a->hint[k - 1])
			a->hint[k - 1] = pos;
}

void qcow2_cluster_set_free(struct qcow2 *s, uint64_t c)
{
	/* compressed data is never packed into a cluster given away */
	if (s->comp_next >> s->cluster_bits == c)
		s->comp_next = 0;
	cmap_del(&s->meta, c);
	bit_clear(&s->alloc, c);
	cmap_del(&s->alloc.shared, c);
	hints_lower(&s->alloc, c);
}

static void record_refcount(void *arg, uint64_t cluster, uint64_t rc)
{
	struct qcow2 *s = arg;

	if (rc)
		qcow2_refcount_set(s, cluster, rc);
}

int qcow2_alloc_init(struct qcow2 *s)
{
	int ret;

	/* the bitmap grows with the refcounts met, not the file's size */
	ret = bits_grow(&s->alloc, 4096);
	if (ret < 0)
		return ret;
	ret = qcow2_walk_refcounts(s, record_refcount, s);
	if (ret < 0)
		return ret;
	s->alloc.fresh = MAX(s->alloc.fresh,
			     div_round_up(s->img->file->size, s->cluster_size));
	/* never hand out the header cluster, whatever the refcounts say */
	return bit_set(&s->alloc, 0);
}

void qcow2_alloc_free(struct qcow2 *s)
{
	struct qcow2_alloc *a = &s->alloc;

	free(a->used);
	cmap_free(&a->shared);
	cmap_free(&s->meta);
	cluster_vec_free(&a->inc);
	cluster_vec_free(&a->dec);
	cluster_vec_free(&a->dec_ready);
	cluster_vec_free(&a->lazy);
	memset(a, 0, sizeof(*a));
}

/* First run of n free clusters at or after its hint and below a->end. */
static bool find_free_run(struct qcow2_alloc *a, uint64_t n, uint64_t *out)
{
	uint64_t c = a->hint[MIN(n, QCOW2_ALLOC_HINTS) - 1], run = 0;

	while (c < a->end) {
		if (!(c % 64) && c + 64 <= a->end && a->used[c / 64] == ~0ULL) {
			run = 0;
			c += 64;
			continue;
		}
		if (bit_get(a, c))
			run = 0;
		else if (++run == n) {
			*out = c + 1 - n;
			return true;
		}
		c++;
	}
	return false;
}

static void reserved(struct qio_op *op, int res)
{
	free(op);
}

/*
 * The file grows ahead of the allocator in large steps, so that data
 * writes land inside the file instead of extending it one by one; close
 * trims what was not used.
 */
static void reserve_file(struct qcow2 *s)
{
	uint64_t end = s->alloc.end << s->cluster_bits, step, to;
	struct qcow_ctx *ctx = qcow_current_ctx();
	struct qio_op *op;

	if (end <= s->file_reserved)
		return;
	step = MIN(MAX(end / 16, 1u << 20), 32u << 20);
	step = ALIGN_UP(step, s->cluster_size);
	to = ALIGN_UP(end + step, step);
	op = ctx ? calloc(1, sizeof(*op)) : NULL;
	if (!op) {
		s->file_reserved = end;
		return;
	}
	op->cb = reserved;
	qfile_submit(ctx, s->img->file, op, QIO_FALLOC, NULL,
		     to - s->file_reserved, s->file_reserved);
	s->file_reserved = to;
}

int64_t qcow2_alloc_clusters(struct qcow2 *s, uint64_t n)
{
	bool zero;

	return qcow2_alloc_clusters_z(s, n, &zero);
}

int64_t qcow2_alloc_clusters_z(struct qcow2 *s, uint64_t n, bool *zero)
{
	struct qcow2_alloc *a = &s->alloc;
	uint64_t first, i;
	int ret;

	if (!find_free_run(a, n, &first))
		first = a->end;
	hints_raise(a, n, first);
	if ((first + n) > (QCOW_MAX_IMAGE_SIZE >> s->cluster_bits))
		return -ENOSPC;
	*zero = first >= a->fresh;
	for (i = 0; i < n; i++) {
		ret = bit_set(a, first + i);
		if (!ret)
			ret = cluster_vec_push(&a->inc, first + i);
		if (ret < 0)
			return ret;
	}
	if (s->file_reserved)
		reserve_file(s);
	return (int64_t)(first << s->cluster_bits);
}

void qcow2_alloc_undo(struct qcow2 *s, uint64_t off, uint64_t n)
{
	struct qcow2_alloc *a = &s->alloc;
	uint64_t first = off >> s->cluster_bits, i;

	for (i = n; i-- > 0;) {
		bit_clear(a, first + i);
		if (a->inc.n && a->inc.v[a->inc.n - 1] == first + i)
			a->inc.n--;
	}
	if (a->end == first + n)
		a->end = first;
	hints_lower(a, first);
}

int qcow2_release_later(struct qcow2 *s, uint64_t off, uint64_t len)
{
	uint64_t c;
	int ret;

	for (c = off >> s->cluster_bits;
	     c <= (off + len - 1) >> s->cluster_bits; c++) {
		ret = cluster_vec_push(&s->alloc.dec, c);
		if (ret < 0)
			return ret;
	}
	return 0;
}
