/*
 * cmd_lines.c - `memtide lines`: memory line by line inside chosen Python
 * functions, in the spirit of memory_profiler's @profile but from exact
 * allocation accounting: what each line allocated (itself or in what it
 * called), what of it was still live at the end, and what was live at the
 * functions' own peak, beside the source line.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "view.h"
#include "../analysis/lines.h"
#include "../format/xalloc.h"
#include "../report/output.h"

static const char usage_text[] =
	"usage: memtide lines [--function NAME] [--file PATH] [--min SIZE] [--json] FILE\n"
	"\n"
	"Memory line by line inside the Python functions chosen (memory_profiler's\n"
	"@profile, exact). Every allocation made while a chosen function ran is\n"
	"charged to the line that function was on (its innermost call, when it\n"
	"recurses): the line itself, or the call that led to the allocation.\n"
	"\n"
	"Columns: Allocated, bytes allocated there (a temporary counts in full);\n"
	"Net, what of it was still live when the call ended (as the capture sees\n"
	"it: when the thread next allocates outside the function, or the capture\n"
	"ends); Peak, what of it was live when the chosen functions held the most\n"
	"memory; Allocs, the number of allocations. How often a line ran is not\n"
	"recorded.\n"
	"\n"
	"  -F, --function NAME  functions named NAME\n"
	"      --file PATH      functions in PATH (a path, or its end: model.py)\n"
	"      --min SIZE       leave out lines that allocated less (e.g. 1MiB)\n"
	"      --source PATH    read the source text from PATH (e.g. a notebook\n"
	"                       cell saved to a file) instead of the function's file\n"
	"      --json           {\"function\", \"file\", \"lines\": [{\"line\",\n"
	"                       \"allocated_bytes\", \"net_bytes\", \"peak_bytes\",\n"
	"                       \"allocations\", \"source\"}]}; a list of those when\n"
	"                       several functions match\n"
	"  -o, --output FILE    write to FILE (-f to overwrite)\n"
	VIEW_WIDTH_HELP
	"  -h, --help           show this help\n";

enum { OPT_FILE = VOPT_OWN, OPT_MIN, OPT_SOURCE };

struct lines_args {
	struct mt_lines_query q;
	uint64_t min;
	const char *source;	/* --source */
};

static int own_option(void *ctx, int c, const char *arg)
{
	struct lines_args *la = ctx;

	switch (c) {
	case 'F':
		la->q.function = arg;
		return 0;
	case OPT_FILE:
		la->q.file = arg;
		return 0;
	case OPT_SOURCE:
		la->source = arg;
		return 0;
	case OPT_MIN:
		if (mt_parse_size(arg, &la->min) < 0)
			return mt_usage_error("lines", "--min: not a size: '%s' (write %s)", arg,
					      MT_SIZE_SYNTAX);
		return 0;
	}
	return mt_usage_error("lines", "unknown option");
}

/* The source file's lines, or NULL; *n set. */
static char **read_source(const char *file, const char *cwd, uint32_t *n)
{
	char path[4096], *line = NULL, **v = NULL;
	size_t cap = 0;
	FILE *f;

	*n = 0;
	if (file[0] != '/' && cwd && snprintf(path, sizeof(path), "%s/%s", cwd, file) <
	    (int)sizeof(path) && (f = fopen(path, "re")))
		;
	else if (!(f = fopen(file, "re")))
		return NULL;
	while (getline(&line, &cap, f) > 0) {
		line[strcspn(line, "\r\n")] = '\0';
		v = mt_xrealloc(v, (*n + 1) * sizeof(*v));
		v[(*n)++] = mt_xstrdup(line);
	}
	free(line);
	fclose(f);
	return v;
}

static int indent_of(const char *s)
{
	int i = 0;

	while (s[i] == ' ' || s[i] == '\t')
		i++;
	return s[i] ? i : -1;	/* -1: a blank line */
}

/* Whether s is the `def NAME` (or `async def NAME`) line. */
static int is_def(const char *s, const char *name)
{
	size_t n = strlen(name);

	s += indent_of(s) > 0 ? indent_of(s) : 0;
	if (!strncmp(s, "async ", 6))
		s += 6 + strspn(s + 6, " \t");
	if (strncmp(s, "def ", 4))
		return 0;
	s += 4 + strspn(s + 4, " \t");
	return !strncmp(s, name, n) && !isalnum((unsigned char)s[n]) && s[n] != '_';
}

/* Lines [*lo, *hi] to show: the function's whole body when its def is found. */
static void body_range(const struct mt_lines_function *fn, char **src, uint32_t nsrc,
		       unsigned *lo, unsigned *hi)
{
	int ind;

	*lo = fn->nlines ? fn->lines[0].line : 0;
	*hi = fn->nlines ? fn->lines[fn->nlines - 1].line : 0;
	if (!src || !*lo || *lo > nsrc)
		return;
	for (unsigned d = *lo; d >= 1; d--) {
		if (!is_def(src[d - 1], fn->function))
			continue;
		ind = indent_of(src[d - 1]);
		*lo = d;
		for (unsigned e = d + 1; e <= nsrc; e++) {
			int i = indent_of(src[e - 1]);

			if (i >= 0 && i <= ind)
				break;
			if (i >= 0 && e > *hi)
				*hi = e;
		}
		return;
	}
}

static const struct mt_line *find_line(const struct mt_lines_function *fn, unsigned line)
{
	for (uint32_t i = 0; i < fn->nlines; i++)
		if (fn->lines[i].line == line)
			return &fn->lines[i];
	return NULL;
}

static void print_function(FILE *f, const struct mt_replay *r, const struct mt_lines_function *fn,
			   const struct lines_args *la, int json, int width, int first)
{
	uint32_t nsrc;
	char **src = read_source(la->source ? la->source : fn->file, r->c.cwd, &nsrc);
	uint64_t min = la->min;
	unsigned lo, hi;
	char line[8192], b[4][32], site[2048], text[4096];
	int any = 0;

	body_range(fn, src, nsrc, &lo, &hi);
	if (json) {
		fputs(first ? "{\"function\": " : ",\n{\"function\": ", f);
		mt_json_str(f, fn->function);
		fputs(", \"file\": ", f);
		mt_json_str(f, fn->file);
		fprintf(f, ", \"allocated_bytes\": %llu, \"net_bytes\": %llu, \"peak_bytes\": %llu, "
			   "\"allocations\": %llu, \"lines\": [",
			(unsigned long long)fn->allocated_bytes, (unsigned long long)fn->net_bytes,
			(unsigned long long)fn->peak_bytes, (unsigned long long)fn->allocations);
	} else {
		mt_fmt_site(site, sizeof(site), fn->function, fn->file, 0, r->c.cwd);
		fprintf(f, "%s%s: %s in %s %s, %s at its peak, %s left live when its calls ended\n\n",
			first ? "" : "\n", site, mt_fmt_size(b[0], sizeof(b[0]), fn->allocated_bytes),
			mt_fmt_count(b[1], sizeof(b[1]), fn->allocations),
			mt_plural(fn->allocations, "allocation", "allocations"),
			mt_fmt_size(b[2], sizeof(b[2]), fn->peak_bytes),
			mt_fmt_size(b[3], sizeof(b[3]), fn->net_bytes));
		snprintf(line, sizeof(line), "%6s %11s %11s %11s %8s  %s", "Line #", "Allocated",
			 "Net", "Peak", "Allocs", "Line Contents");
		mt_put_line(f, line, width);
		memset(line, '=', 72);
		line[72] = '\0';
		mt_put_line(f, line, width);
	}
	for (unsigned n = lo; n && n <= hi; n++) {
		const struct mt_line *l = find_line(fn, n);
		const char *s = src && n <= nsrc ? src[n - 1] : "";

		if (!l && !src)
			continue;	/* without the source, only the lines with figures */
		if (l && l->allocated_bytes < min)
			continue;
		if (json) {
			fprintf(f, "%s\n  {\"line\": %u, \"allocated_bytes\": %llu, \"net_bytes\": %llu, "
				   "\"peak_bytes\": %llu, \"allocations\": %llu, \"source\": ",
				any++ ? "," : "", n, (unsigned long long)(l ? l->allocated_bytes : 0),
				(unsigned long long)(l ? l->net_bytes : 0),
				(unsigned long long)(l ? l->peak_bytes : 0),
				(unsigned long long)(l ? l->allocations : 0));
			mt_json_str(f, s);
			fputc('}', f);
		} else if (l) {
			snprintf(line, sizeof(line), "%6u %11s %11s %11s %8s  %s", n,
				 mt_fmt_size(b[0], sizeof(b[0]), l->allocated_bytes),
				 mt_fmt_size(b[1], sizeof(b[1]), l->net_bytes),
				 mt_fmt_size(b[2], sizeof(b[2]), l->peak_bytes),
				 mt_fmt_count(b[3], sizeof(b[3]), l->allocations),
				 mt_fmt_text(text, sizeof(text), s));
			mt_put_line(f, line, width);
		} else {
			snprintf(line, sizeof(line), "%6u %11s %11s %11s %8s  %s", n, "", "", "", "",
				 mt_fmt_text(text, sizeof(text), s));
			mt_put_line(f, line, width);
		}
	}
	if (json)
		fputs("\n]}", f);
	for (uint32_t i = 0; src && i < nsrc; i++)
		free(src[i]);
	free(src);
}

int cmd_lines(int argc, char **argv)
{
	struct view_args a;
	struct lines_args la = { { NULL, NULL }, 0, NULL };
	struct mt_replay r;
	struct mt_lines l;
	FILE *f;
	int rc;

	view_init(&a);
	{
		static const struct option opts[] = {
			VIEW_LONG_OPTIONS,
			{ "function", required_argument, NULL, 'F' },
			{ "file", required_argument, NULL, OPT_FILE },
			{ "min", required_argument, NULL, OPT_MIN },
			{ "source", required_argument, NULL, OPT_SOURCE },
			{ 0 }
		};
		const char **files[] = { &a.file };

		if ((rc = view_parse("lines", usage_text, argc, argv, VIEW_SHORT_OPTIONS "F:", opts,
				     &a, own_option, &la)) ||
		    (rc = view_files("lines", argc, argv, files, 1)))
			return rc < 0 ? 0 : rc;
	}
	if (!la.q.function && !la.q.file)
		return mt_usage_error("lines", "choose the function(s): --function NAME or --file PATH");
	mt_lines_focus(&a.replay, &la.q);
	if ((rc = view_load("lines", &a, &r)))
		return rc;
	mt_lines_collect(&r, &la.q, &l);
	if (!l.nfns) {
		char near[1024];
		const char *what = la.q.function ? la.q.function : la.q.file;
		int n = mt_lines_near(&r.c, what, !la.q.function, near, sizeof(near), 8);

		if (!r.c.npyframes || r.c.npyframes == 1)
			rc = mt_error("%s has no Python frames: `lines` reads Python functions' lines "
				      "(record with memtide run on a Python program)", a.file);
		else if (n)
			rc = mt_error("no allocation was made in %s %s; near matches: %s",
				      la.q.function ? "a function named" : "the file", what, near);
		else
			rc = mt_error("no allocation was made in %s %s", la.q.function ?
				      "a function named" : "the file", what);
		goto out;
	}
	f = view_open("lines", &a);
	if (!f) {
		rc = 1;
		goto out;
	}
	if (a.json && l.nfns > 1)
		fputc('[', f);
	for (uint32_t i = 0; i < l.nfns; i++)
		print_function(f, &r, &l.fns[i], &la, a.json, view_width(&a), i == 0);
	if (a.json)
		fputs(l.nfns > 1 ? "]\n" : "\n", f);
	else
		fprintf(f, "\nPeak of %s: %s at %.3f s into the run.\n",
			l.nfns > 1 ? "these functions together" : l.fns[0].function,
			mt_fmt_size((char[32]){ 0 }, 32, r.focus_peak_bytes),
			(double)r.focus_peak_ns / 1e9);
	rc = view_close(&a, f);
out:
	mt_lines_release(&l);
	mt_replay_release(&r);
	return rc;
}
