/*
 * stats_report.c - text and JSON output of `memtide stats`.  The JSON keys
 * are an interface other reports and tests rely on (docs/REPORTS.md).
 */
#include <ctype.h>
#include <string.h>

#include "output.h"
#include "stats_report.h"

#define BAR_WIDTH 40

static void print_site(FILE *f, const struct mt_site *s, int by_count, const char *cwd)
{
	char a[32], b[32], where[2048];

	fprintf(f, "  - %s -> ", mt_fmt_site(where, sizeof(where), s->function, s->file, s->line, cwd));
	if (by_count)
		fprintf(f, "%s (%s)\n", mt_fmt_count(a, sizeof(a), s->count),
			mt_fmt_size(b, sizeof(b), s->bytes));
	else
		fprintf(f, "%s (%s %s)\n", mt_fmt_size(a, sizeof(a), s->bytes),
			mt_fmt_count(b, sizeof(b), s->count),
			mt_plural(s->count, "allocation", "allocations"));
}

static void print_histogram(FILE *f, const struct mt_replay *s)
{
	int lo = MT_HIST_BINS, hi = -1;
	uint64_t most = 0;
	char a[32], b[32];

	for (int i = 0; i < MT_HIST_BINS; i++) {
		if (!s->hist[i])
			continue;
		lo = lo < i ? lo : i;
		hi = i;
		most = s->hist[i] > most ? s->hist[i] : most;
	}
	fprintf(f, "\nHistogram of allocation sizes:\n");
	if (hi < 0) {
		fprintf(f, "  (no allocations)\n");
		return;
	}
	fprintf(f, "  min: %s\n", mt_fmt_size(a, sizeof(a), s->min_size));
	for (int i = lo; i <= hi; i++) {
		int w = most ? (int)((s->hist[i] * BAR_WIDTH + most - 1) / most) : 0;

		if (i == 0)
			fprintf(f, "  %-13s", "= 0 B");
		else
			fprintf(f, "  < %-11s", mt_fmt_size(a, sizeof(a), mt_hist_bin_max(i) + 1));
		fprintf(f, ": %12s ", mt_fmt_count(b, sizeof(b), s->hist[i]));
		for (int k = 0; k < w; k++)
			fputs("\u2587", f);
		fputc('\n', f);
	}
	fprintf(f, "  max: %s\n", mt_fmt_size(a, sizeof(a), s->max_size));
}

/* Allocator kinds, most used first. */
static void print_kinds(FILE *f, const struct mt_replay *s)
{
	int order[MT_EV_KIND_COUNT], n = 0;
	char a[32], up[32];

	for (int i = 1; i < MT_EV_KIND_COUNT; i++)
		if (s->kinds[i])
			order[n++] = i;
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && s->kinds[order[j]] > s->kinds[order[j - 1]]; j--) {
			int t = order[j];

			order[j] = order[j - 1];
			order[j - 1] = t;
		}
	for (int i = 0; i < n; i++) {
		snprintf(up, sizeof(up), "%s", mt_event_kind_name((unsigned)order[i]));
		for (char *p = up; *p; p++)
			*p = (char)toupper((unsigned char)*p);
		fprintf(f, "  %-15s %12s\n", up, mt_fmt_count(a, sizeof(a), s->kinds[order[i]]));
	}
}

/* " ± E" of a sampled capture's estimate (one standard error), or "". */
static const char *plus_minus(char *buf, size_t cap, const struct mt_capture *c, double err)
{
	char e[32];

	if (!c->sample_rate)
		return "";
	snprintf(buf, cap, " ± %s", mt_fmt_size(e, sizeof(e), (uint64_t)(err + 0.5)));
	return buf;
}

void mt_stats_print_text(FILE *f, const struct mt_replay *r, const struct mt_stats *s,
			 int include_files)
{
	const struct mt_capture *c = &r->c;
	char a[32], b[32], d[32];

	char text[4096];

	fprintf(f, "Capture: %s\n", mt_fmt_text(text, sizeof(text), c->path));
	fprintf(f, "Command: %s\n", mt_fmt_text(text, sizeof(text), c->command ? c->command : "?"));
	if (c->python) {
		char v[64];

		snprintf(v, sizeof(v), "%s", c->python);
		v[strcspn(v, " ")] = '\0';
		fprintf(f, "Python:  %s\n", mt_fmt_text(text, sizeof(text), v));
	}
	fprintf(f, "PID %llu, %s for %.3f s\n", (unsigned long long)c->pid,
		c->attached ? "recorded" : "ran", (double)c->end_ns / 1e9);
	if (c->sample_rate)
		fprintf(f, "Note: %s.\n", mt_fmt_sampled(text, sizeof(text), c->sample_rate));
	if (c->truncated)
		fprintf(f, "Note: the capture is truncated (%s); it ends at %.3f s and the "
			   "figures cover what was written.\n",
			mt_truncation_reason(c->truncation), (double)c->end_ns / 1e9);
	if (c->aggregated)
		fprintf(f, "Note: an aggregated capture (run --aggregate): the tracker's figures per "
			   "stack, saved every second; steps, the temporal flame graph and lines' "
			   "own peak need a full capture.\n");
	if (c->attached)
		fprintf(f, "Note: memtide attached to the running program: allocations made before "
			   "are not known (frees of them are ignored), and \"at end\" means when "
			   "the capture ended.\n");
	if (c->dropped_events)
		fprintf(f, "Note: %llu events dropped: the tracker ran out of address space.\n",
			(unsigned long long)c->dropped_events);
	if (c->signal_dropped_allocs || c->signal_dropped_frees)
		fprintf(f, "Note: %s %s (%s) and %s %s made in signal handlers while memtide was "
			   "recording could not be recorded; the figures leave them out.\n",
			mt_fmt_count(a, sizeof(a), c->signal_dropped_allocs),
			mt_plural(c->signal_dropped_allocs, "allocation", "allocations"),
			mt_fmt_size(b, sizeof(b), c->signal_dropped_bytes),
			mt_fmt_count(d, sizeof(d), c->signal_dropped_frees),
			mt_plural(c->signal_dropped_frees, "free", "frees"));

	fprintf(f, "\nTotal allocations:       %s\n", mt_fmt_count(a, sizeof(a), r->total_allocations));
	fprintf(f, "Total memory allocated:  %s\n", mt_fmt_size(a, sizeof(a), r->total_bytes));
	fprintf(f, "Peak heap size:          %s%s at %.3f s\n", mt_fmt_size(a, sizeof(a), r->peak_bytes),
		plus_minus(b, sizeof(b), c, r->peak_stderr), (double)r->peak_ns / 1e9);
	if (r->file_mappings)
		fprintf(f, "Peak file-mapped:        %s in %s %s (%s)\n",
			mt_fmt_size(a, sizeof(a), r->file_mapped_peak_bytes),
			mt_fmt_count(b, sizeof(b), r->file_mappings),
			mt_plural(r->file_mappings, "file mapping", "file mappings"),
			include_files ? "counted above too" :
			"not counted as heap; --include-file-mappings counts them");
	fprintf(f, "Peak RSS:                %s\n", mt_fmt_size(a, sizeof(a), c->peak_rss));
	fprintf(f, "Leaked (live at end):    %s%s in %s %s\n",
		mt_fmt_size(a, sizeof(a), r->leaked_bytes),
		plus_minus(d, sizeof(d), c, r->leaked_stderr),
		mt_fmt_count(b, sizeof(b), r->leaked_count),
		mt_plural(r->leaked_count, "allocation", "allocations"));
	if (s->arenas.count)
		fprintf(f, "                         not counting %s pymalloc %s (%s) that "
			"Python keeps until it exits\n", mt_fmt_count(a, sizeof(a), s->arenas.count),
			mt_plural(s->arenas.count, "arena", "arenas"),
			mt_fmt_size(b, sizeof(b), s->arenas.bytes));
	if (c->sample_rate)
		fprintf(f, "Temporary allocations:   not known in a sampled capture\n");
	else
		fprintf(f, "Temporary allocations:   %s (%s), freed before their thread allocated "
			   "again\n", mt_fmt_count(a, sizeof(a), r->temporary_count),
			mt_fmt_size(b, sizeof(b), r->temporary_bytes));

	print_histogram(f, r);

	fprintf(f, "\nAllocator kinds:\n");
	print_kinds(f, r);

	fprintf(f, "\nTop %u %s by size:\n", s->nsites, mt_plural(s->nsites, "location", "locations"));
	for (uint32_t i = 0; i < s->nsites; i++)
		print_site(f, &s->by_size[i], 0, c->cwd);
	fprintf(f, "\nTop %u %s by number of allocations:\n", s->nsites,
		mt_plural(s->nsites, "location", "locations"));
	for (uint32_t i = 0; i < s->nsites; i++)
		print_site(f, &s->by_count[i], 1, c->cwd);
}

static void json_sites(FILE *f, const char *key, const struct mt_site *v, uint32_t n)
{
	fprintf(f, ",\n  \"%s\": [", key);
	for (uint32_t i = 0; i < n; i++) {
		fprintf(f, "%s\n    {\"function\": ", i ? "," : "");
		mt_json_str(f, v[i].function);
		fputs(", \"file\": ", f);
		mt_json_str(f, v[i].file);
		fprintf(f, ", \"line\": %u, \"bytes\": %llu, \"count\": %llu}", v[i].line,
			(unsigned long long)v[i].bytes, (unsigned long long)v[i].count);
	}
	fputs(n ? "\n  ]" : "]", f);
}

void mt_stats_print_json(FILE *f, const struct mt_replay *r, const struct mt_stats *s)
{
	const struct mt_capture *c = &r->c;
	int first = 1;

	fputs("{\n  \"file\": ", f);
	mt_json_str(f, c->path);
	fputs(",\n  \"command\": ", f);
	mt_json_str(f, c->command);
	fputs(",\n  \"python\": ", f);
	if (c->python)
		mt_json_str(f, c->python);
	else
		fputs("null", f);
	fprintf(f, ",\n  \"pid\": %llu", (unsigned long long)c->pid);
	fprintf(f, ",\n  \"ppid\": %llu", (unsigned long long)c->ppid);
	fputs(",\n  \"session\": ", f);
	if (c->session)
		mt_json_str(f, c->session);
	else
		fputs("null", f);
	fprintf(f, ",\n  \"start_unix_ns\": %llu", (unsigned long long)c->start_unix_ns);
	fputs(",\n  \"ended_by\": ", f);
	if (c->ended_by)
		mt_json_str(f, c->ended_by);
	else
		fputs("null", f);
#define NUM(key, v) fprintf(f, ",\n  \"" key "\": %llu", (unsigned long long)(v))
	NUM("total_allocations", r->total_allocations);
	NUM("total_bytes", r->total_bytes);
	NUM("peak_bytes", r->peak_bytes);
	NUM("peak_time_ms", r->peak_ns / 1000000);
	NUM("file_mapped_peak_bytes", r->file_mapped_peak_bytes);
	NUM("file_mappings", r->file_mappings);
	NUM("peak_rss_bytes", c->peak_rss);
	NUM("duration_ms", c->end_ns / 1000000);
	NUM("leaked_bytes", r->leaked_bytes);
	NUM("leaked_allocations", r->leaked_count);
	NUM("interpreter_arena_bytes", s->arenas.bytes);
	NUM("interpreter_arenas", s->arenas.count);
	NUM("temporary_allocations", r->temporary_count);
	NUM("temporary_bytes", r->temporary_bytes);
	NUM("min_size", r->min_size);
	NUM("max_size", r->max_size);
#undef NUM
	fprintf(f, ",\n  \"sample_rate\": %llu", (unsigned long long)c->sample_rate);
	if (c->sample_rate)	/* one standard error of the estimates */
		fprintf(f, ",\n  \"peak_bytes_stderr\": %.0f,\n  \"leaked_bytes_stderr\": %.0f",
			r->peak_stderr, r->leaked_stderr);
	fprintf(f, ",\n  \"attached\": %s", c->attached ? "true" : "false");
	fprintf(f, ",\n  \"aggregated\": %s", c->aggregated ? "true" : "false");
	fprintf(f, ",\n  \"truncated\": %s", c->truncated ? "true" : "false");
	if (c->truncated)
		fprintf(f, ",\n  \"truncation\": \"%s\"", mt_truncation_reason(c->truncation));
	fprintf(f, ",\n  \"dropped_events\": %llu", (unsigned long long)c->dropped_events);
	fprintf(f, ",\n  \"signal_dropped_allocations\": %llu", (unsigned long long)c->signal_dropped_allocs);
	fprintf(f, ",\n  \"signal_dropped_bytes\": %llu", (unsigned long long)c->signal_dropped_bytes);
	fprintf(f, ",\n  \"signal_dropped_frees\": %llu", (unsigned long long)c->signal_dropped_frees);
	fputs(",\n  \"allocators\": {", f);
	for (int i = 1; i < MT_EV_KIND_COUNT; i++) {
		if (!r->kinds[i])
			continue;
		fprintf(f, "%s\"%s\": %llu", first ? "" : ", ", mt_event_kind_name((unsigned)i),
			(unsigned long long)r->kinds[i]);
		first = 0;
	}
	fputs("},\n  \"histogram\": [", f);
	first = 1;
	for (int i = 0; i < MT_HIST_BINS; i++) {
		if (!r->hist[i])
			continue;
		fprintf(f, "%s{\"max_bytes\": %llu, \"count\": %llu}", first ? "" : ", ",
			(unsigned long long)mt_hist_bin_max(i), (unsigned long long)r->hist[i]);
		first = 0;
	}
	fputc(']', f);
	json_sites(f, "top_by_size", s->by_size, s->nsites);
	json_sites(f, "top_by_count", s->by_count, s->nsites);
	fputs("\n}\n", f);
}
