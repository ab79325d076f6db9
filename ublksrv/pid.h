/* SPDX-License-Identifier: MIT */
#ifndef UBLKSRV_PID_H
#define UBLKSRV_PID_H

#include <stdbool.h>

/* pid names a running process (not a zombie waiting to be reaped). */
bool pid_alive(int pid);

#endif
