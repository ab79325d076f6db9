// SPDX-License-Identifier: MIT
/*
 * The VM state area of a qcow2 image (QEMU's savevm and loadvm): guest
 * space from the first L1 entry the disk does not need, read and written
 * through L1 and L2 as the disk is.  A write past the L1 table grows the
 * table first, in QEMU's steps of one half, without changing the size.
 */
#include <errno.h>
#include <limits.h>
#include "qcow2_write.h"
#include "layout.h"

/* The L1 table's size for min entries, as QEMU grows it; 0: too large. */
static uint64_t grown_l1_size(uint64_t cur, uint64_t min)
{
	uint64_t n = cur ? cur : 1;

	if (min > INT_MAX / 8)
		return 0;
	while (n < min)
		n = div_round_up(n * 3, 2);
	return n > QCOW_MAX_L1_SIZE / 8 ? 0 : n;
}

int qcow2_vmstate(struct qcow_image *img, uint64_t pos, uint64_t len,
		  bool write, uint64_t *guest)
{
	struct qcow2 *s = qcow2_of(img);
	unsigned int shift = s->cluster_bits + s->l2_bits;
	uint64_t need, n;

	*guest = div_round_up(img->size, 1ULL << shift) << shift;
	*guest += pos;
	if (!write || !len)
		return 0;
	if (img->opts.read_only)
		return -EROFS;
	if (s->corrupt || s->refcounts_damaged)
		return -EIO;
	need = div_round_up(*guest + len, 1ULL << shift);
	if (need <= s->l1_size)
		return 0;
	n = grown_l1_size(s->l1_size, need);
	if (!n)
		return -EFBIG;
	return qcow2_grow_l1(s, (uint32_t)n, img->size);
}
