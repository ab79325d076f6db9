// SPDX-License-Identifier: MIT
/*
 * A new legacy qcow image, laid out as qemu-img lays it out: the header,
 * the backing file name, the L1 table (zeros, in whole sectors) from the
 * next multiple of 8; 4 KiB clusters and 512-entry L2 tables, or 512-byte
 * clusters and 4096-entry tables over a backing file; an mtime of 0.
 * An encrypted image (aes) differs in crypt_method only: its key is the
 * passphrase itself, nothing of it is stored.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "qcow1.h"

static int q1_create_write(int fd, const struct qcow_create_opts *o,
			   uint64_t size)
{
	size_t name_len = o->backing_file ? strlen(o->backing_file) : 0;
	unsigned int cluster_bits = name_len ? 9 : 12;
	unsigned int l2_bits = name_len ? 12 : 9;
	uint64_t l1_off = ALIGN_UP(Q1H_LENGTH + name_len, 8);
	uint64_t l1_len = div_round_up(size, 1ULL << (cluster_bits + l2_bits)) * 8;
	uint64_t total = l1_off + ALIGN_UP(l1_len, 512);
	uint8_t *buf = calloc(1, total);
	int ret;

	if (!buf)
		return -ENOMEM;
	put_be32(buf, QCOW_MAGIC);
	put_be32(buf + 4, 1);
	if (name_len) {
		put_be64(buf + Q1H_BACKING_OFFSET, Q1H_LENGTH);
		put_be32(buf + Q1H_BACKING_SIZE, name_len);
		memcpy(buf + Q1H_LENGTH, o->backing_file, name_len);
	}
	put_be64(buf + Q1H_SIZE, size);
	buf[Q1H_CLUSTER_BITS] = cluster_bits;
	buf[Q1H_L2_BITS] = l2_bits;
	put_be32(buf + Q1H_CRYPT_METHOD, o->crypt_method);
	put_be64(buf + Q1H_L1_OFFSET, l1_off);
	ret = qfd_pwrite_all(fd, buf, total, 0);
	free(buf);
	return ret;
}

int qcow1_create(const char *path, const struct qcow_create_opts *o)
{
	/* QEMU: whole sectors */
	uint64_t size = ALIGN_UP(o->size, 512);
	int fd, ret;

	if (!o->size)
		return qcow_set_error(-EINVAL, path, "Image size is too small, "
				      "cannot be zero length");
	if (size > QCOW_MAX_IMAGE_SIZE)
		return qcow_set_error(-EFBIG, path, "size: too large");
	if (o->backing_file && strlen(o->backing_file) > QCOW_MAX_BACKING_NAME)
		return qcow_set_error(-EINVAL, path, "backing file name: too "
				      "long");
	if (o->data_file || o->prealloc != QCOW_PREALLOC_OFF)
		return qcow_set_error(-ENOTSUP, path, "legacy qcow images have "
				      "no data file and no preallocation");
	if (o->crypt_method > QCOW_CRYPT_AES)
		return qcow_set_error(-ENOTSUP, path, "encrypt.format: legacy "
				      "qcow images are encrypted with aes only");
	if (o->crypt_method && !o->key)
		return qcow_set_error(-EINVAL, path, "encrypt.key-secret: an "
				      "encrypted image needs a passphrase");
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return qcow_set_error(-errno, path, "cannot create: %s",
				      strerror(errno));
	ret = q1_create_write(fd, o, size);
	if (!ret && fsync(fd) < 0)
		ret = -errno;
	close(fd);
	return ret < 0 ? qcow_set_error(ret, path, "cannot write: %s",
					strerror(-ret)) : 0;
}
