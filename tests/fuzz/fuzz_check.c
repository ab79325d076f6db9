// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the input is an image (format probed).  It is opened
 * read-only and checked (qcow_check); then, as qemu-img check -r all
 * does, opened for repair (damaged refcount structures rebuilt) and
 * repaired, closed, reopened read-only and checked again.  Only crashes, leaks, hangs and runaway allocations are
 * findings here: what the check reports on a hostile image is not judged.
 */
#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fz_init();
	return 0;
}

static size_t msg_bytes;

static void check_ro(void)
{
	struct qcow_open_opts o = { .read_only = true };
	struct qcow_check_result res;
	struct qcow_image *img;

	if (qcow_open(&img, fz_image_path(), &o) < 0)
		return;
	(void)qcow_check(img, &res, fz_report_sink, &msg_bytes);
	qcow_close(img);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qcow_open_opts rw = { .read_only = false, .repair = true };
	struct qcow_check_result res;
	struct qcow_image *img;

	fz_put_image(data, size);
	check_ro();
	if (qcow_open(&img, fz_image_path(), &rw) < 0) {
		fz_settle();
		return 0;
	}
	if (qcow_format(img) == QCOW_FMT_QCOW2)
		(void)qcow_repair(img, QCOW_REPAIR_LEAKS | QCOW_REPAIR_ERRORS,
				  &res, fz_report_sink, &msg_bytes);
	qcow_close(img);
	check_ro();
	fz_settle();
	return 0;
}
