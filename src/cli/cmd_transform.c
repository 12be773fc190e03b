/*
 * cmd_transform.c - `memtide transform FORMAT FILE`: exports a view of a
 * capture for other tools.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "view.h"
#include "../analysis/symbols.h"
#include "../report/export.h"

static const char usage_text[] =
	"usage: memtide transform {gprof2dot,csv,speedscope} [options] FILE\n"
	"\n"
	"Exports the memory live at the peak (or leaked, or temporary) for other\n"
	"tools, one entry per stack:\n"
	"  gprof2dot    JSON for gprof2dot -f json (then: dot -Tpng)\n"
	"  csv          allocator,num_allocations,size,tid,thread_name,stack_trace\n"
	"               with the stack innermost first, frames 'function;file;line'\n"
	"               joined by '|'\n"
	"  speedscope   a speedscope profile (https://www.speedscope.app)\n"
	"\n"
	"Without -o the export is memtide-FORMAT-<capture>.json (.csv for csv);\n"
	"-o - writes it to standard output.\n"
	"\n"
	VIEW_OPTIONS_HELP
	"  -h, --help           show this help\n";

int cmd_transform(int argc, char **argv)
{
	static const char *const names[] = { "gprof2dot", "csv", "speedscope" };
	int fmt = -1, rc;
	struct view_args a;
	struct mt_replay r;
	struct mt_symbols *syms;
	FILE *out;
	char path[4096];

	view_init(&a);
	{
		static const struct option opts[] = { VIEW_LONG_OPTIONS, { 0 } };
		const char *format = NULL, **files[] = { &format, &a.file };

		if ((rc = view_parse("transform", usage_text, argc, argv, VIEW_SHORT_OPTIONS, opts,
				     &a, NULL, NULL)) ||
		    (rc = view_files("transform", argc, argv, files, 2)))
			return rc < 0 ? 0 : rc;
		for (int j = 0; format && j < 3; j++)
			if (!strcmp(format, names[j]))
				fmt = j;
		if (format && fmt < 0)
			return mt_usage_error("transform", "unknown format '%s' "
					      "(gprof2dot, csv or speedscope)", format);
	}
	if (fmt < 0)
		return mt_usage_error("transform", "no format given");
	if (a.json)
		return mt_usage_error("transform", "--json is not an option of transform");
	view_default_output(&a, names[fmt], fmt == MT_EXPORT_CSV ? "csv" : "json", path,
			    sizeof(path));
	if ((rc = view_load("transform", &a, &r)))
		return rc;
	syms = mt_symbols_new(&r.c);
	out = view_open("transform", &a);
	if (out) {
		mt_export(out, (enum mt_export_format)fmt, &r, syms, a.view, a.show_all);
		rc = view_close(&a, out);
		if (!rc)
			view_wrote(&a);
	} else {
		rc = 1;
	}
	mt_symbols_free(syms);
	mt_replay_release(&r);
	return rc;
}
