/*
 * plot.c - memory over time drawn with cairo (plot.h): axes with ticks in
 * binary sizes and s/min/h, one line per capture and series, step bands
 * with their names, peak markers with labels placed where they overlap
 * nothing, and a legend inside the plot where it covers no line, else
 * below it.  One drawing code for PNG, SVG and PDF; cairo is loaded when
 * a plot is drawn (cairo_dl.h), never at memtide's start-up.
 */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cairo_dl.h"
#include "output.h"
#include "plot.h"
#include "../format/xalloc.h"

#define W 960.0			/* the picture in points (the SVG's and PDF's size) */
#define H 540.0
#define PNG_SCALE 1.25		/* PNG pixels per point: 1200 x 675 */
#define FONT "DejaVu Sans"	/* cairo (fontconfig) falls back to a sans-serif */
#define SVG_FONT "DejaVu Sans, Verdana, sans-serif"
#define PAD 16.0
#define TITLE_SIZE 17.0
#define TICK_SIZE 11.5
#define LABEL_SIZE 11.5
#define LEGEND_ROW 18.0
#define STEP_ROW 15.0
#define MAX_LABEL 512		/* bytes of a label or a name, after escaping */

#define CR(f) (cv->c->cairo_##f)

struct rgba {
	double r, g, b, a;
};

#define HEX(h) { ((h) >> 16 & 255) / 255.0, ((h) >> 8 & 255) / 255.0, ((h) & 255) / 255.0, 1 }

/* One colour per capture (Tableau 10), or heap and RSS of a single one. */
static const struct rgba palette[] = {
	HEX(0x1f77b4), HEX(0xd62728), HEX(0x2ca02c), HEX(0xff7f0e), HEX(0x9467bd),
	HEX(0x8c564b), HEX(0xe377c2), HEX(0x7f7f7f), HEX(0xbcbd22), HEX(0x17becf),
};
static const struct rgba heap_colour = HEX(0xc2410c), rss_colour = HEX(0x1f6feb);
static const struct rgba ink = HEX(0x1f2937), muted = HEX(0x4b5563), grid = HEX(0xe5e7eb),
	axis = HEX(0x9ca3af), white = HEX(0xffffff);

enum anchor { START, MIDDLE, END };

/* A text kept for the SVG's <text> elements. */
struct text {
	double x, y, size;
	enum anchor anchor;
	int bold, vertical;
	struct rgba colour;
	char *s;
};

struct canvas {
	const struct mt_cairo *c;
	cairo_t *cr;
	int svg;			/* texts are kept, not drawn */
	struct text *texts;
	size_t ntexts, cap;
};

struct rect {
	double x0, y0, x1, y1;
};

/* A peak: where its marker is, and its label once placed. */
struct peak {
	double x, y;
	struct rgba colour;
	char label[96];
	struct rect box;
};

struct legend_entry {
	const char *full;	/* the label, and as shown (cut to fit) */
	char label[MAX_LABEL];
	struct rgba colour;
	int dashed, swatch;	/* swatch 0: a line of text without a line sample */
	double w;
};

struct plot {
	const struct mt_plot_run *runs;
	int nruns;
	const struct mt_plot_opts *o;
	double xmax;			/* seconds at the right end */
	double ymax;			/* bytes at the top */
	double left, right, top, bottom;	/* the plot area */
	double xstep, xunit;		/* ticks every xstep xunits (1, 60, 3600 s) */
	double ystep;
	int step_rows;			/* rows of step names at the top */
	struct legend_entry *entries;
	int nentries, legend_outside;
	struct rect legend;
	struct peak *peaks;
	int npeaks;
	struct rect *taken;		/* step names and placed labels */
	int ntaken, cap_taken;
};

/* ------------------------------------------------------------- drawing */

static void colour(struct canvas *cv, struct rgba c, double alpha)
{
	CR(set_source_rgba)(cv->cr, c.r, c.g, c.b, alpha);
}

static void font(struct canvas *cv, double size, int bold)
{
	CR(select_font_face)(cv->cr, FONT, CAIRO_FONT_SLANT_NORMAL,
			     bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
	CR(set_font_size)(cv->cr, size);
}

static double text_width(struct canvas *cv, const char *s, double size, int bold)
{
	cairo_text_extents_t e;

	font(cv, size, bold);
	CR(text_extents)(cv->cr, s, &e);
	return e.x_advance;
}

/* s with its baseline at y; x is its start, middle or end. */
static void text(struct canvas *cv, double x, double y, const char *s, double size, int bold,
		 enum anchor a, struct rgba c)
{
	double w = text_width(cv, s, size, bold);

	if (cv->svg) {
		if (cv->ntexts == cv->cap) {
			cv->cap = cv->cap ? cv->cap * 2 : 64;
			cv->texts = mt_xrealloc(cv->texts, cv->cap * sizeof(*cv->texts));
		}
		cv->texts[cv->ntexts++] = (struct text){ x, y, size, a, bold, 0, c, mt_xstrdup(s) };
		return;
	}
	colour(cv, c, c.a);
	CR(move_to)(cv->cr, a == START ? x : a == MIDDLE ? x - w / 2 : x - w, y);
	CR(show_text)(cv->cr, s);
	CR(new_path)(cv->cr);
}

/* Centred on (x, y), read from the bottom up. */
static void text_vertical(struct canvas *cv, double x, double y, const char *s, double size,
			  struct rgba c)
{
	double w = text_width(cv, s, size, 0);

	if (cv->svg) {
		text(cv, x, y, s, size, 0, MIDDLE, c);
		cv->texts[cv->ntexts - 1].vertical = 1;
		return;
	}
	CR(save)(cv->cr);
	colour(cv, c, c.a);
	CR(move_to)(cv->cr, x, y + w / 2);
	CR(rotate)(cv->cr, -M_PI / 2);
	CR(show_text)(cv->cr, s);
	CR(new_path)(cv->cr);
	CR(restore)(cv->cr);
}

static void line(struct canvas *cv, double x0, double y0, double x1, double y1, double width,
		 struct rgba c, double alpha)
{
	colour(cv, c, alpha);
	CR(set_line_width)(cv->cr, width);
	CR(move_to)(cv->cr, x0, y0);
	CR(line_to)(cv->cr, x1, y1);
	CR(stroke)(cv->cr);
}

static void fill_rect(struct canvas *cv, struct rect r, struct rgba c, double alpha)
{
	colour(cv, c, alpha);
	CR(rectangle)(cv->cr, r.x0, r.y0, r.x1 - r.x0, r.y1 - r.y0);
	CR(fill)(cv->cr);
}

static void dash(struct canvas *cv, double on, double off)
{
	double d[2] = { on, off };

	CR(set_dash)(cv->cr, d, on > 0 ? 2 : 0, 0);
}

/* -------------------------------------------------------------- texts */

/* Bytes of the UTF-8 character starting at s (1 for a stray byte). */
static int char_len(const char *s)
{
	unsigned char b = (unsigned char)*s;
	int n = b < 0xc0 ? 1 : b < 0xe0 ? 2 : b < 0xf0 ? 3 : 4;

	for (int i = 1; i < n; i++)
		if (!s[i])
			return i;
	return n;
}

/* Offsets of the characters of s, and their number. */
static int char_offsets(const char *s, int *off, int max)
{
	int n = 0, i = 0;

	while (s[i] && n < max) {
		off[n++] = i;
		i += char_len(s + i);
	}
	off[n] = i;
	return n;
}

/*
 * s cut to maxw with "…": at its end, or in its middle (a command keeps
 * its program and its last arguments, which tell runs apart).
 */
static const char *elide(struct canvas *cv, char *buf, size_t cap, const char *s, double size,
			 int bold, double maxw, int middle)
{
	int off[MAX_LABEL + 1], n = char_offsets(s, off, MAX_LABEL);

	snprintf(buf, cap, "%s", s);
	for (int keep = n; text_width(cv, buf, size, bold) > maxw; keep--) {
		int head = middle ? (keep + 1) / 2 : keep, tail = middle ? keep / 2 : 0;

		if (keep <= 0) {
			buf[0] = '\0';
			break;
		}
		snprintf(buf, cap, "%.*s…%s", off[head], s, s + off[n - tail]);
	}
	return buf;
}

/* "0", "512 B", "1.5 KiB", "20 MiB": a tick's size, without useless zeros. */
static const char *size_short(char *buf, size_t cap, double bytes)
{
	char *end, *cut;

	if (bytes < 0.5)
		return snprintf(buf, cap, "0"), buf;
	mt_fmt_size(buf, cap, (uint64_t)(bytes + 0.5));
	if (!strchr(buf, '.'))
		return buf;		/* "512 B" */
	end = cut = strchr(buf, ' ');	/* "1.50 KiB": "1.5 KiB"; "20.00 MiB": "20 MiB" */
	while (cut[-1] == '0')
		cut--;
	if (cut[-1] == '.')
		cut--;
	memmove(cut, end, strlen(end) + 1);
	return buf;
}

/* "0.504 s" (as stats says it), "2 min 05 s", "1 h 02 min": a moment of a run. */
static const char *moment(char *buf, size_t cap, uint64_t ns)
{
	double s = (double)ns / 1e9;

	if (s < 60)
		snprintf(buf, cap, "%.3f s", s);
	else if (s < 3600)
		snprintf(buf, cap, "%d min %02d s", (int)(s / 60), (int)fmod(s, 60));
	else
		snprintf(buf, cap, "%d h %02d min", (int)(s / 3600), (int)fmod(s / 60, 60));
	return buf;
}

/* ------------------------------------------------------------- layout */

static double px(const struct plot *p, double seconds)
{
	return p->left + seconds / p->xmax * (p->right - p->left);
}

static double py(const struct plot *p, double bytes)
{
	return p->bottom - bytes / p->ymax * (p->bottom - p->top);
}

static const uint64_t *values(const struct mt_replay *r, int series)
{
	return series == MT_PLOT_HEAP ? r->tl_heap : r->tl_rss;
}

/*
 * A series as drawn: the timeline's samples, which hold each round's
 * maximum at the round's end, with the peak put where it happened (up to
 * a round earlier), so that the line goes through its marker; the heap
 * starts at (0, 0), as nothing tracked is live when a capture starts.
 */
struct line {
	const uint64_t *t, *v;	/* the samples */
	size_t n;		/* points, the samples and those below */
	int zero;		/* point 0 is (0, 0) */
	size_t peak_at;		/* the peak's point, n for none */
	uint64_t peak_ns, peak;
};

static void line_init(struct line *l, const struct mt_replay *r, int series)
{
	size_t j = 0;

	l->t = r->tl_ns;
	l->v = values(r, series);
	l->n = r->ntl;
	l->zero = series == MT_PLOT_HEAP && r->ntl && r->tl_ns[0] > 0;
	l->peak_ns = series == MT_PLOT_HEAP ? r->peak_ns : r->c.peak_rss_ns;
	l->peak = series == MT_PLOT_HEAP ? r->peak_bytes : r->c.peak_rss;
	l->peak_at = SIZE_MAX;
	while (j < r->ntl && r->tl_ns[j] < l->peak_ns)
		j++;
	if (r->ntl && l->peak && !(j < r->ntl && r->tl_ns[j] == l->peak_ns && l->v[j] == l->peak))
		l->peak_at = j + (size_t)l->zero;
	l->n += (size_t)l->zero + (l->peak_at != SIZE_MAX);
	if (l->peak_at == SIZE_MAX)
		l->peak_at = l->n;
}

/* Point k of a line: x in seconds, y in bytes. */
static void line_point(const struct line *l, size_t k, double *x, double *y)
{
	size_t j = k - (size_t)l->zero - (k > l->peak_at);

	if (k == l->peak_at) {
		*x = (double)l->peak_ns / 1e9;
		*y = (double)l->peak;
	} else if (l->zero && !k) {
		*x = *y = 0;
	} else {
		*x = (double)l->t[j] / 1e9;
		*y = (double)l->v[j];
	}
}

static struct rgba run_colour(const struct plot *p, int run, int series)
{
	if (p->nruns == 1)
		return series == MT_PLOT_RSS ? rss_colour : heap_colour;
	return palette[run % (int)(sizeof(palette) / sizeof(palette[0]))];
}

static int overlap(struct rect a, struct rect b)
{
	return a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;
}

/* Does the segment (x0,y0)-(x1,y1) cross r?  (Liang-Barsky clipping.) */
static int segment_hits(struct rect r, double x0, double y0, double x1, double y1)
{
	double t0 = 0, t1 = 1, dx = x1 - x0, dy = y1 - y0;
	double pq[4][2] = { { -dx, x0 - r.x0 }, { dx, r.x1 - x0 }, { -dy, y0 - r.y0 }, { dy, r.y1 - y0 } };

	for (int i = 0; i < 4; i++) {
		double pp = pq[i][0], q = pq[i][1];

		if (pp == 0) {
			if (q < 0)
				return 0;
		} else if (pp < 0) {
			t0 = fmax(t0, q / pp);
		} else {
			t1 = fmin(t1, q / pp);
		}
		if (t0 > t1)
			return 0;
	}
	return 1;
}

/* How many segments of the lines cross r. */
static int line_hits(const struct plot *p, struct rect r)
{
	int hits = 0;

	for (int i = 0; i < p->nruns; i++) {
		const struct mt_replay *rp = p->runs[i].r;

		for (int s = MT_PLOT_HEAP; s <= MT_PLOT_RSS; s++) {
			struct line l;
			double x0, y0, x1, y1;

			if (!(p->o->series & s))
				continue;
			line_init(&l, rp, s);
			for (size_t k = 0; k + 1 < l.n; k++) {
				line_point(&l, k, &x0, &y0);
				line_point(&l, k + 1, &x1, &y1);
				hits += segment_hits(r, px(p, x0), py(p, y0), px(p, x1), py(p, y1));
			}
		}
	}
	return hits;
}

/* How much of what is drawn r would cover: lines, markers, labels. */
static int covers(const struct plot *p, struct rect r)
{
	int hits = line_hits(p, r);

	for (int i = 0; i < p->npeaks; i++)
		hits += overlap(r, (struct rect){ p->peaks[i].x - 60, p->peaks[i].y - 24,
						  p->peaks[i].x + 60, p->peaks[i].y + 6 });
	for (int i = 0; i < p->ntaken; i++)
		hits += overlap(r, p->taken[i]);
	return hits;
}

static void take(struct plot *p, struct rect r)
{
	if (p->ntaken == p->cap_taken) {
		p->cap_taken = p->cap_taken ? p->cap_taken * 2 : 32;
		p->taken = mt_xrealloc(p->taken, (size_t)p->cap_taken * sizeof(*p->taken));
	}
	p->taken[p->ntaken++] = r;
}

/* Nice steps: 1, 2, 5 times a power of ten. */
static double nice_step(int i)
{
	static const double m[3] = { 1, 2, 5 };

	return m[((i % 3) + 3) % 3] * pow(10, floor(i / 3.0));
}

/* "0", "0.5 s", "10 s", "2 min", "1.5 h": the k-th tick, step units apart. */
static const char *time_tick(char *buf, size_t cap, int k, double step, double unit)
{
	int dec = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);

	if (!k)
		return snprintf(buf, cap, "0"), buf;
	snprintf(buf, cap, "%.*f %s", dec, k * step, unit == 1 ? "s" : unit == 60 ? "min" : "h");
	return buf;
}

/* The time axis: its unit and a step whose labels do not touch. */
static void time_ticks(struct canvas *cv, struct plot *p)
{
	static const double minutes[] = { 0.5, 1, 2, 5, 10, 15, 20, 30, 60 };
	double pw = p->right - p->left;
	char buf[64];

	p->xunit = p->xmax < 120 ? 1 : p->xmax < 2 * 3600 ? 60 : 3600;
	for (int i = -9; i < 40; i++) {
		double step = p->xunit == 60 ? (i < 0 ? 0 : i < 9 ? minutes[i] : 0) : nice_step(i);
		double wmax = 0;

		if (step <= 0 || step * p->xunit * 12 < p->xmax)
			continue;	/* at most a dozen ticks */
		for (int k = 0; k * step <= p->xmax / p->xunit * (1 + 1e-9); k++)
			wmax = fmax(wmax, text_width(cv, time_tick(buf, sizeof(buf), k, step, p->xunit),
						     TICK_SIZE, 0));
		if (step * p->xunit / p->xmax * pw >= wmax + 14) {
			p->xstep = step;
			return;
		}
	}
	p->xstep = p->xmax / p->xunit;
}

/*
 * The size axis: steps of 1, 2, 5, 10, 20, 50, 100, 200, 500 B, KiB,
 * MiB... (as the reports name sizes), about every 45 points or more.
 */
static double size_step(double ymax, double height)
{
	static const double m[9] = { 1, 2, 5, 10, 20, 50, 100, 200, 500 };
	int most = (int)(height / 45);

	if (most < 2)
		most = 2;
	for (double unit = 1; unit < 1e19; unit *= 1024)
		for (int i = 0; i < 9; i++)
			if (ymax / (m[i] * unit) <= most)
				return m[i] * unit;
	return ymax;
}

static void legend_entries(struct plot *p)
{
	int both = (p->o->series & MT_PLOT_HEAP) && (p->o->series & MT_PLOT_RSS), n = 0;

	p->entries = mt_xcalloc((size_t)p->nruns + 3, sizeof(*p->entries));
	if (p->nruns == 1) {
		/* one capture: its name, then each series in its colour */
		struct legend_entry *e = &p->entries[n++];

		e->full = p->runs[0].label;
		e->colour = run_colour(p, 0, both ? MT_PLOT_HEAP : p->o->series);
		e->swatch = !both;
		for (int s = MT_PLOT_HEAP; both && s <= MT_PLOT_RSS; s++) {
			e = &p->entries[n++];
			e->full = s == MT_PLOT_HEAP ? "heap" : "RSS";
			e->colour = run_colour(p, 0, s);
			e->dashed = s == MT_PLOT_RSS;
			e->swatch = 1;
		}
	} else {
		for (int i = 0; i < p->nruns; i++) {
			struct legend_entry *e = &p->entries[n++];

			e->full = p->runs[i].label;
			e->colour = run_colour(p, i, 0);
			e->swatch = 1;
		}
		for (int s = MT_PLOT_HEAP; both && s <= MT_PLOT_RSS; s++) {
			struct legend_entry *e = &p->entries[n++];

			e->full = s == MT_PLOT_HEAP ? "heap" : "RSS";
			e->colour = muted;
			e->dashed = s == MT_PLOT_RSS;
			e->swatch = 1;
		}
	}
	p->nentries = n;
}

static void draw_swatch(struct canvas *cv, double x, double y, const struct legend_entry *e)
{
	dash(cv, e->dashed ? 6 : 0, 4);
	line(cv, x, y, x + 22, y, 2.2, e->colour, 1);
	dash(cv, 0, 0);
}

/*
 * The legend below the plot: entries left to right in rows across the
 * picture, from y.  Draws them when cv is given; returns the height.
 */
static double legend_flow(struct canvas *cv, const struct plot *p, double y)
{
	double x0 = PAD + 8, x = x0, base = y + LEGEND_ROW - 5;

	for (int i = 0; i < p->nentries; i++) {
		const struct legend_entry *e = &p->entries[i];

		if (x > x0 && x + e->w > W - PAD) {
			x = x0;
			base += LEGEND_ROW;
		}
		if (cv && e->swatch)
			draw_swatch(cv, x, base - 4, e);
		if (cv)
			text(cv, x + (e->swatch ? 30 : 0), base, e->label, LABEL_SIZE, 0, START, ink);
		x += e->w + 24;
	}
	return base + 5 - y;
}

/* Labels cut to maxw; the legend's width and height as one column. */
static void legend_size(struct canvas *cv, struct plot *p, double maxw, double *w, double *h)
{
	*w = 0;
	for (int i = 0; i < p->nentries; i++) {
		struct legend_entry *e = &p->entries[i];

		elide(cv, e->label, sizeof(e->label), e->full, LABEL_SIZE, 0, maxw, 1);
		e->w = (e->swatch ? 30 : 0) + text_width(cv, e->label, LABEL_SIZE, 0);
		*w = fmax(*w, e->w);
	}
	*w += 20;
	*h = p->nentries * LEGEND_ROW + 10;
}

static int has_steps(const struct plot *p, int run)
{
	return p->o->steps && p->runs[run].r->nsteps;
}

/* The plot area, the axes' scales and ticks for a legend inside or below. */
static void place_axes(struct canvas *cv, struct plot *p, double below)
{
	double data_max = 0, reserve, step, wmax = 0;
	char buf[64];

	p->top = PAD + TITLE_SIZE + 18;
	p->bottom = H - PAD - 44 - (below ? below + 8 : 0);
	/* room above the highest point for the step names and a peak label */
	reserve = p->step_rows * STEP_ROW + 30;
	for (int i = 0; i < p->nruns; i++) {
		const struct mt_replay *r = p->runs[i].r;

		for (size_t k = 0; k < r->ntl; k++) {
			if (p->o->series & MT_PLOT_HEAP)
				data_max = fmax(data_max, (double)r->tl_heap[k]);
			if (p->o->series & MT_PLOT_RSS)
				data_max = fmax(data_max, (double)r->tl_rss[k]);
		}
		if (p->o->series & MT_PLOT_HEAP)
			data_max = fmax(data_max, (double)r->peak_bytes);
		if (p->o->series & MT_PLOT_RSS)
			data_max = fmax(data_max, (double)r->c.peak_rss);
	}
	if (data_max < 1)
		data_max = 1024;
	p->ymax = data_max * (p->bottom - p->top) / (p->bottom - p->top - reserve);
	p->ystep = step = size_step(p->ymax, p->bottom - p->top);
	for (int k = 0; k * step <= p->ymax; k++)
		wmax = fmax(wmax, text_width(cv, size_short(buf, sizeof(buf), k * step), TICK_SIZE, 0));
	p->left = PAD + 22 + wmax + 8;
	p->right = W - PAD - 14;	/* room for half the last tick label */
	time_ticks(cv, p);
}

/* Step names: one row per capture with steps, each in its own band. */
static void place_step_names(struct canvas *cv, struct plot *p)
{
	int row = 0;

	for (int i = 0; i < p->nruns; i++) {
		const struct mt_replay *r = p->runs[i].r;

		if (!has_steps(p, i))
			continue;
		for (uint32_t k = 0; k < r->nsteps; k++) {
			double x0 = px(p, (double)r->steps[k].start_ns / 1e9);
			double x1 = px(p, (double)r->steps[k].end_ns / 1e9);
			char name[MAX_LABEL];
			double w;

			mt_fmt_text(name, sizeof(name), mt_capture_string(&r->c, r->steps[k].name));
			w = text_width(cv, name, LABEL_SIZE - 1, 0);
			if (w > x1 - x0 - 8)
				w = x1 - x0 - 8;
			if (w > 4)
				take(p, (struct rect){ x0, p->top + row * STEP_ROW + 2, x0 + 8 + w,
						       p->top + (row + 1) * STEP_ROW + 2 });
		}
		row++;
	}
}

static void place_peaks(struct plot *p)
{
	int both = (p->o->series & MT_PLOT_HEAP) && (p->o->series & MT_PLOT_RSS);
	char at[32], size[32];

	p->peaks = mt_xcalloc((size_t)p->nruns * 2, sizeof(*p->peaks));
	for (int i = 0; i < p->nruns; i++) {
		const struct mt_replay *r = p->runs[i].r;

		for (int s = MT_PLOT_HEAP; s <= MT_PLOT_RSS; s++) {
			struct peak *k = &p->peaks[p->npeaks];
			uint64_t bytes = s == MT_PLOT_HEAP ? r->peak_bytes : r->c.peak_rss;
			uint64_t ns = s == MT_PLOT_HEAP ? r->peak_ns : r->c.peak_rss_ns;

			if (!(p->o->series & s) || !r->ntl)
				continue;
			k->x = px(p, (double)ns / 1e9);
			k->y = py(p, (double)bytes);
			k->colour = run_colour(p, i, s);
			snprintf(k->label, sizeof(k->label), "%speak %s at %s",
				 !both ? "" : s == MT_PLOT_HEAP ? "heap " : "RSS ",
				 mt_fmt_size(size, sizeof(size), bytes), moment(at, sizeof(at), ns));
			p->npeaks++;
		}
	}
}

/*
 * Each peak's label: around its marker, where it overlaps no other label,
 * marker, step name or the legend, and crosses the fewest lines.
 */
static void place_peak_labels(struct canvas *cv, struct plot *p)
{
	for (int i = 0; i < p->npeaks; i++) {
		struct peak *k = &p->peaks[i];
		double w = text_width(cv, k->label, LABEL_SIZE, 1) + 8, h = LABEL_SIZE + 6;
		/* above, above right, above left, right, left, below; then higher */
		double cand[][2] = {
			{ k->x - w / 2, k->y - 8 - h }, { k->x + 4, k->y - 8 - h }, { k->x - 4 - w, k->y - 8 - h },
			{ k->x + 9, k->y - h / 2 }, { k->x - 9 - w, k->y - h / 2 }, { k->x - w / 2, k->y + 8 },
			{ k->x - w / 2, k->y - 8 - 2 * h }, { k->x - w / 2, k->y - 8 - 3 * h },
			{ k->x + 9, k->y + 6 }, { k->x - 9 - w, k->y + 6 },
		};
		int best = -1, best_hits = INT_MAX;

		for (int c = 0; c < (int)(sizeof(cand) / sizeof(cand[0])) && best_hits; c++) {
			struct rect r;
			int ok = 1, hits;

			/* kept inside the plot area */
			cand[c][0] = fmin(fmax(cand[c][0], p->left + 2), p->right - w - 2);
			cand[c][1] = fmin(fmax(cand[c][1], p->top + 2), p->bottom - h - 2);
			r = (struct rect){ cand[c][0], cand[c][1], cand[c][0] + w, cand[c][1] + h };
			if (!p->legend_outside && overlap(r, p->legend))
				continue;
			for (int t = 0; t < p->ntaken; t++)
				ok = ok && !overlap(r, p->taken[t]);
			for (int j = 0; ok && j < p->npeaks; j++)	/* over a marker */
				ok = !(hypot(p->peaks[j].x - fmin(fmax(p->peaks[j].x, r.x0), r.x1),
					       p->peaks[j].y - fmin(fmax(p->peaks[j].y, r.y0), r.y1)) < 6);
			if (ok && (hits = line_hits(p, r)) < best_hits) {
				best = c;
				best_hits = hits;
			}
		}
		if (best < 0)
			best = 0;
		k->box = (struct rect){ cand[best][0], cand[best][1], cand[best][0] + w, cand[best][1] + h };
		take(p, k->box);
	}
}

/*
 * The legend: in the first corner of the plot where it covers nothing
 * (top right, top left, bottom right, bottom left), else in rows below the
 * plot.  The axes are laid out again when it moves out.
 */
static void place_legend(struct canvas *cv, struct plot *p)
{
	double w, h, rows_h;

	legend_entries(p);
	place_axes(cv, p, 0);
	place_step_names(cv, p);
	place_peaks(p);
	legend_size(cv, p, (p->right - p->left) * 0.55, &w, &h);
	{
		double inset = 8, top = p->top + p->step_rows * STEP_ROW + inset;
		struct rect cand[4] = {
			{ p->right - inset - w, top, p->right - inset, top + h },
			{ p->left + inset, top, p->left + inset + w, top + h },
			{ p->right - inset - w, p->bottom - inset - h, p->right - inset, p->bottom - inset },
			{ p->left + inset, p->bottom - inset - h, p->left + inset + w, p->bottom - inset },
		};

		for (int c = 0; c < 4; c++) {
			if (!covers(p, cand[c])) {
				p->legend = cand[c];
				place_peak_labels(cv, p);
				return;
			}
		}
	}
	/* below the plot, in rows across the picture */
	p->legend_outside = 1;
	legend_size(cv, p, W - 2 * PAD - 60, &w, &h);
	rows_h = legend_flow(NULL, p, H) + 6;
	free(p->peaks);
	p->peaks = NULL;
	p->npeaks = 0;
	p->ntaken = 0;
	place_axes(cv, p, rows_h);
	place_step_names(cv, p);
	place_peaks(p);
	p->legend = (struct rect){ p->left, H - PAD - rows_h, p->right, H - PAD };
	place_peak_labels(cv, p);
}

static void draw_legend(struct canvas *cv, const struct plot *p)
{
	struct rect r = p->legend;

	if (p->legend_outside) {
		legend_flow(cv, p, r.y0);
		return;
	}
	fill_rect(cv, r, white, 0.9);
	colour(cv, axis, 1);
	CR(set_line_width)(cv->cr, 0.8);
	CR(rectangle)(cv->cr, r.x0 + 0.4, r.y0 + 0.4, r.x1 - r.x0 - 0.8, r.y1 - r.y0 - 0.8);
	CR(stroke)(cv->cr);
	for (int i = 0; i < p->nentries; i++) {
		const struct legend_entry *e = &p->entries[i];
		double y = r.y0 + 5 + (i + 1) * LEGEND_ROW - 5;

		if (e->swatch)
			draw_swatch(cv, r.x0 + 10, y - 4, e);
		text(cv, r.x0 + 10 + (e->swatch ? 30 : 0), y, e->label, LABEL_SIZE, 0, START, ink);
	}
}

static void draw_axes(struct canvas *cv, const struct plot *p)
{
	char buf[64];
	int both = (p->o->series & MT_PLOT_HEAP) && (p->o->series & MT_PLOT_RSS);

	/* grid and size ticks */
	for (int k = 0; k * p->ystep <= p->ymax; k++) {
		double y = round(py(p, k * p->ystep)) + 0.5;

		line(cv, p->left, y, p->right, y, 1, k ? grid : axis, 1);
		text(cv, p->left - 7, y + TICK_SIZE * 0.35, size_short(buf, sizeof(buf), k * p->ystep),
		     TICK_SIZE, 0, END, muted);
	}
	/* time ticks */
	for (int k = 0; k * p->xstep <= p->xmax / p->xunit * (1 + 1e-9); k++) {
		double x = round(px(p, k * p->xstep * p->xunit)) + 0.5;

		if (k)
			line(cv, x, p->top, x, p->bottom, 1, grid, 0.6);
		line(cv, x, p->bottom, x, p->bottom + 5, 1, axis, 1);
		text(cv, x, p->bottom + 8 + TICK_SIZE, time_tick(buf, sizeof(buf), k, p->xstep, p->xunit),
		     TICK_SIZE, 0, MIDDLE, muted);
	}
	line(cv, p->left + 0.5, p->top, p->left + 0.5, p->bottom, 1, axis, 1);
	text(cv, (p->left + p->right) / 2, p->bottom + 12 + 2 * TICK_SIZE + 6,
	     p->nruns > 1 ? "time since the start of each run" : "time since the start of the run",
	     LABEL_SIZE, 0, MIDDLE, muted);
	text_vertical(cv, PAD + 10, (p->top + p->bottom) / 2,
		      both ? "heap and RSS" : p->o->series == MT_PLOT_RSS ? "RSS" : "heap",
		      LABEL_SIZE, muted);
}

/* Bands first, under everything; names (names 1) over the grid and lines. */
static void draw_steps(struct canvas *cv, const struct plot *p, int names)
{
	int row = 0;

	for (int i = 0; i < p->nruns; i++) {
		const struct mt_replay *r = p->runs[i].r;
		struct rgba c = p->nruns == 1 ? muted : run_colour(p, i, 0);

		if (!has_steps(p, i))
			continue;
		for (uint32_t k = 0; k < r->nsteps; k++) {
			double x0 = px(p, (double)r->steps[k].start_ns / 1e9);
			double x1 = px(p, (double)r->steps[k].end_ns / 1e9);
			char name[MAX_LABEL], shown[MAX_LABEL];

			if (!names) {
				/* lighter when the bands of several captures overlap */
				fill_rect(cv, (struct rect){ x0, p->top, fmax(x1, x0 + 1), p->bottom }, c,
					  (k % 2 ? 0.05 : 0.10) / (p->step_rows > 1 ? 2.5 : 1));
				dash(cv, 4, 3);
				line(cv, round(x0) + 0.5, p->top, round(x0) + 0.5, p->bottom, 1, c, 0.7);
				dash(cv, 0, 0);
				continue;
			}
			mt_fmt_text(name, sizeof(name), mt_capture_string(&r->c, r->steps[k].name));
			elide(cv, shown, sizeof(shown), name, LABEL_SIZE - 1, 0, x1 - x0 - 8, 0);
			if (shown[0])
				text(cv, x0 + 4, p->top + row * STEP_ROW + 2 + LABEL_SIZE, shown,
				     LABEL_SIZE - 1, 0, START, p->nruns == 1 ? ink : c);
		}
		row++;
	}
}

/*
 * A series as a path: per half point of width, the first, lowest,
 * highest and last points in their order, so that a long capture draws
 * the same envelope with a few thousand segments.
 */
static void series_path(struct canvas *cv, const struct plot *p, const struct mt_replay *r,
			int series)
{
	struct line l;
	long col = LONG_MIN;
	size_t first = 0, lo = 0, hi = 0, last = 0;
	double lo_v = 0, hi_v = 0;
	int started = 0;

	line_init(&l, r, series);
	for (size_t k = 0; k <= l.n; k++) {
		double t = 0, v = 0;
		long c = LONG_MAX;

		if (k < l.n) {
			line_point(&l, k, &t, &v);
			c = (long)floor(px(p, t) * 2);
		}
		if (c != col && col != LONG_MIN) {
			size_t pts[4] = { first, lo < hi ? lo : hi, lo < hi ? hi : lo, last };

			for (int j = 0; j < 4; j++) {
				double x, y;

				if (j && pts[j] == pts[j - 1])
					continue;
				line_point(&l, pts[j], &x, &y);
				if (started)
					CR(line_to)(cv->cr, px(p, x), py(p, y));
				else
					CR(move_to)(cv->cr, px(p, x), py(p, y));
				started = 1;
			}
		}
		if (k == l.n)
			break;
		if (c != col) {
			col = c;
			first = lo = hi = k;
			lo_v = hi_v = v;
		}
		if (v < lo_v)
			lo = k, lo_v = v;
		if (v > hi_v)
			hi = k, hi_v = v;
		last = k;
	}
}

static void draw_series(struct canvas *cv, const struct plot *p)
{
	CR(save)(cv->cr);
	CR(rectangle)(cv->cr, p->left, p->top - 6, p->right - p->left + 6, p->bottom - p->top + 6);
	CR(clip)(cv->cr);
	CR(set_line_join)(cv->cr, CAIRO_LINE_JOIN_ROUND);
	for (int i = 0; i < p->nruns; i++) {
		const struct mt_replay *r = p->runs[i].r;

		if (!r->ntl)
			continue;
		for (int s = MT_PLOT_RSS; s >= MT_PLOT_HEAP; s--) {	/* the heap on top */
			struct rgba c = run_colour(p, i, s);

			if (!(p->o->series & s))
				continue;
			if (p->nruns == 1 && s == MT_PLOT_HEAP) {	/* a light fill under it */
				series_path(cv, p, r, s);
				CR(line_to)(cv->cr, px(p, (double)r->tl_ns[r->ntl - 1] / 1e9), p->bottom);
				CR(line_to)(cv->cr, px(p, 0), p->bottom);
				CR(close_path)(cv->cr);
				colour(cv, c, 0.10);
				CR(fill)(cv->cr);
			}
			series_path(cv, p, r, s);
			dash(cv, s == MT_PLOT_RSS && (p->o->series & MT_PLOT_HEAP) ? 6 : 0, 4);
			colour(cv, c, 1);
			CR(set_line_width)(cv->cr, 1.8);
			CR(stroke)(cv->cr);
			dash(cv, 0, 0);
		}
	}
	CR(restore)(cv->cr);
}

static void draw_peaks(struct canvas *cv, const struct plot *p)
{
	for (int i = 0; i < p->npeaks; i++) {
		const struct peak *k = &p->peaks[i];

		colour(cv, white, 1);
		CR(arc)(cv->cr, k->x, k->y, 5.5, 0, 2 * M_PI);
		CR(fill)(cv->cr);
		colour(cv, k->colour, 1);
		CR(arc)(cv->cr, k->x, k->y, 4, 0, 2 * M_PI);
		CR(fill)(cv->cr);
	}
	for (int i = 0; i < p->npeaks; i++) {
		const struct peak *k = &p->peaks[i];

		fill_rect(cv, k->box, white, 0.85);
		text(cv, k->box.x0 + 4, k->box.y1 - 5, k->label, LABEL_SIZE, 1, START, k->colour);
	}
}

static void draw(struct canvas *cv, struct plot *p)
{
	char title[MAX_LABEL];

	fill_rect(cv, (struct rect){ 0, 0, W, H }, white, 1);
	p->step_rows = 0;
	for (int i = 0; i < p->nruns; i++)
		p->step_rows += has_steps(p, i) ? 1 : 0;
	place_legend(cv, p);
	draw_steps(cv, p, 0);
	draw_axes(cv, p);
	draw_series(cv, p);
	draw_steps(cv, p, 1);
	draw_peaks(cv, p);
	draw_legend(cv, p);
	elide(cv, title, sizeof(title), p->o->title, TITLE_SIZE, 1, W - 2 * PAD, 0);
	text(cv, p->left, PAD + TITLE_SIZE, title, TITLE_SIZE, 1, START, ink);
}

/* ------------------------------------------------------------- output */

static cairo_status_t to_file(void *closure, const unsigned char *data, unsigned int len)
{
	return fwrite(data, 1, len, closure) == len ? CAIRO_STATUS_SUCCESS : CAIRO_STATUS_WRITE_ERROR;
}

/* cairo's SVG with the texts as <text> elements before its end. */
static int svg_with_texts(FILE *f, const char *svg, size_t len, const struct canvas *cv)
{
	const char *end = NULL;

	for (const char *s = svg; (s = memmem(s, len - (size_t)(s - svg), "</svg>", 6)); s++)
		end = s;
	if (!end)
		return -1;
	fwrite(svg, 1, (size_t)(end - svg), f);
	fprintf(f, "<g font-family=\"%s\">\n", SVG_FONT);
	for (size_t i = 0; i < cv->ntexts; i++) {
		const struct text *t = &cv->texts[i];

		fprintf(f, "<text x=\"%.2f\" y=\"%.2f\" font-size=\"%.1f\" fill=\"#%02x%02x%02x\"%s%s",
			t->x, t->y, t->size, (int)lround(t->colour.r * 255), (int)lround(t->colour.g * 255),
			(int)lround(t->colour.b * 255), t->bold ? " font-weight=\"bold\"" : "",
			t->anchor == MIDDLE ? " text-anchor=\"middle\"" :
			t->anchor == END ? " text-anchor=\"end\"" : "");
		if (t->vertical)
			fprintf(f, " transform=\"rotate(-90 %.2f %.2f)\"",
				t->x, t->y);
		fputc('>', f);
		mt_xml_text(f, t->s);
		fputs("</text>\n", f);
	}
	fputs("</g>\n", f);
	fputs(end, f);
	return 0;
}

int mt_plot_draw(FILE *f, enum mt_plot_format fmt, const struct mt_plot_run *runs, int nruns,
		 const struct mt_plot_opts *o, char *err, size_t errlen)
{
	struct canvas canvas = { 0 }, *cv = &canvas;
	struct plot p = { .runs = runs, .nruns = nruns, .o = o };
	cairo_surface_t *sf;
	char *svg = NULL;
	size_t svg_len = 0;
	FILE *mem = NULL;
	cairo_status_t st;
	int rc = 0;

	cv->c = mt_cairo_load(err, errlen);
	if (!cv->c)
		return -1;
	for (int i = 0; i < nruns; i++) {
		const struct mt_replay *r = runs[i].r;
		double end = (double)r->c.end_ns / 1e9;

		if (r->ntl)
			end = fmax(end, (double)r->tl_ns[r->ntl - 1] / 1e9);
		p.xmax = fmax(p.xmax, end);
	}
	if (p.xmax < 0.01)
		p.xmax = 0.01;
	switch (fmt) {
	case MT_PLOT_PNG:
		sf = CR(image_surface_create)(CAIRO_FORMAT_RGB24, (int)(W * PNG_SCALE), (int)(H * PNG_SCALE));
		break;
	case MT_PLOT_SVG:
		mem = open_memstream(&svg, &svg_len);
		if (!mem)
			mt_oom();
		sf = CR(svg_surface_create_for_stream)(to_file, mem, W, H);
		CR(svg_surface_set_document_unit)(sf, CAIRO_SVG_UNIT_PX);
		cv->svg = 1;
		break;
	default:
		sf = CR(pdf_surface_create_for_stream)(to_file, f, W, H);
		CR(pdf_surface_set_metadata)(sf, CAIRO_PDF_METADATA_TITLE, o->title);
		CR(pdf_surface_set_metadata)(sf, CAIRO_PDF_METADATA_CREATOR, "memtide");
	}
	cv->cr = CR(create)(sf);
	if (fmt == MT_PLOT_PNG)
		CR(scale)(cv->cr, PNG_SCALE, PNG_SCALE);
	draw(cv, &p);
	st = CR(status)(cv->cr);
	CR(destroy)(cv->cr);
	if (st == CAIRO_STATUS_SUCCESS && fmt == MT_PLOT_PNG)
		st = CR(surface_write_to_png_stream)(sf, to_file, f);
	CR(surface_finish)(sf);
	if (st == CAIRO_STATUS_SUCCESS)
		st = CR(surface_status)(sf);
	CR(surface_destroy)(sf);
	/* cairo's font caches, and fontconfig's patterns they hold */
	CR(debug_reset_static_data)();
	if (cv->c->FcFini)
		cv->c->FcFini();
	if (mem && fclose(mem) == 0 && st == CAIRO_STATUS_SUCCESS &&
	    svg_with_texts(f, svg, svg_len, cv) < 0)
		st = CAIRO_STATUS_WRITE_ERROR;
	if (st != CAIRO_STATUS_SUCCESS) {
		snprintf(err, errlen, "cairo could not draw the plot: %s", CR(status_to_string)(st));
		rc = -1;
	}
	free(svg);
	for (size_t i = 0; i < cv->ntexts; i++)
		free(cv->texts[i].s);
	free(cv->texts);
	free(p.entries);
	free(p.peaks);
	free(p.taken);
	return rc;
}
