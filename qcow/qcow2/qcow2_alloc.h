/* SPDX-License-Identifier: MIT */
/*
 * Host cluster allocation from an in-memory view of the refcounts: a bit
 * per cluster (in use or free) and a map of the clusters shared by
 * snapshots (refcount > 1).  Allocation does no I/O; the refcount blocks
 * learn about it at the next write-back, before the L2 entries that use
 * the new clusters (see docs/crash-safety.md).
 */
#ifndef QCOW_QCOW2_ALLOC_H
#define QCOW_QCOW2_ALLOC_H

#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>

struct qcow2;

struct cluster_vec {
	uint64_t *v;
	size_t n;
	size_t cap;
};

struct shared_map {
	uint64_t *keys;		/* cluster index + 1; 0 is empty */
	uint64_t *vals;
	size_t cap;
	size_t n;
};

#define QCOW2_ALLOC_HINTS	64

struct qcow2_alloc {
	uint64_t *used;		/* bitmap */
	uint64_t bits;		/* capacity of the bitmap in clusters */
	uint64_t end;		/* one past the last cluster in use */
	/*
	 * No free run of k or more clusters starts below hint[k - 1] (runs
	 * longer than QCOW2_ALLOC_HINTS use the last), so that a search
	 * never scans twice what it scanned before, until a free lowers it.
	 */
	uint64_t hint[QCOW2_ALLOC_HINTS];
	/*
	 * Clusters from here on have never been in use nor written since the
	 * open, and lie past the file's end at the open: they read as zeros.
	 */
	uint64_t fresh;
	struct shared_map shared;
	struct cluster_vec inc;	/* allocated since the last cut */
	struct cluster_vec dec;	/* to release after the next cut */
	struct cluster_vec dec_ready;	/* released: refcounts to write */
	struct cluster_vec lazy;	/* lazy refcounts: written at close */
};

/* Lazy refcounts: past this many pending, a checkpoint writes them. */
#define QCOW2_LAZY_MAX	65536u

int qcow2_alloc_init(struct qcow2 *s);
void qcow2_alloc_free(struct qcow2 *s);
/* Host offset of n contiguous free clusters, now in use; or -errno. */
int64_t qcow2_alloc_clusters(struct qcow2 *s, uint64_t n);
/* The same; *zero says whether the clusters are known to read as zeros. */
int64_t qcow2_alloc_clusters_z(struct qcow2 *s, uint64_t n, bool *zero);
/* Gives back what the last qcow2_alloc_clusters() took: nothing uses it. */
void qcow2_alloc_undo(struct qcow2 *s, uint64_t off, uint64_t n);
/* One reference to every cluster of [off, off + len) goes after the cut. */
int qcow2_release_later(struct qcow2 *s, uint64_t off, uint64_t len);
uint64_t qcow2_refcount_of(const struct qcow2 *s, uint64_t cluster);
/*
 * Drop one reference now; true when the cluster became free: from then on
 * nothing takes a new reference to it (no compressed data packed into it).
 */
bool qcow2_refcount_drop(struct qcow2 *s, uint64_t cluster);
void qcow2_cluster_set_free(struct qcow2 *s, uint64_t cluster);
int qcow2_refcount_set(struct qcow2 *s, uint64_t cluster, uint64_t rc);

uint64_t cmap_get(const struct shared_map *m, uint64_t c);
int cmap_set(struct shared_map *m, uint64_t c, uint64_t val);
void cmap_del(struct shared_map *m, uint64_t c);
void cmap_free(struct shared_map *m);

int cluster_vec_push(struct cluster_vec *v, uint64_t c);
void cluster_vec_free(struct cluster_vec *v);
void cluster_vec_sort_unique(struct cluster_vec *v);

#endif
