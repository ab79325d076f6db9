// SPDX-License-Identifier: MIT
/* Passphrases from a file, standard input or the kernel keyring. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <linux/keyctl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "qcow.h"
#include "key.h"
#include "log.h"

#define KEY_MAX		4096u	/* a page: locked and wiped whole */

/* Before a passphrase is read: no core dump may hold it or its keys. */
static int key_alloc(struct ublk_key *k)
{
	void *p;
	int ret = qcow_no_core_dumps();

	if (ret < 0)
		return ret;
	p = mmap(NULL, KEY_MAX, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	madvise(p, KEY_MAX, MADV_DONTDUMP);
	mlock(p, KEY_MAX);	/* best effort: RLIMIT_MEMLOCK may refuse */
	k->data = p;
	k->len = 0;
	return 0;
}

void ublk_key_clear(struct ublk_key *k)
{
	if (!k->data)
		return;
	explicit_bzero(k->data, KEY_MAX);
	munlock(k->data, KEY_MAX);
	munmap(k->data, KEY_MAX);
	k->data = NULL;
	k->len = 0;
}

static int key_fail(struct ublk_key *k, int err)
{
	ublk_key_clear(k);
	return err;
}

int ublk_key_from_file(struct ublk_key *k, const char *path)
{
	bool in = !strcmp(path, "-");
	int fd = in ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
	ssize_t r = 0;
	int ret;

	if (fd < 0) {
		ret = -errno;
		ublk_err("--key-file %s: %s", path, strerror(errno));
		return ret;
	}
	ret = key_alloc(k);
	while (!ret && k->len < KEY_MAX &&
	       (r = read(fd, k->data + k->len, KEY_MAX - k->len)) > 0)
		k->len += (size_t)r;
	if (!in)
		close(fd);
	if (ret < 0 || r < 0) {
		ret = ret < 0 ? ret : -errno;
		ublk_err("--key-file %s: %s", path, strerror(-ret));
		return key_fail(k, ret);
	}
	if (k->len == KEY_MAX) {
		ublk_err("--key-file %s: longer than %u bytes", path,
			 KEY_MAX - 1);
		return key_fail(k, -EINVAL);
	}
	if (!k->len) {
		ublk_err("--key-file %s: empty", path);
		return key_fail(k, -EINVAL);
	}
	return 0;
}

int ublk_key_from_keyring(struct ublk_key *k, const char *desc)
{
	long id, n;
	int ret;

	id = syscall(SYS_keyctl, KEYCTL_SEARCH, KEY_SPEC_USER_KEYRING, "user",
		     desc, 0);
	if (id < 0) {
		ret = -errno;
		ublk_err("--key-keyring %s: no user key of that description "
			 "in the user keyring: %s", desc, strerror(errno));
		return ret;
	}
	ret = key_alloc(k);
	if (ret < 0) {
		ublk_err("--key-keyring %s: %s", desc, strerror(-ret));
		return ret;
	}
	n = syscall(SYS_keyctl, KEYCTL_READ, id, k->data, KEY_MAX - 1);
	if (n < 0 || n > KEY_MAX - 1) {
		ret = n < 0 ? -errno : -EINVAL;
		ublk_err("--key-keyring %s: cannot read the key: %s", desc,
			 n < 0 ? strerror(errno) : "too long");
		return key_fail(k, ret);
	}
	k->len = (size_t)n;
	return 0;
}
