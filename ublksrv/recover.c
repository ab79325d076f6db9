// SPDX-License-Identifier: MIT
/*
 * Taking over a device whose daemon died (UBLK_F_USER_RECOVERY): the
 * kernel kept the device and queued its requests; START_USER_RECOVERY,
 * new fetches from new queue threads, END_USER_RECOVERY, and the requests
 * that were in flight are issued again.
 */
#include <errno.h>
#include <unistd.h>
#include "device_priv.h"
#include "log.h"
#include "queue.h"
#include "state.h"
#include "target.h"

/* The device must be recoverable and nobody may be serving it. */
static int dev_check_recoverable(struct ublk_dev *dev)
{
	uint32_t id = dev->opts.dev_id;
	int ret;

	ret = ublk_ctrl_get_dev_info(&dev->ctrl, id, &dev->info);
	if (ret < 0) {
		if (ret == -ENODEV)
			ublk_err("no ublk device %u", id);
		else
			ublk_errno(ret, "GET_DEV_INFO %u", id);
		return ret;
	}
	if (!(dev->info.flags & UBLK_F_USER_RECOVERY)) {
		ublk_err("device %u was added without user recovery", id);
		return -EOPNOTSUPP;
	}
	if (pid_alive(dev->info.ublksrv_pid)) {
		ublk_err("device %u is served by pid %d", id,
			 dev->info.ublksrv_pid);
		return -EBUSY;
	}
	return 0;
}

/* How the device was set up decides how the image is opened again. */
static int dev_load_params(struct ublk_dev *dev, struct ublk_params *old)
{
	int ret;

	ret = ublk_ctrl_get_params(&dev->ctrl, dev->info.dev_id, old);
	if (ret < 0) {
		ublk_errno(ret, "GET_PARAMS");
		return ret;
	}
	dev->opts.read_only = old->basic.attrs & UBLK_ATTR_READ_ONLY;
	dev->opts.direct = old->basic.logical_bs_shift > 9;
	dev->opts.zero_copy = !!(dev->info.flags & UBLK_F_AUTO_BUF_REG);
	dev->opts.user_copy = (dev->info.flags & UBLK_F_USER_COPY) &&
			      !dev->opts.zero_copy;
	return 0;
}

/* The image must give the device the size it had. */
static int dev_check_size(struct ublk_dev *dev, const struct ublk_params *old)
{
	struct ublk_params p;
	int ret;

	ret = ublk_params_build(&p, dev->img, &dev->opts,
				dev->info.max_io_buf_bytes);
	if (ret < 0)
		return ret;
	if (p.basic.dev_sectors != old->basic.dev_sectors) {
		ublk_err("%s has %llu sectors, the device %llu",
			 dev->opts.image,
			 (unsigned long long)p.basic.dev_sectors,
			 (unsigned long long)old->basic.dev_sectors);
		return -EINVAL;
	}
	return 0;
}

/* -EBUSY until the old daemon's files are released and it is quiesced. */
static int dev_start_recovery(struct ublk_dev *dev)
{
	unsigned int waited = 0;
	int ret;

	for (;;) {
		ret = ublk_ctrl_start_recovery(&dev->ctrl, dev->info.dev_id);
		if (ret != -EBUSY || waited >= RETRY_MS)
			break;
		sleep_ms(50);
		waited += 50;
	}
	if (ret < 0)
		ublk_errno(ret, "START_USER_RECOVERY");
	return ret;
}

int ublk_dev_recover(struct ublk_dev *dev, const struct ublk_dev_opts *opts)
{
	struct ublk_params old;
	int ret;

	dev_init(dev, opts);
	ret = ublk_ctrl_open(&dev->ctrl);
	if (ret < 0)
		return ret;
	ret = dev_check_recoverable(dev);
	if (ret < 0)
		return ret;
	ret = dev_load_params(dev, &old);
	if (ret < 0)
		return ret;
	/* the killed daemon's requests in flight keep its locks a moment */
	ret = dev_open_image(dev, 100);
	if (ret < 0)
		return ret;
	ret = dev_check_size(dev, &old);
	if (ret < 0)
		return ret;
	ret = dev_start_recovery(dev);
	if (ret < 0)
		return ret;
	return dev_go_live(dev, ublk_ctrl_end_recovery, "END_USER_RECOVERY");
}
