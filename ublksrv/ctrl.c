// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include "ctrl.h"
#include "log.h"

struct io_uring_sqe *uring_get_sqe(struct io_uring *ring)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	if (!sqe) {
		io_uring_submit(ring);
		sqe = io_uring_get_sqe(ring);
	}
	return sqe;
}

void uring_prep_cmd(struct io_uring_sqe *sqe, bool sqe128, int fd,
		    uint32_t cmd_op, const void *cmd, size_t len,
		    uint64_t user_data)
{
	memset(sqe, 0, sqe128 ? 128 : 64);
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = fd;
	sqe->cmd_op = cmd_op;
	memcpy(sqe->cmd, cmd, len);
	sqe->user_data = user_data;
}

static int find_ublk_ko(const char *path, const struct stat *st, int type,
			struct FTW *ftw)
{
	const char *base = path + ftw->base;

	return type == FTW_F && !strncmp(base, "ublk_drv.ko", 11);
}

/* Whether this kernel has ublk_drv as a module somewhere. */
static bool ublk_module_exists(void)
{
	struct utsname u;
	char dir[300];

	if (uname(&u) < 0)
		return true;
	snprintf(dir, sizeof(dir), "/lib/modules/%s", u.release);
	return nftw(dir, find_ublk_ko, 16, FTW_PHYS) == 1;
}

static int ctrl_open_error(int err)
{
	struct stat st;

	if (err == -EACCES && geteuid() != 0) {
		ublk_err("cannot open %s: permission denied (users need the "
			 "udev rules of udev/90-ublk-qcow.rules and a kernel "
			 "with UBLK_F_UNPRIVILEGED_DEV)", UBLK_CONTROL_PATH);
	} else if (err == -ENOENT && stat("/sys/module/ublk_drv", &st) < 0) {
		if (ublk_module_exists())
			ublk_err("%s is missing: the ublk_drv module is not "
				 "loaded (modprobe ublk_drv)", UBLK_CONTROL_PATH);
		else
			ublk_err("%s is missing: the ublk_drv module is not "
				 "loaded, and this kernel has none "
				 "(CONFIG_BLK_DEV_UBLK)", UBLK_CONTROL_PATH);
	} else {
		ublk_errno(err, "cannot open %s", UBLK_CONTROL_PATH);
	}
	return err;
}

int ublk_ctrl_open(struct ublk_ctrl *c)
{
	int ret;

	memset(c, 0, sizeof(*c));
	c->path_dev = -1;
	c->fd = open(UBLK_CONTROL_PATH, O_RDWR | O_CLOEXEC);
	if (c->fd < 0)
		return ctrl_open_error(-errno);
	ret = io_uring_queue_init(4, &c->ring, IORING_SETUP_SQE128);
	if (ret < 0) {
		ublk_errno(ret, "io_uring_queue_init (SQE128)");
		goto err_close;
	}
	/* Kernels without GET_FEATURES only know the bare numbers. */
	if (ublk_ctrl_get_features(c, &c->features) < 0)
		c->features = 0;
	c->ioctl_encode = c->features & UBLK_F_CMD_IOCTL_ENCODE;
	return 0;
err_close:
	close(c->fd);
	c->fd = -1;
	return ret;
}

void ublk_ctrl_close(struct ublk_ctrl *c)
{
	if (c->fd < 0)
		return;
	io_uring_queue_exit(&c->ring);
	close(c->fd);
	c->fd = -1;
}

/* The wire number of command nr: bare, or encoded as its ioctl. */
static uint32_t ctrl_op(const struct ublk_ctrl *c, unsigned int nr)
{
	if (nr == UBLK_CMD_GET_FEATURES)
		return UBLK_CTRL_IOR(nr);
	if (!c->ioctl_encode)
		return nr;
	switch (nr) {
	case UBLK_CMD_GET_QUEUE_AFFINITY:
	case UBLK_CMD_GET_DEV_INFO:
	case UBLK_CMD_GET_DEV_INFO2:
	case UBLK_CMD_GET_PARAMS:
		return UBLK_CTRL_IOR(nr);
	default:
		return UBLK_CTRL_IOWR(nr);
	}
}

static int ctrl_run(struct ublk_ctrl *c, unsigned int nr,
		    struct ublksrv_ctrl_cmd *cmd)
{
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	int ret;

	sqe = io_uring_get_sqe(&c->ring);
	if (!sqe)
		return -EBUSY;
	uring_prep_cmd(sqe, true, c->fd, ctrl_op(c, nr), cmd, sizeof(*cmd),
		       nr);
	ret = io_uring_submit(&c->ring);
	if (ret < 0)
		return ret;
	do {
		ret = io_uring_wait_cqe(&c->ring, &cqe);
	} while (ret == -EINTR);
	if (ret < 0)
		return ret;
	ret = cqe->res;
	io_uring_cqe_seen(&c->ring, cqe);
	return ret;
}

bool ublk_ctrl_unprivileged(const struct ublk_ctrl *c)
{
	return geteuid() != 0 && (c->features & UBLK_F_UNPRIVILEGED_DEV);
}

/*
 * The kernel reads the path of /dev/ublkcN from the start of the buffer
 * (dev_path_len bytes), checks the caller's permissions on that file,
 * and takes the command's own buffer from after it.
 */
static int ctrl_cmd_path(struct ublk_ctrl *c, unsigned int nr,
			 struct ublksrv_ctrl_cmd *cmd, void *buf)
{
	char path[64], *both;
	size_t plen;
	int ret;

	plen = snprintf(path, sizeof(path), UBLK_CDEV_FMT, (int)cmd->dev_id);
	if ((size_t)cmd->len + plen > UINT16_MAX)
		return -EINVAL;
	both = calloc(1, plen + cmd->len);
	if (!both)
		return -ENOMEM;
	memcpy(both, path, plen);
	if (buf)
		memcpy(both + plen, buf, cmd->len);
	cmd->dev_path_len = plen;
	cmd->addr = (uint64_t)(uintptr_t)both;
	cmd->len += plen;
	ret = ctrl_run(c, nr, cmd);
	if (buf)
		memcpy(buf, both + plen, cmd->len - plen);
	free(both);
	return ret;
}

static int ctrl_cmd(struct ublk_ctrl *c, unsigned int nr, uint32_t dev_id,
		    void *buf, uint16_t len, uint64_t data)
{
	struct ublksrv_ctrl_cmd cmd = {
		.dev_id = dev_id,
		.queue_id = 0xffff,
		.len = len,
		.addr = (uint64_t)(uintptr_t)buf,
		.data = { data },
	};

	if (nr != UBLK_CMD_ADD_DEV && nr != UBLK_CMD_GET_FEATURES &&
	    (nr == UBLK_CMD_GET_DEV_INFO2 || c->path_dev == dev_id))
		return ctrl_cmd_path(c, nr, &cmd, buf);
	return ctrl_run(c, nr, &cmd);
}

int ublk_ctrl_get_features(struct ublk_ctrl *c, uint64_t *features)
{
	*features = 0;
	return ctrl_cmd(c, UBLK_CMD_GET_FEATURES, 0, features,
			UBLK_FEATURES_LEN, 0);
}

int ublk_ctrl_add_dev(struct ublk_ctrl *c, struct ublksrv_ctrl_dev_info *info)
{
	int ret;

	if (ublk_ctrl_unprivileged(c))
		info->flags |= UBLK_F_UNPRIVILEGED_DEV;
	ret = ctrl_cmd(c, UBLK_CMD_ADD_DEV, info->dev_id, info, sizeof(*info),
		       0);
	if (ret == 0 && (info->flags & UBLK_F_UNPRIVILEGED_DEV))
		c->path_dev = info->dev_id;
	return ret;
}

int ublk_ctrl_del_dev(struct ublk_ctrl *c, uint32_t dev_id)
{
	return ctrl_cmd(c, UBLK_CMD_DEL_DEV, dev_id, NULL, 0, 0);
}

int ublk_ctrl_set_params(struct ublk_ctrl *c, uint32_t dev_id,
			 struct ublk_params *p)
{
	p->len = sizeof(*p);
	return ctrl_cmd(c, UBLK_CMD_SET_PARAMS, dev_id, p, sizeof(*p), 0);
}

int ublk_ctrl_get_params(struct ublk_ctrl *c, uint32_t dev_id,
			 struct ublk_params *p)
{
	memset(p, 0, sizeof(*p));
	p->len = sizeof(*p);
	return ctrl_cmd(c, UBLK_CMD_GET_PARAMS, dev_id, p, sizeof(*p), 0);
}

int ublk_ctrl_start_dev(struct ublk_ctrl *c, uint32_t dev_id, int pid)
{
	return ctrl_cmd(c, UBLK_CMD_START_DEV, dev_id, NULL, 0, pid);
}

int ublk_ctrl_stop_dev(struct ublk_ctrl *c, uint32_t dev_id)
{
	return ctrl_cmd(c, UBLK_CMD_STOP_DEV, dev_id, NULL, 0, 0);
}

/*
 * Root asks as before; an unprivileged device refuses that (no path:
 * -EINVAL), and users may ask only with the path: then GET_DEV_INFO2,
 * which takes it for any device.  What it says decides whether later
 * commands about the device carry the path.
 */
int ublk_ctrl_get_dev_info(struct ublk_ctrl *c, uint32_t dev_id,
			   struct ublksrv_ctrl_dev_info *info)
{
	bool offered = c->features & UBLK_F_UNPRIVILEGED_DEV;
	int ret = -EINVAL;

	memset(info, 0, sizeof(*info));
	if (geteuid() == 0 || !offered || c->path_dev == dev_id)
		ret = ctrl_cmd(c, UBLK_CMD_GET_DEV_INFO, dev_id, info,
			       sizeof(*info), 0);
	if (ret == -EINVAL && offered && c->path_dev != dev_id) {
		memset(info, 0, sizeof(*info));
		ret = ctrl_cmd(c, UBLK_CMD_GET_DEV_INFO2, dev_id, info,
			       sizeof(*info), 0);
	}
	if (ret == 0 && (info->flags & UBLK_F_UNPRIVILEGED_DEV))
		c->path_dev = dev_id;
	else if (ret == 0 && c->path_dev == dev_id)
		c->path_dev = -1;
	return ret;
}

int ublk_ctrl_get_queue_affinity(struct ublk_ctrl *c, uint32_t dev_id,
				 uint16_t q_id, void *mask, uint16_t len)
{
	memset(mask, 0, len);
	return ctrl_cmd(c, UBLK_CMD_GET_QUEUE_AFFINITY, dev_id, mask, len,
			q_id);
}

int ublk_ctrl_start_recovery(struct ublk_ctrl *c, uint32_t dev_id)
{
	return ctrl_cmd(c, UBLK_CMD_START_USER_RECOVERY, dev_id, NULL, 0, 0);
}

int ublk_ctrl_end_recovery(struct ublk_ctrl *c, uint32_t dev_id, int pid)
{
	return ctrl_cmd(c, UBLK_CMD_END_USER_RECOVERY, dev_id, NULL, 0, pid);
}

const char *ublk_state_name(unsigned int state)
{
	switch (state) {
	case UBLK_S_DEV_DEAD:
		return "DEAD";
	case UBLK_S_DEV_LIVE:
		return "LIVE";
	case UBLK_S_DEV_QUIESCED:
		return "QUIESCED";
	case UBLK_S_DEV_FAIL_IO:
		return "FAIL_IO";
	default:
		return "UNKNOWN";
	}
}
