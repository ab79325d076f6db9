/* SPDX-License-Identifier: MIT */
/* Size arguments and human readable sizes, as qemu-img and qemu-io print. */
#ifndef TOOLS_COMMON_SIZE_H
#define TOOLS_COMMON_SIZE_H

#include <stddef.h>
#include <stdint.h>

#define SIZE_STR_LEN 64

/*
 * Parses "4096", "0x1000", "64k", "1.5G" (suffixes b k M G T P E, any case,
 * powers of 1024).  Returns 0, -EINVAL (not a size) or -ERANGE (above
 * INT64_MAX).
 */
int parse_size(const char *s, uint64_t *out);

/* "4 MiB", "324 KiB", "0.977 MiB": three significant digits (qemu-img). */
char *size_to_str(char *buf, size_t len, uint64_t val);

/* "64 KiB", "7.875 MiB", "512 bytes": three decimals unless whole (qemu-io). */
char *size_to_io_str(char *buf, size_t len, double val);

#endif
