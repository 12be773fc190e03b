/*
 * main.c - memtide's entry point: finds the subcommand in commands[] and
 * runs it.  Each subcommand lives in its own cmd_<name>.c.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "../report/output.h"

#define MEMTIDE_VERSION "0.1.0"

static const struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
} commands[] = {
	{ "run", cmd_run, "run a program and capture its allocations" },
	{ "attach", cmd_attach, "start capturing in a program that is already running" },
	{ "detach", cmd_detach, "stop the capture that attach started" },
	{ "live", cmd_live, "watch a program from another terminal (run or attach --live-remote)" },
	{ "stats", cmd_stats, "totals, sizes, allocator kinds and top locations of a capture" },
	{ "tree", cmd_tree, "the call tree of the memory live at the peak (or leaked...)" },
	{ "summary", cmd_summary, "own and total memory and allocations per function" },
	{ "flamegraph", cmd_flamegraph, "an HTML flame graph, with heap and RSS over time" },
	{ "table", cmd_table, "an HTML table of allocation sites" },
	{ "steps", cmd_steps, "per-step table of a pipeline marked with memtide.step()" },
	{ "lines", cmd_lines, "memory line by line inside chosen Python functions" },
	{ "bench", cmd_bench, "run a command over a matrix of parameters and compare the runs" },
	{ "plot", cmd_plot, "heap and RSS over time of one or more captures: PNG, SVG, PDF, HTML" },
	{ "diff", cmd_diff, "compare two captures: totals, and what grew where" },
	{ "transform", cmd_transform, "export for gprof2dot, as CSV, or for speedscope" },
};

int mt_error(const char *fmt, ...)
{
	va_list ap;

	fputs("memtide: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

int mt_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "memtide %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see 'memtide %s --help')\n", cmd);
	return 2;
}

int mt_parse_sample_rate(const char *cmd, const char *arg, uint64_t *rate)
{
	/* 1 GiB, far above any rate of use: a block's weight fits 32 bits */
	if (mt_parse_size(arg, rate) < 0 || !*rate || *rate > (1ull << 30))
		return mt_usage_error(cmd, "--sample-rate takes a size from 1 byte to 1 GiB "
				      "(e.g. 512KiB), not '%s'", arg);
	return 0;
}

const char *mt_prefix(void)
{
	static char dir[PATH_MAX];
	ssize_t n;
	char *slash;

	if (dir[0])
		return dir;
	n = readlink("/proc/self/exe", dir, sizeof(dir) - 1);
	if (n <= 0)
		return strcpy(dir, ".");
	dir[n] = '\0';
	for (int i = 0; i < 2 && (slash = strrchr(dir, '/')); i++)
		*slash = '\0';	/* .../bin/memtide -> ... */
	return dir;
}

int mt_tracker_paths(char *lib, char *pydir, char *importdir)
{
	/* the build tree (bin/, lib/, python/memtide) or the Python package
	 * (memtide/bin/memtide beside memtide/libmemtide.so, and
	 * memtide/_import/memtide, which imports the package it is in) */
	snprintf(lib, PATH_MAX, "%s/lib/libmemtide.so", mt_prefix());
	snprintf(pydir, PATH_MAX, "%s/python", mt_prefix());
	snprintf(importdir, PATH_MAX, "%s", pydir);
	if (access(lib, R_OK)) {
		snprintf(lib, PATH_MAX, "%s/bin/../libmemtide.so", mt_prefix());
		snprintf(pydir, PATH_MAX, "%s/..", mt_prefix());
		snprintf(importdir, PATH_MAX, "%s/_import", mt_prefix());
	}
	if (access(lib, R_OK))
		return mt_error("cannot find the tracker library '%s': %s", lib, strerror(errno));
	return 0;
}

static void usage(FILE *f)
{
	int w = 0;

	fprintf(f, "usage: memtide <command> [options] ...\n\n"
		   "memtide records every allocation of a Python or native program and\n"
		   "reports where the memory went.\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if ((int)strlen(commands[i].name) > w)
			w = (int)strlen(commands[i].name);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-*s  %s\n", w, commands[i].name, commands[i].summary);
	fprintf(f, "\n'memtide <command> --help' tells more about each.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("memtide %s\n", MEMTIDE_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "memtide: '%s' is not a memtide command (see 'memtide --help')\n", argv[1]);
	return 2;
}
