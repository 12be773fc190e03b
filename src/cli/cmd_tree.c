/*
 * cmd_tree.c - `memtide tree`: the call tree of the memory live at the
 * peak (or leaked, or temporary), biggest branches first; of several
 * captures of one run (or a directory), each at its own peak, under a
 * root per process or merged across processes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "view.h"
#include "../analysis/symbols.h"
#include "../format/xalloc.h"
#include "../report/output.h"
#include "../report/tree_report.h"

static const char usage_text[] =
	"usage: memtide tree [-b N] [--leaks|--temporary-allocations] [--json] FILE\n"
	"       memtide tree [options] [--no-by-process] FILE...|DIR\n"
	"\n"
	"The call tree of the memory live at the peak of the heap: every branch\n"
	"with its bytes, share and number of allocations, biggest first.  Of\n"
	"several captures of one run (--follow-fork, --follow-exec), or a directory\n"
	"of them: each process's tree at its own peak, under a root per process.\n"
	"\n"
	"  -b, --biggest N      keep the N biggest allocation sites (default 10; 0: all;\n"
	"                       per process)\n"
	"      --by-process     several captures: a root per process (the default)\n"
	"      --no-by-process  several captures: stacks merged across processes\n"
	VIEW_OPTIONS_HELP
	VIEW_WIDTH_HELP
	"      --json           the tree as JSON\n"
	"  -h, --help           show this help\n";

/* What "leaked" means for a Python program, after the title. */
static void leaks_note(char *title, size_t cap, const struct mt_usage *arenas)
{
	size_t len = strlen(title);
	char size[32], count[32];

	len += (size_t)snprintf(title + len, cap - len,
		"\nFor Python, leaked means still allocated after the interpreter shut down:"
		"\nwhat the program still held at exit was freed then and is not shown.");
	if (arenas->count && len < cap)
		snprintf(title + len, cap - len, "\nNot shown either: %s pymalloc arenas (%s) that "
			 "Python keeps until it exits\n(--show-all-frames shows them).",
			 mt_fmt_count(count, sizeof(count), arenas->count),
			 mt_fmt_size(size, sizeof(size), arenas->bytes));
}

enum { BY_PROCESS = VOPT_OWN, NO_BY_PROCESS };

struct tree_args {
	struct mt_calltree_opts o;
	int by_process;
};

static int tree_option(void *ctx, int c, const char *arg)
{
	struct tree_args *t = ctx;
	long n;

	if (c == BY_PROCESS || c == NO_BY_PROCESS) {
		t->by_process = c == BY_PROCESS;
		return 0;
	}
	if (view_number("tree", "--biggest", arg, 0, UINT32_MAX, &n) < 0)
		return 2;
	t->o.biggest = (uint32_t)n;
	return 0;
}

static const char *view_title(enum mt_view v)
{
	return v == MT_VIEW_LEAKS ? "Leaked (live at the end)" :
	       v == MT_VIEW_TEMPORARY ? "Temporary allocations" : "Live at the peak of the heap";
}

/*
 * The trees of a run's captures, each at its own peak (or leaks...), in
 * one: under a frame per process ("[pid] command") or merged.
 */
static int tree_many(struct view_args *a, const struct tree_args *ta, char **files, size_t n)
{
	struct view_many m;
	struct mt_calltree all = { 0 }, one;
	char title[768], size[32], count[32];
	FILE *out;
	int rc;

	if ((rc = view_load_many("tree", a, files, n, &m)))
		goto out;
	for (size_t k = 0; k < n; k++) {
		size_t i = m.pt.order[k];
		struct mt_dframe root = { .function = m.labels[i], .file = "" };

		mt_calltree_build(&one, &m.rs[i], m.syms[i], &ta->o);
		mt_calltree_graft(&all, ta->by_process ? &root : NULL, &one);
		mt_calltree_release(&one);
	}
	if (!(out = view_open("tree", a))) {
		rc = 1;
		goto out;
	}
	if (a->json) {
		mt_tree_print_json(out, &all, view_name(a->view));
	} else {
		snprintf(title, sizeof(title), "%s of each of %zu processes: %s in %s %s, %s%s%s",
			 view_title(a->view), n, mt_fmt_size(size, sizeof(size), all.total_bytes),
			 mt_fmt_count(count, sizeof(count), all.total_count),
			 mt_plural(all.total_count, "allocation", "allocations"),
			 ta->by_process ? "by process" : "merged across processes",
			 ta->o.biggest ? ", biggest allocation sites only" : "",
			 m.truncated ? " (truncated captures)" : "");
		mt_tree_print_text(out, &all, title, m.rs[0].c.cwd, view_width(a));
	}
	rc = view_close(a, out);
out:
	mt_calltree_release(&all);
	view_release_many(&m);
	return rc;
}

int cmd_tree(int argc, char **argv)
{
	struct tree_args ta = { .o = { .biggest = 10 }, .by_process = 1 };
	struct mt_calltree_opts o;
	struct view_args a;
	struct mt_replay r;
	struct mt_calltree t;
	struct mt_symbols *syms;
	char title[768], size[32], count[32], **files;
	size_t n;
	FILE *out;
	int rc, dirs;

	view_init(&a);
	{
		static const struct option opts[] = {
			VIEW_LONG_OPTIONS, { "biggest", required_argument, NULL, 'b' },
			{ "by-process", no_argument, NULL, BY_PROCESS },
			{ "no-by-process", no_argument, NULL, NO_BY_PROCESS }, { 0 }
		};

		if ((rc = view_parse("tree", usage_text, argc, argv, VIEW_SHORT_OPTIONS "b:", opts,
				     &a, tree_option, &ta)))
			return rc < 0 ? 0 : rc;
	}
	ta.o.view = a.view;
	ta.o.show_hidden = a.show_all;
	o = ta.o;
	if ((rc = view_captures(argc, argv, &files, &n, &dirs)) || n > 1 || dirs) {
		if (!rc)
			rc = tree_many(&a, &ta, files, n);
		view_captures_free(files, n);
		return rc;
	}
	a.file = n ? files[0] : NULL;
	if ((rc = view_load("tree", &a, &r))) {
		view_captures_free(files, n);
		return rc;
	}
	syms = mt_symbols_new(&r.c);
	mt_calltree_build(&t, &r, syms, &o);
	out = view_open("tree", &a);
	if (out) {
		if (a.json) {
			mt_tree_print_json(out, &t, view_name(a.view));
		} else {
			snprintf(title, sizeof(title), "%s: %s in %s %s%s%s", view_title(a.view),
				 mt_fmt_size(size, sizeof(size), t.total_bytes),
				 mt_fmt_count(count, sizeof(count), t.total_count),
				 mt_plural(t.total_count, "allocation", "allocations"),
				 o.biggest ? ", biggest allocation sites only" : "",
				 r.c.truncated ? " (truncated capture)" : "");
			if (a.view == MT_VIEW_LEAKS && r.c.python)
				leaks_note(title, sizeof(title), &a.arenas);
			mt_tree_print_text(out, &t, title, r.c.cwd, view_width(&a));
		}
		rc = view_close(&a, out);
	} else {
		rc = 1;
	}
	mt_calltree_release(&t);
	mt_symbols_free(syms);
	mt_replay_release(&r);
	view_captures_free(files, n);
	return rc;
}
