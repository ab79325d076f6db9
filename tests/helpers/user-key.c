// SPDX-License-Identifier: MIT
/*
 * user-key DESC: adds the bytes of standard input as the "user" key DESC
 * of the user keyring (add_key(2), as `keyctl padd user DESC @u` does),
 * for the tests of `ublk-qcow add --key-keyring` where no keyctl is
 * installed; the key expires after ten minutes.  Exit 0, 1 on an error,
 * 77 when the kernel has no keys.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <linux/keyctl.h>
#include <sys/syscall.h>

int main(int argc, char **argv)
{
	char buf[4096];
	size_t n = 0;
	ssize_t r;
	long id;

	if (argc != 2) {
		fprintf(stderr, "usage: user-key DESC <PASSPHRASE\n");
		return 1;
	}
	while (n < sizeof(buf) &&
	       (r = read(STDIN_FILENO, buf + n, sizeof(buf) - n)) > 0)
		n += (size_t)r;
	id = syscall(SYS_add_key, "user", argv[1], buf, n,
		     KEY_SPEC_USER_KEYRING);
	explicit_bzero(buf, sizeof(buf));
	if (id < 0) {
		fprintf(stderr, "user-key: add_key %s: %s\n", argv[1],
			strerror(errno));
		return errno == ENOSYS || errno == EPERM ? 77 : 1;
	}
	syscall(SYS_keyctl, KEYCTL_SET_TIMEOUT, id, 600);
	printf("%ld\n", id);
	return 0;
}
