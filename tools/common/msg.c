// SPDX-License-Identifier: MIT
/* Error messages of the tools. */
#include <stdarg.h>
#include <stdio.h>
#include "tools/common/msg.h"

const char *tool_name = "qcow";

void tool_error(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "%s: ", tool_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
