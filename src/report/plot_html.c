/*
 * plot_html.c - `memtide plot -o FILE.html`: the interactive version of
 * the plot (plot.h), the embedded web/plot.html filled with the runs'
 * timelines, peaks and steps (docs/HTML.md, "The plot page").  Names go
 * out through mt_json_str, which escapes '<', '>' and '&'.
 */
#include "html.h"
#include "output.h"
#include "plot.h"

struct page {
	const struct mt_plot_run *runs;
	int nruns;
	const struct mt_plot_opts *o;
};

static void write_run(FILE *f, const struct mt_plot_run *run, int steps)
{
	const struct mt_replay *r = run->r;

	fputs("{\"label\": ", f);
	mt_json_str(f, run->label);
	fputs(", \"file\": ", f);
	mt_json_str(f, r->c.path ? r->c.path : "");
	fputs(", \"command\": ", f);
	mt_json_str(f, r->c.command ? r->c.command : "");
	fprintf(f, ", \"truncated\": %s, \"peak_bytes\": %llu, \"peak_time\": %.3f, "
		   "\"peak_rss_bytes\": %llu, \"peak_rss_time\": %.3f, \"duration\": %.3f,\n"
		   "  \"timeline\": ",
		r->c.truncated ? "true" : "false", (unsigned long long)r->peak_bytes,
		(double)r->peak_ns / 1e9, (unsigned long long)r->c.peak_rss,
		(double)r->c.peak_rss_ns / 1e9, (double)r->c.end_ns / 1e9);
	mt_html_timeline(f, r);
	fputs(",\n  \"steps\": [", f);
	for (uint32_t i = 0; steps && i < r->nsteps; i++) {
		fputs(i ? ", {\"name\": " : "{\"name\": ", f);
		mt_json_str(f, mt_capture_string(&r->c, r->steps[i].name));
		fprintf(f, ", \"start\": %.6f, \"end\": %.6f}", (double)r->steps[i].start_ns / 1e9,
			(double)r->steps[i].end_ns / 1e9);
	}
	fputs("]}", f);
}

static void write_data(FILE *f, void *ctx)
{
	const struct page *pg = ctx;
	int series = pg->o->series;

	fputs("{\"meta\": {\"title\": ", f);
	mt_json_str(f, pg->o->title);
	fprintf(f, ", \"series\": \"%s\"},\n\"runs\": [",
		series == (MT_PLOT_HEAP | MT_PLOT_RSS) ? "both" : series == MT_PLOT_RSS ? "rss" : "heap");
	for (int i = 0; i < pg->nruns; i++) {
		fputs(i ? ",\n" : "\n", f);
		write_run(f, &pg->runs[i], pg->o->steps);
	}
	fputs("]}", f);
}

int mt_plot_html(FILE *f, const char *tmpl, const struct mt_plot_run *runs, int nruns,
		 const struct mt_plot_opts *o)
{
	struct page pg = { runs, nruns, o };

	return mt_html_fill(f, tmpl, o->title, write_data, &pg);
}
