/*
 * cmd_diff.c - `memtide diff BASE NEW`: what grew between two captures,
 * location by location, with both captures' totals; --fail-above makes it
 * a check for CI (exit 1 when the chosen total grew more than a limit).
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "view.h"
#include "../analysis/diff.h"
#include "../report/diff_report.h"
#include "../report/output.h"

static const char usage_text[] =
	"usage: memtide diff [--peak | --total | --leaks] [--by location|function|file]\n"
	"                    [-n N] [--json] [--fail-above PCT%|SIZE] [--ignore-lines]\n"
	"                    [--show-all-frames] BASE.tide NEW.tide\n"
	"\n"
	"Compares two captures (two runs of a program, before and after a change):\n"
	"the totals of both (peak heap, total allocated, allocations, leaked, peak\n"
	"RSS, duration), then per location the measure in BASE and in NEW, the\n"
	"change and the ratio, biggest growth first; locations found in one capture\n"
	"only are marked new or gone.  Locations match across machines and library\n"
	"versions by function, file and line: the program's files relative to the\n"
	"root both captures' paths have in common (/home/a/proj/x.c and\n"
	"/builds/7/proj/x.c are proj/x.c), installed packages as site-packages/...\n"
	"(dist-packages too), Python's standard library as <stdlib>/....\n"
	"\n"
	"      --peak           what was live at the peak of the heap (default)\n"
	"      --total          everything allocated over the run\n"
	"      --leaks          what was still allocated at the end\n"
	"      --by WHAT        location (function, file and line; default),\n"
	"                       function (function and file), or file\n"
	"      --ignore-lines   match locations by function and file only, for\n"
	"                       files edited between the runs\n"
	"  -n, --top N          show the N biggest changes (default 10; 0: all)\n"
	"      --json           one JSON object: {\"base\": {totals}, \"new\": {totals},\n"
	"                       \"locations\": [...]}\n"
	"      --fail-above LIMIT\n"
	"                       exit with status 1 when the measure's total (the\n"
	"                       peak heap, total allocated or leaked) grew by more\n"
	"                       than LIMIT: a percentage of BASE's (5%) or a size\n"
	"                       (10MB = 10,000,000 B, 10MiB = 10,485,760 B)\n"
	"  -o, --output FILE    write the report to FILE (-f to overwrite)\n"
	VIEW_WIDTH_HELP
	SHOW_ALL_FRAMES_HELP("                       ")
	"  -h, --help           show this help\n";

enum { OPT_PEAK = VOPT_OWN, OPT_TOTAL, OPT_BY, OPT_IGNORE_LINES, OPT_FAIL_ABOVE };

struct diff_args {
	struct mt_diff_opts o;
	int measures;			/* --peak, --total (and --leaks) given */
	long top;
	const char *fail_above;		/* as given */
	int fail_pct;			/* the limit is a percentage ... */
	double pct;
	uint64_t size;			/* ... or a size */
};

static int parse_limit(struct diff_args *d, const char *arg)
{
	size_t n = strlen(arg);

	d->fail_above = arg;
	if (n > 1 && arg[n - 1] == '%') {
		char *end;

		d->fail_pct = 1;
		d->pct = strtod(arg, &end);
		if (end == arg || end != arg + n - 1 || !(d->pct >= 0 && d->pct <= 1e12) ||
		    arg[0] < '0' || arg[0] > '9')
			return -1;
		return 0;
	}
	return mt_parse_size(arg, &d->size);
}

static int diff_option(void *ctx, int c, const char *arg)
{
	struct diff_args *d = ctx;

	switch (c) {
	case OPT_PEAK:
	case OPT_TOTAL:
		d->o.measure = c == OPT_PEAK ? MT_DIFF_PEAK : MT_DIFF_TOTAL;
		d->measures++;
		break;
	case OPT_BY:
		if (!strcmp(arg, "location"))
			d->o.by = MT_DIFF_BY_LOCATION;
		else if (!strcmp(arg, "function"))
			d->o.by = MT_DIFF_BY_FUNCTION;
		else if (!strcmp(arg, "file"))
			d->o.by = MT_DIFF_BY_FILE;
		else
			return mt_usage_error("diff", "--by takes location, function or file, "
					      "not '%s'", arg);
		break;
	case OPT_IGNORE_LINES:
		d->o.ignore_lines = 1;
		break;
	case OPT_FAIL_ABOVE:
		if (parse_limit(d, arg) < 0)
			return mt_usage_error("diff", "--fail-above takes a percentage (5%%) or a "
					      "size (10MB, 10MiB, 1048576), not '%s'", arg);
		break;
	case 'n':
		if (view_number("diff", "--top", arg, 0, 100000000L, &d->top) < 0)
			return 2;
		break;
	}
	return 0;
}

/* Prints whether the measure's total grew more than the limit; 1 if it did. */
static int check_limit(const struct diff_args *d, const struct mt_replay *base,
		       const struct mt_replay *new)
{
	uint64_t a = mt_diff_total(base, d->o.measure), b = mt_diff_total(new, d->o.measure);
	uint64_t grew = b > a ? b - a : 0;
	int over;
	char s[32], pct[32];

	if (d->fail_pct)
		over = grew && (!a || (double)grew * 100 > d->pct * (double)a);
	else
		over = grew > d->size;
	if (a)
		snprintf(pct, sizeof(pct), " (%+.2f%%)", ((double)b - (double)a) * 100 / (double)a);
	else
		snprintf(pct, sizeof(pct), "%s", b ? " (from nothing)" : "");
	fprintf(stderr, "memtide: %s %s by %s%s, %s the limit of %s\n",
		mt_diff_measure_name(d->o.measure), b >= a ? "grew" : "fell",
		mt_fmt_size(s, sizeof(s), b >= a ? grew : a - b), pct,
		over ? "above" : "within", d->fail_above);
	return over;
}

int cmd_diff(int argc, char **argv)
{
	static const struct option opts[] = {
		VIEW_LONG_OPTIONS,
		{ "peak", no_argument, NULL, OPT_PEAK },
		{ "total", no_argument, NULL, OPT_TOTAL },
		{ "by", required_argument, NULL, OPT_BY },
		{ "ignore-lines", no_argument, NULL, OPT_IGNORE_LINES },
		{ "fail-above", required_argument, NULL, OPT_FAIL_ABOVE },
		{ "top", required_argument, NULL, 'n' },
		{ 0 }
	};
	struct diff_args d = { .top = 10 };
	struct view_args a;
	const char *base_file = NULL, *new_file = NULL, **files[] = { &base_file, &new_file };
	struct mt_replay base, new;
	struct mt_diff diff;
	struct mt_diff_report rep;
	FILE *f;
	int rc;

	view_init(&a);
	if ((rc = view_parse("diff", usage_text, argc, argv, VIEW_SHORT_OPTIONS "n:", opts, &a,
			     diff_option, &d)))
		return rc < 0 ? 0 : rc;
	if (argc - optind != 2)
		return mt_usage_error("diff", "needs two captures, BASE.tide NEW.tide (%d given)",
				      argc - optind);
	if ((rc = view_files("diff", argc, argv, files, 2)))
		return rc;
	if (a.view == MT_VIEW_TEMPORARY)
		return mt_usage_error("diff", "--temporary-allocations is not a measure of diff "
				      "(--peak, --total or --leaks)");
	if (a.view == MT_VIEW_LEAKS) {
		d.o.measure = MT_DIFF_LEAKS;
		d.measures++;
	}
	if (d.measures > 1)
		return mt_usage_error("diff", "one measure at a time: --peak, --total or --leaks");
	if (d.o.ignore_lines && d.o.by != MT_DIFF_BY_LOCATION)
		return mt_usage_error("diff", "--ignore-lines goes with --by location: "
				      "functions and files have no lines");
	d.o.show_all = a.show_all;

	a.file = base_file;
	if ((rc = view_load("diff", &a, &base)))
		return rc;
	a.file = new_file;
	if ((rc = view_load("diff", &a, &new))) {
		mt_replay_release(&base);
		return rc;
	}
	mt_diff_run(&base, &new, &d.o, &diff);
	rep = (struct mt_diff_report){ &base, &new, &diff, &d.o, (uint32_t)d.top, view_width(&a) };
	f = view_open("diff", &a);
	if (!f) {
		rc = 1;
	} else {
		if (a.json)
			mt_diff_print_json(f, &rep);
		else
			mt_diff_print_text(f, &rep);
		rc = view_close(&a, f);
	}
	if (!rc && d.fail_above && check_limit(&d, &base, &new))
		rc = 1;
	mt_diff_release(&diff);
	mt_replay_release(&base);
	mt_replay_release(&new);
	return rc;
}
