// SPDX-License-Identifier: MIT
#include "cli.h"
#include "daemon.h"
#include "log.h"

int serve(const struct ublk_dev_opts *opts, bool recover, bool foreground)
{
	struct ublk_dev dev;
	int ret;

	if (!foreground) {
		ret = daemon_fork();
		if (ret < 0) {
			ublk_errno(ret, "fork");
			return 1;
		}
	}
	if (recover)
		ret = ublk_dev_recover(&dev, opts);
	else
		ret = ublk_dev_create(&dev, opts);
	if (!ret) {
		daemon_ready(dev.info.dev_id);
		ublk_dev_serve(&dev);
	}
	ublk_dev_destroy(&dev);
	return ret < 0 ? 1 : 0;
}
