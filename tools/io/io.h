/* SPDX-License-Identifier: MIT */
/* qcow-io: qemu-io's commands on one open image. */
#ifndef TOOLS_IO_IO_H
#define TOOLS_IO_IO_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include "qcow.h"
#include "tools/common/snapshot_param.h"

/* How the image is opened: by the command line, then by open and reopen. */
struct io_open {
	char *path;
	char *fmt;		/* NULL: probe */
	bool read_only;
	bool direct;
	bool force_share;
	bool no_discard;	/* -d ignore|off: discards do nothing */
	bool temp_snapshot;	/* -s: writes go to a temporary overlay */
	bool copy_on_read;	/* -C: reads copy the chain's data here */
	char *overlay;		/* that overlay's name, unlinked once open */
	struct snapshot_param snapshot;	/* -l */
	struct qcow_open_opts cache;	/* -o l2-cache-size=... and the like */
	char qcow2_key[32];	/* the first -o option only qcow2 has */
	bool lazy_refcounts;	/* -o lazy-refcounts=on */
	char key_secret[64];	/* -o encrypt.key-secret=ID */
	bool no_backing;	/* -o backing= */
};

/* What open -o and reopen -o options are checked against. */
struct io_opts_seen {
	bool reopen;
	bool rw_flag;		/* reopen -r or -w */
	bool cache_flag;	/* reopen -c */
	const char *format;	/* reopen: the open image's format name */
};

struct io_aio;

struct io_state {
	struct qcow_image *img;	/* NULL: no image open */
	struct io_open open;	/* what img was opened with */
	struct io_aio *aio;	/* aio_read/aio_write's ring, once used */
	bool quit;
};

struct io_cmd {
	const char *name;
	const char *altname;
	int (*run)(struct io_state *s, int argc, char **argv);
	int argmin;
	int argmax;		/* -1: no limit */
	bool writes;		/* refused on a read-only image */
	bool no_file_ok;	/* runs with no image open */
	bool keeps_aio;		/* aio requests stay in flight across it */
	const char *args;
	const char *oneline;
	const char *help;	/* longer text for "help NAME", or NULL */
};

/* One command line; negative errno when the command failed. */
int io_run_line(struct io_state *s, char *line);

/* The command called name (or by its short name), or NULL. */
const struct io_cmd *io_find_cmd(const char *name);
/* "name args -- what it does" on stdout. */
void io_print_usage(const struct io_cmd *cmd);

/* Argument parsing, with qemu-io's messages on stdout. */
int io_parse_num(const char *arg, int64_t *out);
int io_parse_pattern(const char *arg);
/* read -b, write -b and -c: offset and count in whole sectors. */
int io_check_sectors(int64_t offset, int64_t count);

/* "read 512/512 bytes at offset 0" and the timing line. */
void io_report(const char *op, const struct timespec *elapsed,
	       int64_t offset, int64_t count, int64_t total, int ops,
	       bool machine);
struct timespec io_elapsed(const struct timespec *start);
void io_dump_buffer(const uint8_t *buf, int64_t offset, int64_t len);

/* Opens o->path as o says (messages printed); 0 or a negative errno. */
int io_open_image(struct io_state *s, const struct io_open *o);
void io_close_image(struct io_state *s);
/* -C: copies what [off, off + len) reads from the chain into this layer. */
int io_copy_on_read(struct io_state *s, uint64_t off, uint64_t len);
/* -s: a temporary qcow2 overlay over o->path (messages printed). */
int io_temp_overlay(const struct io_open *o, char **overlay);
/*
 * Submits one request of aio_read or aio_write (flags QCOW_REQ_*); done
 * runs when it has completed, in io_aio_drain(), as do the failures.
 */
void io_aio_submit(struct io_state *s, enum qcow_op op, void *buf,
		   uint64_t offset, uint64_t length, unsigned int flags,
		   void (*done)(void *arg, int res), void *arg);
/* A request that fails with err: done runs in io_aio_drain(). */
void io_aio_fail(struct io_state *s, int err,
		 void (*done)(void *arg, int res), void *arg);
/*
 * Runs the requests in flight to completion, but for those a blkdebug
 * breakpoint holds.
 */
void io_aio_drain(struct io_state *s);
/*
 * Runs them until cond(s, arg) holds (true), or until only requests held
 * at breakpoints are left (false).
 */
bool io_aio_wait(struct io_state *s, bool (*cond)(struct io_state *s,
						  void *arg), void *arg);
/* Drains and frees the ring. */
void io_aio_free(struct io_state *s);

/* "-t MODE" and "-d MODE", with qemu-io's modes; messages printed. */
int io_parse_cache(const char *mode, bool *direct);
int io_parse_discard(const char *mode, bool *no_discard);
/* -o KEY=VALUE[,...] into o (messages printed). */
int io_open_options(const char *arg, struct io_open *o,
		    struct io_opts_seen *seen);
/* -EINVAL (message printed) when a qcow2 option was given for another format. */
int io_check_option_format(struct qcow_image *img, const struct io_open *o);

int io_read(struct io_state *s, int argc, char **argv);
int io_readv(struct io_state *s, int argc, char **argv);
int io_writev(struct io_state *s, int argc, char **argv);
int io_aio_read(struct io_state *s, int argc, char **argv);
int io_aio_write(struct io_state *s, int argc, char **argv);
int io_aio_flush(struct io_state *s, int argc, char **argv);
int io_open_cmd(struct io_state *s, int argc, char **argv);
int io_close_cmd(struct io_state *s, int argc, char **argv);
int io_reopen(struct io_state *s, int argc, char **argv);
int io_truncate(struct io_state *s, int argc, char **argv);
int io_sleep(struct io_state *s, int argc, char **argv);
int io_sigraise(struct io_state *s, int argc, char **argv);
int io_abort(struct io_state *s, int argc, char **argv);
int io_write(struct io_state *s, int argc, char **argv);
int io_discard(struct io_state *s, int argc, char **argv);
int io_flush(struct io_state *s, int argc, char **argv);
int io_map(struct io_state *s, int argc, char **argv);
int io_alloc(struct io_state *s, int argc, char **argv);
int io_info(struct io_state *s, int argc, char **argv);
int io_break(struct io_state *s, int argc, char **argv);
int io_remove_break(struct io_state *s, int argc, char **argv);
int io_resume(struct io_state *s, int argc, char **argv);
int io_wait_break(struct io_state *s, int argc, char **argv);

#endif
