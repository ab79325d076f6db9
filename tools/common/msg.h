/* SPDX-License-Identifier: MIT */
/* Error messages of the tools: "<program>: <what>" on stderr. */
#ifndef TOOLS_COMMON_MSG_H
#define TOOLS_COMMON_MSG_H

/* Set by main(): "qcow-img" or "qcow-io". */
extern const char *tool_name;

void tool_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
