/* SPDX-License-Identifier: MIT */
/* qcow-img bench: the workload of qemu-img bench, and its driver. */
#ifndef TOOLS_IMG_BENCH_H
#define TOOLS_IMG_BENCH_H

#include <stdbool.h>
#include <stdint.h>
#include "qcow.h"

struct bench_cfg {
	uint64_t count;		/* requests */
	uint64_t depth;		/* in flight at once */
	uint64_t offset;	/* of the first request */
	uint64_t bufsize;	/* bytes per request */
	uint64_t step;		/* between requests' offsets; never 0 here */
	uint64_t flush_interval;	/* 0: no flushes */
	int pattern;		/* the bytes written */
	bool write;
	bool drain;		/* wait for every request before a flush */
	bool writethrough;	/* every write FUA */
	bool no_flush;		/* -t unsafe: flushes complete at once */
};

/*
 * One queue: cfg on img over an io_uring of this thread's own; ready(arg)
 * runs once the ring is set up, before the first request.  *t_end: when
 * the last request completed.  -errno of the first that failed.
 */
int bench_queue_run(struct qcow_image *img, const struct bench_cfg *cfg,
		    void (*ready)(void *arg), void *arg, double *t_end);
double bench_now(void);		/* seconds, CLOCK_MONOTONIC */

/*
 * Runs cfg on img from `threads` threads, each over an io_uring of its own
 * as a ublk queue drives the engine (QCOW_SYNC_IO=1: plain pread/pwrite),
 * thread i taking requests i, i + threads... of the sequence, each with
 * depth in flight; *secs is the time from the start to the completion of
 * the last request.  -errno of the first request that failed.
 */
int bench_run(struct qcow_image *img, const struct bench_cfg *cfg,
	      unsigned int threads, double *secs);

#endif
