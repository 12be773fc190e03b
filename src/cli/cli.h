/*
 * cli.h - the memtide command line.  To add a subcommand: write
 * cmd_<name>() in src/cli/cmd_<name>.c, declare it here and add one row
 * to the commands[] table in main.c.
 */
#ifndef MT_CLI_H
#define MT_CLI_H

#include <stdint.h>

int cmd_run(int argc, char **argv);
int cmd_attach(int argc, char **argv);
int cmd_detach(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_tree(int argc, char **argv);
int cmd_summary(int argc, char **argv);
int cmd_transform(int argc, char **argv);
int cmd_flamegraph(int argc, char **argv);
int cmd_table(int argc, char **argv);
int cmd_steps(int argc, char **argv);
int cmd_lines(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_live(int argc, char **argv);

/* Prints "memtide: <message>" on stderr and returns 1 (or the given code). */
int mt_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints a usage error with a pointer to --help and returns 2. */
int mt_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* --sample-rate's value into *rate: a size from 1 byte to 1 GiB; 0, or a
 * usage error of cmd printed and 2. */
int mt_parse_sample_rate(const char *cmd, const char *arg, uint64_t *rate);
/* Directory holding the memtide installation (bin/.. ). */
const char *mt_prefix(void);
/* The tracker library, the directory of the Python helpers (its memtide/)
 * and the one `import memtide` needs, each PATH_MAX bytes; 0, or an error
 * printed and 1. */
int mt_tracker_paths(char *lib, char *pydir, char *importdir);

#endif
