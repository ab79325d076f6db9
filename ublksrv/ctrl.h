/* SPDX-License-Identifier: MIT */
/*
 * The control plane: commands to /dev/ublk-control as uring_cmds on a
 * private SQE128 ring.  Every call is synchronous and returns 0 or -errno.
 */
#ifndef UBLKSRV_CTRL_H
#define UBLKSRV_CTRL_H

#include <liburing.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "ublk_abi.h"

/* What our zero copy needs: buffers registered, copies for the rest. */
#define UBLK_ZERO_COPY_FLAGS	(UBLK_F_AUTO_BUF_REG | UBLK_F_USER_COPY)

struct ublk_ctrl {
	int fd;
	struct io_uring ring;
	uint64_t features;	/* 0 when GET_FEATURES is not known */
	bool ioctl_encode;	/* command numbers encoded as ioctls */
	/*
	 * The device, added or last asked about, that is unprivileged
	 * (UBLK_F_UNPRIVILEGED_DEV): every command about it carries the path
	 * of its char device, whose permissions the kernel checks; -1: none.
	 */
	int64_t path_dev;
};

/*
 * Whether ADD_DEV asks for an unprivileged device: the caller is not root
 * and the kernel offers them (root's are always privileged).
 */
bool ublk_ctrl_unprivileged(const struct ublk_ctrl *c);

#define UBLK_DEV_ID_AUTO	UINT32_MAX

/* Prints why it failed ("the ublk_drv module is not loaded"). */
int ublk_ctrl_open(struct ublk_ctrl *c);
void ublk_ctrl_close(struct ublk_ctrl *c);

int ublk_ctrl_get_features(struct ublk_ctrl *c, uint64_t *features);
/*
 * info->dev_id: the id wanted or UBLK_DEV_ID_AUTO; filled on return.
 * UBLK_F_UNPRIVILEGED_DEV is added when ublk_ctrl_unprivileged().
 */
int ublk_ctrl_add_dev(struct ublk_ctrl *c, struct ublksrv_ctrl_dev_info *info);
int ublk_ctrl_del_dev(struct ublk_ctrl *c, uint32_t dev_id);
int ublk_ctrl_set_params(struct ublk_ctrl *c, uint32_t dev_id,
			 struct ublk_params *p);
int ublk_ctrl_get_params(struct ublk_ctrl *c, uint32_t dev_id,
			 struct ublk_params *p);
/* Waits until every queue has fetched all its tags. */
int ublk_ctrl_start_dev(struct ublk_ctrl *c, uint32_t dev_id, int pid);
int ublk_ctrl_stop_dev(struct ublk_ctrl *c, uint32_t dev_id);
int ublk_ctrl_get_dev_info(struct ublk_ctrl *c, uint32_t dev_id,
			   struct ublksrv_ctrl_dev_info *info);
/*
 * The CPUs whose requests go to queue q_id, as a cpu_set_t-style bit mask
 * of len bytes (a multiple of 8 covering every possible CPU).
 */
int ublk_ctrl_get_queue_affinity(struct ublk_ctrl *c, uint32_t dev_id,
				 uint16_t q_id, void *mask, uint16_t len);
int ublk_ctrl_start_recovery(struct ublk_ctrl *c, uint32_t dev_id);
int ublk_ctrl_end_recovery(struct ublk_ctrl *c, uint32_t dev_id, int pid);

/* "LIVE", "QUIESCED", ... */
const char *ublk_state_name(unsigned int state);

/* Filling an IORING_OP_URING_CMD SQE, with liburing 2.3's helpers only. */

/*
 * An SQE from ring, submitting what is queued when the SQ is full; NULL
 * only if the ring is broken.
 */
struct io_uring_sqe *uring_get_sqe(struct io_uring *ring);

/*
 * sqe becomes a uring_cmd cmd_op on fd carrying the len bytes at cmd in its
 * command area (16 bytes in a 64-byte SQE, 80 in a 128-byte one).
 */
void uring_prep_cmd(struct io_uring_sqe *sqe, bool sqe128, int fd,
		    uint32_t cmd_op, const void *cmd, size_t len,
		    uint64_t user_data);

#endif
