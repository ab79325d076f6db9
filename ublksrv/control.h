/* SPDX-License-Identifier: MIT */
/*
 * The control channel from the CLI to the daemon serving a device: a unix
 * stream socket ublkN.sock in the run directory, owner only.  One request
 * a connection: "VERB ARG\n" (ARG may be empty, holds no newline); the
 * answer is "ok\n" and the verb's output up to the end of the stream, or
 * "error MESSAGE\n".
 */
#ifndef UBLKSRV_CONTROL_H
#define UBLKSRV_CONTROL_H

#include <stddef.h>
#include <stdio.h>

#define CTL_ARG_MAX	4096

void ctl_socket_path(int dev_id, char *buf, size_t len);

/* The daemon's end: a listening socket for dev_id, or -errno (logged). */
int ctl_listen(int dev_id);
/* Closes it and removes the socket file. */
void ctl_unlisten(int dev_id, int fd);

/*
 * Serves one connection waiting on the listening fd: fn gets the verb and
 * its argument, writes its output to out, and returns 0, or -errno with
 * a one-line reason in err.
 */
typedef int (*ctl_handler)(void *arg, const char *verb, const char *param,
			   FILE *out, char *err, size_t err_len);
void ctl_serve(int fd, ctl_handler fn, void *arg);

/*
 * The CLI's end: sends the request to device dev_id's daemon and copies
 * the output to out.  Returns 0; or -errno, the reason printed as one
 * line (the daemon's, or why it could not be asked).
 */
int ctl_request(int dev_id, const char *verb, const char *param, FILE *out);

#endif
