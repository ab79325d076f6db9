// SPDX-License-Identifier: MIT
/* qcow-img amend: change a qcow2 image's options in place. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tools/common/msg.h"
#include "tools/common/open.h"
#include "tools/common/progress.h"
#include "tools/common/secret.h"
#include "tools/img/amend_progress.h"
#include "tools/img/img.h"
#include "tools/img/opts.h"

struct amend {
	const char *fmt;
	const char *file;
	bool quiet;
	bool show_progress;
	struct img_opts opts;
	struct qcow_amend_opts a;
	bool has_size;
	uint64_t size;
};

static const char *const amend_keys[] = {
	"compat", "lazy_refcounts", "refcount_bits", "data_file",
	"data_file_raw", "size", "backing_file", "backing_fmt",
	"encrypt.state", "encrypt.new-secret", "encrypt.old-secret",
	"encrypt.keyslot", "encrypt.iter-time", NULL
};

static const char *const create_only_keys[] = {
	"cluster_size", "preallocation", "extended_l2", "compression_type",
	"nocow", "encrypt.format", "encrypt.cipher-alg", "encrypt.cipher-mode",
	"encrypt.ivgen-alg", "encrypt.ivgen-hash-alg", "encrypt.hash-alg",
	"encrypt.key-secret", "encryption", NULL
};

static int parse_args(int argc, char **argv, struct amend *m)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "force", no_argument, NULL, 256 },
		TRUST_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	static const char optstring[] = "hf:o:pqt:";
	int ch;

	while ((ch = getopt_long(argc, argv, optstring, longopts,
				 NULL)) != -1) {
		switch (ch) {
		case 'h':
			exit(img_usage(true));
		case 'f':
			m->fmt = optarg;
			break;
		case 'o':
			if (img_opts_parse(&m->opts, optarg) < 0)
				return -EINVAL;
			break;
		case 'p':
			m->show_progress = true;
			break;
		case 'q':
			m->quiet = true;
			break;
		case 't':
			break;
		case 256:
			m->a.force = true;
			break;
		case OPT_TRUST_FIRST ... OPT_TRUST_LAST:
			if (tool_trust_option(ch, optarg) < 0)
				return -ENOMEM;
			break;
		default:
			tool_bad_option("amend", optstring, argv);
			return -EINVAL;
		}
	}
	if (!m->opts.n) {
		tool_usage_error("amend: nothing to change; give the new values with -o NAME=VALUE");
		return -EINVAL;
	}
	if (optind != argc - 1) {
		tool_usage_error("amend: expects exactly one image file name");
		return -EINVAL;
	}
	m->file = argv[optind];
	return 0;
}

static int check_names(const struct amend *m)
{
	const char *bad = img_opts_unknown(&m->opts, amend_keys);
	const char *const *k;

	if (!bad)
		return 0;
	for (k = create_only_keys; *k && strcmp(*k, bad); k++)
		;
	if (*k)
		tool_error("%s: %s is fixed when the image is created; amend cannot change it",
			   m->file, bad);
	else
		tool_error("%s: amend knows no option '%s'", m->file, bad);
	return -EINVAL;
}

static int amend_bool(const struct amend *m, const char *key, int *out)
{
	const char *v = img_opts_get(&m->opts, key);
	bool b;

	if (!v)
		return 0;
	if (opt_bool(m->file, key, v, &b) < 0)
		return -EINVAL;
	*out = b;
	return 0;
}

/* a secret named by -o KEY=ID */
static int luks_secret(struct amend *m, const char *key, struct qcow_key *k)
{
	const char *id = img_opts_get(&m->opts, key);

	if (!id)
		return 0;
	return tool_secret(m->file, id, &k->data, &k->len);
}

/* encrypt.state and the options that go with it, as qemu-img 7.2's */
static int parse_luks(struct amend *m)
{
	const char *v = img_opts_get(&m->opts, "encrypt.state");
	static const char *const with[] = {
		"encrypt.new-secret", "encrypt.old-secret", "encrypt.keyslot",
		"encrypt.iter-time",
	};
	uint64_t n;
	size_t i;

	if (!v) {
		for (i = 0; i < sizeof(with) / sizeof(with[0]); i++) {
			if (img_opts_get(&m->opts, with[i])) {
				tool_error("%s: %s needs encrypt.state=active "
					   "or inactive", m->file, with[i]);
				return -EINVAL;
			}
		}
		return 0;
	}
	if (!strcmp(v, "active")) {
		m->a.luks_state = QCOW_LUKS_ACTIVE;
	} else if (!strcmp(v, "inactive")) {
		m->a.luks_state = QCOW_LUKS_INACTIVE;
	} else {
		tool_error("%s: '%s' is not a valid value for encrypt.state "
			   "(active or inactive)", m->file, v);
		return -EINVAL;
	}
	v = img_opts_get(&m->opts, "encrypt.keyslot");
	if (v) {
		if (opt_number(m->file, "encrypt.keyslot", v, &n) < 0)
			return -EINVAL;
		m->a.luks_keyslot = n > 1000 ? 1000 : (int)n;
	}
	v = img_opts_get(&m->opts, "encrypt.iter-time");
	if (v) {
		if (opt_number(m->file, "encrypt.iter-time", v, &n) < 0)
			return -EINVAL;
		m->a.luks_iter_time_ms = n ? n : 1;
	}
	if (luks_secret(m, "encrypt.new-secret", &m->a.new_key) < 0 ||
	    luks_secret(m, "encrypt.old-secret", &m->a.old_key) < 0)
		return -EINVAL;
	/* the master key of a new slot: what the image opens with */
	return tool_chain_key(m->file, 0, &m->a.key);
}

static int parse_values(struct amend *m)
{
	const char *v;
	uint64_t n;

	if (amend_bool(m, "lazy_refcounts", &m->a.lazy_refcounts) ||
	    amend_bool(m, "data_file_raw", &m->a.data_file_raw))
		return -EINVAL;
	v = img_opts_get(&m->opts, "refcount_bits");
	if (v) {
		if (opt_number(m->file, "refcount_bits", v, &n) < 0)
			return -EINVAL;
		m->a.refcount_bits = (int)n;
	}
	m->a.data_file = img_opts_get(&m->opts, "data_file");
	if (parse_luks(m) < 0)
		return -EINVAL;
	v = img_opts_get(&m->opts, "size");
	if (v) {
		if (opt_size(m->file, "size", v, &m->size) < 0)
			return -EINVAL;
		m->has_size = true;
	}
	return 0;
}

/* Checked, as qemu-img does, once the image is open. */
static int parse_compat(struct amend *m)
{
	const char *v = img_opts_get(&m->opts, "compat");

	if (v && (!strcmp(v, "0.10") || !strcmp(v, "v2")))
		m->a.compat = 2;
	else if (v && (!strcmp(v, "1.1") || !strcmp(v, "v3")))
		m->a.compat = 3;
	else if (v) {
		tool_error("%s: '%s' is not a valid value for compat (0.10, 1.1, v2 or v3)",
			   m->file, v);
		return -EINVAL;
	}
	return 0;
}

static bool differs(const char *want, const char *have)
{
	return want && (!have || strcmp(want, have));
}

/* qemu-img leaves backing changes to rebase. */
static int check_backing(const struct amend *m, struct qcow_image *img)
{
	struct qcow_info info;
	int ret;

	ret = qcow_get_info(img, &info);
	if (ret < 0)
		return ret;
	if (!differs(img_opts_get(&m->opts, "backing_file"),
		     info.backing_file) &&
	    !differs(img_opts_get(&m->opts, "backing_fmt"),
		     info.backing_format))
		return 0;
	tool_error("%s: amend leaves the backing file alone; change it with 'qcow-img rebase'",
		   m->file);
	return -EINVAL;
}

static int amend(struct amend *m, struct qcow_image *img, struct progress *p)
{
	struct qcow_info before;
	int ret;

	if (qcow_format(img) != QCOW_FMT_QCOW2) {
		tool_error("%s: amend works on qcow2 images only, not %s",
			   m->file, tool_format_name(img));
		return -ENOTSUP;
	}
	/* from here on qemu-img draws 0% and, whatever happens, 100% */
	progress_start(p, m->show_progress && !m->quiet, 1, 1.0);
	ret = parse_compat(m);
	if (ret < 0)
		return ret;
	ret = check_backing(m, img);
	if (ret < 0)
		return ret;
	ret = qcow_get_info(img, &before);
	if (ret < 0)
		return ret;
	ret = qcow_amend(img, &m->a);
	if (!ret)
		amend_progress_steps(p, &before, &m->a);
	if (!ret && m->has_size)
		ret = qcow_resize(img, m->size, true);
	if (ret < 0)
		tool_error("%s: amend failed: %s", m->file,
			   tool_reason(m->file, ret));
	return ret;
}

int img_amend(int argc, char **argv)
{
	struct qcow_open_opts opts = { 0 };
	struct amend m = {
		.a = {
			.compat = -1, .lazy_refcounts = -1,
			.refcount_bits = -1, .data_file_raw = -1,
			.luks_keyslot = -1,
		},
	};
	struct progress p = { .enabled = false };
	struct qcow_image *img;
	int ret = -EINVAL;

	if (parse_args(argc, argv, &m) < 0) {
		img_opts_free(&m.opts);
		return img_usage(false);
	}
	if (check_names(&m) || parse_values(&m))
		goto out;
	ret = tool_open(&img, m.file, m.fmt, &opts);
	if (ret < 0)
		goto out;
	ret = amend(&m, img, &p);
	progress_complete(&p);
	progress_end(&p);
	qcow_close(img);
out:
	/* refused before that: qemu-img only ends the line */
	if (m.show_progress && !m.quiet && !p.enabled)
		putchar('\n');
	img_opts_free(&m.opts);
	return ret < 0 ? 1 : 0;
}
