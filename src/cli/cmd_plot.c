/*
 * cmd_plot.c - `memtide plot`: heap and/or RSS over time of one or more
 * captures, overlaid, as a PNG, SVG or PDF picture or an interactive HTML
 * page (src/report/plot.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "view.h"
#include "web/assets.h"
#include "../format/xalloc.h"
#include "../report/output.h"
#include "../report/plot.h"

#define MAX_LABEL 512

static const char usage_text[] =
	"usage: memtide plot [options] FILE [FILE...]\n"
	"\n"
	"Draws memory over time, one line per capture, in seconds from the start\n"
	"of each run: each run's peak is marked and labelled, its steps\n"
	"(memtide.step) shaded and named.  Several captures overlay, named in the\n"
	"legend by their command (by their file when commands repeat).\n"
	"\n"
	"      --heap           the heap: every live byte of every allocator, as the\n"
	"                       reports count it (the default)\n"
	"      --rss            the resident set size, sampled every 10 ms\n"
	"      --both           both: the heap solid, the RSS dashed\n"
	"      --steps          shade and name the steps (the default when a capture\n"
	"                       has some)\n"
	"      --no-steps       do not\n"
	"      --title TEXT     the title (default: \"Heap over time\" ...)\n"
	"      --include-file-mappings\n"
	"                       count file-backed mmaps as heap too\n"
	"  -o, --output FILE    FILE.png, FILE.svg, FILE.pdf or FILE.html (an\n"
	"                       interactive page); - for standard output\n"
	"      --format FMT     png, svg, pdf or html, whatever FILE's name (with -o -:\n"
	"                       png unless given)\n"
	"  -f, --force          overwrite FILE if it exists\n"
	"  -h, --help           show this help\n"
	"\n"
	"Without -o the picture is memtide-plot-<first capture>.png.\n";

struct plot_args {
	struct mt_plot_opts o;
	int steps;		/* -1: when a capture has steps */
	const char *format;	/* --format */
};

/* --heap, --rss, --both, --steps, --no-steps, --title, --format, in that order. */
static int plot_option(void *ctx, int c, const char *arg)
{
	struct plot_args *pa = ctx;

	switch (c - VOPT_OWN) {
	case 0: pa->o.series = MT_PLOT_HEAP; break;
	case 1: pa->o.series = MT_PLOT_RSS; break;
	case 2: pa->o.series = MT_PLOT_HEAP | MT_PLOT_RSS; break;
	case 3: pa->steps = 1; break;
	case 4: pa->steps = 0; break;
	case 5: pa->o.title = arg; break;
	default: pa->format = arg;
	}
	return 0;
}

static const char *const formats[] = { "png", "svg", "pdf", "html" };

static int format_named(const char *name)
{
	for (int i = 0; i < 4; i++)
		if (!strcasecmp(name, formats[i]))
			return i;
	return -1;
}

/* The output's format: --format, else its extension; -1 after an error. */
static int output_format(const char *output, const char *format)
{
	const char *base = strrchr(output, '/'), *dot;
	int by_name = -1, fmt;

	base = base ? base + 1 : output;
	dot = strrchr(base, '.');
	if (dot && dot != base)
		by_name = format_named(dot + 1);
	if (format) {
		fmt = format_named(format);
		if (fmt < 0)
			return mt_usage_error("plot", "unknown format '%s' (png, svg, pdf or html)", format),
			       -1;
		if (by_name >= 0 && by_name != fmt)
			return mt_usage_error("plot", "--format %s does not match the name '%s'",
					      formats[fmt], output), -1;
		return fmt;
	}
	if (!strcmp(output, "-"))
		return MT_PLOT_PNG;
	if (by_name < 0)
		return mt_usage_error("plot", "cannot tell the format of '%s': name it .png, .svg, .pdf "
				      "or .html (or give --format)", output), -1;
	return by_name;
}

/* Legend names: commands when they differ, else the files' names. */
static void label_runs(struct mt_replay *r, char (*labels)[MAX_LABEL], char **files, int n)
{
	int by_file = 0;

	for (int i = 0; i < n && !by_file; i++)
		for (int j = 0; j < i; j++)
			if (!r[i].c.command || !r[j].c.command || !strcmp(r[i].c.command, r[j].c.command))
				by_file = 1;
	for (int i = 0; i < n; i++) {
		char safe[MAX_LABEL - 32];

		mt_fmt_text(safe, sizeof(safe), by_file || !r[i].c.command ? files[i] : r[i].c.command);
		snprintf(labels[i], MAX_LABEL, "%s%s%s", safe, r[i].c.sample_rate ? " [sampled]" : "",
			 r[i].c.truncated ? " [truncated]" : "");
	}
}

/* A capture cut before its command (truncated) is not told apart. */
static void note_programs(struct mt_replay *r, int n)
{
	char first[256], other[256];
	int i = 0;

	while (i < n && !r[i].c.command)
		i++;
	if (i == n)
		return;
	mt_capture_program(&r[i].c, first, sizeof(first));
	for (i++; i < n; i++) {
		if (!r[i].c.command)
			continue;
		mt_capture_program(&r[i].c, other, sizeof(other));
		if (strcmp(first, other)) {
			char a[300], b[300];

			fprintf(stderr, "memtide: note: the captures are of different programs (%s, %s): "
				"drawn together as asked\n", mt_fmt_text(a, sizeof(a), first),
				mt_fmt_text(b, sizeof(b), other));
			return;
		}
	}
}

int cmd_plot(int argc, char **argv)
{
	enum { HEAP = VOPT_OWN, RSS, BOTH, STEPS, NO_STEPS, TITLE, FORMAT };
	static const struct option opts[] = {
		{ "heap", no_argument, NULL, HEAP }, { "rss", no_argument, NULL, RSS },
		{ "both", no_argument, NULL, BOTH }, { "steps", no_argument, NULL, STEPS },
		{ "no-steps", no_argument, NULL, NO_STEPS }, { "title", required_argument, NULL, TITLE },
		{ "format", required_argument, NULL, FORMAT },
		{ "include-file-mappings", no_argument, NULL, VOPT_FILE_MAPPINGS },
		{ "output", required_argument, NULL, 'o' }, { "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' }, { 0 }
	};
	struct plot_args pa = { .o = { .series = MT_PLOT_HEAP }, .steps = -1 };
	struct view_args a;
	struct mt_replay *r;
	struct mt_plot_run *runs;
	char (*labels)[MAX_LABEL];
	char out[4096], title[MAX_LABEL], err[512];
	int rc, n, fmt, loaded = 0;
	struct stat sb;
	FILE *f;

	view_init(&a);
	if ((rc = view_parse("plot", usage_text, argc, argv, ":o:fh", opts, &a, plot_option, &pa)))
		return rc < 0 ? 0 : rc;
	n = argc - optind;
	if (n <= 0)
		return mt_usage_error("plot", "no capture file given");
	a.file = argv[optind];
	view_default_output(&a, "plot", pa.format ? pa.format : "png", out, sizeof(out));
	if ((fmt = output_format(a.output, pa.format)) < 0)
		return 2;
	if (!strcmp(a.output, "-") && fmt != MT_PLOT_SVG && fmt != MT_PLOT_HTML &&
	    isatty(STDOUT_FILENO))
		return mt_error("will not write a %s to a terminal: give -o FILE, or redirect",
				formats[fmt]);
	if (strcmp(a.output, "-") && !a.force && stat(a.output, &sb) == 0)
		return mt_error("'%s' already exists (use -f to overwrite it)", a.output);

	r = mt_xcalloc((size_t)n, sizeof(*r));
	runs = mt_xcalloc((size_t)n, sizeof(*runs));
	labels = mt_xcalloc((size_t)n, sizeof(*labels));
	rc = 0;
	for (; loaded < n; loaded++) {
		if (mt_replay_run(argv[optind + loaded], &a.replay, &r[loaded], err, sizeof(err)) < 0) {
			rc = mt_error("%s", err);
			loaded++;
			goto out;
		}
	}
	note_programs(r, n);
	label_runs(r, labels, argv + optind, n);
	for (int i = 0; i < n; i++) {
		char name[1024];

		runs[i] = (struct mt_plot_run){ &r[i], labels[i] };
		if (r[i].c.truncated)
			fprintf(stderr, "memtide: note: '%s' is truncated (%s): drawn up to where it ends\n",
				mt_fmt_text(name, sizeof(name), argv[optind + i]),
				mt_truncation_reason(r[i].c.truncation));
		if (r[i].c.sample_rate) {
			char note[96];

			fprintf(stderr, "memtide: note: '%s': %s\n",
				mt_fmt_text(name, sizeof(name), argv[optind + i]),
				mt_fmt_sampled(note, sizeof(note), r[i].c.sample_rate));
		}
		if (pa.steps < 0 && r[i].nsteps)
			pa.o.steps = 1;
	}
	if (pa.steps >= 0)
		pa.o.steps = pa.steps;
	if (!pa.o.title) {
		snprintf(title, sizeof(title), "%s over time",
			 pa.o.series == MT_PLOT_RSS ? "RSS" : pa.o.series == MT_PLOT_HEAP ? "Heap" :
			 "Heap and RSS");
		pa.o.title = title;
	} else {
		pa.o.title = mt_fmt_text(title, sizeof(title), pa.o.title);
	}

	f = view_open("plot", &a);
	if (!f) {
		rc = 1;
		goto out;
	}
	if (fmt == MT_PLOT_HTML) {
		if (mt_plot_html(f, mt_asset_plot_html, runs, n, &pa.o) < 0)
			rc = mt_error("the embedded page template is broken (rebuild memtide)");
	} else if (mt_plot_draw(f, fmt, runs, n, &pa.o, err, sizeof(err)) < 0) {
		rc = mt_error("%s", err);
	}
	rc = view_close(&a, f) || rc;
	if (rc && strcmp(a.output, "-"))
		unlink(a.output);	/* no half-written picture */
	else if (!rc)
		view_wrote(&a);
out:
	for (int i = 0; i < loaded; i++)
		mt_replay_release(&r[i]);
	free(r);
	free(runs);
	free(labels);
	return rc;
}
