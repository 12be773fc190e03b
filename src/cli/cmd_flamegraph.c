/*
 * cmd_flamegraph.c - `memtide flamegraph` and `memtide table`: the HTML
 * reports, one self-contained file each that works offline.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "view.h"
#include "web/assets.h"
#include "../analysis/symbols.h"
#include "../format/xalloc.h"
#include "../report/html.h"

#define TEMPORAL_BUCKETS 400

static const char flamegraph_usage[] =
	"usage: memtide flamegraph [options] FILE | FILE... | DIR\n"
	"\n"
	"Writes an HTML flame graph of the memory live at the peak (or leaked, or\n"
	"temporary), with a chart of heap size and RSS over the whole run.  The\n"
	"page works offline; in it, frames zoom on click, a search box finds\n"
	"functions, and filters hide import machinery or show Python or native\n"
	"frames only.\n"
	"\n"
	"      --temporal       select a time range on the chart to see the peak\n"
	"                       within that range\n"
	"      --inverted       start from the allocating functions (icicle of callers)\n"
	"      --split-threads  one branch per thread\n"
	"      --max-stacks N   merge all but the N-1 biggest stacks (default 20000)\n"
	VIEW_OPTIONS_HELP
	"  -h, --help           show this help\n"
	"\n"
	"Several captures of one run (--follow-fork, --follow-exec), or a\n"
	"directory of them, make one page: each process at its own peak (or its\n"
	"leaks...) under a frame naming it, the chart the run's heap and RSS\n"
	"summed on the clock (not --temporal).\n"
	"\n"
	"Without -o the page is memtide-flamegraph-<capture>.html; -o - writes it\n"
	"to standard output.\n";

static const char table_usage[] =
	"usage: memtide table [options] FILE | FILE... | DIR\n"
	"\n"
	"Writes an HTML table of the allocation sites live at the peak (or leaked,\n"
	"or temporary): size, count, thread and allocator of each, sortable and\n"
	"filterable, the full stack on click.\n"
	"\n"
	"      --max-stacks N   merge all but the N-1 biggest stacks (default 20000)\n"
	VIEW_OPTIONS_HELP
	"  -h, --help           show this help\n"
	"\n"
	"Several captures of one run, or a directory of them, make one table, each\n"
	"stack starting with the process that made it.\n"
	"\n"
	"Without -o the page is memtide-table-<capture>.html; -o - writes it to\n"
	"standard output.\n";

/* --temporal, --inverted, --split-threads, --max-stacks, in that order. */
static int html_option(void *ctx, int c, const char *arg)
{
	struct mt_html_opts *o = ctx;
	long n;

	switch (c - VOPT_OWN) {
	case 0:
		o->temporal = 1;
		break;
	case 1:
		o->inverted = 1;
		break;
	case 2:
		o->split_threads = 1;
		break;
	default:
		if (view_number("flamegraph", "--max-stacks", arg, 2, 10000000, &n) < 0)
			return 2;
		o->max_stacks = (uint32_t)n;
	}
	return 0;
}

/* The page of a run's several captures. */
static int html_many(const char *cmd, struct view_args *a, struct mt_html_opts *o,
		     char **files, size_t n)
{
	int table = !strcmp(cmd, "table"), rc;
	struct mt_html_source *src = mt_xcalloc(n, sizeof(*src));
	struct view_many m;
	char out[4096], title[512];
	FILE *f;

	if (o->temporal) {
		free(src);
		return mt_usage_error(cmd, "--temporal reads one capture at a time");
	}
	if ((rc = view_load_many(cmd, a, files, n, &m)))
		goto done;
	a->file = files[0];
	view_default_output(a, cmd, "html", out, sizeof(out));
	for (size_t k = 0; k < n; k++) {
		size_t i = m.pt.order[k];

		src[k] = (struct mt_html_source){ &m.rs[i], m.syms[i], m.labels[i] };
	}
	o->view = a->view;
	o->show_all = a->show_all;
	snprintf(title, sizeof(title), "memtide %s: %zu processes of %s", cmd, n,
		 m.rs[m.pt.order[0]].c.command ? m.rs[m.pt.order[0]].c.command : files[0]);
	o->title = title;
	if ((f = view_open(cmd, a))) {
		if (mt_html_write_many(f, table ? mt_asset_table_html : mt_asset_flamegraph_html,
				       src, n, &m.pt, o) < 0)
			rc = mt_error("the embedded page template is broken (rebuild memtide)");
		rc = view_close(a, f) || rc;
		if (!rc)
			view_wrote(a);
	} else {
		rc = 1;
	}
done:
	view_release_many(&m);
	free(src);
	return rc;
}

static int html_report(const char *cmd, int argc, char **argv)
{
	int table = !strcmp(cmd, "table"), rc;
	struct mt_html_opts o = { 0 };
	struct view_args a;
	struct mt_replay r;
	struct mt_symbols *syms;
	char out[4096], title[512], path[4096];
	FILE *f;

	view_init(&a);
	{
		enum { TEMPORAL = VOPT_OWN, INVERTED, SPLIT_THREADS, MAX_STACKS };
		static const struct option flamegraph_opts[] = {
			VIEW_LONG_OPTIONS, { "temporal", no_argument, NULL, TEMPORAL },
			{ "inverted", no_argument, NULL, INVERTED },
			{ "split-threads", no_argument, NULL, SPLIT_THREADS },
			{ "max-stacks", required_argument, NULL, MAX_STACKS }, { 0 }
		}, table_opts[] = {
			VIEW_LONG_OPTIONS, { "max-stacks", required_argument, NULL, MAX_STACKS },
			{ 0 }
		};

		if ((rc = view_parse(cmd, table ? table_usage : flamegraph_usage, argc, argv,
				     VIEW_SHORT_OPTIONS, table ? table_opts : flamegraph_opts, &a,
				     html_option, &o)))
			return rc < 0 ? 0 : rc;
	}
	if (a.json)
		return mt_usage_error(cmd, "--json is not an option of %s", cmd);
	{
		char **files;
		size_t n;
		int dirs;

		if ((rc = view_captures(argc, argv, &files, &n, &dirs)) || n > 1 || dirs) {
			if (!rc)
				rc = html_many(cmd, &a, &o, files, n);
			view_captures_free(files, n);
			return rc;
		}
		if (n)
			snprintf(path, sizeof(path), "%s", files[0]);
		a.file = n ? path : NULL;
		view_captures_free(files, n);
	}
	view_default_output(&a, cmd, "html", out, sizeof(out));
	if (o.temporal)
		a.replay.buckets = TEMPORAL_BUCKETS;
	if ((rc = view_load(cmd, &a, &r)))
		return rc;
	o.view = a.view;
	o.show_all = a.show_all;
	snprintf(title, sizeof(title), "memtide %s: %s", cmd, r.c.command ? r.c.command : a.file);
	o.title = title;
	syms = mt_symbols_new(&r.c);
	f = view_open(cmd, &a);
	if (f) {
		if (mt_html_write(f, table ? mt_asset_table_html : mt_asset_flamegraph_html,
				  &r, syms, &o) < 0)
			rc = mt_error("the embedded page template is broken (rebuild memtide)");
		rc = view_close(&a, f) || rc;
		if (!rc)
			view_wrote(&a);
	} else {
		rc = 1;
	}
	mt_symbols_free(syms);
	mt_replay_release(&r);
	return rc;
}

int cmd_flamegraph(int argc, char **argv)
{
	return html_report("flamegraph", argc, argv);
}

int cmd_table(int argc, char **argv)
{
	return html_report("table", argc, argv);
}
