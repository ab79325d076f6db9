// SPDX-License-Identifier: MIT
/*
 * The sector ciphers' speed, one thread (MB/s per core): 4 KiB and
 * 64 KiB encrypt and decrypt calls, for aes-256-xts-plain64 (LUKS's
 * default), aes-128-cbc-plain64 (legacy AES), twofish-256-xts and
 * serpent-256-xts, with each backend that has the cipher here (libcrypto,
 * nettle, the kernel's), each as a ratio of the first of them.
 *
 *     build/bench/crypto-bench [SECONDS_PER_CASE]     (default 0.5)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "qcow/crypto/crypto.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* MB/s of calls of len bytes for secs seconds; < 0 on error */
static double rate(struct qcrypto_cipher *c, int enc, uint8_t *buf,
		   size_t len, double secs)
{
	double t0 = now(), t;
	uint64_t bytes = 0, sector = 0;
	int ret;

	do {
		ret = enc ? qcrypto_encrypt(c, sector, buf, len) :
			    qcrypto_decrypt(c, sector, buf, len);
		if (ret < 0)
			return -1;
		bytes += len;
		sector += len / QCRYPTO_SECTOR_SIZE;
		t = now() - t0;
	} while (t < secs);
	return (double)bytes / t / 1e6;
}

#define NBE 3

static void bench_spec(const char *alg, const char *mode, size_t klen,
		       double secs)
{
	static const enum qcrypto_backend bes[NBE] = {
		QCRYPTO_BACKEND_OPENSSL, QCRYPTO_BACKEND_NETTLE,
		QCRYPTO_BACKEND_KCAPI,
	};
	static const size_t lens[] = { 4096, 65536 };
	struct qcrypto_spec s = { 0 };
	double r[NBE][2][2];	/* [backend][len][enc] */
	uint8_t key[64], *buf;
	unsigned int b, l, e, ref = NBE;

	snprintf(s.cipher_alg, sizeof(s.cipher_alg), "%s", alg);
	snprintf(s.cipher_mode, sizeof(s.cipher_mode), "%s", mode);
	strcpy(s.ivgen_alg, "plain64");
	for (b = 0; b < sizeof(key); b++)
		key[b] = (uint8_t)(b * 13 + 5);
	buf = calloc(1, 65536);
	if (!buf)
		return;
	for (b = 0; b < NBE; b++) {
		struct qcrypto_cipher *c = NULL;
		int ret = qcrypto_backend_probe(bes[b]);

		if (!ret)
			ret = qcrypto_cipher_new(&s, key, klen, bes[b], &c);
		for (l = 0; l < 2; l++)
			for (e = 0; e < 2; e++)
				r[b][l][e] = ret < 0 ? -1 :
					     rate(c, !e, buf, lens[l], secs);
		if (ret < 0)
			printf("%s-%s-plain64 %-8s cannot run here: %s\n", alg,
			       mode, qcrypto_backend_name(bes[b]),
			       strerror(-ret));
		else if (ref == NBE)
			ref = b;
		qcrypto_cipher_free(c);
	}
	for (l = 0; l < 2 && ref < NBE; l++)
		for (e = 0; e < 2; e++) {
			printf("%s-%s-plain64 %-7s %2zuK", alg, mode,
			       e ? "decrypt" : "encrypt", lens[l] / 1024);
			for (b = 0; b < NBE; b++) {
				if (r[b][l][e] < 0)
					continue;
				printf("  %s %8.1f MB/s",
				       qcrypto_backend_name(bes[b]),
				       r[b][l][e]);
				if (b != ref)
					printf(" (%s/%s %.2f)",
					       qcrypto_backend_name(bes[b]),
					       qcrypto_backend_name(bes[ref]),
					       r[b][l][e] / r[ref][l][e]);
			}
			printf("\n");
		}
	free(buf);
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 0.5;

	if (secs <= 0)
		secs = 0.5;
	printf("one thread; MB/s = 10^6 bytes per second\n");
	bench_spec("aes-256", "xts", 64, secs);
	bench_spec("aes-128", "cbc", 16, secs);
	bench_spec("twofish-256", "xts", 64, secs);
	bench_spec("serpent-256", "xts", 64, secs);
	return 0;
}
