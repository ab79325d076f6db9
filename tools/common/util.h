/* SPDX-License-Identifier: MIT */
/* Small helpers of the tools. */
#ifndef TOOLS_COMMON_UTIL_H
#define TOOLS_COMMON_UTIL_H

#include <stdint.h>

static inline uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

#endif
