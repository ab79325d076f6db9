/* SPDX-License-Identifier: MIT */
/* The verbs of qcow-img: each gets argv from the verb on. */
#ifndef TOOLS_IMG_IMG_H
#define TOOLS_IMG_IMG_H

#include <stdbool.h>
#include <stdint.h>

enum output_format { OUTPUT_HUMAN, OUTPUT_JSON };

int img_info(int argc, char **argv);
int img_map(int argc, char **argv);
int img_compare(int argc, char **argv);
int img_convert(int argc, char **argv);
int img_check(int argc, char **argv);
int img_create(int argc, char **argv);
int img_resize(int argc, char **argv);
int img_commit(int argc, char **argv);
int img_rebase(int argc, char **argv);
int img_amend(int argc, char **argv);
int img_bitmap(int argc, char **argv);
int img_snapshot(int argc, char **argv);
int img_bench(int argc, char **argv);
int img_measure(int argc, char **argv);
int img_dd(int argc, char **argv);

/*
 * Usage on stdout (exit status 0), or after a bad command line, already
 * reported with tool_usage_error(), just the exit status 1.
 */
int img_usage(bool ok);

/* --output=human|json; -EINVAL with a message for anything else. */
int parse_output_format(const char *arg, enum output_format *out);

/* A size option with suffixes; -EINVAL with a message naming what. */
int parse_size_arg(const char *arg, const char *what, uint64_t *out);

#endif
