/*
 * cmd_stats.c - `memtide stats`: totals, allocation sizes, allocator kinds,
 * peak heap and RSS, and the top allocation sites of a capture; on
 * several captures of one run, or a directory of them, the process tree
 * and the combined peak.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "view.h"
#include "../analysis/hiding.h"
#include "../analysis/proctree.h"
#include "../analysis/stats.h"
#include "../format/xalloc.h"
#include "../report/proctree_report.h"
#include "../report/stats_report.h"

static const char usage_text[] =
	"usage: memtide stats [-n N] [--json] [--include-file-mappings]\n"
	"                     [--show-all-frames] FILE...|DIR\n"
	"\n"
	"Totals of a capture: allocations and bytes, a histogram of sizes, the\n"
	"allocator kinds, the peak heap size and when it happened, the peak RSS,\n"
	"what was still allocated at the end (leaks), temporary allocations (freed\n"
	"before their thread allocated anything else), and the top allocation\n"
	"sites by size and by number of allocations.\n"
	"\n"
	"Several captures of one run (--follow-fork, --follow-exec), or a directory\n"
	"holding them: the process tree (per process its command, pid, parent,\n"
	"peak and total), the combined peak of the processes alive at the same\n"
	"moment, and their steps (memtide.step; with memtide.dask, tasks by key\n"
	"prefix) summed by name, highest peak above a run's start first; with\n"
	"--json, each process's figures as for one capture.\n"
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

/* stats on several captures, or a directory: the process tree. */
static int stats_tree(struct view_args *a, int top, char **files, size_t n)
{
	struct mt_proctree t = { 0 };
	int rc = 0;

	for (size_t i = 0; i < n && !rc; i++) {
		struct mt_replay r;
		struct mt_stats s;
		char *json = NULL;
		size_t len;

		a->file = files[i];
		if ((rc = view_load("stats", a, &r)))
			break;
		if (a->json) {
			FILE *m = open_memstream(&json, &len);

			if (!m)
				mt_oom();
			mt_stats_sites(&r, top, a->show_all, &s);
			s.arenas = a->arenas;
			mt_stats_print_json(m, &r, &s);
			mt_stats_release(&s);
			fclose(m);
		}
		mt_proctree_add(&t, &r, json);
		mt_replay_release(&r);
	}
	if (!rc && !(rc = view_same_session(&t))) {
		mt_proctree_finish(&t);
		if (a->json)
			mt_proctree_print_json(stdout, &t, (size_t)top);
		else
			mt_proctree_print_text(stdout, &t, (size_t)top);
		rc = fflush(stdout) == 0 ? 0 : mt_error("cannot write the report");
	}
	mt_proctree_release(&t);
	return rc;
}

/* stats on one capture. */
static int stats_one(struct view_args *a, int top, const char *file)
{
	struct mt_replay r;
	struct mt_stats s;
	int rc;

	a->file = file;
	if ((rc = view_load("stats", a, &r)))
		return rc;
	mt_stats_sites(&r, top, a->show_all, &s);
	s.arenas = a->arenas;
	if (a->json)
		mt_stats_print_json(stdout, &r, &s);
	else
		mt_stats_print_text(stdout, &r, &s, a->replay.include_file_mappings);
	mt_stats_release(&s);
	mt_replay_release(&r);
	return fflush(stdout) == 0 ? 0 : mt_error("cannot write the report");
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
	struct view_args a;
	char **files = NULL;
	size_t n = 0;
	int top = 10, rc, dirs = 0;

	view_init(&a);
	if ((rc = view_parse("stats", usage_text, argc, argv, ":n:h", opts, &a, stats_option,
			     &top)))
		return rc < 0 ? 0 : rc;
	rc = view_captures(argc, argv, &files, &n, &dirs);
	if (!rc && (n > 1 || dirs))
		rc = stats_tree(&a, top, files, n);
	else if (!rc)
		rc = stats_one(&a, top, n ? files[0] : NULL);
	view_captures_free(files, n);
	return rc;
}
