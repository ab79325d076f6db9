/* SPDX-License-Identifier: MIT */
/* On-disk layout of qcow2 (docs/interop/qcow2.txt) and legacy qcow. */
#ifndef QCOW_LAYOUT_H
#define QCOW_LAYOUT_H

#define QCOW_MAGIC		0x514649fbu	/* "QFI\xfb" */

/* qcow2 header field offsets */
#define QH_MAGIC		0
#define QH_VERSION		4
#define QH_BACKING_OFFSET	8
#define QH_BACKING_SIZE		16
#define QH_CLUSTER_BITS		20
#define QH_SIZE			24
#define QH_CRYPT_METHOD		32
#define QH_L1_SIZE		36
#define QH_L1_OFFSET		40
#define QH_RT_OFFSET		48
#define QH_RT_CLUSTERS		56
#define QH_NB_SNAPSHOTS		60
#define QH_SNAPSHOTS_OFFSET	64
#define QH_V2_LENGTH		72
#define QH_INCOMPAT		72
#define QH_COMPAT		80
#define QH_AUTOCLEAR		88
#define QH_REFCOUNT_ORDER	96
#define QH_HEADER_LENGTH	100
#define QH_COMPRESSION_TYPE	104
#define QH_V3_MIN_LENGTH	104

#define QCOW2_INCOMPAT_DIRTY		(1ULL << 0)
#define QCOW2_INCOMPAT_CORRUPT		(1ULL << 1)
#define QCOW2_INCOMPAT_DATA_FILE	(1ULL << 2)
#define QCOW2_INCOMPAT_COMPRESSION	(1ULL << 3)
#define QCOW2_INCOMPAT_EXTL2		(1ULL << 4)
#define QCOW2_INCOMPAT_KNOWN		0x1fULL

#define QCOW2_COMPAT_LAZY_REFCOUNTS	(1ULL << 0)

#define QCOW2_AUTOCLEAR_BITMAPS		(1ULL << 0)
#define QCOW2_AUTOCLEAR_DATA_FILE_RAW	(1ULL << 1)

#define QCOW2_COMPRESSION_ZLIB		0
#define QCOW2_COMPRESSION_ZSTD		1

#define QCOW_CRYPT_NONE		0
#define QCOW_CRYPT_AES		1
#define QCOW_CRYPT_LUKS		2

/* header extension types */
#define QEXT_END		0x00000000u
#define QEXT_BACKING_FORMAT	0xe2792acau
#define QEXT_FEATURE_TABLE	0x6803f857u
#define QEXT_BITMAPS		0x23852875u
#define QEXT_CRYPTO		0x0537be77u
#define QEXT_DATA_FILE		0x44415441u

/* table entries */
#define L1E_OFFSET_MASK		0x00fffffffffffe00ULL
#define L1E_RESERVED_MASK	0x7f000000000001ffULL
#define L2E_OFFSET_MASK		0x00fffffffffffe00ULL
#define L2E_RESERVED_MASK	0x3f000000000001feULL
#define QCOW_OFLAG_COPIED	(1ULL << 63)
#define QCOW_OFLAG_COMPRESSED	(1ULL << 62)
#define QCOW_OFLAG_ZERO		(1ULL << 0)
#define REFT_OFFSET_MASK	0xfffffffffffffe00ULL
#define REFT_RESERVED_MASK	0x1ffULL

#define QCOW_L2_SUBCLUSTERS	32
#define QCOW_L2_BITMAP_ALLOC	0x00000000ffffffffULL

/* QEMU's limits, the ceiling for anything read from an image */
#define QCOW_MIN_CLUSTER_BITS	9
#define QCOW_MAX_CLUSTER_BITS	21
#define QCOW_MAX_L1_SIZE	(32u << 20)	/* bytes */
#define QCOW_MAX_REFTABLE_SIZE	(8u << 20)	/* bytes */
#define QCOW_MAX_SNAPSHOTS	65536u
#define QCOW_MAX_SNAPSHOT_EXTRA	1024u
#define QCOW_MAX_SNAPSHOTS_SIZE	(1024u * QCOW_MAX_SNAPSHOTS)
#define QCOW_MAX_BACKING_NAME	1023u
#define QCOW_MAX_BITMAPS	65535u
/* QEMU's: 1 KiB for each of the 65535 bitmaps, just under 64 MiB */
#define QCOW_MAX_BITMAP_DIR	(65535u * 1024)
#define QCOW_MAX_IMAGE_SIZE	(1ULL << 62)

/* snapshot table entry */
#define QSN_L1_OFFSET		0
#define QSN_L1_SIZE		8
#define QSN_ID_SIZE		12
#define QSN_NAME_SIZE		14
#define QSN_DATE_SEC		16
#define QSN_DATE_NSEC		20
#define QSN_VM_CLOCK_NSEC	24
#define QSN_VM_STATE_SIZE	32
#define QSN_EXTRA_SIZE		36
#define QSN_FIXED_SIZE		40
#define QSN_EXTRA_VMSTATE_LARGE	0
#define QSN_EXTRA_DISK_SIZE	8
#define QSN_EXTRA_ICOUNT	16

/* legacy qcow (version 1) header */
#define Q1H_BACKING_OFFSET	8
#define Q1H_BACKING_SIZE	16
#define Q1H_MTIME		20
#define Q1H_SIZE		24
#define Q1H_CLUSTER_BITS	32
#define Q1H_L2_BITS		33
#define Q1H_CRYPT_METHOD	36
#define Q1H_L1_OFFSET		40
#define Q1H_LENGTH		48

#endif
