// SPDX-License-Identifier: MIT
#include <errno.h>
#include <string.h>
#include "params.h"

#define MAX_DISCARD_BYTES	(64u << 20)
#define PAGE_SHIFT_4K		12

static unsigned int ilog2_u32(uint32_t v)
{
	unsigned int n = 0;

	while (v >>= 1)
		n++;
	return n;
}

static unsigned int max_u(unsigned int a, unsigned int b)
{
	return a > b ? a : b;
}

static unsigned int min_u(unsigned int a, unsigned int b)
{
	return a < b ? a : b;
}

static void params_discard(struct ublk_params *p, uint32_t cluster)
{
	struct ublk_param_discard *d = &p->discard;
	uint32_t lbs = 1u << p->basic.logical_bs_shift;

	p->types |= UBLK_PARAM_TYPE_DISCARD;
	d->discard_granularity = cluster > lbs ? cluster : lbs;
	d->max_discard_sectors = MAX_DISCARD_BYTES >> 9;
	d->max_write_zeroes_sectors = MAX_DISCARD_BYTES >> 9;
	d->max_discard_segments = 1;
}

int ublk_params_build(struct ublk_params *p, struct qcow_image *img,
		      const struct ublk_dev_opts *opts, uint32_t max_io_bytes)
{
	struct ublk_param_basic *b = &p->basic;
	struct qcow_info info;
	unsigned int cbits;
	uint32_t cluster;
	int ret;

	memset(p, 0, sizeof(*p));
	ret = qcow_get_info(img, &info);
	if (ret < 0)
		return ret;
	cluster = info.cluster_size ? info.cluster_size : 65536;
	if (cluster & (cluster - 1))
		return -EINVAL;
	cbits = ilog2_u32(cluster);
	p->types = UBLK_PARAM_TYPE_BASIC;
	/* read-only: no cache to flush, and the engine refuses FLUSH */
	if (opts->read_only)
		b->attrs = UBLK_ATTR_READ_ONLY;
	else
		b->attrs = UBLK_ATTR_VOLATILE_CACHE | UBLK_ATTR_FUA;
	b->logical_bs_shift = opts->direct ? PAGE_SHIFT_4K : 9;
	b->physical_bs_shift = max_u(b->logical_bs_shift,
				     min_u(cbits, PAGE_SHIFT_4K));
	b->io_min_shift = b->physical_bs_shift;
	b->io_opt_shift = max_u(cbits, b->physical_bs_shift);
	b->max_sectors = max_io_bytes >> 9;
	b->dev_sectors = (qcow_size(img) >> b->logical_bs_shift) <<
			 (b->logical_bs_shift - 9);
	if (!b->dev_sectors)
		return -EINVAL;
	if (!opts->read_only)
		params_discard(p, cluster);
	return 0;
}
