// SPDX-License-Identifier: MIT
/*
 * qcow-io readv, writev, aio_read, aio_write and aio_flush: one request
 * over several buffers, laid end to end.  The aio requests stay in flight
 * until the next other command (aio.c).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tools/io/io.h"

#define IO_MAX_BYTES 2147483136LL
#define DEFAULT_PATTERN 0xcd

struct vec_args {
	const char *cmd;	/* "readv", "aio_write", ... */
	bool write;
	bool aio;
	int64_t offset;
	int64_t count;		/* the lengths summed */
	int nr_lens;
	int pattern;		/* -1: none given */
	bool quiet;
	bool verbose;
	bool machine;
	bool fua;
	bool zero;
	bool unmap;
	bool invalid;
};

static const char *vec_opts(const struct vec_args *a)
{
	if (a->write)
		return a->aio ? "CfiqP:uz" : "CfqP:";
	return a->aio ? "CiqvP:" : "CqvP:";
}

static int vec_usage(const struct vec_args *a)
{
	io_print_usage(io_find_cmd(a->cmd));
	return -EINVAL;
}

static int vec_flag(int c, struct vec_args *a)
{
	switch (c) {
	case 'C':
		a->machine = true;
		break;
	case 'f':
		a->fua = true;
		break;
	case 'i':
		a->invalid = true;
		break;
	case 'q':
		a->quiet = true;
		break;
	case 'v':
		a->verbose = true;
		break;
	case 'u':
		a->unmap = true;
		break;
	case 'z':
		a->zero = true;
		break;
	case 'P':
		a->pattern = io_parse_pattern(optarg);
		if (a->pattern < 0)
			return -EINVAL;
		break;
	default:
		return vec_usage(a);
	}
	return 0;
}

static int vec_lengths(char **lens, int n, struct vec_args *a)
{
	int64_t len;
	int i;

	a->count = 0;
	for (i = 0; i < n; i++) {
		if (io_parse_num(lens[i], &len) < 0)
			return -EINVAL;
		if (len > IO_MAX_BYTES) {
			printf("length %s is over the limit of %lld bytes\n",
			       lens[i], IO_MAX_BYTES);
			return -EINVAL;
		}
		a->count += len;
		if (a->count > IO_MAX_BYTES) {
			printf("the lengths add up to more than %lld bytes\n",
			       IO_MAX_BYTES);
			return -EINVAL;
		}
	}
	a->nr_lens = n;
	return 0;
}

static int vec_parse(int argc, char **argv, struct vec_args *a)
{
	int c, ret;

	while ((c = getopt(argc, argv, vec_opts(a))) != -1) {
		ret = vec_flag(c, a);
		if (ret < 0)
			return ret;
	}
	if (optind > argc - 2)
		return vec_usage(a);
	if (a->unmap && !a->zero) {
		printf("write: -u only works together with -z\n");
		return -EINVAL;
	}
	if (a->zero && optind != argc - 2) {
		printf("%s: -z takes one length only\n", a->cmd);
		return -EINVAL;
	}
	if (io_parse_num(argv[optind], &a->offset) < 0)
		return -EINVAL;
	return vec_lengths(argv + optind + 1, argc - optind - 1, a);
}

static bool vec_in_range(struct io_state *s, const struct vec_args *a)
{
	uint64_t size = qcow_size(s->img);

	return (uint64_t)a->offset <= size &&
	       size - a->offset >= (uint64_t)a->count;
}

static unsigned int vec_flags(struct io_state *s, const struct vec_args *a)
{
	unsigned int flags = a->fua ? QCOW_REQ_FUA : 0;

	if (a->zero && a->unmap && !s->open.no_discard)
		flags |= QCOW_REQ_UNMAP;
	return flags;
}

static enum qcow_op vec_op(const struct vec_args *a)
{
	if (!a->write)
		return QCOW_OP_READ;
	return a->zero ? QCOW_OP_WRITE_ZEROES : QCOW_OP_WRITE;
}

static int vec_io(struct io_state *s, const struct vec_args *a, uint8_t *buf)
{
	int ret;

	if (!vec_in_range(s, a))
		return -EIO;
	if (!a->write) {
		ret = io_copy_on_read(s, a->offset, a->count);
		if (ret < 0)
			return ret;
		return qcow_pread(s->img, buf, a->count, a->offset);
	}
	if (a->zero)
		ret = qcow_pwrite_zeroes(s->img, a->count, a->offset,
					 vec_flags(s, a) & QCOW_REQ_UNMAP);
	else
		ret = qcow_pwrite(s->img, buf, a->count, a->offset);
	if (ret >= 0 && a->fua)
		ret = qcow_flush(s->img);
	return ret < 0 ? ret : 0;
}

static int vec_verify(const struct vec_args *a, const uint8_t *buf)
{
	int64_t i;

	if (a->write || a->pattern < 0)
		return 0;
	for (i = 0; i < a->count; i++) {
		if (buf[i] != a->pattern) {
			printf("Pattern verification failed at offset %" PRId64
			       ", %" PRId64 " bytes\n", a->offset, a->count);
			return -EINVAL;
		}
	}
	return 0;
}

static const char *fail_name(const struct vec_args *a)
{
	/* qemu-io names a failed aio_read "readv" */
	if (a->aio && !a->write)
		return "readv";
	return a->cmd;
}

/* The report of a completed request; frees buf. */
static int vec_complete(const struct vec_args *a, uint8_t *buf,
			const struct timespec *elapsed, int ret)
{
	if (ret < 0) {
		printf("%s failed: %s\n", fail_name(a), strerror(-ret));
		goto out;
	}
	ret = vec_verify(a, buf);
	if (a->quiet)
		goto out;
	if (a->verbose)
		io_dump_buffer(buf, a->offset, a->count);
	io_report(a->write ? "wrote" : "read", elapsed, a->offset, a->count,
		  a->count, 1, a->machine);
out:
	free(buf);
	return ret;
}

struct vec_aio {
	struct vec_args a;
	uint8_t *buf;
	struct timespec start;
};

static void vec_aio_done(void *arg, int res)
{
	struct vec_aio *v = arg;
	struct timespec elapsed = io_elapsed(&v->start);

	vec_complete(&v->a, v->buf, &elapsed, res < 0 ? res : 0);
	free(v);
}

/*
 * In flight until the next command drains it; as qemu-io's, a failed
 * request prints its error but does not fail the command.
 */
static int vec_submit(struct io_state *s, const struct vec_args *a,
		      uint8_t *buf)
{
	struct vec_aio *v = malloc(sizeof(*v));
	struct timespec zero = { 0 };
	int ret;

	if (!v) {
		vec_complete(a, buf, &zero, -ENOMEM);
		return 0;
	}
	v->a = *a;
	v->buf = buf;
	clock_gettime(CLOCK_MONOTONIC, &v->start);
	ret = vec_in_range(s, a) ? 0 : -EIO;
	/*
	 * The copy is made first, synchronously (the read then finds it),
	 * once nothing is in flight that its writes could have to wait for.
	 */
	if (!ret && !a->write && s->open.copy_on_read) {
		io_aio_drain(s);
		ret = io_copy_on_read(s, a->offset, a->count);
	}
	if (ret < 0)
		io_aio_fail(s, ret, vec_aio_done, v);
	else
		io_aio_submit(s, vec_op(a), buf, a->offset, a->count,
			      vec_flags(s, a), vec_aio_done, v);
	return 0;
}

static uint8_t *vec_buffer(const struct vec_args *a)
{
	uint8_t *buf;

	if (a->zero)
		return NULL;
	buf = malloc(a->count ? a->count : 1);
	if (buf)
		memset(buf, a->write ? (a->pattern < 0 ? DEFAULT_PATTERN :
					a->pattern) : 0xab, a->count);
	return buf;
}

static int vec_run(struct io_state *s, struct vec_args *a, int argc,
		   char **argv)
{
	struct timespec start, elapsed;
	uint8_t *buf;
	int ret;

	ret = vec_parse(argc, argv, a);
	if (ret < 0)
		return ret;
	if (a->invalid) {
		printf("injecting invalid %s request\n",
		       a->write ? "write" : "read");
		return 0;
	}
	buf = vec_buffer(a);
	if (!buf && !a->zero) {
		printf("%s failed: %s\n", fail_name(a), strerror(ENOMEM));
		return -ENOMEM;
	}
	if (a->aio)
		return vec_submit(s, a, buf);
	clock_gettime(CLOCK_MONOTONIC, &start);
	ret = vec_io(s, a, buf);
	elapsed = io_elapsed(&start);
	return vec_complete(a, buf, &elapsed, ret);
}

int io_readv(struct io_state *s, int argc, char **argv)
{
	struct vec_args a = { .cmd = "readv", .pattern = -1 };

	return vec_run(s, &a, argc, argv);
}

int io_writev(struct io_state *s, int argc, char **argv)
{
	struct vec_args a = { .cmd = "writev", .write = true, .pattern = -1 };

	return vec_run(s, &a, argc, argv);
}

int io_aio_read(struct io_state *s, int argc, char **argv)
{
	struct vec_args a = { .cmd = "aio_read", .aio = true, .pattern = -1 };

	return vec_run(s, &a, argc, argv);
}

int io_aio_write(struct io_state *s, int argc, char **argv)
{
	struct vec_args a = { .cmd = "aio_write", .write = true, .aio = true,
			      .pattern = -1 };

	return vec_run(s, &a, argc, argv);
}

/* io_run_line() has waited for the aio requests in flight already. */
int io_aio_flush(struct io_state *s, int argc, char **argv)
{
	return 0;
}
