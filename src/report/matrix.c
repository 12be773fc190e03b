/*
 * matrix.c - the table of a benchmark matrix (matrix.h): each cell's runs
 * summed up (medians, the range of wall times), in the matrix's order or
 * sorted, written as markdown, CSV, JSON or the HTML page (web/bench.html
 * filled with the JSON document).  The formats are described in
 * docs/BENCH.md.
 */
#include <stdlib.h>
#include <string.h>

#include "html.h"
#include "matrix.h"
#include "output.h"
#include "web/assets.h"
#include "../format/xalloc.h"

/* One row of the table: a cell's runs summed up. */
struct row {
	uint32_t cell;
	const char *status;		/* "ok", "failed", "not run" */
	int exit_status, signal;	/* of its first failed run, else 0 */
	uint32_t done, failed;		/* runs with a status, failed ones */
	int has_wall;
	double wall, wall_min, wall_max;
	int has_fig, truncated;
	uint64_t peak, rss, total, allocs, leaked;
	const struct mt_figures *fig;	/* the run of the median peak */
};

/* The figures' columns, named as --sort and the JSON name them. */
enum col { COL_WALL, COL_PEAK, COL_RSS, COL_TOTAL, COL_ALLOCS, COL_LEAKED, NCOLS };
static const char *const col_key[NCOLS] = {
	"wall_s", "peak_bytes", "peak_rss_bytes", "total_bytes", "allocations", "leaked_bytes"
};

const char mt_matrix_sort_help[] =
	"a parameter, status, wall_s, peak_bytes, peak_rss_bytes, total_bytes, allocations "
	"or leaked_bytes";

uint32_t mt_matrix_value(const struct mt_matrix *m, uint32_t cell, uint32_t p)
{
	for (uint32_t q = m->nparams; q-- > p + 1;)
		cell /= m->params[q].nvalues;
	return cell % m->params[p].nvalues;
}

struct mt_matrix_run *mt_matrix_run(const struct mt_matrix *m, uint32_t cell, uint32_t rep)
{
	return &m->runs[(size_t)cell * m->repeat + rep];
}

void mt_matrix_cell_dir(const struct mt_matrix *m, uint32_t cell, char *buf, size_t cap)
{
	size_t o = (size_t)snprintf(buf, cap, "%s", m->dir);

	for (uint32_t p = 0; p < m->nparams && o < cap; p++) {
		const char *v = m->params[p].values[mt_matrix_value(m, cell, p)];

		o += (size_t)snprintf(buf + o, cap - o, "/%s=", m->params[p].name);
		for (; *v && o + 4 < cap; v++) {
			if (*v == '/' || *v == '%')
				o += (size_t)snprintf(buf + o, cap - o, "%%%02X", (unsigned char)*v);
			else
				buf[o++] = *v;
		}
		buf[o < cap ? o : cap - 1] = '\0';
	}
}

void mt_matrix_run_file(const struct mt_matrix *m, uint32_t cell, uint32_t rep, const char *ext,
			char *buf, size_t cap)
{
	size_t o;

	mt_matrix_cell_dir(m, cell, buf, cap);
	o = strlen(buf);
	snprintf(buf + o, cap - o, "/run%u.%s", rep + 1, ext);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The lower median of v[0..n) (sorts v). */
static uint64_t median_u64(uint64_t *v, uint32_t n)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	return v[(n - 1) / 2];
}

static void summarize(const struct mt_matrix *m, uint32_t cell, struct row *r)
{
	uint32_t ok = 0;
	uint64_t *v[NCOLS];
	double *walls = mt_xcalloc(m->repeat, sizeof(double));
	uint32_t nfig = 0, nwall = 0;

	memset(r, 0, sizeof(*r));
	r->cell = cell;
	for (int c = 0; c < NCOLS; c++)
		v[c] = mt_xcalloc(m->repeat, sizeof(uint64_t));
	for (uint32_t k = 0; k < m->repeat; k++) {
		const struct mt_matrix_run *run = mt_matrix_run(m, cell, k);

		if (run->state == MT_RUN_MISSING)
			continue;
		r->done++;
		ok += run->state == MT_RUN_OK;
		if (run->state == MT_RUN_FAILED && !r->failed++) {
			r->exit_status = run->exit_status;
			r->signal = run->signal;
		}
	}
	/* the successful runs when there are any, else the failed ones */
	for (uint32_t k = 0; k < m->repeat; k++) {
		const struct mt_matrix_run *run = mt_matrix_run(m, cell, k);

		if (run->state == MT_RUN_MISSING || (ok && run->state != MT_RUN_OK))
			continue;
		walls[nwall++] = run->wall_s;
		if (!run->measured)
			continue;
		v[COL_PEAK][nfig] = run->fig.peak_bytes;
		v[COL_RSS][nfig] = run->fig.peak_rss_bytes;
		v[COL_TOTAL][nfig] = run->fig.total_bytes;
		v[COL_ALLOCS][nfig] = run->fig.allocations;
		v[COL_LEAKED][nfig] = run->fig.leaked_bytes;
		r->truncated |= run->fig.truncated;
		nfig++;
	}
	r->status = r->failed ? "failed" : r->done ? "ok" : "not run";
	if (nwall) {
		qsort(walls, nwall, sizeof(double), cmp_double);
		r->has_wall = 1;
		r->wall_min = walls[0];
		r->wall_max = walls[nwall - 1];
		r->wall = nwall % 2 ? walls[nwall / 2] : (walls[nwall / 2 - 1] + walls[nwall / 2]) / 2;
	}
	if (nfig) {
		r->has_fig = 1;
		r->peak = median_u64(v[COL_PEAK], nfig);
		r->rss = median_u64(v[COL_RSS], nfig);
		r->total = median_u64(v[COL_TOTAL], nfig);
		r->allocs = median_u64(v[COL_ALLOCS], nfig);
		r->leaked = median_u64(v[COL_LEAKED], nfig);
		for (uint32_t k = 0; k < m->repeat && !r->fig; k++) {
			const struct mt_matrix_run *run = mt_matrix_run(m, cell, k);

			if (run->measured && run->fig.peak_bytes == r->peak &&
			    (ok ? run->state == MT_RUN_OK : run->state == MT_RUN_FAILED))
				r->fig = &run->fig;
		}
	}
	for (int c = 0; c < NCOLS; c++)
		free(v[c]);
	free(walls);
}

static uint64_t row_figure(const struct row *r, int c)
{
	switch (c) {
	case COL_PEAK: return r->peak;
	case COL_RSS: return r->rss;
	case COL_TOTAL: return r->total;
	case COL_ALLOCS: return r->allocs;
	default: return r->leaked;
	}
}

/* ---------------------------------------------------------------- sorting */

static const struct mt_matrix *sort_m;
static int sort_param = -1, sort_col = -1, sort_status;

static int cmp_values(const char *a, const char *b)
{
	char *ea, *eb;
	double x = strtod(a, &ea), y = strtod(b, &eb);

	if (*a && *b && !*ea && !*eb && x != y)
		return (x > y) - (x < y);
	return strcmp(a, b);
}

static int cmp_rows(const void *pa, const void *pb)
{
	const struct row *a = pa, *b = pb;
	int d = 0;

	if (sort_param >= 0) {
		const struct mt_matrix_param *p = &sort_m->params[sort_param];

		d = cmp_values(p->values[mt_matrix_value(sort_m, a->cell, (uint32_t)sort_param)],
			       p->values[mt_matrix_value(sort_m, b->cell, (uint32_t)sort_param)]);
	} else if (sort_status) {
		d = strcmp(a->status, b->status);
	} else if (sort_col == COL_WALL) {
		/* biggest first; rows without the figure last */
		d = a->has_wall != b->has_wall ? b->has_wall - a->has_wall :
		    (a->wall < b->wall) - (a->wall > b->wall);
	} else if (sort_col >= 0) {
		uint64_t x = row_figure(a, sort_col), y = row_figure(b, sort_col);

		d = a->has_fig != b->has_fig ? b->has_fig - a->has_fig : (x < y) - (x > y);
	}
	return d ? d : (a->cell > b->cell) - (a->cell < b->cell);
}

static int find_sort(const struct mt_matrix *m, const char *col)
{
	sort_m = m;
	sort_param = sort_col = -1;
	sort_status = 0;
	if (!col)
		return 0;
	for (uint32_t p = 0; p < m->nparams; p++)
		if (!strcmp(col, m->params[p].name)) {
			sort_param = (int)p;
			return 0;
		}
	if (!strcmp(col, "status")) {
		sort_status = 1;
		return 0;
	}
	for (int c = 0; c < NCOLS; c++)
		if (!strcmp(col, col_key[c])) {
			sort_col = c;
			return 0;
		}
	return -1;
}

int mt_matrix_sort_column(const struct mt_matrix *m, const char *col)
{
	return find_sort(m, col);
}

/* ------------------------------------------------------------- the text */

/* The most runs that ran at a time. */
static int max_jobs(const struct mt_matrix *m)
{
	int j = 1;

	for (size_t i = 0; i < (size_t)m->ncells * m->repeat; i++)
		if (m->runs[i].state != MT_RUN_MISSING && m->runs[i].jobs > j)
			j = m->runs[i].jobs;
	return j;
}

static const char *signal_name(int sig, char *buf, size_t cap)
{
	const char *abbrev = sig > 0 ? sigabbrev_np(sig) : NULL;

	if (abbrev)
		snprintf(buf, cap, "SIG%s", abbrev);
	else
		snprintf(buf, cap, "signal %d", sig);
	return buf;
}

const char *mt_matrix_failure(char *buf, size_t cap, int exit_status, int sig)
{
	char name[32];

	if (sig)
		snprintf(buf, cap, "killed by %s", signal_name(sig, name, sizeof(name)));
	else
		snprintf(buf, cap, "exit status %d", exit_status);
	return buf;
}

/* The step names of every cell's shown run, in the order they first appear. */
static char **step_names(const struct row *rows, uint32_t n, uint32_t *count)
{
	char **names = NULL;
	uint32_t k = 0, cap = 0;

	for (uint32_t i = 0; i < n; i++) {
		const struct mt_figures *f = rows[i].fig;

		for (uint32_t s = 0; f && s < f->nsteps; s++) {
			uint32_t j;

			for (j = 0; j < k && strcmp(names[j], f->steps[s].name); j++)
				;
			if (j < k)
				continue;
			if (k == cap) {
				cap = cap ? cap * 2 : 8;
				names = mt_xrealloc(names, cap * sizeof(*names));
			}
			names[k++] = f->steps[s].name;
		}
	}
	*count = k;
	return names;
}

/* The step of that name in f with the highest peak, or NULL. */
static const struct mt_fig_step *find_step(const struct mt_figures *f, const char *name)
{
	const struct mt_fig_step *best = NULL;

	for (uint32_t s = 0; f && s < f->nsteps; s++)
		if (!strcmp(f->steps[s].name, name) && (!best || f->steps[s].peak > best->peak))
			best = &f->steps[s];
	return best;
}

/* A markdown cell: text made safe for a terminal, '|' escaped. */
static void md_cell(FILE *f, const char *s)
{
	char buf[4096];

	fputs(" ", f);
	for (const char *p = mt_fmt_text(buf, sizeof(buf), s); *p; p++) {
		if (*p == '|')
			fputc('\\', f);
		fputc(*p, f);
	}
	fputs(" |", f);
}

static void md_size(FILE *f, int has, uint64_t v)
{
	char b[32];

	md_cell(f, has ? mt_fmt_size(b, sizeof(b), v) : "-");
}

static void md_params(FILE *f, const struct mt_matrix *m, uint32_t cell)
{
	fputc('|', f);
	for (uint32_t p = 0; p < m->nparams; p++)
		md_cell(f, m->params[p].values[mt_matrix_value(m, cell, p)]);
}

/* The header row and the alignment row: columns [right, right_end) are numbers. */
static void md_header(FILE *f, const struct mt_matrix *m, const char *const *cols, int ncols,
		      int right, int right_end)
{
	fputc('|', f);
	for (uint32_t p = 0; p < m->nparams; p++)
		md_cell(f, m->params[p].name);
	for (int c = 0; c < ncols; c++)
		md_cell(f, cols[c]);
	fputs("\n|", f);
	for (uint32_t p = 0; p < m->nparams; p++)
		fputs(" --- |", f);
	for (int c = 0; c < ncols; c++)
		fputs(c >= right && c < right_end ? " ---: |" : " --- |", f);
	fputc('\n', f);
}

/* "name=value name=value" of a cell, made safe for a terminal. */
static void cell_name(FILE *f, const struct mt_matrix *m, uint32_t cell)
{
	char buf[4096];

	for (uint32_t p = 0; p < m->nparams; p++)
		fprintf(f, "%s%s=%s", p ? " " : "", m->params[p].name,
			mt_fmt_text(buf, sizeof(buf), m->params[p].values[mt_matrix_value(m, cell, p)]));
}

static void write_md(FILE *f, const struct mt_matrix *m, const struct row *rows)
{
	static const char *const cols[] = {
		"status", "wall time", "peak heap", "peak RSS", "allocated", "allocations", "leaked",
		"top site at the peak"
	};
	char text[4096], b[64], c[64], path[4096];
	uint32_t nsteps, nfailed = 0;
	char **steps = step_names(rows, m->ncells, &nsteps);
	int jobs = max_jobs(m);

	fprintf(f, "memtide bench: %s\n", mt_fmt_text(text, sizeof(text), m->command));
	fprintf(f, "%u %s, %u %s each, in %s", m->ncells, mt_plural(m->ncells, "cell", "cells"),
		m->repeat, mt_plural(m->repeat, "run", "runs"), mt_fmt_text(text, sizeof(text), m->dir));
	if (m->repeat > 1)
		fputs("; wall time: median (min-max), memory: median", f);
	if (jobs > 1)
		fprintf(f, "; %d runs at a time (-j %d): wall times were not measured alone", jobs, jobs);
	fputs("\n\n", f);

	md_header(f, m, cols, 8, 1, 7);
	for (uint32_t i = 0; i < m->ncells; i++) {
		const struct row *r = &rows[i];

		md_params(f, m, r->cell);
		if (r->failed)
			snprintf(text, sizeof(text), "failed: %s",
				 mt_matrix_failure(b, sizeof(b), r->exit_status, r->signal));
		else
			snprintf(text, sizeof(text), "%s", r->status);
		if (r->done && r->done < m->repeat)
			snprintf(text + strlen(text), sizeof(text) - strlen(text), " (%u of %u runs)",
				 r->done, m->repeat);
		if (r->truncated)
			snprintf(text + strlen(text), sizeof(text) - strlen(text), ", truncated");
		md_cell(f, text);
		if (!r->has_wall)
			snprintf(text, sizeof(text), "-");
		else if (m->repeat > 1 && r->wall_max > r->wall_min)
			snprintf(text, sizeof(text), "%.3f s (%.3f-%.3f)", r->wall, r->wall_min,
				 r->wall_max);
		else
			snprintf(text, sizeof(text), "%.3f s", r->wall);
		md_cell(f, text);
		md_size(f, r->has_fig, r->peak);
		md_size(f, r->has_fig, r->rss);
		md_size(f, r->has_fig, r->total);
		md_cell(f, r->has_fig ? mt_fmt_count(c, sizeof(c), r->allocs) : "-");
		md_size(f, r->has_fig, r->leaked);
		if (r->fig && r->fig->top_function)
			mt_fmt_site(text, sizeof(text), r->fig->top_function, r->fig->top_file,
				    r->fig->top_line, r->fig->cwd);
		else
			snprintf(text, sizeof(text), "-");
		md_cell(f, text);
		fputc('\n', f);
		nfailed += r->failed;
	}

	if (nsteps) {
		fputs("\nPeak heap inside each step (and how far above the step's start):\n\n", f);
		md_header(f, m, (const char *const *)steps, (int)nsteps, 0, (int)nsteps);
		for (uint32_t i = 0; i < m->ncells; i++) {
			md_params(f, m, rows[i].cell);
			for (uint32_t s = 0; s < nsteps; s++) {
				const struct mt_fig_step *st = find_step(rows[i].fig, steps[s]);

				if (st)
					snprintf(text, sizeof(text), "%s (+%s)",
						 mt_fmt_size(b, sizeof(b), st->peak),
						 mt_fmt_size(c, sizeof(c), st->above_start));
				else
					snprintf(text, sizeof(text), "-");
				md_cell(f, text);
			}
			fputc('\n', f);
		}
	}

	if (nfailed) {
		fputs("\nFailed runs:\n", f);
		for (uint32_t i = 0; i < m->ncells; i++)
			for (uint32_t k = 0; k < m->repeat; k++) {
				const struct mt_matrix_run *run = mt_matrix_run(m, rows[i].cell, k);

				if (run->state != MT_RUN_FAILED)
					continue;
				fputs("- ", f);
				cell_name(f, m, rows[i].cell);
				mt_matrix_run_file(m, rows[i].cell, k, "stderr", path, sizeof(path));
				fprintf(f, ", run %u: %s (its output: %s)\n", k + 1,
					mt_matrix_failure(b, sizeof(b), run->exit_status, run->signal),
					mt_fmt_text(text, sizeof(text), path));
			}
	}
	free(steps);
}

/* ----------------------------------------------------------------- CSV */

static void csv_field(FILE *f, const char *s, int first)
{
	if (!first)
		fputc(',', f);
	mt_csv_str(f, s);
}

static void csv_u64(FILE *f, int has, uint64_t v)
{
	if (has)
		fprintf(f, ",%llu", (unsigned long long)v);
	else
		fputc(',', f);
}

/* "function at file:line" with the whole path, as `steps --json` names a site. */
static void site_text(char *buf, size_t cap, const struct mt_figures *fig)
{
	if (!fig || !fig->top_function)
		buf[0] = '\0';
	else if (!fig->top_file[0])
		snprintf(buf, cap, "%s", fig->top_function);
	else if (fig->top_line)
		snprintf(buf, cap, "%s at %s:%u", fig->top_function, fig->top_file, fig->top_line);
	else
		snprintf(buf, cap, "%s at %s", fig->top_function, fig->top_file);
}

static void write_csv(FILE *f, const struct mt_matrix *m, const struct row *rows)
{
	static const char *const cols[] = {
		"status", "exit_status", "signal", "runs", "wall_s", "wall_s_min", "wall_s_max",
		"peak_bytes", "peak_rss_bytes", "total_bytes", "allocations", "leaked_bytes",
		"top_site", "top_site_bytes"
	};
	uint32_t nsteps;
	char **steps = step_names(rows, m->ncells, &nsteps);
	char text[4096], b[32];

	for (uint32_t p = 0; p < m->nparams; p++)
		csv_field(f, m->params[p].name, p == 0);
	for (size_t c = 0; c < sizeof(cols) / sizeof(cols[0]); c++)
		csv_field(f, cols[c], 0);
	for (uint32_t s = 0; s < nsteps; s++) {
		snprintf(text, sizeof(text), "peak_bytes in %s", steps[s]);
		csv_field(f, text, 0);
	}
	fputs("\r\n", f);
	for (uint32_t i = 0; i < m->ncells; i++) {
		const struct row *r = &rows[i];

		for (uint32_t p = 0; p < m->nparams; p++)
			csv_field(f, m->params[p].values[mt_matrix_value(m, r->cell, p)], p == 0);
		csv_field(f, r->status, 0);
		if (r->done)
			fprintf(f, ",%d", r->exit_status);
		else
			fputc(',', f);
		csv_field(f, r->signal ? signal_name(r->signal, b, sizeof(b)) : "", 0);
		fprintf(f, ",%u", r->done);
		if (r->has_wall)
			fprintf(f, ",%.6f,%.6f,%.6f", r->wall, r->wall_min, r->wall_max);
		else
			fputs(",,,", f);
		csv_u64(f, r->has_fig, r->peak);
		csv_u64(f, r->has_fig, r->rss);
		csv_u64(f, r->has_fig, r->total);
		csv_u64(f, r->has_fig, r->allocs);
		csv_u64(f, r->has_fig, r->leaked);
		site_text(text, sizeof(text), r->fig);
		csv_field(f, text, 0);
		csv_u64(f, r->fig && r->fig->top_function, r->fig ? r->fig->top_bytes : 0);
		for (uint32_t s = 0; s < nsteps; s++) {
			const struct mt_fig_step *st = find_step(r->fig, steps[s]);

			csv_u64(f, st != NULL, st ? st->peak : 0);
		}
		fputs("\r\n", f);
	}
	free(steps);
}

/* ---------------------------------------------------------------- JSON */

static void json_u64(FILE *f, const char *key, int has, uint64_t v)
{
	if (has)
		fprintf(f, ", \"%s\": %llu", key, (unsigned long long)v);
	else
		fprintf(f, ", \"%s\": null", key);
}

static void json_wall(FILE *f, const char *key, int has, double v)
{
	if (has)
		fprintf(f, ", \"%s\": %.6f", key, v);
	else
		fprintf(f, ", \"%s\": null", key);
}

/* The JSON document; with title, the HTML page's (a "title" key first). */
static void write_json(FILE *f, const struct mt_matrix *m, const struct row *rows,
		       const char *title)
{
	char text[4096], b[32];

	fputc('{', f);
	if (title) {
		fputs("\"title\": ", f);
		mt_json_str(f, title);
		fputs(", ", f);
	}
	fputs("\"command\": ", f);
	mt_json_str(f, m->command);
	fputs(", \"dir\": ", f);
	mt_json_str(f, m->dir);
	fprintf(f, ", \"repeat\": %u, \"jobs\": %d,\n \"parameters\": [", m->repeat, max_jobs(m));
	for (uint32_t p = 0; p < m->nparams; p++) {
		fputs(p ? ", {\"name\": " : "{\"name\": ", f);
		mt_json_str(f, m->params[p].name);
		fputs(", \"values\": [", f);
		for (uint32_t v = 0; v < m->params[p].nvalues; v++) {
			if (v)
				fputs(", ", f);
			mt_json_str(f, m->params[p].values[v]);
		}
		fputs("]}", f);
	}
	fputs("],\n \"cells\": [", f);
	for (uint32_t i = 0; i < m->ncells; i++) {
		const struct row *r = &rows[i];

		fputs(i ? ",\n  {\"params\": {" : "\n  {\"params\": {", f);
		for (uint32_t p = 0; p < m->nparams; p++) {
			if (p)
				fputs(", ", f);
			mt_json_str(f, m->params[p].name);
			fputs(": ", f);
			mt_json_str(f, m->params[p].values[mt_matrix_value(m, r->cell, p)]);
		}
		fprintf(f, "}, \"status\": \"%s\"", r->status);
		if (r->done)
			fprintf(f, ", \"exit_status\": %d", r->exit_status);
		else
			fputs(", \"exit_status\": null", f);
		json_wall(f, "wall_s", r->has_wall, r->wall);
		json_u64(f, "peak_bytes", r->has_fig, r->peak);
		json_u64(f, "peak_rss_bytes", r->has_fig, r->rss);
		json_u64(f, "total_bytes", r->has_fig, r->total);
		json_u64(f, "allocations", r->has_fig, r->allocs);
		json_u64(f, "leaked_bytes", r->has_fig, r->leaked);
		fputs(", \"top_site\": ", f);
		site_text(text, sizeof(text), r->fig);
		if (text[0])
			mt_json_str(f, text);
		else
			fputs("null", f);
		json_u64(f, "top_site_bytes", r->fig && r->fig->top_function,
			 r->fig ? r->fig->top_bytes : 0);
		fputs(", \"signal\": ", f);
		if (r->signal)
			fprintf(f, "\"%s\"", signal_name(r->signal, b, sizeof(b)));
		else
			fputs("null", f);
		fprintf(f, ", \"runs\": %u, \"failed_runs\": %u", r->done, r->failed);
		json_wall(f, "wall_s_min", r->has_wall, r->wall_min);
		json_wall(f, "wall_s_max", r->has_wall, r->wall_max);
		fprintf(f, ", \"truncated\": %s, \"steps\": [", r->truncated ? "true" : "false");
		for (uint32_t s = 0; r->fig && s < r->fig->nsteps; s++) {
			const struct mt_fig_step *st = &r->fig->steps[s];

			fputs(s ? ", {\"name\": " : "{\"name\": ", f);
			mt_json_str(f, st->name);
			fprintf(f, ", \"peak_bytes\": %llu, \"peak_above_start_bytes\": %llu}",
				(unsigned long long)st->peak, (unsigned long long)st->above_start);
		}
		fputs("]}", f);
	}
	fputs(m->ncells ? "\n ]\n}\n" : "]\n}\n", f);
}

/* ---------------------------------------------------------------- HTML */

struct page_ctx {
	const struct mt_matrix *m;
	const struct row *rows;
	const char *title;
};

static void page_data(FILE *f, void *ctx)
{
	const struct page_ctx *c = ctx;

	write_json(f, c->m, c->rows, c->title);
}

/* The page: web/bench.html with the title and the JSON document filled in. */
static int write_html(FILE *f, const struct mt_matrix *m, const struct row *rows)
{
	char *title = NULL;
	size_t len = 0;
	FILE *t = open_memstream(&title, &len);
	struct page_ctx c = { m, rows, NULL };
	int rc;

	if (!t)
		mt_oom();
	fprintf(t, "memtide bench: %s", m->command);
	fclose(t);
	c.title = title;
	rc = mt_html_fill(f, mt_asset_bench_html, title, page_data, &c);
	free(title);
	return rc;
}

int mt_matrix_write(FILE *f, const struct mt_matrix *m, enum mt_matrix_format fmt,
		    const char *sort)
{
	struct row *rows = mt_xcalloc(m->ncells, sizeof(*rows));
	int rc = 0;

	for (uint32_t i = 0; i < m->ncells; i++)
		summarize(m, i, &rows[i]);
	if (sort && find_sort(m, sort) == 0)
		qsort(rows, m->ncells, sizeof(*rows), cmp_rows);
	switch (fmt) {
	case MT_MATRIX_MD: write_md(f, m, rows); break;
	case MT_MATRIX_CSV: write_csv(f, m, rows); break;
	case MT_MATRIX_JSON: write_json(f, m, rows, NULL); break;
	case MT_MATRIX_HTML: rc = write_html(f, m, rows); break;
	}
	free(rows);
	return rc;
}

void mt_matrix_release(struct mt_matrix *m)
{
	for (size_t i = 0; m->runs && i < (size_t)m->ncells * m->repeat; i++)
		mt_figures_release(&m->runs[i].fig);
	free(m->runs);
	for (uint32_t p = 0; p < m->nparams; p++) {
		for (uint32_t v = 0; v < m->params[p].nvalues; v++)
			free(m->params[p].values[v]);
		free(m->params[p].values);
		free(m->params[p].name);
	}
	free(m->params);
	free(m->command);
	free(m->dir);
	memset(m, 0, sizeof(*m));
}
