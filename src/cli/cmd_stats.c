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

int cmd_stats(int argc, char **argv)
{
	struct mt_replay_opts o = { .temporary_threshold = 1, .progress = isatty(STDERR_FILENO) };
	const char *file = NULL;
	struct mt_replay r;
	struct mt_stats s;
	char err[512];
	int json = 0, top = 10, show_all = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(usage_text, stdout);
			return 0;
		} else if (!strcmp(a, "--json")) {
			json = 1;
		} else if (!strcmp(a, "--include-file-mappings")) {
			o.include_file_mappings = 1;
		} else if (!strcmp(a, "--show-all-frames")) {
			show_all = 1;
		} else if (!strcmp(a, "-n") || !strcmp(a, "--top") || !strncmp(a, "--top=", 6)) {
			const char *v = a[2] == 't' && a[5] == '=' ? a + 6 : i + 1 < argc ? argv[++i] : NULL;
			char *end;
			long n = v ? strtol(v, &end, 10) : 0;

			if (!v || *end || n < 1 || n > 1000000)
				return mt_usage_error("stats", "-n needs a number from 1 to 1000000");
			top = (int)n;
		} else if (a[0] == '-' && a[1]) {
			return mt_usage_error("stats", "unknown option '%s'", a);
		} else if (file) {
			return mt_usage_error("stats", "one capture file at a time");
		} else {
			file = a;
		}
	}
	if (!file)
		return mt_usage_error("stats", "no capture file given");
	if (mt_replay_run(file, &o, &r, err, sizeof(err)) < 0) {
		mt_replay_release(&r);
		return mt_error("%s", err);
	}
	mt_stats_sites(&r, top, show_all, &s);
	if (!show_all)
		mt_hide_interpreter_arenas(&r, &s.arenas);
	if (json)
		mt_stats_print_json(stdout, &r, &s);
	else
		mt_stats_print_text(stdout, &r, &s, o.include_file_mappings);
	mt_stats_release(&s);
	mt_replay_release(&r);
	return fflush(stdout) == 0 ? 0 : mt_error("cannot write the report");
}
