// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the input is an image of any format.  It is opened
 * read-only with format probing and its backing chain, then read: info,
 * up to 16 MiB of data, a block status walk (tests/fuzz/fuzz_common.c).
 */
#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fz_init();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fz_open_and_read(data, size, QCOW_FMT_NONE);
}
