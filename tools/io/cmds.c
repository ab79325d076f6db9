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
" Reads LEN bytes at OFF of the image, through its backing chain.\n"
" -C, -- print statistics in a machine parsable format\n"
" -l, -- length to verify with -P (default: to the end)\n"
" -P, -- verify that every byte read equals the pattern\n"
" -q, -- quiet mode, print no statistics\n"
" -s, -- start offset of the verification with -P\n"
" -v, -- dump the data read in hexadecimal\n"
" Example: 'read -v 512 1k' dumps 1 KiB read at offset 512.\n";

/* args NULL and args "" print differently in help, as in qemu-io */
static const struct io_cmd cmds[] = {
	{ .name = "alloc", .run = io_alloc, .argmin = 1, .argmax = 2,
	  .args = "offset [count]",
	  .oneline = "checks if offset is allocated in the file" },
	{ .name = "discard", .altname = "d", .run = io_discard,
	  .argmin = 2, .argmax = -1, .writes = true,
	  .args = "[-Cq] off len",
	  .oneline = "discards a number of bytes at a specified offset" },
	{ .name = "flush", .altname = "f", .run = io_flush,
	  .oneline = "flush all in-core file state to disk" },
	{ .name = "help", .altname = "?", .run = io_help, .argmax = 1,
	  .args = "[command]", .oneline = "help for one or all commands" },
	{ .name = "info", .altname = "i", .run = io_info,
	  .oneline = "prints information about the current file" },
	{ .name = "length", .altname = "l", .run = io_length,
	  .oneline = "gets the length of the current file" },
	{ .name = "map", .run = io_map, .args = "",
	  .oneline = "prints the allocated areas of a file" },
	{ .name = "quit", .altname = "q", .run = io_quit,
	  .oneline = "exit the program" },
	{ .name = "read", .altname = "r", .run = io_read,
	  .argmin = 2, .argmax = -1,
	  .args = "[-abCqv] [-P pattern [-s off] [-l len]] off len",
	  .oneline = "reads a number of bytes at a specified offset",
	  .help = read_help },
	{ .name = "write", .altname = "w", .run = io_write,
	  .argmin = 2, .argmax = -1, .writes = true,
	  .args = "[-bcCfnquz] [-P pattern | -s source_file] off len",
	  .oneline = "writes a number of bytes at a specified offset" },
};

#define NR_CMDS (sizeof(cmds) / sizeof(cmds[0]))

static const struct io_cmd *find_cmd(const char *name)
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
		printf("\nUse 'help commandname' for extended help.\n");
		return 0;
	}
	cmd = find_cmd(argv[1]);
	if (!cmd) {
		printf("command %s not found\n", argv[1]);
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
	fflush(stdout);
	if (cmd->argmax < 0)
		fprintf(stderr, "bad argument count %d to %s, expected at least %d arguments\n",
			n, cmd->name, cmd->argmin);
	else if (cmd->argmin == cmd->argmax)
		fprintf(stderr, "bad argument count %d to %s, expected %d arguments\n",
			n, cmd->name, cmd->argmin);
	else
		fprintf(stderr, "bad argument count %d to %s, expected between %d and %d arguments\n",
			n, cmd->name, cmd->argmin, cmd->argmax);
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
	cmd = find_cmd(argv[0]);
	if (!cmd) {
		fflush(stdout);
		fprintf(stderr, "command \"%s\" not found\n", argv[0]);
		ret = -EINVAL;
	} else if ((ret = check_argc(cmd, argc)) < 0) {
		/* reported */
	} else if (cmd->writes && s->read_only) {
		tool_error("Block node is read-only");
		ret = -EPERM;
	} else {
		optind = 0;	/* a fresh getopt() for every command */
		ret = cmd->run(s, argc, argv);
	}
	fflush(stdout);
	free(argv);
	return ret;
}
