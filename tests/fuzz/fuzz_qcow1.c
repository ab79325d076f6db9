// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the input is a legacy qcow (version 1) image, the
 * format forced.  Opened read-only (the only way the engine opens them)
 * and read as fuzz_open_read does.
 */
#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fz_init();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fz_open_and_read(data, size, QCOW_FMT_QCOW);
}
