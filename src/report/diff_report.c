/*
 * diff_report.c - text and JSON output of `memtide diff` (diff_report.h).
 * The JSON keys are an interface (README, tests): "base" and "new" hold
 * each capture's totals, "locations" the rows, biggest growth first.
 */
#include <stdlib.h>
#include <string.h>

#include "diff_report.h"
#include "output.h"
#include "../format/xalloc.h"

const char *mt_diff_measure_name(enum mt_diff_measure m)
{
	return m == MT_DIFF_TOTAL ? "total allocated" : m == MT_DIFF_LEAKS ? "leaked" :
	       "peak heap";
}

/* "+1.50 MiB", "-512 B", "0 B". */
static const char *signed_size(char *buf, size_t cap, uint64_t from, uint64_t to)
{
	char s[32];

	if (from == to)
		return strcpy(buf, "0 B");
	snprintf(buf, cap, "%c%s", to > from ? '+' : '-',
		 mt_fmt_size(s, sizeof(s), to > from ? to - from : from - to));
	return buf;
}

/* "+25.0%", "-3.1%", "new" when from is 0. */
static const char *percent(char *buf, size_t cap, uint64_t from, uint64_t to)
{
	if (!from)
		snprintf(buf, cap, "%s", to ? "new" : "0.0%");
	else
		snprintf(buf, cap, "%+.1f%%", ((double)to - (double)from) * 100 / (double)from);
	return buf;
}

static void print_capture(FILE *f, const char *label, const struct mt_capture *c)
{
	char path[2048], cmd[2048];

	fprintf(f, "%s %s (%s)\n", label, mt_fmt_text(path, sizeof(path), c->path),
		mt_fmt_text(cmd, sizeof(cmd), c->command ? c->command : "?"));
	if (c->truncated)
		fprintf(f, "      truncated (%s): it ends at %.3f s and its figures cover what "
			   "was written\n", mt_truncation_reason(c->truncation),
			(double)c->end_ns / 1e9);
}

static void total_line(FILE *f, const char *name, int size, uint64_t a, uint64_t b)
{
	char x[32], y[32], d[48], n[32], p[32];

	if (size) {
		mt_fmt_size(x, sizeof(x), a);
		mt_fmt_size(y, sizeof(y), b);
		signed_size(d, sizeof(d), a, b);
	} else {
		mt_fmt_count(x, sizeof(x), a);
		mt_fmt_count(y, sizeof(y), b);
		mt_fmt_count(n, sizeof(n), b > a ? b - a : a - b);
		snprintf(d, sizeof(d), "%s%s", a == b ? "" : b > a ? "+" : "-", n);
	}
	fprintf(f, "%-17s %13s %13s %13s %8s\n", name, x, y, d, percent(p, sizeof(p), a, b));
}

/* The rows shown: the top biggest changes, in the order of growth. */
static uint8_t *shown_rows(const struct mt_diff_report *d, uint32_t *nshown)
{
	const struct mt_diff *df = d->diff;
	uint8_t *shown = mt_xcalloc((size_t)df->nrows + 1, 1);
	uint32_t lo = 0, hi = df->nrows, n = 0;

	/* rows go from the biggest growth to the biggest fall: take from either end */
	while (lo < hi && (!d->top || n < d->top)) {
		const struct mt_diff_row *a = &df->rows[lo], *b = &df->rows[hi - 1];
		uint64_t up = a->new_bytes > a->base_bytes ? a->new_bytes - a->base_bytes : 0;
		uint64_t down = b->base_bytes > b->new_bytes ? b->base_bytes - b->new_bytes : 0;

		if (up >= down)
			shown[lo++] = 1;
		else
			shown[--hi] = 1;
		n++;
	}
	*nshown = n;
	return shown;
}

static const char *row_site(char *buf, size_t cap, const struct mt_diff_row *r)
{
	char l[64];

	if (!r->function)
		return mt_fmt_text(buf, cap, r->file);
	mt_fmt_site(buf, cap, r->function, r->file, mt_diff_line(r), NULL);
	/* --ignore-lines: a location whose line moved */
	if (r->base_count && r->new_count && r->base_line != r->new_line &&
	    r->base_line != MT_DIFF_LINES && r->new_line != MT_DIFF_LINES && r->base_line) {
		snprintf(l, sizeof(l), " (was line %u)", r->base_line);
		if (strlen(buf) + strlen(l) < cap)
			strcat(buf, l);
	}
	return buf;
}

void mt_diff_print_text(FILE *f, const struct mt_diff_report *d)
{
	static const char *by_names[] = { "location", "function", "file" };
	static const char *titles[] = {
		"Live at the peak of the heap", "Allocated over the whole run",
		"Leaked (still allocated at the end)",
	};
	const struct mt_capture *cb = &d->base->c, *cn = &d->new->c;
	char pb[1024], pn[1024], line[4096];
	uint32_t nshown = 0;
	uint8_t *shown;

	print_capture(f, "Base:", cb);
	print_capture(f, "New: ", cn);
	mt_capture_program(cb, pb, sizeof(pb));
	mt_capture_program(cn, pn, sizeof(pn));
	if (strcmp(pb, pn)) {
		char a[1024], b[1024];

		fprintf(f, "Note: the captures are of different programs (%s, %s); locations are "
			   "matched all the same.\n", mt_fmt_text(a, sizeof(a), pb),
			mt_fmt_text(b, sizeof(b), pn));
	}

	fprintf(f, "\n%-17s %13s %13s %13s\n", "", "base", "new", "change");
	total_line(f, "Peak heap", 1, d->base->peak_bytes, d->new->peak_bytes);
	total_line(f, "Total allocated", 1, d->base->total_bytes, d->new->total_bytes);
	total_line(f, "Allocations", 0, d->base->total_allocations, d->new->total_allocations);
	total_line(f, "Leaked", 1, d->base->leaked_bytes, d->new->leaked_bytes);
	total_line(f, "Peak RSS", 1, cb->peak_rss, cn->peak_rss);
	{
		char x[32], y[32], z[32], p[32];
		double a = (double)cb->end_ns / 1e9, b = (double)cn->end_ns / 1e9;

		snprintf(x, sizeof(x), "%.3f s", a);
		snprintf(y, sizeof(y), "%.3f s", b);
		snprintf(z, sizeof(z), "%+.3f s", b - a);
		fprintf(f, "%-17s %13s %13s %13s %8s\n", "Duration", x, y, z,
			percent(p, sizeof(p), cb->end_ns, cn->end_ns));
	}

	shown = shown_rows(d, &nshown);
	fprintf(f, "\n%s, by %s, biggest growth first", titles[d->opts->measure],
		by_names[d->opts->by]);
	if (nshown < d->diff->nrows)
		fprintf(f, " (the %u biggest changes of %u; -n 0 shows all)", nshown,
			d->diff->nrows);
	fputs(":\n", f);
	if (!d->diff->nrows) {
		fputs("  (nothing in either capture)\n", f);
		free(shown);
		return;
	}
	snprintf(line, sizeof(line), "%13s %13s %13s %9s  %s", "base", "new", "change",
		 "new/base", d->opts->by == MT_DIFF_BY_FILE ? "file" :
		 d->opts->by == MT_DIFF_BY_FUNCTION ? "function at file" : "location");
	mt_put_line(f, line, d->width);
	for (uint32_t i = 0; i < d->diff->nrows; i++) {
		const struct mt_diff_row *r = &d->diff->rows[i];
		char x[32], y[32], z[48], ratio[32], where[2048];

		if (!shown[i])
			continue;
		if (!r->base_count)
			snprintf(ratio, sizeof(ratio), "new");
		else if (!r->new_count)
			snprintf(ratio, sizeof(ratio), "gone");
		else if (!r->base_bytes)
			snprintf(ratio, sizeof(ratio), "-");
		else
			snprintf(ratio, sizeof(ratio), "%.2fx",
				 (double)r->new_bytes / (double)r->base_bytes);
		snprintf(line, sizeof(line), "%13s %13s %13s %9s  %s",
			 mt_fmt_size(x, sizeof(x), r->base_bytes),
			 mt_fmt_size(y, sizeof(y), r->new_bytes),
			 signed_size(z, sizeof(z), r->base_bytes, r->new_bytes), ratio,
			 row_site(where, sizeof(where), r));
		mt_put_line(f, line, d->width);
	}
	free(shown);
}

static void json_totals(FILE *f, const struct mt_replay *r)
{
	const struct mt_capture *c = &r->c;

	fputs("{\"file\": ", f);
	mt_json_str(f, c->path);
	fputs(", \"command\": ", f);
	mt_json_str(f, c->command);
	fprintf(f, ", \"peak_bytes\": %llu, \"total_bytes\": %llu, \"allocations\": %llu, "
		   "\"leaked_bytes\": %llu, \"leaked_allocations\": %llu, \"peak_rss_bytes\": %llu, "
		   "\"duration_ms\": %llu, \"truncated\": %s",
		(unsigned long long)r->peak_bytes, (unsigned long long)r->total_bytes,
		(unsigned long long)r->total_allocations, (unsigned long long)r->leaked_bytes,
		(unsigned long long)r->leaked_count, (unsigned long long)c->peak_rss,
		(unsigned long long)(c->end_ns / 1000000), c->truncated ? "true" : "false");
	if (c->truncated)
		fprintf(f, ", \"truncation\": \"%s\"", mt_truncation_reason(c->truncation));
	fputc('}', f);
}

void mt_diff_print_json(FILE *f, const struct mt_diff_report *d)
{
	uint32_t nshown = 0, n = 0;
	uint8_t *shown = shown_rows(d, &nshown);

	fputs("{\n  \"base\": ", f);
	json_totals(f, d->base);
	fputs(",\n  \"new\": ", f);
	json_totals(f, d->new);
	fputs(",\n  \"locations\": [", f);
	for (uint32_t i = 0; i < d->diff->nrows; i++) {
		const struct mt_diff_row *r = &d->diff->rows[i];

		if (!shown[i])
			continue;
		fputs(n++ ? ",\n    {\"function\": " : "\n    {\"function\": ", f);
		if (r->function)
			mt_json_str(f, r->function);
		else
			fputs("null", f);
		fputs(", \"file\": ", f);
		mt_json_str(f, r->file);
		fputs(", \"line\": ", f);
		if (d->opts->by == MT_DIFF_BY_LOCATION)
			fprintf(f, "%u", mt_diff_line(r));
		else
			fputs("null", f);
		fprintf(f, ", \"base_bytes\": %llu, \"new_bytes\": %llu, \"delta_bytes\": %lld, "
			   "\"base_count\": %llu, \"new_count\": %llu}",
			(unsigned long long)r->base_bytes, (unsigned long long)r->new_bytes,
			(long long)(r->new_bytes - r->base_bytes), (unsigned long long)r->base_count,
			(unsigned long long)r->new_count);
	}
	fputs(n ? "\n  ]\n}\n" : "]\n}\n", f);
	free(shown);
}
