/*
 * html.h - writes the self-contained HTML reports: a page template from
 * web/ (embedded at build time) with the title and data filled in.
 */
#ifndef MT_HTML_H
#define MT_HTML_H

#include <stdio.h>

#include "../analysis/calltree.h"
#include "../analysis/proctree.h"

struct mt_html_opts {
	enum mt_view view;
	const char *title;
	int inverted, split_threads;	/* the page's initial settings */
	int temporal;			/* the replay has temporal buckets */
	uint32_t max_stacks;		/* smaller stacks merge into one; 0: 20000 */
	int show_all;			/* --show-all-frames: nothing marked hidden */
};

/* A flame graph or table page of a replay: 0, or -1 as below. */
int mt_html_write(FILE *f, const char *tmpl, const struct mt_replay *r,
		  struct mt_symbols *syms, const struct mt_html_opts *o);

/* One process of a page on several: its replay, and the frame its stacks
 * start with (NULL: none). */
struct mt_html_source {
	const struct mt_replay *r;
	struct mt_symbols *syms;
	const char *root;
};
/*
 * The same page for a run's captures (pt: their process tree, finished):
 * every process's stacks (each at its own peak, or its leaks...) under its
 * root, threads and steps named after their process, heap and RSS summed
 * on the run's clock, the peak the combined one.  Not temporal.
 */
int mt_html_write_many(FILE *f, const char *tmpl, const struct mt_html_source *src, size_t n,
		       const struct mt_proctree *pt, const struct mt_html_opts *o);

/*
 * Copies tmpl to f with {{TITLE}} replaced by title (HTML-escaped) and
 * {{DATA}} by what write(f, ctx) writes (a JSON document with '<', '>'
 * and '&' escaped, as mt_json_str does), in one pass.  Returns 0, or -1
 * when the template lacks the placeholders.
 */
int mt_html_fill(FILE *f, const char *tmpl, const char *title,
		 void (*write)(FILE *f, void *ctx), void *ctx);

/*
 * Heap and RSS over time as {"t": [seconds], "heap": [bytes], "rss":
 * [bytes]}: at most 2,000 points keeping each interval's maximum, and
 * always the last one (the heap as the capture left it).
 */
void mt_html_timeline(FILE *f, const struct mt_replay *r);

#endif
