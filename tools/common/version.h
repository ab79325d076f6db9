/* SPDX-License-Identifier: MIT */
/* The release of the programs; debian/changelog names the same one. */
#ifndef TOOLS_COMMON_VERSION_H
#define TOOLS_COMMON_VERSION_H

#define QCOW_UBLK_VERSION "0.1"

#endif
