/* SPDX-License-Identifier: MIT */
/* Error messages of the tools: "<program>: <what>" on stderr, one line. */
#ifndef TOOLS_COMMON_MSG_H
#define TOOLS_COMMON_MSG_H

/* Set by main(): "qcow-img" or "qcow-io". */
extern const char *tool_name;

void tool_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A bad command line: the message and a pointer to --help, one line. */
void tool_usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

/*
 * After getopt returned '?' with opterr = 0: names the unknown option, or
 * the option that lacks its value.  who: the verb ("create"), or NULL.
 */
void tool_bad_option(const char *who, const char *optstring, char **argv);

#endif
