/*
 * cmd_stats.c - `memtide stats`: totals, allocation sizes, allocator kinds,
 * peak heap and RSS, and the top allocation sites of a capture.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "view.h"
#include "../analysis/hiding.h"
#include "../analysis/stats.h"
#include "../report/stats_report.h"

static const char usage_text[] =
	"usage: memtide stats [-n N] [--json] [--include-file-mappings]\n"
	"                     [--show-all-frames] FILE\n"
	"\n"
	"Totals of a capture: allocations and bytes, a histogram of sizes, the\n"
	"allocator kinds, the peak heap size and when it happened, the peak RSS,\n"
	"what was still allocated at the end (leaks), temporary allocations (freed\n"
	"before their thread allocated anything else), and the top allocation\n"
	"sites by size and by number of allocations.\n"
	"\n"
	"File-backed mappings (mmap of a file) are not heap: their peak is shown\n"
	"apart and they are left out of every other figure unless\n"
	"--include-file-mappings is given.\n"
	"\n"
	"  -n, --top N              length of the top lists (default 10)\n"
	"      --include-file-mappings\n"
	"                           count file-backed mappings as memory too\n"
	"      --json               one JSON object instead of text\n"
	SHOW_ALL_FRAMES_HELP("                           ")
	"  -h, --help               show this help\n";

static int stats_option(void *ctx, int c, const char *arg)
{
	long n;

	(void)c;	/* -n, the only one */
	if (view_number("stats", "--top", arg, 1, 1000000, &n) < 0)
		return 2;
	*(int *)ctx = (int)n;
	return 0;
}

int cmd_stats(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, VOPT_JSON },
		{ "include-file-mappings", no_argument, NULL, VOPT_FILE_MAPPINGS },
		{ "show-all-frames", no_argument, NULL, VOPT_SHOW_ALL },
		{ "top", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' }, { 0 }
	};
	const char **files[] = { NULL };
	struct view_args a;
	struct mt_replay r;
	struct mt_stats s;
	int top = 10, rc;

	view_init(&a);
	files[0] = &a.file;
	if ((rc = view_parse("stats", usage_text, argc, argv, ":n:h", opts, &a, stats_option,
			     &top)) ||
	    (rc = view_files("stats", argc, argv, files, 1)))
		return rc < 0 ? 0 : rc;
	if ((rc = view_load("stats", &a, &r)))
		return rc;
	mt_stats_sites(&r, top, a.show_all, &s);
	s.arenas = a.arenas;
	if (a.json)
		mt_stats_print_json(stdout, &r, &s);
	else
		mt_stats_print_text(stdout, &r, &s, a.replay.include_file_mappings);
	mt_stats_release(&s);
	mt_replay_release(&r);
	return fflush(stdout) == 0 ? 0 : mt_error("cannot write the report");
}
