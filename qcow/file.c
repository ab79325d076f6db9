// SPDX-License-Identifier: MIT
/*
 * Files: open and close, synchronous reads and writes (open, close,
 * header updates, creation), the data/hole status of a range.  The
 * asynchronous I/O of the requests is io.c's.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/vfs.h>
#include "internal.h"

void *qalloc_aligned(size_t size)
{
	void *p;

	if (posix_memalign(&p, QIO_DIRECT_ALIGN, size ? size : 1))
		return NULL;
	return p;
}

/*
 * A file in memory (tmpfs, ramfs) whose reads cannot be tried without
 * blocking: io_uring hands every op on it to an io-wq thread, which costs
 * more than the copy itself, so its I/O is done at once (io.c).
 */
static bool qfile_sync_io(int fd)
{
	struct statfs sfs;
	struct iovec iov;
	char byte;

	if (getenv("QCOW_RING_IO"))
		return false;
	if (fstatfs(fd, &sfs) < 0 || (sfs.f_type != TMPFS_MAGIC &&
				      sfs.f_type != RAMFS_MAGIC))
		return false;
	iov.iov_base = &byte;
	iov.iov_len = 1;
	return preadv2(fd, &iov, 1, 0, RWF_NOWAIT) < 0 && errno == EOPNOTSUPP;
}

int qfile_open_os(struct qfile **out, const char *name, bool read_only,
		  bool direct)
{
	struct qfile *f;
	struct stat st;
	int flags = (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	int ret;

	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->name = strdup(name);
	if (!f->name) {
		ret = -ENOMEM;
		goto err;
	}
	f->align = 1;
	f->fd = open(name, flags | (direct ? O_DIRECT : 0));
	if (f->fd < 0 && direct && errno == EINVAL)
		f->fd = open(name, flags);	/* tmpfs: no O_DIRECT */
	else if (direct)
		f->align = 512;
	if (f->fd < 0) {
		ret = -errno;
		goto err;
	}
	if (fstat(f->fd, &st) < 0) {
		ret = -errno;
		goto err_close;
	}
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		ret = -EINVAL;
		goto err_close;
	}
	f->size = st.st_size;
	if (S_ISBLK(st.st_mode)) {
		off_t end = lseek(f->fd, 0, SEEK_END);

		f->size = end < 0 ? 0 : (uint64_t)end;
	}
	if (direct && f->align > 1 && st.st_blksize > (blksize_t)f->align &&
	    st.st_blksize <= QIO_DIRECT_ALIGN)
		f->align = st.st_blksize;
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	f->sync_io = S_ISREG(st.st_mode) && qfile_sync_io(f->fd);
	*out = f;
	return 0;
err_close:
	close(f->fd);
err:
	free(f->name);
	free(f);
	return ret;
}

void qfile_close(struct qfile *f)
{
	if (!f)
		return;
	close(f->fd);
	free(f->name);
	free(f);
}

static int pread_aligned(struct qfile *f, void *buf, uint64_t len,
			 uint64_t off);

/* O_DIRECT wants aligned buffers, offsets and lengths: bounce the rest. */
int qfile_pread_sync(struct qfile *f, void *buf, uint64_t len, uint64_t off)
{
	uint64_t a = f->align, start, span;
	uint8_t *bounce;
	int ret;

	if (__builtin_expect(!!f->dbg, 0)) {
		ret = qbd_check_sync(f->dbg, QIO_READ, off, len);
		if (ret < 0)
			return ret;
	}
	if (a <= 1 || (IS_ALIGNED((uintptr_t)buf, QIO_DIRECT_ALIGN) &&
		       IS_ALIGNED(len, a) && IS_ALIGNED(off, a)))
		return pread_aligned(f, buf, len, off);
	start = ALIGN_DOWN(off, a);
	span = ALIGN_UP(off + len, a) - start;
	bounce = qalloc_aligned(span);
	if (!bounce)
		return -ENOMEM;
	ret = pread_aligned(f, bounce, span, start);
	if (!ret)
		memcpy(buf, bounce + (off - start), len);
	free(bounce);
	return ret;
}

static int pread_aligned(struct qfile *f, void *buf, uint64_t len,
			 uint64_t off)
{
	uint8_t *p = buf;
	uint64_t done = 0;

	while (done < len) {
		ssize_t n = pread(f->fd, p + done, len - done, off + done);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0) {
			memset(p + done, 0, len - done);
			break;
		}
		done += n;
	}
	return 0;
}

int qfile_seek_status(struct qfile *f, uint64_t off, uint64_t *len,
		      bool *zero, bool *eof)
{
	off_t data, hole;

	*eof = false;
	if (off >= f->size) {
		*zero = true;
		*len = 0;
		*eof = true;
		return 0;
	}
	data = lseek(f->fd, off, SEEK_DATA);
	if (data < 0 && errno == ENXIO) {
		*zero = true;
		*len = f->size - off;
		*eof = true;
		return 0;
	}
	if (data < 0)
		return -errno;
	if ((uint64_t)data > off) {
		*zero = true;
		*len = data - off;
		return 0;
	}
	hole = lseek(f->fd, off, SEEK_HOLE);
	if (hole < 0)
		return -errno;
	*zero = false;
	*len = hole - off;
	*eof = (uint64_t)hole >= f->size;
	return 0;
}

uint64_t qfile_allocated_size(struct qfile *f)
{
	struct stat st;

	if (fstat(f->fd, &st) < 0)
		return 0;
	return (uint64_t)st.st_blocks * 512;
}

int qfd_pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = pwrite(fd, p, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= n;
		off += n;
	}
	return 0;
}

/* The data of a preallocated image: a sparse tail, allocated, or zeros. */
int qfd_preallocate(int fd, enum qcow_prealloc mode, uint64_t off,
		    uint64_t len)
{
	uint8_t *zeros;
	uint64_t done;
	int ret = 0;

	if (ftruncate(fd, off + len) < 0)
		return -errno;
	if (mode == QCOW_PREALLOC_FALLOC && fallocate(fd, 0, off, len) < 0)
		return -errno;
	if (mode != QCOW_PREALLOC_FULL)
		return 0;
	zeros = calloc(1, 1 << 20);
	if (!zeros)
		return -ENOMEM;
	for (done = 0; done < len && !ret; done += 1 << 20)
		ret = qfd_pwrite_all(fd, zeros, MIN(len - done, 1u << 20),
				     off + done);
	free(zeros);
	return ret;
}

/* Synchronous writes (open, close, header updates) are recorded too. */
int qfile_pwrite_sync(struct qfile *f, const void *buf, uint64_t len,
		      uint64_t off)
{
	struct qio_op op = {
		.file = f, .kind = QIO_WRITE, .buf = (uint8_t *)buf,
		.len = len, .off = off,
	};
	const uint8_t *p = buf;
	uint64_t done = 0;
	int ret = 0;

	qio_record(QIO_EV_SUBMIT, &op, 0);
	while (done < len) {
		ssize_t n = pwrite(f->fd, p + done, len - done, off + done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = n < 0 ? -errno : -EIO;
			break;
		}
		done += n;
	}
	if (!ret && off + len > f->size)
		f->size = off + len;
	qio_record(QIO_EV_DONE, &op, ret);
	return ret;
}

int qfile_fsync_sync(struct qfile *f)
{
	struct qio_op op = { .file = f, .kind = QIO_FSYNC };
	int ret;

	qio_record(QIO_EV_SUBMIT, &op, 0);
	ret = fdatasync(f->fd) < 0 ? -errno : 0;
	qio_record(QIO_EV_DONE, &op, ret);
	return ret;
}
