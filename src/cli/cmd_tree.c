/*
 * cmd_tree.c - `memtide tree`: the call tree of the memory live at the
 * peak (or leaked, or temporary), biggest branches first.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "view.h"
#include "../analysis/symbols.h"
#include "../report/output.h"
#include "../report/tree_report.h"

static const char usage_text[] =
	"usage: memtide tree [-b N] [--leaks|--temporary-allocations] [--json] FILE\n"
	"\n"
	"The call tree of the memory live at the peak of the heap: every branch\n"
	"with its bytes, share and number of allocations, biggest first.\n"
	"\n"
	"  -b, --biggest N      keep the N biggest allocation sites (default 10; 0: all)\n"
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

static int tree_option(void *ctx, int c, const char *arg)
{
	struct mt_calltree_opts *o = ctx;
	long n;

	(void)c;	/* -b, the only one */
	if (view_number("tree", "--biggest", arg, 0, UINT32_MAX, &n) < 0)
		return 2;
	o->biggest = (uint32_t)n;
	return 0;
}

int cmd_tree(int argc, char **argv)
{
	struct mt_calltree_opts o = { .biggest = 10 };
	struct view_args a;
	struct mt_replay r;
	struct mt_calltree t;
	struct mt_symbols *syms;
	char title[768], size[32], count[32];
	FILE *out;
	int rc;

	view_init(&a);
	{
		static const struct option opts[] = {
			VIEW_LONG_OPTIONS, { "biggest", required_argument, NULL, 'b' }, { 0 }
		};
		const char **files[] = { &a.file };

		if ((rc = view_parse("tree", usage_text, argc, argv, VIEW_SHORT_OPTIONS "b:", opts,
				     &a, tree_option, &o)) ||
		    (rc = view_files("tree", argc, argv, files, 1)))
			return rc < 0 ? 0 : rc;
	}
	if ((rc = view_load("tree", &a, &r)))
		return rc;
	o.view = a.view;
	o.show_hidden = a.show_all;
	syms = mt_symbols_new(&r.c);
	mt_calltree_build(&t, &r, syms, &o);
	out = view_open("tree", &a);
	if (out) {
		if (a.json) {
			mt_tree_print_json(out, &t, view_name(a.view));
		} else {
			snprintf(title, sizeof(title), "%s: %s in %s %s%s%s",
				 a.view == MT_VIEW_LEAKS ? "Leaked (live at the end)" :
				 a.view == MT_VIEW_TEMPORARY ? "Temporary allocations" :
				 "Live at the peak of the heap",
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
	return rc;
}
