// SPDX-License-Identifier: MIT
/* Memory for key material: out of core dumps, wiped when freed. */
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "crypto_internal.h"

static size_t round_pages(size_t len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	return (len + page - 1) / page * page;
}

void qcrypto_wipe(void *p, size_t len)
{
	if (p)
		explicit_bzero(p, len);
}

void *qcrypto_secure_alloc(size_t len)
{
	size_t n = round_pages(len ? len : 1);
	void *p;

	p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		 -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	if (madvise(p, n, MADV_DONTDUMP) < 0) {
		munmap(p, n);
		return NULL;
	}
	/* swap is the one place left to leak to; RLIMIT_MEMLOCK may forbid */
	(void)mlock(p, n);
	return p;
}

void qcrypto_secure_free(void *p, size_t len)
{
	size_t n = round_pages(len ? len : 1);

	if (!p)
		return;
	explicit_bzero(p, n);
	munlock(p, n);
	munmap(p, n);
}
