// SPDX-License-Identifier: MIT
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "log.h"
#include "name.h"
#include "state.h"
#include "ublk_abi.h"

/* A file name everywhere: no slash, no dot files, no option look-alikes. */
bool name_valid(const char *name)
{
	size_t len = strlen(name);

	return len && len <= UBLK_NAME_MAX &&
	       strspn(name, "abcdefghijklmnopqrstuvwxyz"
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == len &&
	       name[0] != '.' && name[0] != '-';
}

int name_check(const char *name)
{
	if (name_valid(name))
		return 0;
	ublk_err("--name: '%s' is not 1-%d of A-Z a-z 0-9 . _ - (not first: "
		 ". -)", name, UBLK_NAME_MAX);
	return -EINVAL;
}

static bool dev_exists(int dev_id)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/sys/class/ublk-char/ublkc%d", dev_id);
	return stat(path, &st) == 0;
}

/* A record whose device is gone (deleted behind our back) names nothing. */
int name_find(const char *name)
{
	struct run_state st;
	struct dirent *d;
	int id, ret = -ENOENT;
	DIR *dir;

	dir = opendir(run_dir());
	if (!dir)
		return -ENOENT;
	while (ret < 0 && (d = readdir(dir))) {
		if (sscanf(d->d_name, "ublk%d.json", &id) != 1 ||
		    run_state_load(id, &st) < 0)
			continue;
		if (!strcmp(st.name, name) && dev_exists(id))
			ret = id;
	}
	closedir(dir);
	return ret;
}

int name_to_id(const char *name)
{
	int id = name_find(name);

	if (id < 0)
		ublk_err("no ublk device named '%s'", name);
	return id;
}

void name_link_path(const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/by-name/%s", run_dir(), name);
}

/* Made aside and renamed over: the path never misses a live device. */
int name_link(const char *name, int dev_id)
{
	char dir[PATH_MAX], path[PATH_MAX], tmp[PATH_MAX + 16], bdev[64];
	int err = 0;

	snprintf(dir, sizeof(dir), "%s/by-name", run_dir());
	if ((mkdir(run_dir(), 0755) < 0 && errno != EEXIST) ||
	    (mkdir(dir, 0755) < 0 && errno != EEXIST))
		goto fail;
	name_link_path(name, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.%d", path, (int)getpid());
	snprintf(bdev, sizeof(bdev), UBLK_BDEV_FMT, dev_id);
	unlink(tmp);
	if (symlink(bdev, tmp) < 0)
		goto fail;
	if (rename(tmp, path) == 0)
		return 0;
	err = -errno;
	unlink(tmp);
fail:
	if (!err)
		err = -errno;
	ublk_errno(err, "cannot link %s/by-name/%s to " UBLK_BDEV_FMT,
		   run_dir(), name, dev_id);
	return err;
}

void name_unlink(const char *name, int dev_id)
{
	char path[PATH_MAX], target[64], bdev[64];
	ssize_t n;

	name_link_path(name, path, sizeof(path));
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return;
	target[n] = 0;
	snprintf(bdev, sizeof(bdev), UBLK_BDEV_FMT, dev_id);
	if (!strcmp(target, bdev))
		unlink(path);
}
