// SPDX-License-Identifier: MIT
/*
 * Image locking as QEMU does it, so that QEMU's programs and ours refuse
 * each other an image in use.  Each permission a user of a file holds is a
 * shared lock on byte 100 + bit, each one it denies others a shared lock
 * on byte 200 + bit; both are open-file-description locks, released when
 * the last descriptor of the open file is closed (a forked child keeps
 * them).  A user conflicts with another when some byte it would need
 * free is held by someone else: asking for an exclusive lock there fails.
 */
#include <errno.h>
#include <fcntl.h>
#include "internal.h"

#define QLOCK_PERM_BASE		100
#define QLOCK_UNSHARED_BASE	200
#define QLOCK_NR_PERMS		4

static const char *const perm_names[QLOCK_NR_PERMS] = {
	"consistent read", "write", "write unchanged", "resize",
};

static int lock_byte(int fd, int cmd, short type, off_t byte,
		     struct flock *fl)
{
	memset(fl, 0, sizeof(*fl));
	fl->l_type = type;
	fl->l_whence = SEEK_SET;
	fl->l_start = byte;
	fl->l_len = 1;
	return fcntl(fd, cmd, fl) < 0 ? -errno : 0;
}

static void unlock_bytes(int fd, unsigned int perm, unsigned int unshared)
{
	struct flock fl;
	int i;

	for (i = 0; i < QLOCK_NR_PERMS; i++) {
		if (perm & (1u << i))
			lock_byte(fd, F_OFD_SETLK, F_UNLCK,
				  QLOCK_PERM_BASE + i, &fl);
		if (unshared & (1u << i))
			lock_byte(fd, F_OFD_SETLK, F_UNLCK,
				  QLOCK_UNSHARED_BASE + i, &fl);
	}
}

/* Shared locks on the bytes of mask above base; *byte: the one refused. */
static int set_bytes(int fd, unsigned int mask, int base, int *byte)
{
	struct flock fl;
	int i, ret;

	for (i = 0; i < QLOCK_NR_PERMS; i++) {
		if (!(mask & (1u << i)))
			continue;
		*byte = base + i;
		ret = lock_byte(fd, F_OFD_SETLK, F_RDLCK, base + i, &fl);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* The first bit of mask whose byte above base someone else holds, or -1. */
static int held_elsewhere(int fd, unsigned int mask, int base, int *err)
{
	struct flock fl;
	int i;

	for (i = 0; i < QLOCK_NR_PERMS; i++) {
		if (!(mask & (1u << i)))
			continue;
		*err = lock_byte(fd, F_OFD_GETLK, F_WRLCK, base + i, &fl);
		if (*err < 0)
			return -1;
		if (fl.l_type != F_UNLCK)
			return i;
	}
	return -1;
}

static int busy(struct qfile *f, const char *shared, int bit)
{
	return qcow_set_error(-EBUSY, f->name, "image is busy: locked by "
			      "another process (Failed to get %s\"%s\" lock)",
			      shared, perm_names[bit]);
}

/* Someone else denies a permission we take, or holds one we deny. */
static int check_conflicts(struct qfile *f, unsigned int perm,
			   unsigned int unshared)
{
	int bit, err = 0;

	bit = held_elsewhere(f->fd, perm, QLOCK_UNSHARED_BASE, &err);
	if (bit >= 0)
		return busy(f, "", bit);
	if (!err) {
		bit = held_elsewhere(f->fd, unshared, QLOCK_PERM_BASE, &err);
		if (bit >= 0)
			return busy(f, "shared ", bit);
	}
	return err;
}

static int lock_all(struct qfile *f, unsigned int perm, unsigned int unshared)
{
	int byte = 0, ret;

	ret = set_bytes(f->fd, perm & ~f->lock_perm, QLOCK_PERM_BASE, &byte);
	if (!ret)
		ret = set_bytes(f->fd, unshared & ~f->lock_unshared,
				QLOCK_UNSHARED_BASE, &byte);
	if (ret == -EAGAIN || ret == -EACCES)
		return qcow_set_error(-EBUSY, f->name, "image is busy: "
				      "locked by another process (Failed to "
				      "lock byte %d)", byte);
	if (!ret)
		ret = check_conflicts(f, perm | f->lock_perm,
				      unshared | f->lock_unshared);
	return ret;
}

/*
 * Adds perm and unshared to what f holds, or fails with -EBUSY and the
 * open error set.  A file system without these locks leaves the file
 * unlocked: that never fails an open.
 */
int qfile_lock(struct qfile *f, unsigned int perm, unsigned int unshared)
{
	int ret;

	if (f->lock_off)
		return 0;
	ret = lock_all(f, perm, unshared);
	if (ret < 0) {
		unlock_bytes(f->fd, perm & ~f->lock_perm,
			     unshared & ~f->lock_unshared);
		if (ret == -EBUSY)
			return ret;
		f->lock_off = true;
		return 0;
	}
	f->lock_perm |= perm;
	f->lock_unshared |= unshared;
	return 0;
}

/*
 * What QEMU's programs take, which QEMU 7.2 shows in /proc/locks:
 * a format with metadata (qcow2, qcow) needs consistent reads, and write
 * and resize when read-write, and never lets others write or resize its
 * file; raw takes what its user does and shares everything; an external
 * data file is like the image file but others may write it.  A backing
 * file is a read-only open.  No I/O (info): no consistent read.  Force
 * share (-U): nothing denied; deny write: writes and resizes denied.
 */
static bool has_metadata(const struct qcow_image *img)
{
	return img->format != QCOW_FMT_RAW;
}

static unsigned int held_perms(const struct qcow_image *img, bool rw,
			       bool meta)
{
	unsigned int perm = img->opts.no_io ? 0 : QPERM_CONSISTENT_READ;

	if (rw)
		perm |= QPERM_WRITE | (meta ? QPERM_RESIZE : 0);
	return perm;
}

static int lock_image_file(struct qcow_image *img, bool rw, bool share)
{
	bool meta = has_metadata(img);
	unsigned int unshared = 0;

	if (img->opts.no_lock)
		return 0;
	if (meta || img->opts.deny_write)
		unshared = QPERM_WRITE | QPERM_RESIZE;
	return qfile_lock(img->file, held_perms(img, rw, meta),
			  share ? 0 : unshared);
}

static int lock_data_file(struct qcow_image *img, struct qfile *f, bool rw,
			  bool share)
{
	unsigned int unshared = QPERM_RESIZE;

	if (img->opts.no_lock || img->opts.no_io)
		return 0;
	if (img->opts.deny_write)
		unshared |= QPERM_WRITE;
	return qfile_lock(f, held_perms(img, rw, true), share ? 0 : unshared);
}

int qcow_lock_image(struct qcow_image *img)
{
	return lock_image_file(img, !img->opts.read_only,
			       img->opts.force_share);
}

int qcow_lock_data_file(struct qcow_image *img, struct qfile *f)
{
	return lock_data_file(img, f, !img->opts.read_only,
			      img->opts.force_share);
}

static struct qfile *data_file_of(struct qcow_image *img)
{
	if (!img->drv || !img->drv->data_file || !img->priv)
		return NULL;
	return img->drv->data_file(img);
}

int qcow_lock_for_write(struct qcow_image *img)
{
	struct qfile *data = data_file_of(img);
	int ret;

	ret = lock_image_file(img, true, false);
	if (!ret && data)
		ret = lock_data_file(img, data, true, false);
	return ret;
}
