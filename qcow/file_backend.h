/* SPDX-License-Identifier: MIT */
/*
 * The file backend: the one seam between the engine and its files, as
 * SQLite's test VFS is one interface.  Production sets none.  A test sets
 * one with qfile_set_backend() to see or change what reaches the disk:
 *
 * - open: every open of an image, backing or data file goes through it
 *   (it calls qfile_open_os() for the real open, or refuses with an
 *   -errno); the fuzz targets keep every open inside their scratch
 *   directory with it.
 * - event (observe): every write, fsync and punch of an image file, at
 *   submission and at completion, the synchronous ones included; the
 *   crash tests replay from it what may have reached the disk at any
 *   point.  Fixed-buffer writes (no bytes to replay) and copies through
 *   a descriptor that is no image are not reported.
 * - fail: asked for every asynchronous write and zeroing (QIO_ZERO) of
 *   a file; non-zero fails it with that -errno before it reaches the
 *   file (write_error).
 * - hold: asked once for every asynchronous op before it is started;
 *   true keeps it from the disk, counted in flight on its context, until
 *   qfile_backend_release(op) starts it (call that on the op's context's
 *   thread, e.g. from another op's callback).  Its submission is reported
 *   to event only then.
 *
 * Any hook may be NULL.  The backend is global: set it before the images
 * are opened, clear it (NULL) after they are closed.
 */
#ifndef QCOW_FILE_BACKEND_H
#define QCOW_FILE_BACKEND_H

#include <stdbool.h>

struct qfile;
struct qio_op;

enum qio_event { QIO_EV_SUBMIT, QIO_EV_DONE };

struct qfile_backend {
	int (*open)(void *arg, struct qfile **out, const char *name,
		    bool read_only, bool direct);
	void (*event)(void *arg, enum qio_event ev, const struct qio_op *op,
		      int res);
	int (*fail)(void *arg, const struct qio_op *op);
	bool (*hold)(void *arg, struct qio_op *op);
	void *arg;
};

void qfile_set_backend(const struct qfile_backend *be);
/* The open of the operating system's file, for a backend's open hook. */
int qfile_open_os(struct qfile **out, const char *name, bool read_only,
		  bool direct);
/* Starts an op that the backend's hold hook kept. */
void qfile_backend_release(struct qio_op *op);

/* for the I/O files: the hooks, or what they do when no backend is set */
void qio_record(enum qio_event ev, const struct qio_op *op, int res);
int qio_injected_error(const struct qio_op *op);
bool qio_held(struct qio_op *op);

#endif
