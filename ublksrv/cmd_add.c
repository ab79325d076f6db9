// SPDX-License-Identifier: MIT
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "daemon.h"
#include "key.h"
#include "log.h"
#include "name.h"
#include "scheduler.h"
#include "state.h"

static void add_usage(FILE *f)
{
	fprintf(f,
"usage: ublk-qcow add -f IMAGE [-f IMAGE...] [-F FORMAT] [-q QUEUES] [-d DEPTH]\n"
"                     [-r|--read-only] [-n ID...] [--name NAME...] [--direct]\n"
"                     [--user-copy] [--zero-copy] [--batch-io] [--untrusted]\n"
"                     [--allow-dir DIR...] [--allow-block-devices]\n"
"                     [--snapshot SNAPSHOT]\n"
"                     [--key-file PATH|- | --key-keyring DESC]\n"
"                     [--backing-key-file PATH|- | --backing-key-keyring DESC]\n"
"                     [--crypto-backend auto|kernel|openssl|nettle]\n"
"                     [-o OPTIONS] [--foreground]\n"
"  Serves each IMAGE (qcow2, qcow or raw) as a /dev/ublkbN, all from one\n"
"  daemon, and prints their names in order, one a line, once they are all\n"
"  ready; the daemon serves each until its `del` and ends with the last.\n"
"  -F FORMAT      raw, qcow2 or qcow (-o format=): the images' format;\n"
"                 without it the format is probed, and a probed raw image\n"
"                 refuses writes that would make its first sector another\n"
"                 format's header.  `recover` reopens with the format used.\n"
"  -q QUEUES      queues per device, one thread each (default %d), each\n"
"                 thread on the CPUs of the other queues (-o\n"
"                 affinity=others, the default; every CPU with one\n"
"                 queue), on those the kernel maps to its own queue\n"
"                 (queue), or on any CPU (any); recorded\n"
"  -o scheduler=NAME  the kernel's I/O scheduler in front of each device:\n"
"                 none by default (as loop and nbd get; the kernel would\n"
"                 give a one-queue device mq-deadline), keep for the\n"
"                 kernel's choice, or one /sys/block/*/queue/scheduler\n"
"                 offers (add fails if it cannot be set)\n"
"  -d DEPTH       requests in flight per queue (default %d)\n"
"  -r             read-only devices (and images)\n"
"  -n ID          the device number N wanted, once per -f in order\n"
"                 (default: the first free)\n"
"  --name NAME    a name for the device, once per -f in order: 1-64 of\n"
"                 A-Z a-z 0-9 . _ - (not first: . -), unique among the\n"
"                 devices; kept by `recover`, accepted by del, list,\n"
"                 recover and snapshot instead of -n, and the path\n"
"                 " UBLK_RUN_DIR_DEFAULT "/by-name/NAME leads to the device\n"
"  --direct       O_DIRECT on the images; the devices get 4 KiB blocks\n"
"  --user-copy    move data with reads and writes on /dev/ublkcN\n"
"                 (UBLK_F_USER_COPY) instead of the kernel copying into\n"
"                 the server's buffers (same as -o user_copy=on)\n"
"  --zero-copy    file I/O straight to and from the request's pages\n"
"                 (UBLK_F_AUTO_BUF_REG); only what the server computes is\n"
"                 copied (-o zero_copy=on|off|auto; default %s; auto: on\n"
"                 when the kernel offers it, unless --user-copy)\n"
"  --batch-io     many tags fetched and committed per command\n"
"                 (UBLK_F_BATCH_IO, Linux 7.0; -o batch_io=on|off|auto;\n"
"                 default %s; auto: on when the kernel offers it and\n"
"                 the device uses zero copy)\n"
"  --untrusted    refuse the backing and data files the images name\n"
"                 (-o untrusted=on)\n"
"  --allow-dir DIR  allow those inside DIR only (repeatable; implies\n"
"                 --untrusted; -o allow_dir=DIR)\n"
"  --allow-block-devices  allow block devices there (-o allow_block_devices=on)\n"
"  --snapshot SNAPSHOT  serve this internal snapshot of each qcow2 image,\n"
"                 found by ID, else by name, as qemu-nbd -l; read-only (-r\n"
"                 implied; -o snapshot=SNAPSHOT); `recover` serves it again\n"
"  --key-file PATH  the passphrase of encrypted images (aes or luks)\n"
"                 from PATH, or from standard input with -: every byte,\n"
"                 a final newline too, as qemu-img's secret,file=\n"
"  --key-keyring DESC  the passphrase from the \"user\" key DESC of the\n"
"                 user keyring (keyctl add user DESC PASS @u)\n"
"  --backing-key-file PATH|-, --backing-key-keyring DESC  the same for\n"
"                 their backing file, when it is encrypted (qemu-img's\n"
"                 backing.encrypt.key-secret)\n"
"  --crypto-backend auto|kernel|openssl|nettle  where their ciphers\n"
"                 run: the kernel's crypto API (AF_ALG), OpenSSL (aes,\n"
"                 sm4), nettle (aes, twofish, serpent, cast5), or auto\n"
"                 (the kernel's where it measured faster here, else\n"
"                 OpenSSL where it has the cipher, else nettle; the default);\n"
"                 -o crypto_backend=; recorded for `recover`\n"
"  -o l2-cache-size=SIZE,refcount-cache-size=SIZE,cache-size=SIZE,\n"
"     l2-cache-entry-size=SIZE,cache-clean-interval=SECONDS\n"
"                 qcow2's metadata caches, as QEMU's options: the L2\n"
"                 cache covers the image up to 32M by default; a full\n"
"                 cache takes 128M per TiB of disk at 64K clusters\n"
"                 (8M per TiB at 1M clusters, twice with extended L2);\n"
"                 entries unused for cache-clean-interval seconds\n"
"                 (default 600, 0: never) are dropped; recorded for\n"
"                 `recover`\n"
"  --foreground   serve in this process (until SIGINT/SIGTERM or `del`)\n",
		UBLK_DEFAULT_QUEUES, UBLK_DEFAULT_DEPTH,
		UBLK_DEFAULT_ZERO_COPY < 0 ? "auto" :
		UBLK_DEFAULT_ZERO_COPY ? "on" : "off",
		UBLK_DEFAULT_BATCH_IO < 0 ? "auto" :
		UBLK_DEFAULT_BATCH_IO ? "on" : "off");
}

enum {
	OPT_FOREGROUND = 256, OPT_UNTRUSTED, OPT_ALLOW_DIR, OPT_ALLOW_BLOCK,
	OPT_SNAPSHOT, OPT_KEY_FILE, OPT_KEY_KEYRING, OPT_CRYPTO_BACKEND,
	OPT_BACKING_KEY_FILE, OPT_BACKING_KEY_KEYRING, OPT_NAME, OPT_BATCH_IO,
};

static const struct option add_opts[] = {
	{ "file", required_argument, NULL, 'f' },
	{ "format", required_argument, NULL, 'F' },
	{ "queues", required_argument, NULL, 'q' },
	{ "depth", required_argument, NULL, 'd' },
	{ "read-only", no_argument, NULL, 'r' },
	{ "number", required_argument, NULL, 'n' },
	{ "name", required_argument, NULL, OPT_NAME },
	{ "options", required_argument, NULL, 'o' },
	{ "direct", no_argument, NULL, 'D' },
	{ "user-copy", no_argument, NULL, 'U' },
	{ "zero-copy", no_argument, NULL, 'Z' },
	{ "batch-io", no_argument, NULL, OPT_BATCH_IO },
	{ "untrusted", no_argument, NULL, OPT_UNTRUSTED },
	{ "allow-dir", required_argument, NULL, OPT_ALLOW_DIR },
	{ "allow-block-devices", no_argument, NULL, OPT_ALLOW_BLOCK },
	{ "foreground", no_argument, NULL, OPT_FOREGROUND },
	{ "snapshot", required_argument, NULL, OPT_SNAPSHOT },
	{ "key-file", required_argument, NULL, OPT_KEY_FILE },
	{ "key-keyring", required_argument, NULL, OPT_KEY_KEYRING },
	{ "backing-key-file", required_argument, NULL, OPT_BACKING_KEY_FILE },
	{ "backing-key-keyring", required_argument, NULL,
	  OPT_BACKING_KEY_KEYRING },
	{ "crypto-backend", required_argument, NULL, OPT_CRYPTO_BACKEND },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

struct add_args {
	struct ublk_dev_opts o;		/* what every device gets */
	const char **images;
	int *ids;
	const char **names;
	char **dirs;			/* NULL-terminated */
	unsigned int nr_images;
	unsigned int nr_ids;
	unsigned int nr_names;
	unsigned int nr_dirs;
	bool fg;
	struct ublk_keys keys;
	char cache_opts[UBLK_CACHE_OPTS_MAX];
};

/* the image's and its backing file's; standard input for one of them */
static int key_opt(struct ublk_keys *k, int c, const char *arg,
		   struct ublk_dev_opts *o)
{
	bool backing = c == OPT_BACKING_KEY_FILE ||
		       c == OPT_BACKING_KEY_KEYRING;
	struct ublk_key *key = backing ? &k->backing : &k->image;
	bool file = c == OPT_KEY_FILE || c == OPT_BACKING_KEY_FILE;
	int ret;

	if (key->data) {
		ublk_err("give one passphrase: --%skey-file or "
			 "--%skey-keyring, once", backing ? "backing-" : "",
			 backing ? "backing-" : "");
		return -1;
	}
	if (file && !strcmp(arg, "-")) {
		if (k->stdin_used) {
			ublk_err("--key-file - and --backing-key-file -: "
				 "standard input holds one passphrase only");
			return -1;
		}
		k->stdin_used = true;
	}
	ret = file ? ublk_key_from_file(key, arg) :
	      ublk_key_from_keyring(key, arg);
	if (ret < 0)
		return -1;
	o->key = k->image.data;
	o->key_len = k->image.len;
	o->backing_key.data = k->backing.data;
	o->backing_key.len = k->backing.len;
	return 0;
}

static void keys_clear(struct ublk_keys *k)
{
	ublk_key_clear(&k->image);
	ublk_key_clear(&k->backing);
}

/* One line when unknown, or the kernel's without AF_ALG. */
static int crypto_opt(const char *name, struct ublk_dev_opts *o)
{
	if (qcow_crypto_backend_by_name(name, &o->crypto_backend) < 0) {
		ublk_err("--crypto-backend: unknown backend '%s' (auto, kernel, "
			 "openssl or nettle)", name);
		return -1;
	}
	if (qcow_crypto_backend_probe(o->crypto_backend) < 0) {
		ublk_err("--crypto-backend: %s", qcow_strerror());
		return -1;
	}
	return 0;
}

static int parse_format(const char *name, struct ublk_dev_opts *o)
{
	o->format = qcow_format_by_name(name);
	if (o->format != QCOW_FMT_NONE)
		return 0;
	ublk_err("-F: unknown format '%s' (raw, qcow2 or qcow)", name);
	return -1;
}

/*
 * Folders given with --allow-dir or -o allow_dir=, resolved now: the
 * record that recover reads holds them so.
 */
static int allow_dir(struct add_args *a, const char *dir)
{
	char *real = realpath(dir, NULL);
	char **grown;

	if (!real) {
		ublk_errno(-errno, "allow_dir: %s", dir);
		return -1;
	}
	grown = realloc(a->dirs, (a->nr_dirs + 2) * sizeof(*grown));
	if (!grown) {
		free(real);
		ublk_err("out of memory");
		return -1;
	}
	a->dirs = grown;
	a->dirs[a->nr_dirs++] = real;
	a->dirs[a->nr_dirs] = NULL;
	a->o.allow_dirs = (const char *const *)a->dirs;
	a->o.untrusted = true;
	return 0;
}

/* A snapshot is served read-only; its ID or name is recorded for recover. */
static int snapshot_opt(struct add_args *a, const char *name)
{
	if (strlen(name) >= RUN_STATE_SNAPSHOT_MAX) {
		ublk_err("--snapshot: longer than %d bytes",
			 RUN_STATE_SNAPSHOT_MAX - 1);
		return -1;
	}
	a->o.snapshot = name;
	a->o.read_only = true;
	return 0;
}

/* on, off, auto (-1) and a bare key (on); -2 for anything else */
static int parse_switch(const char *key, const char *name, bool with_auto)
{
	size_t n = strlen(name);

	if (strncmp(key, name, n))
		return -2;
	if (!key[n] || !strcmp(key + n, "=on"))
		return 1;
	if (!strcmp(key + n, "=off"))
		return 0;
	if (with_auto && !strcmp(key + n, "=auto"))
		return -1;
	return -2;
}

/*
 * format=, allow_dir=, untrusted=, allow_block_devices=, snapshot=,
 * crypto_backend=; -2: not one
 */
static int parse_o_open(char *key, struct add_args *a)
{
	int v;

	if (!strncmp(key, "snapshot=", 9))
		return snapshot_opt(a, key + 9);
	if (!strncmp(key, "format=", 7))
		return parse_format(key + 7, &a->o);
	if (!strncmp(key, "crypto_backend=", 15))
		return crypto_opt(key + 15, &a->o);
	if (!strncmp(key, "allow_dir=", 10) && key[10])
		return allow_dir(a, key + 10);
	v = parse_switch(key, "untrusted", false);
	if (v >= 0) {
		a->o.untrusted = v || a->nr_dirs;
		return 0;
	}
	v = parse_switch(key, "allow_block_devices", false);
	if (v >= 0)
		a->o.allow_block_devices = v;
	return v >= 0 ? 0 : -2;
}

/* QEMU's cache options, checked, kept for the devices; -2: not one */
static int cache_opt(char *key, struct add_args *a)
{
	struct qcow_open_opts scratch = { 0 };
	char *val = strchr(key, '=');
	size_t len = strlen(a->cache_opts);
	int ret;

	if (!val)
		return -2;
	*val = 0;
	ret = qcow_cache_opt(&scratch, key, val + 1);
	*val = '=';
	if (ret == -ENOENT)
		return -2;
	if (ret < 0) {
		ublk_err("-o: %s", qcow_strerror());
		return -1;
	}
	if (len + strlen(key) + 2 > sizeof(a->cache_opts)) {
		ublk_err("-o: too many cache options");
		return -1;
	}
	snprintf(a->cache_opts + len, sizeof(a->cache_opts) - len, "%s%s",
		 len ? "," : "", key);
	a->o.cache_opts = a->cache_opts;
	return 0;
}

/*
 * -o KEY=VALUE[,...]: user_copy=on|off, zero_copy=on|off|auto,
 * batch_io=on|off|auto, affinity=queue|any|others, scheduler=NAME,
 * format=FMT, untrusted=on|off, allow_dir=DIR, allow_block_devices=on|off,
 * snapshot=NAME, crypto_backend=auto|kernel|openssl|nettle.
 */
static int parse_o(char *s, struct add_args *a)
{
	char *key, *save = NULL;
	int v;

	for (key = strtok_r(s, ",", &save); key;
	     key = strtok_r(NULL, ",", &save)) {
		v = parse_switch(key, "user_copy", false);
		if (v >= 0) {
			a->o.user_copy = v;
			continue;
		}
		v = parse_o_open(key, a);
		if (v == -2)
			v = cache_opt(key, a);
		if (v == -1)
			return -1;
		if (v == 0)
			continue;
		v = parse_switch(key, "batch_io", true);
		if (v != -2) {
			a->o.batch_io = v;
			continue;
		}
		if (!strncmp(key, "scheduler=", 10)) {
			if (!ublk_scheduler_name_ok(key + 10)) {
				ublk_err("-o scheduler=%s: not a scheduler's "
					 "name (a-z 0-9 - _, or keep)", key + 10);
				return -1;
			}
			a->o.scheduler = key + 10;
			continue;
		}
		if (!strncmp(key, "affinity=", 9)) {
			if (ublk_affinity_by_name(key + 9, &a->o.affinity)) {
				ublk_err("-o affinity=%s: not queue, any or "
					 "others", key + 9);
				return -1;
			}
			continue;
		}
		v = parse_switch(key, "zero_copy", true);
		if (v == -2) {
			ublk_err("-o: unknown option '%s' (user_copy=on|off, "
				 "zero_copy=on|off|auto, batch_io=on|off|auto, "
				 "affinity=queue|any|others, scheduler=NAME, "
				 "format=FMT, "
				 "untrusted=on|off, allow_dir=DIR, "
				 "allow_block_devices=on|off, snapshot=NAME, "
				 "crypto_backend=NAME, l2-cache-size=, "
				 "refcount-cache-size=, cache-size=, "
				 "l2-cache-entry-size=, cache-clean-interval=)",
				 key);
			return -1;
		}
		a->o.zero_copy = v;
	}
	return 0;
}

static int add_opt(struct add_args *a, int c)
{
	long v = 0;

	switch (c) {
	case 'f':
		a->images[a->nr_images++] = optarg;
		break;
	case 'q':
		v = parse_num("-q", optarg, 1, 4096);
		a->o.nr_queues = v;
		break;
	case 'd':
		v = parse_num("-d", optarg, 1, UBLK_MAX_QUEUE_DEPTH);
		a->o.depth = v;
		break;
	case 'r':
		a->o.read_only = true;
		break;
	case 'n':
		v = parse_num("-n", optarg, 0, 1 << 20);
		a->ids[a->nr_ids++] = v;
		break;
	case 'o':
		v = parse_o(optarg, a);
		break;
	case 'F':
		v = parse_format(optarg, &a->o);
		break;
	case OPT_UNTRUSTED:
		a->o.untrusted = true;
		break;
	case OPT_ALLOW_DIR:
		v = allow_dir(a, optarg);
		break;
	case OPT_ALLOW_BLOCK:
		a->o.allow_block_devices = true;
		break;
	case 'D':
		a->o.direct = true;
		break;
	case 'U':
		a->o.user_copy = true;
		break;
	case 'Z':
		a->o.zero_copy = 1;
		break;
	case OPT_BATCH_IO:
		a->o.batch_io = 1;
		break;
	case OPT_NAME:
		v = name_check(optarg);
		a->names[a->nr_names++] = optarg;
		break;
	case OPT_FOREGROUND:
		a->fg = true;
		break;
	case OPT_SNAPSHOT:
		v = snapshot_opt(a, optarg);
		break;
	case OPT_KEY_FILE:
	case OPT_KEY_KEYRING:
	case OPT_BACKING_KEY_FILE:
	case OPT_BACKING_KEY_KEYRING:
		v = key_opt(&a->keys, c, optarg, &a->o);
		break;
	case OPT_CRYPTO_BACKEND:
		v = crypto_opt(optarg, &a->o);
		break;
	default:
		return -1;
	}
	return v < 0 ? -1 : 0;
}

/* Returns 1 after --help, -1 on a usage error. */
static int add_parse(int argc, char **argv, struct add_args *a)
{
	int c;

	while ((c = getopt_long(argc, argv, "f:F:q:d:rn:o:h", add_opts,
				NULL)) != -1) {
		if (c == 'h') {
			add_usage(stdout);
			return 1;
		}
		if (add_opt(a, c) < 0) {
			if (c == '?')
				add_usage(stderr);
			return -1;
		}
	}
	if (!a->nr_images || optind != argc) {
		add_usage(stderr);
		return -1;
	}
	if (a->nr_ids && a->nr_ids != a->nr_images) {
		ublk_err("-n: give one per -f (%u -f, %u -n)", a->nr_images,
			 a->nr_ids);
		return -1;
	}
	if (a->nr_names && a->nr_names != a->nr_images) {
		ublk_err("--name: give one per -f (%u -f, %u --name)",
			 a->nr_images, a->nr_names);
		return -1;
	}
	return 0;
}

/* A name leads to one device: taken ones and twice-given ones refused. */
static int check_names(const struct add_args *a)
{
	unsigned int i, j;
	int id;

	for (i = 0; i < a->nr_names; i++) {
		id = name_find(a->names[i]);
		if (id >= 0) {
			ublk_err("the name '%s' is taken by " UBLK_BDEV_FMT,
				 a->names[i], id);
			return -EEXIST;
		}
		for (j = 0; j < i; j++) {
			if (!strcmp(a->names[i], a->names[j])) {
				ublk_err("--name '%s' is given twice",
					 a->names[i]);
				return -EINVAL;
			}
		}
	}
	return 0;
}

/* Two writers would corrupt an image: one already served, or named twice. */
static int check_images(const struct add_args *a)
{
	char want[PATH_MAX], other[PATH_MAX];
	struct run_state st;
	unsigned int i, j;

	for (i = 0; i < a->nr_images; i++) {
		if (run_state_find_image(a->images[i], &st) == 0 &&
		    !(a->o.read_only && st.read_only)) {
			ublk_err("%s is already served by " UBLK_BDEV_FMT
				 " (pid %d)", a->images[i], st.dev_id, st.pid);
			return -EBUSY;
		}
		if (a->o.read_only || !realpath(a->images[i], want))
			continue;
		for (j = 0; j < i; j++) {
			if (realpath(a->images[j], other) &&
			    !strcmp(want, other)) {
				ublk_err("%s is named twice", a->images[i]);
				return -EINVAL;
			}
		}
	}
	return 0;
}

static int add_run(struct add_args *a)
{
	struct ublk_dev_opts *opts;
	unsigned int i;
	int ret;

	if (check_names(a) < 0 || check_images(a) < 0)
		return 1;
	opts = calloc(a->nr_images, sizeof(*opts));
	if (!opts) {
		ublk_err("out of memory");
		return 1;
	}
	for (i = 0; i < a->nr_images; i++) {
		opts[i] = a->o;
		opts[i].image = a->images[i];
		opts[i].dev_id = a->nr_ids ? a->ids[i] : -1;
		opts[i].name = a->nr_names ? a->names[i] : NULL;
	}
	ret = serve(opts, a->nr_images, false, a->fg);
	free(opts);
	return ret;
}

int cmd_add(int argc, char **argv)
{
	struct add_args a = {
		.o = {
			.dev_id = -1,
			.nr_queues = UBLK_DEFAULT_QUEUES,
			.depth = UBLK_DEFAULT_DEPTH,
			.zero_copy = UBLK_DEFAULT_ZERO_COPY,
			.batch_io = UBLK_DEFAULT_BATCH_IO,
			.affinity = UBLK_DEFAULT_AFFINITY,
		},
	};
	unsigned int i;
	int ret;

	a.images = calloc(argc, sizeof(*a.images));
	a.ids = calloc(argc, sizeof(*a.ids));
	a.names = calloc(argc, sizeof(*a.names));
	if (!a.images || !a.ids || !a.names) {
		ublk_err("out of memory");
		ret = 1;
		goto out;
	}
	ret = add_parse(argc, argv, &a);
	if (ret)
		ret = ret < 0 ? 2 : 0;
	else
		ret = add_run(&a);
out:
	keys_clear(&a.keys);
	free(a.images);
	free(a.ids);
	free(a.names);
	for (i = 0; i < a.nr_dirs; i++)
		free(a.dirs[i]);
	free(a.dirs);
	return ret;
}

static void recover_usage(FILE *f)
{
	fprintf(f,
"usage: ublk-qcow recover -n ID | --name NAME [-f IMAGE] [-F FORMAT]\n"
"                         [--key-file PATH|- | --key-keyring DESC]\n"
"                         [--backing-key-file PATH|- | --backing-key-keyring DESC]\n"
"                         [--crypto-backend auto|kernel|openssl|nettle] [--foreground]\n"
"  Serves device N again after its daemon died: the device kept its\n"
"  requests queued, and those in flight are issued again.  The image, its\n"
"  format (never probed again) and the options are the ones `add`\n"
"  recorded, unless -f names the image, -F the format or --crypto-backend\n"
"  the backend.  An encrypted image needs its passphrase again, as add\n"
"  takes it (never recorded).  The device keeps the name add gave it.\n");
}

static const struct option recover_opts[] = {
	{ "number", required_argument, NULL, 'n' },
	{ "name", required_argument, NULL, OPT_NAME },
	{ "file", required_argument, NULL, 'f' },
	{ "format", required_argument, NULL, 'F' },
	{ "foreground", no_argument, NULL, OPT_FOREGROUND },
	{ "key-file", required_argument, NULL, OPT_KEY_FILE },
	{ "key-keyring", required_argument, NULL, OPT_KEY_KEYRING },
	{ "backing-key-file", required_argument, NULL, OPT_BACKING_KEY_FILE },
	{ "backing-key-keyring", required_argument, NULL,
	  OPT_BACKING_KEY_KEYRING },
	{ "crypto-backend", required_argument, NULL, OPT_CRYPTO_BACKEND },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/*
 * The image opens as add opened it: format, probed or not, untrusted,
 * the crypto backend (unless given again).
 */
static void recorded_open(struct ublk_dev_opts *o, const struct run_state *st,
			  bool crypto_given)
{
	if (!crypto_given)
		o->crypto_backend = st->crypto_backend;
	if (o->format == QCOW_FMT_NONE) {
		o->format = st->format;
		o->format_probed = st->format_probed;
	}
	o->untrusted = st->untrusted;
	o->allow_block_devices = st->allow_block_devices;
	o->snapshot = st->snapshot;
	o->affinity = st->affinity;
	if (!o->cache_opts)
		o->cache_opts = st->cache_opts;
}

int cmd_recover(int argc, char **argv)
{
	struct ublk_dev_opts o = { .dev_id = -1 };
	struct ublk_keys key = { 0 };
	struct run_state st;
	char **dirs = NULL;
	bool fg = false, crypto_given = false;
	int c, ret;

	while ((c = getopt_long(argc, argv, "n:f:F:h", recover_opts,
				NULL)) != -1) {
		switch (c) {
		case 'n':
			o.dev_id = parse_num("-n", optarg, 0, 1 << 20);
			if (o.dev_id < 0)
				return 2;
			break;
		case OPT_NAME:
			o.dev_id = name_to_id(optarg);
			if (o.dev_id < 0) {
				keys_clear(&key);
				return 1;
			}
			break;
		case 'f':
			o.image = optarg;
			break;
		case 'F':
			o.format = qcow_format_by_name(optarg);
			if (o.format == QCOW_FMT_NONE) {
				ublk_err("-F: unknown format '%s' (raw, qcow2 "
					 "or qcow)", optarg);
				return 2;
			}
			break;
		case OPT_FOREGROUND:
			fg = true;
			break;
		case OPT_KEY_FILE:
		case OPT_KEY_KEYRING:
		case OPT_BACKING_KEY_FILE:
		case OPT_BACKING_KEY_KEYRING:
			if (key_opt(&key, c, optarg, &o) < 0) {
				keys_clear(&key);
				return 2;
			}
			break;
		case OPT_CRYPTO_BACKEND:
			if (crypto_opt(optarg, &o) < 0) {
				keys_clear(&key);
				return 2;
			}
			crypto_given = true;
			break;
		case 'h':
			recover_usage(stdout);
			keys_clear(&key);
			return 0;
		default:
			recover_usage(stderr);
			return 2;
		}
	}
	if (o.dev_id < 0 || optind != argc) {
		recover_usage(stderr);
		keys_clear(&key);
		return 2;
	}
	if (run_state_load(o.dev_id, &st) == 0) {
		if (!o.image)
			o.image = st.image;
		o.read_only = st.read_only;
		o.name = st.name[0] ? st.name : NULL;
		recorded_open(&o, &st, crypto_given);
		dirs = run_state_allow_dirs(o.dev_id);
		o.allow_dirs = (const char *const *)dirs;
	} else if (!o.image) {
		ublk_err("no record of device %d's image in %s: give -f IMAGE",
			 o.dev_id, run_dir());
		keys_clear(&key);
		return 1;
	}
	ret = serve(&o, 1, true, fg);
	run_state_free_dirs(dirs);
	keys_clear(&key);
	return ret;
}
