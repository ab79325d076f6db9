// SPDX-License-Identifier: MIT
/* Error messages of the tools. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "tools/common/msg.h"

const char *tool_name = "qcow";

static void vmsg(const char *hint, const char *fmt, va_list ap)
{
	fflush(stdout);
	fprintf(stderr, "%s: ", tool_name);
	vfprintf(stderr, fmt, ap);
	if (hint)
		fprintf(stderr, " (see '%s --help')", tool_name);
	fputc('\n', stderr);
}

void tool_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(NULL, fmt, ap);
	va_end(ap);
}

void tool_usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg("", fmt, ap);
	va_end(ap);
}

void tool_bad_option(const char *who, const char *optstring, char **argv)
{
	const char *arg = optind > 0 ? argv[optind - 1] : "?";
	const char *sep = who ? ": " : "";

	who = who ? who : "";
	if (!optopt)
		tool_usage_error("%s%sunknown option '%s'", who, sep, arg);
	else if (optopt >= 256)
		tool_usage_error("%s%soption '%s' needs a value", who, sep, arg);
	else if (optopt != ':' && strchr(optstring, optopt))
		tool_usage_error("%s%soption -%c needs a value", who, sep,
				 optopt);
	else
		tool_usage_error("%s%sunknown option -%c", who, sep, optopt);
}
