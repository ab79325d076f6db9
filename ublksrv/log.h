/* SPDX-License-Identifier: MIT */
/* Messages of ublk-qcow: "ublk-qcow: <what>" on stderr. */
#ifndef UBLKSRV_LOG_H
#define UBLKSRV_LOG_H

void ublk_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Adds ": strerror(-err)". */
void ublk_errno(int err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
