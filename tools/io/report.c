// SPDX-License-Identifier: MIT
/* qemu-io's report of a completed request, and its hex dump. */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include "tools/common/size.h"
#include "tools/io/io.h"

struct timespec io_elapsed(const struct timespec *start)
{
	struct timespec now, d;

	clock_gettime(CLOCK_MONOTONIC, &now);
	d.tv_sec = now.tv_sec - start->tv_sec;
	d.tv_nsec = now.tv_nsec - start->tv_nsec;
	if (d.tv_nsec < 0) {
		d.tv_sec--;
		d.tv_nsec += 1000000000L;
	}
	return d;
}

static double seconds(const struct timespec *t)
{
	return t->tv_sec + t->tv_nsec / 1e9;
}

/* "00.12 sec" below a second, "H:MM:SS.ss" above or when asked to. */
static void time_str(char *buf, size_t len, const struct timespec *t,
		     bool fixed)
{
	double frac = t->tv_nsec / 1e9;
	unsigned int secs = (unsigned int)t->tv_sec;

	if (fixed || t->tv_sec)
		snprintf(buf, len, "%u:%02u:%05.2f", secs / 3600,
			 secs / 60 % 60, secs % 60 + frac);
	else
		snprintf(buf, len, "%05.2f sec", frac);
}

void io_report(const char *op, const struct timespec *elapsed,
	       int64_t offset, int64_t count, int64_t total, int ops,
	       bool machine)
{
	char done[SIZE_STR_LEN], rate[SIZE_STR_LEN], ts[64];
	double secs = seconds(elapsed);

	time_str(ts, sizeof(ts), elapsed, machine);
	if (machine) {
		printf("%" PRId64 ",%d,%s,%.3f,%.3f\n", total, ops, ts,
		       total / secs, ops / secs);
		return;
	}
	size_to_io_str(done, sizeof(done), (double)total);
	size_to_io_str(rate, sizeof(rate), total / secs);
	printf("%s %" PRId64 "/%" PRId64 " bytes at offset %" PRId64 "\n",
	       op, total, count, offset);
	printf("%s, %d ops; %s (%s/sec and %.4f ops/sec)\n",
	       done, ops, ts, rate, ops / secs);
}

void io_dump_buffer(const uint8_t *buf, int64_t offset, int64_t len)
{
	int64_t i, j;

	for (i = 0; i < len; i += 16) {
		printf("%08" PRIx64 ":  ", (uint64_t)(offset + i));
		for (j = i; j < i + 16 && j < len; j++)
			printf("%02x ", buf[j]);
		putchar(' ');
		for (j = i; j < i + 16 && j < len; j++)
			putchar(isalnum(buf[j]) ? buf[j] : '.');
		putchar('\n');
	}
}
