/* SPDX-License-Identifier: MIT */
/*
 * The write log of the crash tests: every write, punch and fsync the
 * engine sends to a file (the file backend's event hook), with the event
 * index of its submission and of its completion, and a copy of the bytes
 * written.  A crash image at point p holds the writes an fsync completed
 * by p covered, and any subset of the others submitted by p.
 */
#ifndef QCOW_TEST_IO_REC_H
#define QCOW_TEST_IO_REC_H

#include <stdlib.h>
#include <string.h>
#include "qcow/internal.h"
#include "qcow/file_backend.h"

struct io_rec {
	bool is_sync;
	bool is_punch;
	int file;			/* 0 image, 1 data file */
	uint64_t off;
	uint64_t len;
	uint8_t *data;			/* NULL but for writes */
	unsigned long submit;		/* event index */
	unsigned long done;		/* 0 while in flight */
	const struct qio_op *op;
};

struct io_recorder {
	struct io_rec *v;
	size_t n;
	size_t cap;
	unsigned long events;
	const char *names[2];		/* names[1]: the data file, if any */
};

static struct io_recorder rec;

static int rec_file_index(const struct qfile *f)
{
	return rec.names[1] && !strcmp(f->name, rec.names[1]) ? 1 : 0;
}

static void rec_done(const struct qio_op *op)
{
	size_t i;

	for (i = rec.n; i-- > 0;)
		if (rec.v[i].op == op && !rec.v[i].done) {
			rec.v[i].done = rec.events;
			rec.v[i].op = NULL;
			return;
		}
}

static void rec_on_event(void *arg, enum qio_event ev,
			 const struct qio_op *op, int res)
{
	struct io_rec *r;

	(void)arg;
	(void)res;
	rec.events++;
	if (ev == QIO_EV_DONE) {
		rec_done(op);
		return;
	}
	if (rec.n == rec.cap) {
		rec.cap = rec.cap ? rec.cap * 2 : 256;
		rec.v = realloc(rec.v, rec.cap * sizeof(*rec.v));
		if (!rec.v)
			abort();
	}
	r = &rec.v[rec.n++];
	memset(r, 0, sizeof(*r));
	r->op = op;
	r->submit = rec.events;
	r->file = rec_file_index(op->file);
	r->is_sync = op->kind == QIO_FSYNC;
	r->is_punch = op->kind == QIO_PUNCH || op->kind == QIO_ZERO;
	r->off = op->off;
	r->len = op->len;
	if (op->kind == QIO_WRITE) {
		r->data = malloc(op->len);
		if (!r->data)
			abort();
		memcpy(r->data, op->buf, op->len);
	}
}

static const struct qfile_backend recorder = { .event = rec_on_event };

static void rec_reset(void)
{
	size_t i;

	for (i = 0; i < rec.n; i++)
		free(rec.v[i].data);
	free(rec.v);
	memset(&rec, 0, sizeof(rec));
}

#endif
