// SPDX-License-Identifier: MIT
/* qemu-img create's -o options: names, values, the "Formatting" line. */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tools/common/msg.h"
#include "tools/common/open.h"
#include "tools/common/secret.h"
#include "tools/common/size.h"
#include "tools/img/create_opts.h"

#define SECTOR 512
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_L1_SIZE (32u << 20)	/* bytes, as QEMU limits it */

static const char *const qcow2_keys[] = {
	"size", "compat", "backing_file", "backing_fmt", "data_file",
	"data_file_raw", "cluster_size", "extended_l2", "preallocation",
	"lazy_refcounts", "refcount_bits", "compression_type", "nocow",
	"encryption", "encrypt.format", "encrypt.key-secret",
	"encrypt.cipher-alg", "encrypt.cipher-mode", "encrypt.ivgen-alg",
	"encrypt.ivgen-hash-alg", "encrypt.hash-alg", "encrypt.iter-time",
	NULL
};

/* the encrypt.* strings QEMU takes for LUKS only, and where they go */
#define LUKS_STR(key, field) { key, offsetof(struct qcow_create_opts, field), \
			       sizeof(((struct qcow_create_opts *)0)->field) }
static const struct {
	const char *key;
	size_t off;
	size_t size;
} luks_strings[] = {
	LUKS_STR("encrypt.cipher-alg", luks_cipher_alg),
	LUKS_STR("encrypt.cipher-mode", luks_cipher_mode),
	LUKS_STR("encrypt.ivgen-alg", luks_ivgen_alg),
	LUKS_STR("encrypt.ivgen-hash-alg", luks_ivgen_hash_alg),
	LUKS_STR("encrypt.hash-alg", luks_hash_alg),
};

/* QEMU's qcow driver, and its file's options */
static const char *const qcow_keys[] = {
	"size", "backing_file", "backing_fmt", "encrypt.format",
	"encrypt.key-secret", "encryption", "preallocation", "nocow", NULL
};

static const char *const raw_keys[] = {
	"size", "preallocation", "nocow", NULL
};

/* In the order qemu-img prints them; def: printed when not given. */
struct print_key {
	const char *key;
	const char *def;
	bool number;
};

static const struct print_key qcow2_print[] = {
	{ "encryption", NULL, false },
	{ "encrypt.format", NULL, false },
	{ "encrypt.key-secret", NULL, false },
	{ "encrypt.cipher-alg", NULL, false },
	{ "encrypt.cipher-mode", NULL, false },
	{ "encrypt.ivgen-alg", NULL, false },
	{ "encrypt.ivgen-hash-alg", NULL, false },
	{ "encrypt.hash-alg", NULL, false },
	{ "encrypt.iter-time", NULL, true },
	{ "cluster_size", "65536", true },
	{ "extended_l2", "off", false },
	{ "preallocation", NULL, false },
	{ "compression_type", "zlib", false },
	{ "size", NULL, true },
	{ "compat", NULL, false },
	{ "backing_file", NULL, false },
	{ "backing_fmt", NULL, false },
	{ "data_file", NULL, false },
	{ "data_file_raw", NULL, false },
	{ "lazy_refcounts", "off", false },
	{ "refcount_bits", "16", true },
	{ "nocow", NULL, false },
	{ NULL, NULL, false }
};

static const struct print_key qcow_print[] = {
	{ "size", NULL, true },
	{ "backing_file", NULL, false },
	{ "backing_fmt", NULL, false },
	{ "encryption", NULL, false },
	{ "encrypt.format", NULL, false },
	{ "encrypt.key-secret", NULL, false },
	{ "nocow", NULL, false },
	{ "preallocation", NULL, false },
	{ NULL, NULL, false }
};

static const struct print_key raw_print[] = {
	{ "size", NULL, true },
	{ "preallocation", NULL, false },
	{ "nocow", NULL, false },
	{ NULL, NULL, false }
};

static int parse_bools(struct create_spec *s)
{
	const char *v;

	v = img_opts_get(s->opts, "lazy_refcounts");
	if (v && opt_bool(s->file, "lazy_refcounts", v, &s->o.lazy_refcounts))
		return -EINVAL;
	v = img_opts_get(s->opts, "extended_l2");
	if (v && opt_bool(s->file, "extended_l2", v, &s->o.extended_l2))
		return -EINVAL;
	v = img_opts_get(s->opts, "data_file_raw");
	if (v && opt_bool(s->file, "data_file_raw", v, &s->o.data_file_raw))
		return -EINVAL;
	v = img_opts_get(s->opts, "nocow");
	if (v) {
		bool nocow;

		return opt_bool(s->file, "nocow", v, &nocow);
	}
	return 0;
}

static int parse_numbers(struct create_spec *s)
{
	const char *v;
	uint64_t n;

	v = img_opts_get(s->opts, "size");
	if (v) {
		if (opt_size(s->file, "size", v, &s->o.size))
			return -EINVAL;
		s->has_size = true;
	}
	v = img_opts_get(s->opts, "cluster_size");
	if (v) {
		if (opt_size(s->file, "cluster_size", v, &n))
			return -EINVAL;
		s->o.cluster_size = n > UINT32_MAX ? UINT32_MAX : n;
	}
	v = img_opts_get(s->opts, "refcount_bits");
	if (v) {
		if (opt_number(s->file, "refcount_bits", v, &n))
			return -EINVAL;
		s->o.refcount_bits = n > UINT32_MAX ? UINT32_MAX : n;
	}
	return 0;
}

static int bad_value(const struct create_spec *s, const char *param,
		     const char *val);
static int fail(const struct create_spec *s, const char *msg);

static int parse_luks(struct create_spec *s)
{
	struct qcow_create_opts *o = &s->o;
	const char *v;
	uint64_t n;
	size_t i;

	for (i = 0; i < ARRAY_LEN(luks_strings); i++) {
		v = img_opts_get(s->opts, luks_strings[i].key);
		if (!v)
			continue;
		if (o->crypt_method != CRYPT_LUKS)
			return fail(s, "encrypt.cipher-alg, -mode, ivgen-alg, "
				    "ivgen-hash-alg, hash-alg and iter-time "
				    "need encrypt.format=luks");
		if (strlen(v) >= luks_strings[i].size)
			return bad_value(s, luks_strings[i].key, v);
		memcpy((char *)o + luks_strings[i].off, v, strlen(v) + 1);
	}
	v = img_opts_get(s->opts, "encrypt.iter-time");
	if (v && o->crypt_method != CRYPT_LUKS)
		return fail(s, "encrypt.iter-time needs encrypt.format=luks");
	if (v && opt_number(s->file, "encrypt.iter-time", v, &n))
		return -EINVAL;
	if (v)
		o->luks_iter_time_ms = n ? n : 1;
	return 0;
}

/* encrypt.format (or the old encryption=on, aes), and its secret */
static int parse_encrypt(struct create_spec *s)
{
	const char *fmt = img_opts_get(s->opts, "encrypt.format");
	const char *id = img_opts_get(s->opts, "encrypt.key-secret");
	const char *old = img_opts_get(s->opts, "encryption");
	bool on = false;

	if (old && fmt)
		return fail(s, "'encrypt.format' and its alias 'encryption' "
			    "can't be used at the same time");
	if (old && opt_bool(s->file, "encryption", old, &on))
		return -EINVAL;
	if (on && !fmt)
		fmt = "aes";
	if (fmt && !strcmp(fmt, "aes"))
		s->o.crypt_method = CRYPT_AES;
	else if (fmt && !strcmp(fmt, "luks"))
		s->o.crypt_method = CRYPT_LUKS;
	else if (fmt)
		return bad_value(s, "encrypt.format (luks or aes)", fmt);
	if (parse_luks(s))
		return -EINVAL;
	if (!s->o.crypt_method) {
		if (id)
			return fail(s, "encrypt.key-secret needs "
				    "encrypt.format (luks or aes)");
		return 0;
	}
	if (!id)
		return fail(s, "an encrypted image needs its passphrase: "
			    "encrypt.key-secret=ID with --object "
			    "secret,id=ID,...");
	return tool_secret(s->file, id, &s->o.key, &s->o.key_len) ? -EINVAL :
	       0;
}

int create_spec_parse(struct create_spec *s, const char *file,
		      enum qcow_format fmt, const struct img_opts *opts)
{
	const char *bad;

	memset(s, 0, sizeof(*s));
	s->file = file;
	s->opts = opts;
	s->o.format = fmt;
	bad = img_opts_unknown(opts, fmt == QCOW_FMT_RAW ? raw_keys :
			       fmt == QCOW_FMT_QCOW ? qcow_keys : qcow2_keys);
	if (bad) {
		tool_error("%s: Invalid parameter '%s' (format %s)", file, bad,
			   qcow_format_name(fmt));
		return -EINVAL;
	}
	if (parse_numbers(s) || parse_bools(s))
		return -EINVAL;
	if (fmt != QCOW_FMT_RAW && parse_encrypt(s))
		return -EINVAL;
	s->o.backing_file = img_opts_get(opts, "backing_file");
	s->o.backing_format = img_opts_get(opts, "backing_fmt");
	s->o.data_file = img_opts_get(opts, "data_file");
	return 0;
}

static int bad_value(const struct create_spec *s, const char *param,
		     const char *val)
{
	tool_error("%s: Parameter '%s' does not accept value '%s'", s->file,
		   param, val);
	return -EINVAL;
}

static int parse_enums(struct create_spec *s)
{
	static const char *const prealloc[] = {
		"off", "metadata", "falloc", "full", NULL
	};
	const char *v;
	int i;

	v = img_opts_get(s->opts, "preallocation");
	if (v) {
		for (i = 0; prealloc[i] && strcmp(v, prealloc[i]); i++)
			;
		if (!prealloc[i])
			return bad_value(s, "preallocation", v);
		s->o.prealloc = (enum qcow_prealloc)i;
	}
	v = img_opts_get(s->opts, "compat");
	if (v && (!strcmp(v, "0.10") || !strcmp(v, "v2")))
		s->o.compat = 2;
	else if (v && (!strcmp(v, "1.1") || !strcmp(v, "v3")))
		s->o.compat = 3;
	else if (v)
		return bad_value(s, "version", v);
	v = img_opts_get(s->opts, "compression_type");
	if (v && !strcmp(v, "zstd"))
		s->o.compression_type = 1;
	else if (v && strcmp(v, "zlib"))
		return bad_value(s, "compression-type", v);
	return 0;
}

static int fail(const struct create_spec *s, const char *msg)
{
	tool_error("%s: %s", s->file, msg);
	return -EINVAL;
}

static int check_v2(const struct create_spec *s)
{
	const struct qcow_create_opts *o = &s->o;

	if (o->compat != 2)
		return 0;
	if (o->refcount_bits && o->refcount_bits != 16)
		return fail(s, "Different refcount widths than 16 bits require compatibility level 1.1 or above (use version=v3 or greater)");
	if (o->lazy_refcounts)
		return fail(s, "Lazy refcounts only supported with compatibility level 1.1 and above (use version=v3 or greater)");
	if (o->data_file)
		return fail(s, "External data files are only supported with compatibility level 1.1 and above (use version=v3 or greater)");
	if (o->compression_type)
		return fail(s, "Non-zlib compression type is only supported with compatibility level 1.1 and above (use version=v3 or greater)");
	if (o->extended_l2)
		return fail(s, "Extended L2 entries are only supported with compatibility level 1.1 and above (use version=v3 or greater)");
	return 0;
}

static uint64_t l1_entries(uint64_t size, uint64_t cs, bool extended_l2)
{
	uint64_t span = cs * (cs / (extended_l2 ? 16 : 8));

	return size / span + !!(size % span);
}

static int check_qcow2(const struct create_spec *s)
{
	const struct qcow_create_opts *o = &s->o;
	uint32_t cs = o->cluster_size ? o->cluster_size : 65536;
	uint32_t rb = o->refcount_bits ? o->refcount_bits : 16;

	if (cs < 512 || cs > (2u << 20) || (cs & (cs - 1)))
		return fail(s, "Cluster size must be a power of two between 512 and 2048k");
	if (!o->refcount_bits && img_opts_get(s->opts, "refcount_bits"))
		rb = 0;
	if (!rb || rb > 64 || (rb & (rb - 1)))
		return fail(s, "Refcount width must be a power of two and may not exceed 64 bits");
	if (check_v2(s))
		return -EINVAL;
	if (o->backing_format && !o->backing_file)
		return fail(s, "Backing format cannot be used without backing file");
	if (o->backing_file && o->prealloc != QCOW_PREALLOC_OFF &&
	    !o->extended_l2)
		return fail(s, "Backing file and preallocation can only be used at the same time if extended_l2 is on");
	if (o->data_file_raw && !o->data_file)
		return fail(s, "data-file-raw requires data-file");
	if (o->data_file_raw && o->backing_file)
		return fail(s, "data_file_raw=on and a backing file exclude each other");
	if (o->extended_l2 && cs < 16384)
		return fail(s, "Extended L2 entries are only supported with cluster sizes of at least 16384 bytes");
	if (l1_entries(o->size, cs, o->extended_l2) > MAX_L1_SIZE / 8)
		return fail(s, "The image size is too large for file format 'qcow2' (try using a larger cluster size)");
	return 0;
}

static int check_qcow(struct create_spec *s)
{
	const struct qcow_create_opts *o = &s->o;

	if (o->crypt_method == CRYPT_LUKS)
		return fail(s, "encrypt.format: legacy qcow images are encrypted "
			    "with aes only");
	if (o->backing_format && !o->backing_file)
		return fail(s, "Backing format cannot be used without backing file");
	if (!o->size)
		return fail(s, "Image size is too small, cannot be zero length");
	/* the file's preallocation: QEMU's qcow image ends after its L1 */
	s->o.prealloc = QCOW_PREALLOC_OFF;
	return 0;
}

int create_spec_finish(struct create_spec *s)
{
	if (parse_enums(s))
		return -EINVAL;
	s->o.crypto_backend = tool_crypto_backend();
	/* qemu-img rounds the size up to whole sectors */
	if (s->o.size % SECTOR)
		s->o.size += SECTOR - s->o.size % SECTOR;
	if (s->o.format == QCOW_FMT_RAW)
		return 0;
	if (s->o.format == QCOW_FMT_QCOW)
		return check_qcow(s);
	return check_qcow2(s);
}

static void print_value(const struct print_key *k, const char *val,
			const struct create_spec *s)
{
	uint64_t n;
	char *esc;

	if (!strcmp(k->key, "size")) {
		printf(" size=%" PRIu64, s->o.size);
		return;
	}
	if (k->number && parse_size(val, &n) == 0) {
		printf(" %s=%" PRIu64, k->key, n);
		return;
	}
	esc = opt_escape(val);
	printf(" %s=%s", k->key, esc ? esc : val);
	free(esc);
}

void create_spec_print(const struct create_spec *s)
{
	const struct print_key *k = s->o.format == QCOW_FMT_RAW ? raw_print :
				    s->o.format == QCOW_FMT_QCOW ? qcow_print :
				    qcow2_print;
	const char *val;

	printf("Formatting '%s', fmt=%s", s->file,
	       qcow_format_name(s->o.format));
	for (; k->key; k++) {
		val = img_opts_get(s->opts, k->key);
		if (!strcmp(k->key, "size"))
			val = "";
		else if (!val)
			val = k->def;
		if (val)
			print_value(k, val, s);
	}
	putchar('\n');
	fflush(stdout);
}

int create_backing_size(const struct create_spec *s, uint64_t *size)
{
	struct qcow_open_opts opts = { .read_only = true, .no_backing = true };
	struct qcow_image *img;
	enum qcow_format fmt;
	char *path;
	int ret;

	path = backing_path_fmt(s->file, s->o.backing_file,
				s->o.backing_format);
	if (!path)
		return -EINVAL;
	if (format_from_name(s->o.backing_format, &fmt) < 0) {
		tool_error("%s: unknown backing file format '%s' (qcow2, qcow or raw)",
			   s->file, s->o.backing_format);
		free(path);
		return -EINVAL;
	}
	opts.format = fmt;
	ret = qcow_open(&img, path, &opts);
	if (ret < 0) {
		tool_error("%s: cannot open backing file '%s': %s", s->file,
			   s->o.backing_file, open_error_text(path, ret));
		free(path);
		return ret;
	}
	free(path);
	*size = qcow_size(img);
	qcow_close(img);
	return 0;
}
