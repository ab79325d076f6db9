/* SPDX-License-Identifier: MIT */
/*
 * The part of the ublk kernel ABI (include/uapi/linux/ublk_cmd.h) that
 * ublk-qcow uses.  The system's copy may predate the ioctl-encoded command
 * numbers, so the numbers and layouts are kept here.
 */
#ifndef UBLKSRV_UBLK_ABI_H
#define UBLKSRV_UBLK_ABI_H

#include <stdint.h>
#include <linux/ioctl.h>

#define UBLK_CONTROL_PATH	"/dev/ublk-control"
#define UBLK_CDEV_FMT		"/dev/ublkc%d"
#define UBLK_BDEV_FMT		"/dev/ublkb%d"

/* Control commands: the number, sent bare or ioctl-encoded with type 'u'. */
#define UBLK_CMD_GET_QUEUE_AFFINITY	0x01	/* data[0]: the queue */
#define UBLK_CMD_GET_DEV_INFO		0x02
#define UBLK_CMD_ADD_DEV		0x04
#define UBLK_CMD_DEL_DEV		0x05
#define UBLK_CMD_START_DEV		0x06
#define UBLK_CMD_STOP_DEV		0x07
#define UBLK_CMD_SET_PARAMS		0x08
#define UBLK_CMD_GET_PARAMS		0x09
#define UBLK_CMD_START_USER_RECOVERY	0x10
#define UBLK_CMD_END_USER_RECOVERY	0x11
/* GET_DEV_INFO with the char device's path first, for any device */
#define UBLK_CMD_GET_DEV_INFO2		0x12
#define UBLK_CMD_GET_FEATURES		0x13	/* ioctl encoding only */

/* I/O commands on /dev/ublkcN. */
#define UBLK_IO_FETCH_REQ		0x20
#define UBLK_IO_COMMIT_AND_FETCH_REQ	0x21

/*
 * UBLK_F_BATCH_IO (Linux 7.0): these replace FETCH/COMMIT_AND_FETCH, which
 * the device then refuses.  All carry a struct ublk_batch_io, ioctl-encoded.
 * PREP_IO_CMDS: once per queue, an array of elements at the SQE's addr
 * (every tag, with its buffer); 0 or -errno.  COMMIT_IO_CMDS: the results
 * of many tags at once; the bytes of elements handled, or -errno when none
 * was.  FETCH_IO_CMDS: multishot (IORING_URING_CMD_MULTISHOT) with a buffer
 * from a provided-buffer ring (IOSQE_BUFFER_SELECT, group in buf_index):
 * each CQE's res is the bytes of 16-bit tags it wrote there.
 */
#define UBLK_IO_PREP_IO_CMDS		0x25
#define UBLK_IO_COMMIT_IO_CMDS		0x26
#define UBLK_IO_FETCH_IO_CMDS		0x27

/* Results of FETCH/COMMIT_AND_FETCH: a request is ready, or no more. */
#define UBLK_IO_RES_OK			0
#define UBLK_IO_RES_ABORT		(-19)	/* -ENODEV */

#define UBLK_MAX_QUEUE_DEPTH		4096
#define UBLK_FEATURES_LEN		8

/* Device and feature flags (dev_info.flags, GET_FEATURES). */
#define UBLK_F_SUPPORT_ZERO_COPY	(1ULL << 0)
#define UBLK_F_URING_CMD_COMP_IN_TASK	(1ULL << 1)
#define UBLK_F_NEED_GET_DATA		(1ULL << 2)
#define UBLK_F_USER_RECOVERY		(1ULL << 3)
#define UBLK_F_USER_RECOVERY_REISSUE	(1ULL << 4)
#define UBLK_F_UNPRIVILEGED_DEV		(1ULL << 5)
#define UBLK_F_CMD_IOCTL_ENCODE		(1ULL << 6)
#define UBLK_F_USER_COPY		(1ULL << 7)
#define UBLK_F_ZONED			(1ULL << 8)
#define UBLK_F_USER_RECOVERY_FAIL_IO	(1ULL << 9)
#define UBLK_F_UPDATE_SIZE		(1ULL << 10)
#define UBLK_F_AUTO_BUF_REG		(1ULL << 11)
#define UBLK_F_QUIESCE			(1ULL << 12)
#define UBLK_F_PER_IO_DAEMON		(1ULL << 13)
#define UBLK_F_BUF_REG_OFF_DAEMON	(1ULL << 14)
#define UBLK_F_BATCH_IO			(1ULL << 15)
#define UBLK_F_INTEGRITY		(1ULL << 16)
#define UBLK_F_SAFE_STOP_DEV		(1ULL << 17)
#define UBLK_F_NO_AUTO_PART_SCAN	(1ULL << 18)
#define UBLK_F_SHMEM_ZC			(1ULL << 19)

/* dev_info.state */
#define UBLK_S_DEV_DEAD		0
#define UBLK_S_DEV_LIVE		1
#define UBLK_S_DEV_QUIESCED	2
#define UBLK_S_DEV_FAIL_IO	3

/* Request opcodes (low 8 bits of op_flags) and flags (the bits above). */
#define UBLK_IO_OP_READ		0
#define UBLK_IO_OP_WRITE	1
#define UBLK_IO_OP_FLUSH	2
#define UBLK_IO_OP_DISCARD	3
#define UBLK_IO_OP_WRITE_SAME	4
#define UBLK_IO_OP_WRITE_ZEROES	5

#define UBLK_IO_F_FUA		(1U << 13)
#define UBLK_IO_F_NOUNMAP	(1U << 15)

/* The descriptor array of queue q is mmap'ed from /dev/ublkcN here. */
#define UBLK_CMD_BUF_OFFSET	0

/*
 * UBLK_F_USER_COPY: the data of request (q, tag) is read or written with
 * read()/write() on /dev/ublkcN at UBLK_USER_COPY_POS(q, tag) + offset.
 */
#define UBLK_IO_BUF_OFFSET	0x80000000ULL
#define UBLK_IO_BUF_BITS	25
#define UBLK_TAG_BITS		16
#define UBLK_TAG_OFF		UBLK_IO_BUF_BITS
#define UBLK_QID_OFF		(UBLK_TAG_OFF + UBLK_TAG_BITS)
#define UBLK_USER_COPY_POS(q, tag)	(UBLK_IO_BUF_OFFSET + \
					 ((uint64_t)(q) << UBLK_QID_OFF) + \
					 ((uint64_t)(tag) << UBLK_TAG_OFF))

/*
 * UBLK_F_AUTO_BUF_REG: FETCH and COMMIT_AND_FETCH carry, in the SQE's own
 * addr field, the index in the ring's fixed-buffer table where the kernel
 * registers the next request's data (and unregisters it at the commit).
 */
#define UBLK_AUTO_BUF_REG_ADDR(index)	((uint64_t)(uint16_t)(index))

/* Sent in the SQE's command area to /dev/ublk-control (needs SQE128). */
struct ublksrv_ctrl_cmd {
	uint32_t dev_id;
	uint16_t queue_id;	/* 0xffff unless the command names a queue */
	uint16_t len;		/* of the buffer at addr */
	uint64_t addr;
	uint64_t data[1];
	uint16_t dev_path_len;
	uint16_t pad;
	uint32_t reserved;
};

struct ublksrv_ctrl_dev_info {
	uint16_t nr_hw_queues;
	uint16_t queue_depth;
	uint16_t state;
	uint16_t pad0;
	uint32_t max_io_buf_bytes;
	uint32_t dev_id;
	int32_t ublksrv_pid;
	uint32_t pad1;
	uint64_t flags;
	uint64_t ublksrv_flags;	/* the server's own, kept by the kernel */
	uint32_t owner_uid;
	uint32_t owner_gid;
	uint64_t reserved1;
	uint64_t reserved2;
};

/* One per tag, written by the kernel before a FETCH completes. */
struct ublksrv_io_desc {
	uint32_t op_flags;
	uint32_t nr_sectors;
	uint64_t start_sector;
	uint64_t addr;
};

/* Sent in the SQE's command area to /dev/ublkcN (fits a 64-byte SQE). */
struct ublksrv_io_cmd {
	uint16_t q_id;
	uint16_t tag;
	int32_t result;
	uint64_t addr;
};

/* The command of UBLK_F_BATCH_IO's three commands (16 bytes). */
struct ublk_batch_io {
	uint16_t q_id;
	uint16_t flags;		/* UBLK_BATCH_F_*; 0 for FETCH_IO_CMDS */
	uint16_t nr_elem;	/* at most the queue depth */
	uint8_t elem_bytes;	/* 8, 16 with HAS_BUF_ADDR; 2 for FETCH */
	uint8_t reserved;
	uint64_t reserved2;
};

#define UBLK_BATCH_F_HAS_ZONE_LBA		(1U << 0)
/* kernel-copy devices only: each element ends with its buffer address */
#define UBLK_BATCH_F_HAS_BUF_ADDR		(1U << 1)
#define UBLK_BATCH_F_AUTO_BUF_REG_FALLBACK	(1U << 2)

/* An element of PREP_IO_CMDS and COMMIT_IO_CMDS, then uint64_t addr. */
struct ublk_elem_header {
	uint16_t tag;
	uint16_t buf_index;	/* AUTO_BUF_REG: where the next request goes */
	int32_t result;		/* COMMIT_IO_CMDS only */
};

#define UBLK_ATTR_READ_ONLY		(1U << 0)
#define UBLK_ATTR_ROTATIONAL		(1U << 1)
#define UBLK_ATTR_VOLATILE_CACHE	(1U << 2)
#define UBLK_ATTR_FUA			(1U << 3)

struct ublk_param_basic {
	uint32_t attrs;
	uint8_t logical_bs_shift;
	uint8_t physical_bs_shift;
	uint8_t io_opt_shift;
	uint8_t io_min_shift;
	uint32_t max_sectors;
	uint32_t chunk_sectors;
	uint64_t dev_sectors;
	uint64_t virt_boundary_mask;
};

struct ublk_param_discard {
	uint32_t discard_alignment;
	uint32_t discard_granularity;
	uint32_t max_discard_sectors;
	uint32_t max_write_zeroes_sectors;
	uint16_t max_discard_segments;
	uint16_t reserved0;
};

struct ublk_param_devt {
	uint32_t char_major;
	uint32_t char_minor;
	uint32_t disk_major;
	uint32_t disk_minor;
};

struct ublk_param_zoned {
	uint32_t max_open_zones;
	uint32_t max_active_zones;
	uint32_t max_zone_append_sectors;
	uint8_t reserved[20];
};

#define UBLK_PARAM_TYPE_BASIC		(1U << 0)
#define UBLK_PARAM_TYPE_DISCARD		(1U << 1)
#define UBLK_PARAM_TYPE_DEVT		(1U << 2)

/* len says how much of it both sides know; the kernel accepts less. */
struct ublk_params {
	uint32_t len;
	uint32_t types;
	struct ublk_param_basic basic;
	struct ublk_param_discard discard;
	struct ublk_param_devt devt;
	struct ublk_param_zoned zoned;
};

_Static_assert(sizeof(struct ublksrv_ctrl_cmd) == 32, "ctrl cmd ABI");
_Static_assert(sizeof(struct ublksrv_ctrl_dev_info) == 64, "dev info ABI");
_Static_assert(sizeof(struct ublksrv_io_desc) == 24, "io desc ABI");
_Static_assert(sizeof(struct ublksrv_io_cmd) == 16, "io cmd ABI");
_Static_assert(sizeof(struct ublk_batch_io) == 16, "batch io ABI");
_Static_assert(sizeof(struct ublk_elem_header) == 8, "batch elem ABI");
_Static_assert(sizeof(struct ublk_param_basic) == 32, "basic params ABI");
_Static_assert(sizeof(struct ublk_params) == 112, "params ABI");

/* The ioctl encodings (kernels offering UBLK_F_CMD_IOCTL_ENCODE). */
#define UBLK_CTRL_IOR(nr)	_IOR('u', nr, struct ublksrv_ctrl_cmd)
#define UBLK_CTRL_IOWR(nr)	_IOWR('u', nr, struct ublksrv_ctrl_cmd)
#define UBLK_IO_IOWR(nr)	_IOWR('u', nr, struct ublksrv_io_cmd)
#define UBLK_BATCH_IOWR(nr)	_IOWR('u', nr, struct ublk_batch_io)

#endif
