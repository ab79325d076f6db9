// SPDX-License-Identifier: MIT
/*
 * Simulated power loss during LUKS key slot changes (qcow_amend with
 * luks_state): every write and fsync of the amend is recorded (the file
 * backend's event hook); at each point of that log a crash image is
 * rebuilt from the file before the amend, with the writes a completed
 * fsync covered, and the others absent, present or torn (their first
 * half).  Adding a slot: each crash image must open with the old
 * passphrase and read the data back, and the new one opens it or is
 * refused (-EACCES), nothing else.  Erasing a slot: the other slot must
 * open it; the erased passphrase may still open it only where the slot's
 * entry is still active, and an inactive entry must never sit over the
 * slot's old material.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "qcow/internal.h"
#include "qcow/layout.h"
#include "testlib.h"
#include "io_rec.h"

#define SIZE		(1u << 20)
#define OLD		"old-passphrase"
#define NEW		"new-passphrase"
#define PHDR_SLOT(i)	(208u + 48u * (i))

/* the image at crash point p; uncovered writes: 0 absent, 1 there, 2 torn */
static uint8_t *crash_image(const uint8_t *base, size_t len, size_t *out_len,
			    unsigned long p, int variant)
{
	unsigned long synced = 0;
	size_t i, n = len, end;
	uint8_t *img;

	for (i = 0; i < rec.n; i++)
		if (rec.v[i].is_sync && rec.v[i].done && rec.v[i].done <= p &&
		    rec.v[i].submit > synced)
			synced = rec.v[i].submit;
	for (i = 0; i < rec.n; i++)
		if (!rec.v[i].is_sync && rec.v[i].submit <= p &&
		    rec.v[i].off + rec.v[i].len > n)
			n = rec.v[i].off + rec.v[i].len;
	img = calloc(1, n);
	memcpy(img, base, len);
	for (i = 0; i < rec.n; i++) {
		struct io_rec *r = &rec.v[i];
		bool covered = r->done && r->done < synced;

		if (r->is_sync || r->submit > p)
			continue;
		if (!covered && variant == 0)
			continue;
		end = covered || variant == 1 ? r->len : r->len / 2;
		if (r->is_punch)
			memset(img + r->off, 0, end);
		else
			memcpy(img + r->off, r->data, end);
	}
	*out_len = n;
	return img;
}

/* 0 opened and read the data, -EACCES refused, else another error */
static int try_open(const char *path, const char *pass, const uint8_t *want)
{
	struct qcow_open_opts o = {
		.read_only = true, .key = pass, .key_len = strlen(pass),
		.no_lock = true,
	};
	static uint8_t buf[64 * 1024];
	struct qcow_image *img;
	int ret = qcow_open(&img, path, &o);

	if (ret < 0)
		return ret;
	ret = qcow_pread(img, buf, sizeof(buf), 0);
	if (!ret && memcmp(buf, want, sizeof(buf)))
		ret = -EIO;
	qcow_close(img);
	return ret;
}

static int slot_active(const uint8_t *img, uint64_t luks_off, unsigned int s)
{
	return tl_get_be32(img + luks_off + PHDR_SLOT(s)) == 0x00AC71F3u;
}

/* the LUKS area's offset, from the header extension 0x0537be77 */
static uint64_t luks_offset(const uint8_t *img, size_t len)
{
	uint64_t o = tl_get_be32(img + 100);

	while (o + 24 <= len) {
		uint32_t t = tl_get_be32(img + o), n = tl_get_be32(img + o + 4);

		if (!t)
			break;
		if (t == 0x0537be77u)
			return tl_get_be64(img + o + 8);
		o += 8 + (n + 7) / 8 * 8;
	}
	return 0;
}

static int amend(const char *path, const struct qcow_amend_opts *a)
{
	struct qcow_open_opts o = { .key = OLD, .key_len = strlen(OLD) };
	struct qcow_image *img;
	int ret;

	qfile_set_backend(&recorder);
	ret = qcow_open(&img, path, &o);
	if (!ret) {
		ret = qcow_amend(img, a);
		qcow_close(img);
	}
	qfile_set_backend(NULL);
	return ret;
}

/*
 * Every crash point and variant of the recorded amend: check() says
 * what is wrong with one crash image, or NULL.
 */
static void enumerate(const char *path, const uint8_t *base, size_t len,
		      const char *(*check)(const char *, const uint8_t *,
					   size_t, const uint8_t *,
					   uint64_t, const uint8_t *),
		      const uint8_t *want)
{
	char cpath[1100];
	unsigned long p;
	uint64_t lo = luks_offset(base, len);
	unsigned int images = 0;
	const char *why = NULL;
	int v;

	snprintf(cpath, sizeof(cpath), "%s.crash", path);
	for (p = 0; p <= rec.events && !why; p++) {
		for (v = 0; v < 3 && !why; v++) {
			size_t n;
			uint8_t *img = crash_image(base, len, &n, p, v);

			if (tl_write_file(cpath, img, n) < 0)
				why = "cannot write the crash image";
			else
				why = check(cpath, img, n, base, lo, want);
			images++;
			free(img);
			if (why)
				tl_fail("crash after event %lu of %lu (variant "
					"%d): %s", p, rec.events, v, why);
		}
	}
	if (!why) {
		printf("NOTE: %lu events, %u crash images\n", rec.events,
		       images);
		tl_pass();
	}
}

static const char *check_add(const char *path, const uint8_t *img, size_t n,
			     const uint8_t *base, uint64_t lo,
			     const uint8_t *want)
{
	int ret;

	(void)img; (void)n; (void)base; (void)lo;
	if (try_open(path, OLD, want) < 0)
		return "the old passphrase does not open it";
	ret = try_open(path, NEW, want);
	if (ret < 0 && ret != -EACCES)
		return "the new passphrase fails with another error than "
		       "EACCES";
	return NULL;
}

/* slot 0 (OLD) erased, slot 1 (NEW) stays */
static const char *check_erase(const char *path, const uint8_t *img,
			       size_t n, const uint8_t *base, uint64_t lo,
			       const uint8_t *want)
{
	uint32_t mat = tl_get_be32(base + lo + PHDR_SLOT(0) + 40) * 512u;
	int ret;

	if (try_open(path, NEW, want) < 0)
		return "the slot not erased does not open it";
	ret = try_open(path, OLD, want);
	if (ret < 0 && ret != -EACCES)
		return "the erased passphrase fails with another error than "
		       "EACCES";
	if (!slot_active(img, lo, 0) && lo + mat + 4096 <= n &&
	    !memcmp(img + lo + mat, base + lo + mat, 4096))
		return "an inactive entry over the old key material";
	if (!ret && !slot_active(img, lo, 0))
		return "the erased passphrase opens an inactive slot";
	return NULL;
}

int main(int argc, char **argv)
{
	struct qcow_create_opts co = {
		.format = QCOW_FMT_QCOW2, .size = SIZE, .cluster_size = 65536,
		.crypt_method = QCOW_CRYPT_LUKS, .key = OLD,
		.key_len = strlen(OLD), .luks_iter_time_ms = 1,
	};
	struct qcow_amend_opts add = {
		.compat = -1, .lazy_refcounts = -1, .refcount_bits = -1,
		.data_file_raw = -1, .luks_state = QCOW_LUKS_ACTIVE,
		.luks_keyslot = -1, .luks_iter_time_ms = 1,
		.key = { OLD, strlen(OLD) }, .new_key = { NEW, strlen(NEW) },
	};
	struct qcow_amend_opts erase = {
		.compat = -1, .lazy_refcounts = -1, .refcount_bits = -1,
		.data_file_raw = -1, .luks_state = QCOW_LUKS_INACTIVE,
		.luks_keyslot = 0,
	};
	struct qcow_open_opts o = { .key = OLD, .key_len = strlen(OLD) };
	static uint8_t want[64 * 1024];
	struct qcow_image *img;
	char path[1024];
	uint8_t *base;
	size_t len;

	tl_init(argc, argv);
	snprintf(path, sizeof(path), "%s/luks.qcow2", tl_tmpdir());
	tl_fill_rand(want, sizeof(want), 42);
	tl_begin("luks-amend-crash/setup");
	if (qcow_create(path, &co) < 0 || qcow_open(&img, path, &o) < 0) {
		tl_fail("create: %s", qcow_strerror());
		return tl_finish();
	}
	if (qcow_pwrite(img, want, sizeof(want), 0) < 0 ||
	    qcow_flush(img) < 0) {
		qcow_close(img);
		tl_fail("write");
		return tl_finish();
	}
	qcow_close(img);
	tl_pass();

	tl_begin("luks-amend-crash/add");
	base = tl_read_file(path, &len);
	if (!base || amend(path, &add) < 0)
		tl_fail("amend: %s", qcow_strerror());
	else
		enumerate(path, base, len, check_add, want);
	free(base);
	rec_reset();

	tl_begin("luks-amend-crash/erase");
	base = tl_read_file(path, &len);
	if (!base || amend(path, &erase) < 0)
		tl_fail("amend: %s", qcow_strerror());
	else
		enumerate(path, base, len, check_erase, want);
	free(base);
	rec_reset();
	return tl_finish();
}
