// SPDX-License-Identifier: MIT
/*
 * as-user UID GID PROGRAM [ARGS...]: runs PROGRAM with that uid and gid
 * and no supplementary groups (the guest's busybox has no setpriv
 * --reuid).  Exits 126 when the ids cannot be taken.
 */
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	char *end;
	long uid, gid;

	if (argc < 4) {
		fprintf(stderr, "usage: as-user UID GID PROGRAM [ARGS...]\n");
		return 2;
	}
	uid = strtol(argv[1], &end, 10);
	if (*end || uid <= 0)
		return 2;
	gid = strtol(argv[2], &end, 10);
	if (*end || gid <= 0)
		return 2;
	if (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(uid) < 0) {
		perror("as-user");
		return 126;
	}
	execvp(argv[3], argv + 3);
	perror(argv[3]);
	return 127;
}
