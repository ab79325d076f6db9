// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the input is a legacy qcow (version 1) image, the
 * format forced.  Opened read-only with a passphrase (an image that says
 * it is encrypted with AES is then read through the cipher; a plain one
 * ignores it) and read as fuzz_open_read does.
 */
#include <string.h>
#include "fuzz_common.h"

#define FUZZ_KEY	"fuzz-passphrase"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fz_init();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qcow_open_opts o = {
		.format = QCOW_FMT_QCOW, .read_only = true,
		.key = FUZZ_KEY, .key_len = strlen(FUZZ_KEY),
	};
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
