/*
 * cli.h - the memtide command line.  To add a subcommand: write
 * cmd_<name>() in src/cli/cmd_<name>.c, declare it here and add one row
 * to the commands[] table in main.c.
 */
#ifndef MT_CLI_H
#define MT_CLI_H

int cmd_run(int argc, char **argv);
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

/* Prints "memtide: <message>" on stderr and returns 1 (or the given code). */
int mt_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints a usage error with a pointer to --help and returns 2. */
int mt_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Directory holding the memtide installation (bin/.. ). */
const char *mt_prefix(void);

#endif
