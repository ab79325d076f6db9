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
	struct qcow_open_opts o = { .format = QCOW_FMT_NONE, .read_only = true };
	struct qcow_image *img;

	fz_put_image(data, size);
	if (qcow_open(&img, fz_image_path(), &o) < 0) {
		(void)qcow_strerror();
		return 0;
	}
	fz_exercise_read(img);
	qcow_close(img);
	return 0;
}
