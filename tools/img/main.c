// SPDX-License-Identifier: MIT
/* qcow-img: qemu-img's verbs on qcow2, qcow and raw images. */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "tools/common/msg.h"
#include "tools/common/version.h"
#include "tools/common/size.h"
#include "tools/img/img.h"

static const struct verb {
	const char *name;
	int (*run)(int argc, char **argv);
} verbs[] = {
	{ "amend", img_amend },
	{ "bench", img_bench },
	{ "bitmap", img_bitmap },
	{ "check", img_check },
	{ "commit", img_commit },
	{ "compare", img_compare },
	{ "convert", img_convert },
	{ "create", img_create },
	{ "dd", img_dd },
	{ "info", img_info },
	{ "map", img_map },
	{ "measure", img_measure },
	{ "rebase", img_rebase },
	{ "resize", img_resize },
	{ "snapshot", img_snapshot },
};

static const char usage_text[] =
"usage: qcow-img [-h | --help | -V | --version] COMMAND [OPTIONS] ARGS\n"
"\n"
"Commands:\n"
"  amend [-f FMT] [-p] [-q] -o OPTIONS FILE\n"
"  bench [-c COUNT] [-d DEPTH] [-f FMT] [--flush-interval=N] [-i AIO] [-n]\n"
"      [--no-drain] [-o OFFSET] [--pattern=BYTE] [-q] [-s BUFFER_SIZE]\n"
"      [-S STEP_SIZE] [-t CACHE] [-w] [-U] [--threads N] FILE\n"
"  bitmap (--merge SOURCE | --add | --remove | --clear | --enable |\n"
"      --disable)... [-b SOURCE_FILE [-F FMT]] [-g GRANULARITY] [-f FMT]\n"
"      FILE BITMAP\n"
"  check [-q] [-f FMT] [--output=human|json] [-r leaks|all] [-U] FILE\n"
"  commit [-f FMT] [-b BASE] [-d] [-p] [-q] FILE\n"
"  compare [-f FMT] [-F FMT] [-p] [-q] [-s] [-U] FILE1 FILE2\n"
"  convert [-f FMT] [-O raw|qcow2|qcow] [-o OPTIONS] [-c] [-B BACKING -F FMT]\n"
"      [-n] [-p] [-q] [-S SPARSE_SIZE] [-U] [--bitmaps\n"
"      [--skip-broken-bitmaps]] [-l SNAPSHOT_PARAM] FILE [FILE2...] OUTPUT\n"
"  create [-f FMT] [-o OPTIONS] [-b BACKING -F FMT] [-u] [-q] FILE [SIZE]\n"
"  dd [-f FMT] [-O FMT] [-U] [bs=BLOCK_SIZE] [count=BLOCKS] [skip=BLOCKS]\n"
"      if=INPUT of=OUTPUT\n"
"  info [-f FMT] [--output=human|json] [--backing-chain] [-U] FILE\n"
"  map [-f FMT] [--output=human|json] [--start-offset=OFFSET]\n"
"      [--max-length=LENGTH] [--bitmap NAME] [-U] FILE\n"
"  measure [--output=human|json] [-O FMT] [-o OPTIONS] [--size N |\n"
"      [-f FMT] [-l SNAPSHOT_PARAM] [-U] FILE]\n"
"  rebase [-f FMT] [-p] [-q] [-u] [-U] -b BACKING [-F FMT] FILE\n"
"  resize [-f FMT] [-q] [--shrink] [--preallocation=off|metadata|falloc|full]\n"
"      FILE [+|-]SIZE\n"
"  snapshot [-f FMT] [-q] [-U] [-l | -c NAME | -a NAME | -d NAME] FILE\n"
"\n"
"FMT is qcow2, qcow or raw; without -f the format is probed (a probed raw\n"
"image refuses writes that would make its first sector another format's).\n"
"FILE is read as qemu-img reads it: json:{...} holds --image-opts options\n"
"(nested objects as dotted keys), file:NAME is NAME, and another prefix\n"
"before a colon (ahead of any slash) is a protocol, refused: ./a:b names\n"
"the file a:b.\n"
"Every command but create also takes --untrusted (refuse the backing and\n"
"data files images name), --allow-dir DIR (allow those inside DIR only;\n"
"repeatable) and --allow-block-devices (allow block devices there).\n"
"Encrypted images: --object secret,id=ID,data=PASS|file=PATH[,format=raw|\n"
"base64] (every command) gives a passphrase; --image-opts (every command\n"
"but create) names images as driver=qcow2|qcow,file.filename=FILE,\n"
"encrypt.key-secret=ID (an encrypted backing file's: backing.encrypt.\n"
"key-secret=ID); create and convert take -o encrypt.format=luks|aes,\n"
"encrypt.key-secret=ID[,encrypt.cipher-alg=...,encrypt.iter-time=MS...];\n"
"convert -n --target-image-opts names the target so; qcow takes aes only.\n"
"--crypto-backend=auto|kernel|openssl|nettle (every command) chooses where\n"
"their ciphers run: the kernel's crypto API (AF_ALG), OpenSSL (aes, sm4),\n"
"nettle (aes, twofish, serpent, cast5), or auto (the kernel's where it\n"
"measured faster here, else OpenSSL where it has the cipher, else nettle).\n"
"Sizes take the suffixes k, M, G, T, P and E (powers of 1024).\n"
"Images are locked as QEMU locks them: one in use by another program\n"
"is refused (\"image is busy\"); -U reads it anyway, denying nothing.\n"
"\n"
"check exits with 0 (consistent), 1 (check failed), 2 (corrupted),\n"
"3 (leaked clusters only) or 63 (the format has no check).\n"
"OPTIONS of create, convert and amend: size, compat (0.10, 1.1, v2, v3),\n"
"cluster_size, refcount_bits, lazy_refcounts, extended_l2,\n"
"compression_type (zlib, zstd), preallocation (off, metadata, falloc,\n"
"full), data_file, data_file_raw, backing_file, backing_fmt.\n"
"bitmap checks every action before it makes the first: one refused, none\n"
"is made.  map --bitmap NAME lists the ranges of the bitmap: JSON entries\n"
"{\"start\", \"length\", \"dirty\"} cover the disk, the human table lists\n"
"the dirty ones (Offset, Length); an in-use bitmap is refused.\n"
"bench sends COUNT reads (writes with -w) of BUFFER_SIZE bytes, DEPTH at\n"
"a time, from OFFSET on, each STEP_SIZE after the one before (wrapping at\n"
"the end of the image), over io_uring as ublk-qcow does, and prints the\n"
"time they took, as qemu-img bench; CACHE is none, writeback (the\n"
"default), writethrough, directsync or unsafe; AIO (threads, native,\n"
"io_uring) is checked, and io_uring used whatever it names.  --threads N\n"
"(not in qemu-img) shares the requests among N threads, each with its own\n"
"io_uring and DEPTH requests in flight, as N ublk queues.\n"
"snapshot -l lists the internal snapshots, -c creates one, -a applies one\n"
"(found by ID, then by name), -d deletes one (found by name), as qemu-img.\n"
"compare exits with 0 (identical), 1 (different), 2 (cannot open),\n"
"3 (allocation status failed) or 4 (read failed).\n";

int img_usage(bool ok)
{
	if (ok) {
		fputs(usage_text, stdout);
		return 0;
	}
	/* the message (with its pointer to --help) is out already */
	return 1;
}

int parse_output_format(const char *arg, enum output_format *out)
{
	if (!strcmp(arg, "human")) {
		*out = OUTPUT_HUMAN;
		return 0;
	}
	if (!strcmp(arg, "json")) {
		*out = OUTPUT_JSON;
		return 0;
	}
	tool_usage_error("--output takes human or json, not '%s'", arg);
	return -EINVAL;
}

int parse_size_arg(const char *arg, const char *what, uint64_t *out)
{
	int ret = parse_size(arg, out);

	if (ret == -ERANGE)
		tool_usage_error("%s '%s' is too large; the limit is %lld",
				 what, arg, (long long)INT64_MAX);
	else if (ret < 0)
		tool_usage_error("%s '%s' is not a number of bytes; suffixes k, M, G, T, P and E are allowed",
				 what, arg);
	return ret;
}

int main(int argc, char **argv)
{
	size_t i;

	tool_name = "qcow-img";
	opterr = 0;	/* the verbs word getopt's complaints themselves */
	if (argc < 2) {
		tool_usage_error("no command given");
		return img_usage(false);
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))
		return img_usage(true);
	if (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version")) {
		printf("qcow-img version " QCOW_UBLK_VERSION "\n");
		return 0;
	}
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (!strcmp(argv[1], verbs[i].name))
			return verbs[i].run(argc - 1, argv + 1);
	tool_usage_error("unknown command '%s'", argv[1]);
	return img_usage(false);
}
