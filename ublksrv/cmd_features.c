// SPDX-License-Identifier: MIT
#include <getopt.h>
#include <stdio.h>
#include "cli.h"
#include "ctrl.h"
#include "log.h"

static const char *const feature_names[] = {
	"ZERO_COPY", "URING_CMD_COMP_IN_TASK", "NEED_GET_DATA",
	"USER_RECOVERY", "USER_RECOVERY_REISSUE", "UNPRIVILEGED_DEV",
	"CMD_IOCTL_ENCODE", "USER_COPY", "ZONED", "USER_RECOVERY_FAIL_IO",
	"UPDATE_SIZE", "AUTO_BUF_REG", "QUIESCE", "PER_IO_DAEMON",
	"BUF_REG_OFF_DAEMON",
};

#define NR_NAMED (sizeof(feature_names) / sizeof(feature_names[0]))

static const char *yes_no(uint64_t f, uint64_t bit)
{
	return f & bit ? "offered" : "not offered";
}

/* What ublk-qcow can do with the offer. */
static void print_summary(uint64_t f)
{
	uint64_t zc = UBLK_ZERO_COPY_FLAGS;

	printf("user copy: %s (add --user-copy)\n",
	       yes_no(f, UBLK_F_USER_COPY));
	printf("zero copy: %s (add --zero-copy: AUTO_BUF_REG %s, "
	       "USER_COPY %s)\n", (f & zc) == zc ? "offered" : "not offered",
	       yes_no(f, UBLK_F_AUTO_BUF_REG), yes_no(f, UBLK_F_USER_COPY));
}

/*
 * The kernel's UBLK_F_* offer, one name per line after the mask, then
 * whether user copy and zero copy are among them.
 */
int cmd_features(int argc, char **argv)
{
	struct ublk_ctrl c;
	uint64_t f;
	unsigned int i;
	int ret;

	if (argc > 1) {
		fprintf(stderr, "usage: ublk-qcow features\n");
		return 2;
	}
	if (ublk_ctrl_open(&c) < 0)
		return 1;
	ret = ublk_ctrl_get_features(&c, &f);
	ublk_ctrl_close(&c);
	if (ret < 0) {
		ublk_errno(ret, "GET_FEATURES (kernel older than 6.5?)");
		return 1;
	}
	printf("0x%016llx\n", (unsigned long long)f);
	for (i = 0; i < 64; i++) {
		if (!(f & (1ULL << i)))
			continue;
		if (i < NR_NAMED)
			printf("%-2u %s\n", i, feature_names[i]);
		else
			printf("%-2u (unknown)\n", i);
	}
	print_summary(f);
	return 0;
}
