// SPDX-License-Identifier: MIT
/* qcow-io: qemu-io's commands on qcow2, qcow and raw images. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tools/common/msg.h"
#include "tools/common/open.h"
#include "tools/common/secret.h"
#include "tools/common/version.h"
#include "tools/io/io.h"

struct io_args {
	struct io_open open;
	char **cmds;
	int nr_cmds;
	bool aio_native;
};

static const char usage_text[] =
"usage: qcow-io [OPTIONS]... [-c CMD]... [FILE]\n"
"\n"
"Runs each -c command, in order, on the image FILE (options and FILE in\n"
"any order); without -c, reads commands from standard input, prompting\n"
"with 'qemu-io> ' as qemu-io does.  Without FILE, 'open' opens one.\n"
"'help' lists the commands.\n"
"\n"
"  -c, --cmd CMD        a command to run (repeatable)\n"
"  -f, --format FMT     qcow2, qcow or raw (default: probe)\n"
"  -r, --read-only      open the image read-only\n"
"  -l, --load-snapshot SNAPSHOT_PARAM\n"
"                       open this internal snapshot, read-only (as qemu-nbd\n"
"                       -l): 'snapshot.id=[ID],snapshot.name=[NAME]' or\n"
"                       '[ID_OR_NAME]'\n"
"  -n, --nocache        bypass the page cache (O_DIRECT), as -t none\n"
"  -t, --cache MODE     none, directsync, writeback, writethrough or unsafe\n"
"  -d, --discard MODE   ignore or off: discard requests (and the unmapping\n"
"                       of write -z -u) do nothing; unmap or on (default):\n"
"                       they free the clusters\n"
"  -i, --aio MODE       native, threads or io_uring: accepted, as is -k\n"
"                       (--native-aio); the engine always runs on io_uring\n"
"                       (native still needs -n or -t none, as qemu-io says)\n"
"  -m, --misalign       accepted; buffers are whatever the engine needs\n"
"  -T, --trace OPTS     accepted and ignored: there are no trace events\n"
"  -U, --force-share    do not deny others writes (with -r only)\n"
"  -s, --snapshot       writes go to a temporary qcow2 overlay (made in\n"
"                       $TMPDIR, else /var/tmp; deleted once open): FILE\n"
"                       is only read\n"
"  -C, --copy-on-read   reads first copy what they read from the backing\n"
"                       chain into the image, cluster by cluster\n"
"  --untrusted          refuse the backing and data files the image names\n"
"  --allow-dir DIR      allow those inside DIR only (repeatable)\n"
"  --allow-block-devices  allow block devices there\n"
"  --object secret,id=ID,data=PASS|file=PATH[,format=raw|base64]\n"
"                       a passphrase for encrypted images\n"
"  --image-opts         FILE is driver=qcow2|qcow,file.filename=PATH,\n"
"                       encrypt.key-secret=ID[,backing.encrypt.key-secret=ID]\n"
"  --crypto-backend auto|kernel|openssl|nettle\n"
"                       where the ciphers of encrypted images run\n"
"                       (default auto: the faster here)\n"
"  -V, --version        the version of qcow-io\n"
"  -h, --help           this text\n"
"\n"
"aio_read and aio_write leave their requests in flight, on an io_uring;\n"
"they complete, and print their reports in the order they finish, when a\n"
"command that waits for I/O runs (any but aio_read, aio_write, length,\n"
"info, help, quit, sigraise and abort), at aio_flush and at the end.\n"
"read -b and write -b address the VM state area of a qcow2 image (past\n"
"the guest disk, at the \"vm state offset\" info prints).  truncate -m\n"
"accepts every mode and allocates nothing.\n"
"\n"
"FILE may be blkdebug:CONFIG:IMAGE (CONFIG may be empty), or with\n"
"--image-opts driver=qcow2,file.driver=blkdebug,file.image.filename=IMAGE\n"
"with file.config, file.inject-error.N.KEY, file.set-state.N.KEY: QEMU's\n"
"blkdebug filter, whose breakpoints break, wait_break, resume and\n"
"remove_break set and release.\n"
"\n"
"The exit status is 1 when a command failed, 0 otherwise.\n";

static int usage(bool ok)
{
	if (ok) {
		fputs(usage_text, stdout);
		return 0;
	}
	/* the message (with its pointer to --help) is out already */
	return 1;
}

static int parse_aio(const char *mode, struct io_args *a)
{
	if (!strcmp(mode, "native")) {
		a->aio_native = true;
		return 0;
	}
	if (!strcmp(mode, "threads") || !strcmp(mode, "io_uring")) {
		a->aio_native = false;
		return 0;
	}
	tool_error("-i: unknown AIO mode '%s': use native, threads or io_uring",
		   mode);
	return -EINVAL;
}

static int add_cmd(struct io_args *a, char *cmd)
{
	char **grown = realloc(a->cmds, (a->nr_cmds + 1) * sizeof(*grown));

	if (!grown) {
		tool_error("out of memory");
		return -ENOMEM;
	}
	a->cmds = grown;
	a->cmds[a->nr_cmds++] = cmd;
	return 0;
}

static const char optstring[] = "hVc:f:rl:nt:d:i:kmT:UsC";

static int parse_opt(int c, struct io_args *a, char **argv)
{
	switch (c) {
	case 'h':
		exit(usage(true));
	case 'V':
		printf("qcow-io version " QCOW_UBLK_VERSION "\n");
		exit(0);
	case 'c':
		return add_cmd(a, optarg);
	case 'f':
		a->open.fmt = optarg;
		return 0;
	case 'r':
		a->open.read_only = true;
		return 0;
	case 'l':
		a->open.read_only = true;
		return snapshot_param_parse(&a->open.snapshot, optarg);
	case 'n':
		a->open.direct = true;
		return 0;
	case 't':
		return io_parse_cache(optarg, &a->open.direct);
	case 'd':
		return io_parse_discard(optarg, &a->open.no_discard);
	case 'i':
		return parse_aio(optarg, a);
	case 'k':
		a->aio_native = true;
		return 0;
	case 'm':	/* misaligned buffers: nothing the engine cares about */
	case 'T':	/* tracing: no trace events to enable */
		return 0;
	case 'U':
		a->open.force_share = true;
		return 0;
	case 's':
		a->open.temp_snapshot = true;
		return 0;
	case 'C':
		a->open.copy_on_read = true;
		return 0;
	case OPT_TRUST_FIRST ... OPT_TRUST_LAST:
		return tool_trust_option(c, optarg);
	default:
		tool_bad_option(NULL, optstring, argv);
		return -EINVAL;
	}
}

/* Options and the file name in any order, as getopt permutes them. */
static int parse_args(int argc, char **argv, struct io_args *a)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "cmd", required_argument, NULL, 'c' },
		{ "format", required_argument, NULL, 'f' },
		{ "read-only", no_argument, NULL, 'r' },
		{ "load-snapshot", required_argument, NULL, 'l' },
		{ "nocache", no_argument, NULL, 'n' },
		{ "cache", required_argument, NULL, 't' },
		{ "discard", required_argument, NULL, 'd' },
		{ "aio", required_argument, NULL, 'i' },
		{ "native-aio", no_argument, NULL, 'k' },
		{ "misalign", no_argument, NULL, 'm' },
		{ "trace", required_argument, NULL, 'T' },
		{ "force-share", no_argument, NULL, 'U' },
		{ "snapshot", no_argument, NULL, 's' },
		{ "copy-on-read", no_argument, NULL, 'C' },
		TRUST_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	int c, ret = 0;

	opterr = 0;	/* reported below; the commands keep getopt's own */
	while (!ret && (c = getopt_long(argc, argv, optstring, longopts,
					NULL)) != -1)
		ret = parse_opt(c, a, argv);
	opterr = 1;
	if (ret < 0)
		return ret;
	if (optind < argc - 1) {
		tool_usage_error("expects at most one image file name");
		return -EINVAL;
	}
	a->open.path = optind < argc ? argv[optind] : NULL;
	if (tool_image_opts() && a->open.fmt) {
		tool_usage_error("--image-opts and -f exclude each other: give the format as driver=FMT in the option string");
		return -EINVAL;
	}
	if (a->open.path && a->aio_native && !a->open.direct) {
		tool_error("%s: -i native needs the page cache bypassed: add -n or -t none",
			   a->open.path);
		return -EINVAL;
	}
	return 0;
}

/* Standard input, one command a line, each after a prompt, as qemu-io. */
static int run_stdin(struct io_state *s)
{
	char *line = NULL;
	size_t cap = 0;
	int err = 0;

	while (!s->quit) {
		printf("qemu-io> ");
		fflush(stdout);
		if (getline(&line, &cap, stdin) < 0) {
			if (isatty(STDIN_FILENO))
				putchar('\n');	/* the shell's prompt on a line of its own */
			break;
		}
		if (io_run_line(s, line) < 0)
			err = 1;
	}
	free(line);
	return err;
}

int main(int argc, char **argv)
{
	struct io_args a = { 0 };
	struct io_state s = { 0 };
	int i, err = 0;

	tool_name = "qcow-io";
	if (parse_args(argc, argv, &a) < 0) {
		free(a.cmds);
		snapshot_param_free(&a.open.snapshot);
		return usage(false);
	}
	if (a.open.path && io_open_image(&s, &a.open) < 0) {
		free(a.cmds);
		snapshot_param_free(&a.open.snapshot);
		return 1;
	}
	if (!a.open.path)
		snapshot_param_free(&a.open.snapshot);
	if (!a.nr_cmds)
		err = run_stdin(&s);
	for (i = 0; i < a.nr_cmds && !s.quit; i++)
		if (io_run_line(&s, a.cmds[i]) < 0)
			err = 1;
	io_aio_free(&s);
	io_close_image(&s);
	free(a.cmds);
	return err;
}
