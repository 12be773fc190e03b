/*
 * plot.h - memory over time of one or more captures, as `memtide plot`
 * draws it: a picture (PNG, SVG, PDF: one drawing code, cairo) or an
 * interactive page (HTML, uPlot).  One line per capture and series, in
 * seconds from each run's start; each run's peak marked and labelled; its
 * steps shaded and named.
 */
#ifndef MT_PLOT_H
#define MT_PLOT_H

#include <stdio.h>

#include "../analysis/replay.h"

enum mt_plot_format { MT_PLOT_PNG, MT_PLOT_SVG, MT_PLOT_PDF, MT_PLOT_HTML };

/* What is drawn (mt_plot_opts.series). */
#define MT_PLOT_HEAP 1
#define MT_PLOT_RSS 2

struct mt_plot_run {
	const struct mt_replay *r;	/* its timeline, peaks and steps */
	const char *label;		/* its name in the legend, valid UTF-8 */
};

struct mt_plot_opts {
	const char *title;		/* valid UTF-8 */
	int series;			/* MT_PLOT_HEAP and/or MT_PLOT_RSS */
	int steps;			/* shade and name the runs' steps */
};

/*
 * Draws the runs into f as a PNG, SVG or PDF image.  Returns 0, or -1
 * with a one-line reason in err (cairo missing, a drawing error).  SVG
 * keeps its text as <text> elements (drawn by the viewer's font), so that
 * it can be searched and selected.
 */
int mt_plot_draw(FILE *f, enum mt_plot_format fmt, const struct mt_plot_run *runs, int nruns,
		 const struct mt_plot_opts *o, char *err, size_t errlen);

/*
 * Writes the interactive page: tmpl (the embedded web/plot.html) filled
 * with the title and the data document of docs/HTML.md.  Returns 0, or -1
 * when the template lacks its placeholders.
 */
int mt_plot_html(FILE *f, const char *tmpl, const struct mt_plot_run *runs, int nruns,
		 const struct mt_plot_opts *o);

#endif
