/*
 * cmd_steps.c - `memtide steps`: the per-step table of a pipeline marked
 * with memtide.step(): how long each step took, the heap at its end, its
 * peak and how far above its start that peak went, the program's
 * estimate of that (memtide.step(expect=...)) and how far off it was, the
 * RSS at its end, what it allocated, its hardware counters
 * (memtide.step(perf=True)) and where most of it came from.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "view.h"
#include "../analysis/location.h"
#include "../analysis/symbols.h"
#include "../report/output.h"

static const char usage_text[] =
	"usage: memtide steps [--json] [--tolerance X] [-o FILE] FILE\n"
	"\n"
	"One row per step marked in the program with memtide.step(\"name\"):\n"
	"duration, heap at the end, peak inside the step and how much above the\n"
	"step's start, RSS at the end, allocations made and their bytes, and the\n"
	"site that allocated the most bytes in the step.\n"
	"\n"
	"Steps marked with an estimate, memtide.step(\"name\", expect=\"2.5 GB\"),\n"
	"also show it (expected) and measured/expected, the peak above the step's\n"
	"start divided by the estimate; a step more than X times off either way\n"
	"is flagged \"over\" or \"under\".\n"
	"\n"
	"Steps marked with memtide.step(\"name\", perf=True) show their hardware\n"
	"counters: cycles, instructions, IPC, cache misses (JSON: \"counters\").\n"
	"\n"
	"      --tolerance X    flag steps off by more than X times (default 1.5)\n"
	"      --json           a list of objects instead of the table\n"
	"  -o, --output FILE    write to FILE (-f to overwrite)\n"
	VIEW_WIDTH_HELP
	"  -h, --help           show this help\n";

static void site_text(char *buf, size_t cap, const struct mt_replay *r, struct mt_symbols *syms,
		      const struct mt_step *s, int json, int show_all)
{
	struct mt_location l;

	if (!s->top_bytes) {
		snprintf(buf, cap, "-");
		return;
	}
	mt_locate(&r->c, syms, r->keys[s->top_key].stack, show_all, &l);
	if (!l.file[0])		/* [no Python frame] */
		snprintf(buf, cap, "%s", l.function);
	else if (json)
		snprintf(buf, cap, "%s at %s:%u", l.function, l.file, l.line);
	else
		mt_fmt_site(buf, cap, l.function, l.file, l.line, r->c.cwd);
}

/* The name in a 24-column cell: made safe, cut with "..." or padded. */
static const char *step_name(char *buf, size_t cap, const char *name)
{
	size_t i, cut = 0;
	int cols = 0;

	mt_fmt_text(buf, cap - 24, name);
	for (i = 0; buf[i]; i++) {
		if (((unsigned char)buf[i] & 0xc0) == 0x80)
			continue;	/* inside a character */
		if (cols == 21)
			cut = i;
		if (++cols > 24) {
			strcpy(buf + cut, "...");
			return buf;
		}
	}
	while (cols++ < 24)
		buf[i++] = ' ';
	buf[i] = '\0';
	return buf;
}

/* How a step compares with its estimate, for tolerance tol. */
struct estimate {
	int known;		/* the step has an estimate */
	int ratio_known;	/* ... that is not 0 bytes */
	double ratio;		/* measured / expected */
	const char *off;	/* "over", "under" or NULL */
};

static struct estimate estimate_of(const struct mt_step *s, uint64_t above, double tol)
{
	struct estimate e = { s->expect, 0, 0, NULL };

	if (!s->expect)
		return e;
	if (s->expected) {
		e.ratio_known = 1;
		e.ratio = (double)above / (double)s->expected;
		e.off = e.ratio > tol ? "over" : e.ratio * tol < 1 ? "under" : NULL;
	} else {
		e.off = above ? "over" : NULL;	/* estimated nothing */
	}
	return e;
}

/* A hardware count in a 9-column cell: "1.23 G", "-" when not counted. */
static const char *count_text(char *buf, size_t cap, int64_t v)
{
	static const struct { double div; const char *unit; } u[] = {
		{ 1e12, "T" }, { 1e9, "G" }, { 1e6, "M" }, { 1e3, "k" },
	};

	if (v < 0) {
		snprintf(buf, cap, "-");
		return buf;
	}
	for (size_t i = 0; i < sizeof(u) / sizeof(u[0]); i++)
		if ((double)v >= u[i].div) {
			snprintf(buf, cap, "%.2f %s", (double)v / u[i].div, u[i].unit);
			return buf;
		}
	snprintf(buf, cap, "%lld", (long long)v);
	return buf;
}

/* The counters columns of a step (all "-" for a step without them). */
static int counters_text(char *line, size_t cap, const struct mt_capture *c,
			 const struct mt_step *s)
{
	struct mt_step_counters none = { 0, -1, -1, -1, -1 };
	const struct mt_step_counters *k = s->counters ? &c->step_counters[s->counters - 1] : &none;
	char b[3][32], ipc[16] = "-";

	if (k->cycles > 0 && k->instructions >= 0)
		snprintf(ipc, sizeof(ipc), "%.2f", (double)k->instructions / (double)k->cycles);
	return snprintf(line, cap, " %9s %9s %5s %9s", count_text(b[0], sizeof(b[0]), k->cycles),
			count_text(b[1], sizeof(b[1]), k->instructions), ipc,
			count_text(b[2], sizeof(b[2]), k->cache_misses));
}

static void json_count(FILE *f, const char *key, int64_t v)
{
	if (v < 0)
		fprintf(f, "\"%s\": null", key);
	else
		fprintf(f, "\"%s\": %lld", key, (long long)v);
}

static int steps_option(void *ctx, int c, const char *arg)
{
	char *end = NULL;
	double x = arg ? strtod(arg, &end) : 0;

	(void)c;	/* --tolerance, the only one */
	if (!arg || end == arg || *end || !(x >= 1 && x <= 1e9))
		return mt_usage_error("steps", "--tolerance needs a number from 1 to 1e9 "
				      "(how many times off a step may be), not '%s'", arg ? arg : "");
	*(double *)ctx = x;
	return 0;
}

int cmd_steps(int argc, char **argv)
{
	struct view_args a;
	struct mt_replay r;
	struct mt_symbols *syms;
	FILE *f;
	char line[4096];
	int rc, width, estimates = 0, counters = 0, flagged = 0;
	double tol = 1.5;

	view_init(&a);
	{
		static const struct option opts[] = {
			VIEW_LONG_OPTIONS, { "tolerance", required_argument, NULL, VOPT_OWN }, { 0 }
		};
		const char **files[] = { &a.file };

		if ((rc = view_parse("steps", usage_text, argc, argv, VIEW_SHORT_OPTIONS, opts, &a,
				     steps_option, &tol)) ||
		    (rc = view_files("steps", argc, argv, files, 1)))
			return rc < 0 ? 0 : rc;
	}
	if ((rc = view_load("steps", &a, &r)))
		return rc;
	if (r.c.aggregated) {
		rc = mt_error("steps needs a full capture ('%s' is aggregated: run without --aggregate)",
			      a.file);
		mt_replay_release(&r);
		return rc;
	}
	syms = mt_symbols_new(&r.c);
	width = view_width(&a);
	f = view_open("steps", &a);
	if (!f) {
		rc = 1;
		goto out;
	}
	for (uint32_t i = 0; i < r.nsteps; i++) {
		estimates |= r.steps[i].expect;
		counters |= r.steps[i].counters != 0;
	}
	if (a.json)
		fputc('[', f);
	else if (!r.nsteps)
		fprintf(f, "No steps in %s: mark them in the program with memtide.step(\"name\").\n",
			mt_fmt_text(line, sizeof(line), a.file));
	else {
		/* the same widths as the rows below */
		int n = snprintf(line, sizeof(line), "%-24s %9s %11s %11s %11s", "step", "duration",
				 "heap at end", "peak", "above start");

		if (estimates)
			n += snprintf(line + n, sizeof(line) - (size_t)n, " %11s %-17s", "expected",
				      "measured/expected");
		n += snprintf(line + n, sizeof(line) - (size_t)n, " %11s %10s %11s", "RSS at end",
			      "allocs", "allocated");
		if (counters)
			n += snprintf(line + n, sizeof(line) - (size_t)n, " %9s %9s %5s %9s", "cycles",
				      "instr", "IPC", "cache miss");
		snprintf(line + n, sizeof(line) - (size_t)n, "  %s", "top site");
		mt_put_line(f, line, width);
	}
	for (uint32_t i = 0; i < r.nsteps; i++) {
		const struct mt_step *s = &r.steps[i];
		char site[2048], b[7][32], name[256], ratio[32];
		uint64_t above = s->peak > s->heap_start ? s->peak - s->heap_start : 0;
		double ms = (double)(s->end_ns - s->start_ns) / 1e6;
		struct estimate e = estimate_of(s, above, tol);
		int n;

		flagged |= e.off != NULL;
		site_text(site, sizeof(site), &r, syms, s, a.json, a.show_all);
		if (a.json) {
			fputs(i ? ",\n {\"name\": " : "\n {\"name\": ", f);
			mt_json_str(f, mt_capture_string(&r.c, s->name));
			fprintf(f, ", \"start_ms\": %.3f, \"duration_ms\": %.3f, \"heap_start_bytes\": %llu, "
				   "\"heap_end_bytes\": %llu, \"peak_bytes\": %llu, "
				   "\"peak_above_start_bytes\": %llu, \"rss_end_bytes\": %llu, "
				   "\"allocations\": %llu, \"allocated_bytes\": %llu, \"top_site\": ",
				(double)s->start_ns / 1e6, ms, (unsigned long long)s->heap_start,
				(unsigned long long)s->heap_end, (unsigned long long)s->peak,
				(unsigned long long)above, (unsigned long long)s->rss_end,
				(unsigned long long)s->allocations, (unsigned long long)s->allocated_bytes);
			mt_json_str(f, site);
			fprintf(f, ", \"top_site_bytes\": %llu, \"expected_bytes\": ",
				(unsigned long long)s->top_bytes);
			if (e.known)
				fprintf(f, "%llu", (unsigned long long)s->expected);
			else
				fputs("null", f);
			fputs(", \"measured_over_expected\": ", f);
			if (e.ratio_known)
				fprintf(f, "%.17g", e.ratio);	/* the double itself */
			else
				fputs("null", f);
			fputs(", \"off_estimate\": ", f);
			if (e.off)
				fprintf(f, "\"%s\"", e.off);
			else
				fputs("null", f);
			fputs(", \"counters\": ", f);
			if (s->counters) {
				const struct mt_step_counters *k = &r.c.step_counters[s->counters - 1];

				fputc('{', f);
				json_count(f, "cycles", k->cycles);
				fputs(", ", f);
				json_count(f, "instructions", k->instructions);
				fputs(", ", f);
				json_count(f, "cache_references", k->cache_references);
				fputs(", ", f);
				json_count(f, "cache_misses", k->cache_misses);
				fputs("}}", f);
			} else {
				fputs("null}", f);
			}
			continue;
		}
		n = snprintf(line, sizeof(line), "%s %7.3f s %11s %11s %11s",
			     step_name(name, sizeof(name), mt_capture_string(&r.c, s->name)), ms / 1e3,
			     mt_fmt_size(b[0], sizeof(b[0]), s->heap_end),
			     mt_fmt_size(b[1], sizeof(b[1]), s->peak),
			     mt_fmt_size(b[2], sizeof(b[2]), above));
		if (estimates) {
			if (e.ratio_known)
				snprintf(ratio, sizeof(ratio), "%.2f%s%s", e.ratio, e.off ? " " : "",
					 e.off ? e.off : "");
			else
				snprintf(ratio, sizeof(ratio), "%s", e.off ? e.off : "-");
			n += snprintf(line + n, sizeof(line) - (size_t)n, " %11s %-17s",
				      e.known ? mt_fmt_size(b[6], sizeof(b[6]), s->expected) : "-", ratio);
		}
		n += snprintf(line + n, sizeof(line) - (size_t)n, " %11s %10s %11s",
			      mt_fmt_size(b[3], sizeof(b[3]), s->rss_end),
			      mt_fmt_count(b[4], sizeof(b[4]), s->allocations),
			      mt_fmt_size(b[5], sizeof(b[5]), s->allocated_bytes));
		if (counters)
			n += counters_text(line + n, sizeof(line) - (size_t)n, &r.c, s);
		snprintf(line + n, sizeof(line) - (size_t)n, "  %s", site);
		mt_put_line(f, line, width);
	}
	if (a.json)
		fputs(r.nsteps ? "\n]\n" : "]\n", f);
	else if (flagged)
		fprintf(f, "over, under: the peak above the step's start is more than %g times "
			   "the estimate, or below it by that much (--tolerance)\n", tol);
	rc = view_close(&a, f);
out:
	mt_symbols_free(syms);
	mt_replay_release(&r);
	return rc;
}
