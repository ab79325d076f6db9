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
#include "tools/common/snapshot_param.h"
#include "tools/io/io.h"

struct io_args {
	const char *fmt;
	const char *file;
	char **cmds;
	int nr_cmds;
	bool read_only;
	bool direct;
	bool force_share;
	struct snapshot_param snapshot;	/* -l */
};

static const char usage_text[] =
"usage: qcow-io [-f FMT] [-r] [-l SNAPSHOT_PARAM] [-n] [-t CACHE] [-U]\n"
"               [-c CMD]... FILE\n"
"\n"
"Runs each -c command on the image FILE, in order; without -c, reads\n"
"commands from standard input.  'help' lists the commands.\n"
"\n"
"  -c, --cmd CMD        a command to run (repeatable)\n"
"  -f, --format FMT     qcow2, qcow or raw (default: probe)\n"
"  -r, --read-only      open the image read-only\n"
"  -l, --load-snapshot SNAPSHOT_PARAM\n"
"                       open this internal snapshot, read-only (as qemu-nbd\n"
"                       -l): 'snapshot.id=[ID],snapshot.name=[NAME]' or\n"
"                       '[ID_OR_NAME]'\n"
"  -n, --nocache        bypass the page cache (O_DIRECT)\n"
"  -t, --cache MODE     none, directsync, writeback, writethrough or unsafe\n"
"  -U, --force-share    do not deny others writes (with -r only)\n"
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
"  -h, --help           this text\n"
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

static int parse_cache(const char *mode, bool *direct)
{
	if (!strcmp(mode, "none") || !strcmp(mode, "directsync")) {
		*direct = true;
		return 0;
	}
	if (!strcmp(mode, "writeback") || !strcmp(mode, "writethrough") ||
	    !strcmp(mode, "unsafe")) {
		*direct = false;
		return 0;
	}
	tool_error("-t: unknown cache mode '%s'; use none, directsync, writeback, writethrough or unsafe",
		   mode);
	return -EINVAL;
}

static int add_cmd(struct io_args *a, char *cmd)
{
	char **grown = realloc(a->cmds, (a->nr_cmds + 1) * sizeof(*grown));

	if (!grown)
		return -ENOMEM;
	a->cmds = grown;
	a->cmds[a->nr_cmds++] = cmd;
	return 0;
}

static int parse_args(int argc, char **argv, struct io_args *a)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "cmd", required_argument, NULL, 'c' },
		{ "format", required_argument, NULL, 'f' },
		{ "read-only", no_argument, NULL, 'r' },
		{ "nocache", no_argument, NULL, 'n' },
		{ "cache", required_argument, NULL, 't' },
		{ "force-share", no_argument, NULL, 'U' },
		{ "load-snapshot", required_argument, NULL, 'l' },
		TRUST_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	static const char optstring[] = "+hc:f:rnt:Ul:";
	int c, ret = 0;

	opterr = 0;	/* reported below; the commands keep getopt's own */
	while (!ret && (c = getopt_long(argc, argv, optstring, longopts,
					NULL)) != -1) {
		switch (c) {
		case 'h':
			exit(usage(true));
		case 'c':
			ret = add_cmd(a, optarg);
			if (ret < 0)
				tool_error("out of memory");
			break;
		case 'f':
			a->fmt = optarg;
			break;
		case 'r':
			a->read_only = true;
			break;
		case 'n':
			a->direct = true;
			break;
		case 't':
			ret = parse_cache(optarg, &a->direct);
			break;
		case 'U':
			a->force_share = true;
			break;
		case 'l':
			ret = snapshot_param_parse(&a->snapshot, optarg);
			a->read_only = true;
			break;
		case OPT_TRUST_FIRST ... OPT_TRUST_LAST:
			ret = tool_trust_option(c, optarg);
			break;
		default:
			tool_bad_option(NULL, optstring, argv);
			ret = -EINVAL;
			break;
		}
	}
	opterr = 1;
	if (ret < 0)
		return ret;
	if (optind != argc - 1) {
		tool_usage_error("expects exactly one image file name after the options");
		return -EINVAL;
	}
	a->file = argv[optind];
	return 0;
}

/* Read-write unless -r, as qemu-io opens images. */
static int open_image(struct io_state *s, const struct io_args *a)
{
	struct qcow_open_opts opts = {
		.read_only = a->read_only,
		.direct = a->direct,
		.force_share = a->force_share,
	};

	s->read_only = a->read_only;
	return tool_open_snapshot(&s->img, a->file, a->fmt, &opts,
				  &a->snapshot);
}

static int run_stdin(struct io_state *s)
{
	bool tty = isatty(STDIN_FILENO);
	char *line = NULL;
	size_t cap = 0;
	int err = 0;

	while (!s->quit) {
		if (tty) {
			printf("qcow-io> ");
			fflush(stdout);
		}
		if (getline(&line, &cap, stdin) < 0)
			break;
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
		snapshot_param_free(&a.snapshot);
		return usage(false);
	}
	if (open_image(&s, &a) < 0) {
		free(a.cmds);
		snapshot_param_free(&a.snapshot);
		return 1;
	}
	if (!a.nr_cmds)
		err = run_stdin(&s);
	for (i = 0; i < a.nr_cmds && !s.quit; i++)
		if (io_run_line(&s, a.cmds[i]) < 0)
			err = 1;
	qcow_close(s.img);
	free(a.cmds);
	snapshot_param_free(&a.snapshot);
	return err;
}
