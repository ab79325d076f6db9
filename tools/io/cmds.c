// SPDX-License-Identifier: MIT
/* The command table of qcow-io and running one command line. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tools/common/msg.h"
#include "tools/common/size.h"
#include "tools/io/io.h"

static int io_help(struct io_state *s, int argc, char **argv);

static int io_quit(struct io_state *s, int argc, char **argv)
{
	s->quit = true;
	return 0;
}

static int io_length(struct io_state *s, int argc, char **argv)
{
	char buf[SIZE_STR_LEN];

	printf("%s\n", size_to_io_str(buf, sizeof(buf),
				      (double)qcow_size(s->img)));
	return 0;
}

static const char read_help[] =
"Reads LEN bytes of the guest disk from offset OFF (backing files\n"
"included) and reports how long that took.\n"
"  -P PATTERN  fail unless every byte read has the value PATTERN\n"
"  -s OFF      with -P: check from this offset into the data read\n"
"  -l LEN      with -P: check this many bytes (default: up to the end)\n"
"  -v          print the data as a hex dump\n"
"  -q          print no report line\n"
"  -C          print the report as one line of comma-separated numbers\n"
"  -b          the VM state area of a qcow2 image, past the guest disk\n"
"              (OFF and LEN in whole sectors)\n"
"  -a, -p      accepted and ignored\n"
"For instance, 'read -v 0 4k' dumps the first 4 KiB.\n";

/* args NULL and args "" print differently in help, as in qemu-io */
static const struct io_cmd cmds[] = {
	{ .name = "abort", .run = io_abort, .no_file_ok = true,
	  .keeps_aio = true,
	  .oneline = "end the program at once with abort(3), as a crash would" },
	{ .name = "aio_flush", .run = io_aio_flush,
	  .oneline = "wait until every aio request in flight has completed" },
	{ .name = "aio_read", .run = io_aio_read, .argmin = 2, .argmax = -1,
	  .keeps_aio = true,
	  .args = "[-Ciqv] [-P pattern] off len [len..]",
	  .oneline = "start a readv; its report comes when it completes" },
	{ .name = "aio_write", .run = io_aio_write, .argmin = 2, .argmax = -1,
	  .keeps_aio = true,
	  .writes = true, .args = "[-Cfiquz] [-P pattern] off len [len..]",
	  .oneline = "start a writev (or a zero write, -z); its report comes when it completes" },
	{ .name = "alloc", .run = io_alloc, .argmin = 1, .argmax = 2,
	  .args = "offset [count]",
	  .oneline = "report how much of [offset, offset+count) this layer allocates" },
	{ .name = "break", .run = io_break, .argmin = 2, .argmax = 2,
	  .keeps_aio = true, .args = "event tag",
	  .oneline = "park the next request of a blkdebug event, tagged tag" },
	{ .name = "close", .altname = "c", .run = io_close_cmd,
	  .oneline = "close the image (everything written becomes durable)" },
	{ .name = "discard", .altname = "d", .run = io_discard,
	  .argmin = 2, .argmax = -1, .writes = true,
	  .args = "[-Cq] off len",
	  .oneline = "drop the data of a range (it then reads as zeros or from the backing file)" },
	{ .name = "flush", .altname = "f", .run = io_flush,
	  .oneline = "make every completed write durable" },
	{ .name = "help", .altname = "?", .run = io_help, .argmax = 1,
	  .keeps_aio = true,
	  .no_file_ok = true,
	  .args = "[command]", .oneline = "list the commands, or describe one" },
	{ .name = "info", .altname = "i", .run = io_info, .keeps_aio = true,
	  .oneline = "show the image's format, cluster size and options" },
	{ .name = "length", .altname = "l", .run = io_length, .keeps_aio = true,
	  .oneline = "show the guest disk size" },
	{ .name = "map", .run = io_map, .args = "",
	  .oneline = "list the ranges this layer allocates and those it leaves to its backing" },
	{ .name = "open", .altname = "o", .run = io_open_cmd, .argmin = 1,
	  .argmax = -1, .no_file_ok = true,
	  .args = "[-rsCnkU] [-t cache] [-d discard] [-o options] [path]",
	  .oneline = "open an image when none is (-o: qemu-io's driver options)" },
	{ .name = "quit", .altname = "q", .run = io_quit, .no_file_ok = true,
	  .keeps_aio = true,
	  .oneline = "stop here, skipping any further commands" },
	{ .name = "read", .altname = "r", .run = io_read,
	  .argmin = 2, .argmax = -1,
	  .args = "[-abCqv] [-P pattern [-s off] [-l len]] off len",
	  .oneline = "read a range of the guest disk, optionally checking its content",
	  .help = read_help },
	{ .name = "readv", .run = io_readv, .argmin = 2, .argmax = -1,
	  .args = "[-Cqv] [-P pattern] off len [len..]",
	  .oneline = "read into several buffers laid end to end from off" },
	{ .name = "remove_break", .run = io_remove_break, .argmin = 1,
	  .argmax = 1, .keeps_aio = true, .args = "tag",
	  .oneline = "remove blkdebug breakpoint tag, resuming what it parked" },
	{ .name = "reopen", .run = io_reopen, .argmax = -1,
	  .args = "[(-r|-w)] [-c cache] [-o options]",
	  .oneline = "close and open the image again, read-only (-r) or read-write (-w)" },
	{ .name = "resume", .run = io_resume, .argmin = 1, .argmax = 1,
	  .keeps_aio = true, .args = "tag",
	  .oneline = "let the request parked at breakpoint tag go on" },
	{ .name = "sigraise", .run = io_sigraise, .argmin = 1, .argmax = 1,
	  .keeps_aio = true,
	  .no_file_ok = true, .args = "signal",
	  .oneline = "send this process the signal numbered signal" },
	{ .name = "sleep", .run = io_sleep, .argmin = 1, .argmax = 1,
	  .no_file_ok = true,
	  .oneline = "wait the given number of milliseconds" },
	{ .name = "truncate", .altname = "t", .run = io_truncate, .argmin = 1,
	  .argmax = 3, .writes = true, .args = "[-m prealloc_mode] off",
	  .oneline = "set the guest disk size (any -m mode: nothing preallocated)" },
	{ .name = "wait_break", .run = io_wait_break, .argmin = 1,
	  .argmax = 1, .keeps_aio = true, .args = "tag",
	  .oneline = "run the aio requests until one parks at breakpoint tag" },
	{ .name = "write", .altname = "w", .run = io_write,
	  .argmin = 2, .argmax = -1, .writes = true,
	  .args = "[-bcCfnquz] [-P pattern | -s source_file] off len",
	  .oneline = "write a pattern, a file's bytes, zeros or compressed data to a range" },
	{ .name = "writev", .run = io_writev, .argmin = 2, .argmax = -1,
	  .writes = true, .args = "[-Cfq] [-P pattern] off len [len..]",
	  .oneline = "write a pattern from several buffers laid end to end at off" },
};

#define NR_CMDS (sizeof(cmds) / sizeof(cmds[0]))

const struct io_cmd *io_find_cmd(const char *name)
{
	size_t i;

	for (i = 0; i < NR_CMDS; i++)
		if (!strcmp(name, cmds[i].name) ||
		    (cmds[i].altname && !strcmp(name, cmds[i].altname)))
			return &cmds[i];
	return NULL;
}

void io_print_usage(const struct io_cmd *cmd)
{
	if (cmd->args)
		printf("%s %s -- %s\n", cmd->name, cmd->args, cmd->oneline);
	else
		printf("%s -- %s\n", cmd->name, cmd->oneline);
}

static int io_help(struct io_state *s, int argc, char **argv)
{
	const struct io_cmd *cmd;
	size_t i;

	if (argc == 1) {
		for (i = 0; i < NR_CMDS; i++)
			io_print_usage(&cmds[i]);
		printf("\n'help COMMAND' says more about one command.\n");
		return 0;
	}
	cmd = io_find_cmd(argv[1]);
	if (!cmd) {
		printf("help: there is no command '%s'\n", argv[1]);
		return -EINVAL;
	}
	io_print_usage(cmd);
	if (cmd->help)
		printf("\n%s", cmd->help);
	return 0;
}

static int check_argc(const struct io_cmd *cmd, int argc)
{
	int n = argc - 1;

	if (n >= cmd->argmin && (cmd->argmax < 0 || n <= cmd->argmax))
		return 0;
	if (cmd->argmax < 0)
		tool_error("%s: takes at least %d arguments, not %d", cmd->name,
			   cmd->argmin, n);
	else if (cmd->argmin == cmd->argmax)
		tool_error("%s: takes %d arguments, not %d", cmd->name,
			   cmd->argmin, n);
	else
		tool_error("%s: takes %d to %d arguments, not %d", cmd->name,
			   cmd->argmin, cmd->argmax, n);
	return -EINVAL;
}

/* Splits at spaces, as qemu-io does: no quoting. */
static int split_line(char *line, char ***argvp)
{
	char **argv = NULL, **grown, *tok;
	int argc = 0;

	while ((tok = strsep(&line, " ")) != NULL) {
		if (!*tok)
			continue;
		grown = realloc(argv, (argc + 2) * sizeof(*argv));
		if (!grown) {
			free(argv);
			return -ENOMEM;
		}
		argv = grown;
		argv[argc++] = tok;
		argv[argc] = NULL;
	}
	*argvp = argv;
	return argc;
}

int io_run_line(struct io_state *s, char *line)
{
	const struct io_cmd *cmd;
	char **argv;
	int argc, ret;

	line[strcspn(line, "\n")] = 0;
	argc = split_line(line, &argv);
	if (argc <= 0)
		return argc;
	cmd = io_find_cmd(argv[0]);
	/*
	 * aio requests complete before a command that waits for I/O runs,
	 * as qemu-io's main loop completes them
	 */
	if (!cmd || !cmd->keeps_aio)
		io_aio_drain(s);
	if (!cmd) {
		tool_error("unknown command '%s' ('help' lists them)", argv[0]);
		ret = -EINVAL;
	} else if (!cmd->no_file_ok && !s->img) {
		tool_error("%s: no image is open ('open FILE' opens one)",
			   cmd->name);
		ret = -EINVAL;
	} else if ((ret = check_argc(cmd, argc)) < 0) {
		/* reported */
	} else if (cmd->writes && s->open.read_only) {
		tool_error("%s: %s refused: the image is open read-only (-r)",
			   s->open.path, cmd->name);
		ret = -EPERM;
	} else {
		optind = 0;	/* a fresh getopt() for every command */
		ret = cmd->run(s, argc, argv);
	}
	fflush(stdout);
	free(argv);
	return ret;
}
