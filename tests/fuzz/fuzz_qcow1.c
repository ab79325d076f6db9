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
	struct qcow_open_opts o = { .format = QCOW_FMT_QCOW, .read_only = true };
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
