/* SPDX-License-Identifier: MIT */
/*
 * The passphrase of encrypted images, never from the command line: a
 * file (--key-file PATH), standard input (--key-file -) or the user's
 * kernel keyring (--key-keyring DESC, a "user" key).
 */
#ifndef UBLKSRV_KEY_H
#define UBLKSRV_KEY_H

#include <stdbool.h>
#include <stddef.h>

struct ublk_key {
	char *data;		/* locked, out of core dumps; NULL: none */
	size_t len;
};

/* add's and recover's: the image's and its backing file's */
struct ublk_keys {
	struct ublk_key image;
	struct ublk_key backing;
	bool stdin_used;	/* one of them came from --...key-file - */
};

/*
 * -errno after a message.  Every byte is the passphrase, a final newline
 * too, as in qemu-img's secret,file= (write it with printf '%s').
 */
int ublk_key_from_file(struct ublk_key *k, const char *path);
int ublk_key_from_keyring(struct ublk_key *k, const char *desc);
/* Wipes and frees. */
void ublk_key_clear(struct ublk_key *k);

#endif
