/*
 * cmd_summary.c - `memtide summary`: per function, the memory live at the
 * peak that it allocated itself (own) and with its callees (total), and
 * the same for the number of allocations — the columns of memray's live
 * view, from a capture; of several captures of one run (or a directory),
 * each at its own peak, by process or merged across processes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "view.h"
#include "../analysis/summary.h"
#include "../analysis/symbols.h"
#include "../format/xalloc.h"
#include "../report/output.h"

static const char usage_text[] =
	"usage: memtide summary [-s COLUMN] [-r N] [--leaks|--temporary-allocations] [--json] FILE\n"
	"       memtide summary [options] [--no-by-process] FILE...|DIR\n"
	"\n"
	"Per function, at the peak of the heap: own memory (allocated by the\n"
	"function itself), total memory (with everything it called), and the\n"
	"same for the number of allocations.  Of several captures of one run\n"
	"(--follow-fork, --follow-exec), or a directory of them: each process at\n"
	"its own peak, a row per process and function (a row per process too).\n"
	"\n"
	"  -s, --sort COLUMN    total_memory (default), own_memory,\n"
	"                       total_allocations or own_allocations\n"
	"  -r, --rows N         show N rows (default 20; 0: all)\n"
	"      --by-process     several captures: rows by process (the default)\n"
	"      --no-by-process  several captures: rows merged across processes\n"
	VIEW_OPTIONS_HELP
VIEW_WIDTH_HELP
	"      --json           the rows as JSON\n"
	"  -h, --help           show this help\n";

static const char *const sort_names[] = {
	[MT_SORT_TOTAL_MEMORY] = "total_memory", [MT_SORT_OWN_MEMORY] = "own_memory",
	[MT_SORT_TOTAL_COUNT] = "total_allocations", [MT_SORT_OWN_COUNT] = "own_allocations",
};

static void print_text(FILE *f, const struct mt_summary *s, uint32_t rows, const char *view,
		       const char *cwd, int width)
{
	char a[32], b[32], c[32], d[32], where[2048], line[4096];

	fprintf(f, "Per function, %s: %s in %s %s\n\n", view,
		mt_fmt_size(a, sizeof(a), s->bytes), mt_fmt_count(b, sizeof(b), s->count),
		mt_plural(s->count, "allocation", "allocations"));
	snprintf(line, sizeof(line), "%12s %12s %12s %12s  %s", "own memory", "total memory",
		 "own allocs", "total allocs", "function at file");
	mt_put_line(f, line, width);
	for (uint32_t i = 0; i < s->nrows && i < rows; i++) {
		const struct mt_func_row *r = &s->rows[i];

		char pid[32] = "";

		if (r->pid && !r->process)	/* a process's own row names it */
			snprintf(pid, sizeof(pid), " [pid %llu]", (unsigned long long)r->pid);
		snprintf(line, sizeof(line), "%12s %12s %12s %12s  %s%s%s",
			 mt_fmt_size(a, sizeof(a), r->own_bytes), mt_fmt_size(b, sizeof(b), r->total_bytes),
			 mt_fmt_count(c, sizeof(c), r->own_count), mt_fmt_count(d, sizeof(d), r->total_count),
			 mt_fmt_site(where, sizeof(where), r->function, r->file, 0, cwd),
			 r->native ? " [native]" : "", pid);
		mt_put_line(f, line, width);
	}
	if (s->nrows > rows)
		fprintf(f, "(%u more %s; -r 0 shows all)\n", s->nrows - rows,
			mt_plural(s->nrows - rows, "function", "functions"));
}

static void print_json(FILE *f, const struct mt_summary *s, uint32_t rows, const char *view)
{
	fputs("{\"view\": ", f);
	mt_json_str(f, view);
	fprintf(f, ", \"bytes\": %llu, \"count\": %llu, \"rows\": [",
		(unsigned long long)s->bytes, (unsigned long long)s->count);
	for (uint32_t i = 0; i < s->nrows && i < rows; i++) {
		const struct mt_func_row *r = &s->rows[i];

		fputs(i ? ",\n  {" : "\n  {", f);
		if (r->pid)
			fprintf(f, "\"pid\": %llu, \"process\": %s, ", (unsigned long long)r->pid,
				r->process ? "true" : "false");
		fputs("\"function\": ", f);
		mt_json_str(f, r->function);
		fputs(", \"file\": ", f);
		mt_json_str(f, r->file);
		fprintf(f, ", \"line\": 0, \"native\": %s, \"bytes\": %llu, \"count\": %llu, "
			   "\"own_bytes\": %llu, \"total_bytes\": %llu, \"own_count\": %llu, "
			   "\"total_count\": %llu}", r->native ? "true" : "false",
			(unsigned long long)r->own_bytes, (unsigned long long)r->own_count,
			(unsigned long long)r->own_bytes, (unsigned long long)r->total_bytes,
			(unsigned long long)r->own_count, (unsigned long long)r->total_count);
	}
	fputs("\n]}\n", f);
}

enum { BY_PROCESS = VOPT_OWN, NO_BY_PROCESS };

struct summary_args {
	enum mt_summary_sort sort;
	uint32_t rows;
	int by_process;
};

static int summary_option(void *ctx, int c, const char *arg)
{
	struct summary_args *sa = ctx;
	long n;

	if (c == BY_PROCESS || c == NO_BY_PROCESS) {
		sa->by_process = c == BY_PROCESS;
		return 0;
	}
	if (c == 'r') {
		if (view_number("summary", "--rows", arg, 0, UINT32_MAX, &n) < 0)
			return 2;
		sa->rows = n ? (uint32_t)n : UINT32_MAX;
		return 0;
	}
	for (int j = 0; j < 4; j++) {
		if (!strcmp(arg, sort_names[j])) {
			sa->sort = (enum mt_summary_sort)j;
			return 0;
		}
	}
	return mt_usage_error("summary", "-s needs one of total_memory, own_memory, "
			      "total_allocations, own_allocations");
}

static const char *view_words(enum mt_view v)
{
	return v == MT_VIEW_LEAKS ? "leaked" : v == MT_VIEW_TEMPORARY ? "temporary allocations" :
	       "at the peak";
}

static void print(struct view_args *a, FILE *out, const struct mt_summary *s,
		  const struct summary_args *sa, const char *view, const char *cwd)
{
	if (a->json)
		print_json(out, s, sa->rows, view_name(a->view));
	else
		print_text(out, s, sa->rows, view, cwd, view_width(a));
}

/* summary of a run's captures, each at its own peak (or leaks...). */
static int summary_many(struct view_args *a, const struct summary_args *sa, char **files,
			size_t n)
{
	struct view_many m;
	struct mt_summary *parts = mt_xcalloc(n, sizeof(*parts)), all = { 0 };
	uint64_t *pids = mt_xcalloc(n, sizeof(*pids));
	char view[96];
	FILE *out;
	int rc;

	if ((rc = view_load_many("summary", a, files, n, &m)))
		goto out;
	for (size_t i = 0; i < n; i++) {
		mt_summary_build(&parts[i], &m.rs[i], m.syms[i], a->view, a->show_all, sa->sort);
		pids[i] = m.rs[i].c.pid;
	}
	mt_summary_combine(&all, parts, pids, (const char *const *)m.labels, n, sa->by_process,
			   sa->sort);
	snprintf(view, sizeof(view), "%s of each of %zu processes, %s", view_words(a->view), n,
		 sa->by_process ? "by process" : "merged across processes");
	if ((out = view_open("summary", a))) {
		print(a, out, &all, sa, view, m.rs[0].c.cwd);
		rc = view_close(a, out);
	} else {
		rc = 1;
	}
out:
	mt_summary_release(&all);
	for (size_t i = 0; i < n; i++)
		mt_summary_release(&parts[i]);
	free(parts);
	free(pids);
	view_release_many(&m);
	return rc;
}

int cmd_summary(int argc, char **argv)
{
	struct summary_args sa = { MT_SORT_TOTAL_MEMORY, 20, 1 };
	struct view_args a;
	struct mt_replay r;
	struct mt_summary s;
	struct mt_symbols *syms;
	char **files;
	size_t n;
	FILE *out;
	int rc, dirs;

	view_init(&a);
	{
		static const struct option opts[] = {
			VIEW_LONG_OPTIONS, { "sort", required_argument, NULL, 's' },
			{ "rows", required_argument, NULL, 'r' },
			{ "by-process", no_argument, NULL, BY_PROCESS },
			{ "no-by-process", no_argument, NULL, NO_BY_PROCESS }, { 0 }
		};

		if ((rc = view_parse("summary", usage_text, argc, argv, VIEW_SHORT_OPTIONS "s:r:",
				     opts, &a, summary_option, &sa)))
			return rc < 0 ? 0 : rc;
	}
	if ((rc = view_captures(argc, argv, &files, &n, &dirs)) || n > 1 || dirs) {
		if (!rc)
			rc = summary_many(&a, &sa, files, n);
		view_captures_free(files, n);
		return rc;
	}
	a.file = n ? files[0] : NULL;
	if ((rc = view_load("summary", &a, &r))) {
		view_captures_free(files, n);
		return rc;
	}
	syms = mt_symbols_new(&r.c);
	mt_summary_build(&s, &r, syms, a.view, a.show_all, sa.sort);
	out = view_open("summary", &a);
	if (out) {
		print(&a, out, &s, &sa, view_words(a.view), r.c.cwd);
		rc = view_close(&a, out);
	} else {
		rc = 1;
	}
	mt_summary_release(&s);
	mt_symbols_free(syms);
	mt_replay_release(&r);
	view_captures_free(files, n);
	return rc;
}
