/*
 * tui.c - the live view on a terminal (ncurses), and the same header and
 * table as plain text.  Runs in the viewer: `memtide run --live`, `memtide
 * live PORT`.  It only reads snapshots from an mt_live_source (live.h);
 * sorting, filtering, scrolling and pausing happen here.
 *
 * The screen, top to bottom: four header lines (pid, elapsed, command;
 * heap, RSS, peak, live allocations; a sparkline of heap over time; the
 * program's end, the number of sites, sort, thread and filter), the
 * table heading, the rows, and a footer with the keys.  Enter replaces the
 * table with the full stack of the selected row.
 */
#include <curses.h>
#include <langinfo.h>
#include <locale.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

#include "tui.h"
#include "../report/output.h"

/* The smallest terminal the layout is made for. */
#define MIN_COLS 80
#define MIN_LINES 24
/* Header lines above the table heading. */
#define HEAD_LINES 4
/* Snapshots are asked for this often: five refreshes a second. */
#define POLL_MS 200
/* Sizes are "1023.99 KiB" at their widest. */
#define SIZE_W 11
#define COUNT_W 11
/* Columns before the location: total, share, own, share, allocations. */
#define NUMS_W (SIZE_W + 1 + 6 + 1 + SIZE_W + 1 + 6 + 1 + COUNT_W + 2)
/* Longest line we format: a location is at most ~2 KiB (mt_fmt_site). */
#define TEXT_MAX 4096

enum sort_key { SORT_TOTAL, SORT_OWN, SORT_ALLOCS };

/* How text meets the screen: one column per code point (plain text), the
 * terminal's widths (a UTF-8 terminal), or ASCII only (any other). */
enum text_mode { TEXT_PLAIN, TEXT_WIDE, TEXT_ASCII };

/* ---------------------------------------------------------------------------
 * Text shared by the screen and the plain-text form
 */

/* Decodes the UTF-8 character at s into *cp; its length, or 1 for a byte
 * that does not start one (*cp = -1). */
static int utf8_dec(const unsigned char *s, int *cp)
{
	int n = s[0] < 0x80 ? 1 : (s[0] & 0xe0) == 0xc0 ? 2 : (s[0] & 0xf0) == 0xe0 ? 3 :
		(s[0] & 0xf8) == 0xf0 ? 4 : 0;
	int v = n == 1 ? s[0] : n == 2 ? s[0] & 0x1f : n == 3 ? s[0] & 0x0f : s[0] & 0x07;

	for (int i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			n = 0;
		if (!n)
			break;
		v = (v << 6) | (s[i] & 0x3f);
	}
	*cp = n ? v : -1;
	return n ? n : 1;
}

/* Columns of code point cp (-1: a stray byte) on the screen, and whether
 * it is shown as itself; what the terminal cannot show becomes '?'. */
static int cp_cols(int cp, enum text_mode mode, int *as_is)
{
	int w;

	*as_is = 1;
	if (mode == TEXT_PLAIN)
		return 1;
	if (cp >= 0 && cp < 0x80) {
		*as_is = cp >= 0x20 && cp != 0x7f;	/* a control character: '?' */
		return 1;
	}
	w = cp >= 0 && mode == TEXT_WIDE ? wcwidth((wchar_t)cp) : -1;
	if (w < 0) {
		*as_is = 0;	/* drawn as '?' */
		w = 1;
	}
	return w;
}

/*
 * Copies s to out (cap bytes) cut to width columns, its last three "..."
 * when cut (width <= 0: no limit).  Returns the columns used.
 */
static int fit(char *out, size_t cap, const char *s, int width, enum text_mode mode)
{
	const unsigned char *p = (const unsigned char *)s;
	int total = 0, cols = 0, limit;
	size_t o = 0;

	for (size_t i = 0; p[i];) {
		int cp, as_is, n = utf8_dec(p + i, &cp);

		total += cp_cols(cp, mode, &as_is);
		i += (size_t)n;
	}
	limit = width <= 0 || total <= width ? total : width - 3;
	for (size_t i = 0; p[i];) {
		int cp, as_is, n = utf8_dec(p + i, &cp), w = cp_cols(cp, mode, &as_is);

		if (cols + w > limit || o + (size_t)n + 4 >= cap)
			break;
		if (as_is) {
			memcpy(out + o, p + i, (size_t)n);
			o += (size_t)n;
		} else {
			out[o++] = '?';
		}
		cols += w;
		i += (size_t)n;
	}
	if (limit < total && width >= 3) {
		memcpy(out + o, "...", 3);
		o += 3;
		cols += 3;
	}
	out[o] = '\0';
	return cols;
}

/* "12.3 s", "4m05s", "1h02m03s". */
static const char *fmt_dur(char *buf, size_t cap, uint64_t ns)
{
	uint64_t s = ns / 1000000000;

	if (s < 60)
		snprintf(buf, cap, "%.1f s", (double)ns / 1e9);
	else if (s < 3600)
		snprintf(buf, cap, "%um%02us", (unsigned)(s / 60), (unsigned)(s % 60));
	else
		snprintf(buf, cap, "%uh%02um%02us", (unsigned)(s / 3600), (unsigned)(s / 60 % 60),
			 (unsigned)(s % 60));
	return buf;
}

static double share(uint64_t part, uint64_t whole)
{
	return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

/* Header line 1: "pid 1234  elapsed 4.2 s  python3 script.py". */
static void fmt_head_program(char *buf, size_t cap, const struct mt_live_snapshot *s)
{
	char d[32], cmd[1024];

	snprintf(buf, cap, "pid %llu  elapsed %s  %s", (unsigned long long)s->pid,
		 fmt_dur(d, sizeof(d), s->elapsed_ns), mt_fmt_text(cmd, sizeof(cmd), s->command));
}

/* Header line 2: the figures. */
static void fmt_head_figures(char *buf, size_t cap, const struct mt_live_snapshot *s)
{
	char h[32], r[32], p[32], d[32], n[32], note[96];

	snprintf(buf, cap, "heap %s  RSS %s  peak %s at %s  live allocations %s%s%s",
		 mt_fmt_size(h, sizeof(h), s->heap_bytes), mt_fmt_size(r, sizeof(r), s->rss_bytes),
		 mt_fmt_size(p, sizeof(p), s->peak_heap_bytes),
		 fmt_dur(d, sizeof(d), s->peak_heap_ns), mt_fmt_count(n, sizeof(n), s->live_allocs),
		 s->sample_rate ? "  " : "",
		 s->sample_rate ? mt_fmt_sampled(note, sizeof(note), s->sample_rate) : "");
}

/*
 * Header line 3: "heap over time " and a sparkline of heap_history in
 * width columns, each column the largest of the samples it covers.
 */
static void fmt_sparkline(char *buf, size_t cap, const struct mt_live_snapshot *s, int width,
			  int utf8)
{
	static const char *const bars[] = { "\u2581", "\u2582", "\u2583", "\u2584",
					    "\u2585", "\u2586", "\u2587", "\u2588" };
	static const char ascii[] = "_.-:=+*#";
	const char *label = "heap over time ";
	uint32_t n = s->heap_history ? s->nheap_history : 0;
	int cols = width - (int)strlen(label), ncols;
	uint64_t most = 0;
	size_t o;

	o = (size_t)snprintf(buf, cap, "%s", label);
	if (cols <= 0 || !n)
		return;
	ncols = n < (uint32_t)cols ? (int)n : cols;
	for (uint32_t i = 0; i < n; i++)
		most = s->heap_history[i] > most ? s->heap_history[i] : most;
	for (int c = 0; c < ncols && o + 8 < cap; c++) {
		uint32_t a = (uint32_t)((uint64_t)c * n / (uint32_t)ncols);
		uint32_t b = (uint32_t)((uint64_t)(c + 1) * n / (uint32_t)ncols);
		uint64_t v = 0;
		int level;

		for (uint32_t i = a; i < b; i++)
			v = s->heap_history[i] > v ? s->heap_history[i] : v;
		if (!v) {
			buf[o++] = ' ';
			continue;
		}
		level = (int)((double)v * 7.0 / (double)most + 0.5);
		level = level > 7 ? 7 : level;
		if (utf8) {
			memcpy(buf + o, bars[level], 3);
			o += 3;
		} else {
			buf[o++] = ascii[level];
		}
	}
	buf[o] = '\0';
}

static void fmt_ended(char *buf, size_t cap, const struct mt_live_snapshot *s)
{
	snprintf(buf, cap, "program ended, exit status %d", s->exit_status);
}

static const char *const sort_names[] = { "total", "own", "allocs" };

static void fmt_heading(char *buf, size_t cap)
{
	snprintf(buf, cap, "%*s %6s %*s %6s %*s  %s", SIZE_W, sort_names[SORT_TOTAL], "share",
		 SIZE_W, sort_names[SORT_OWN], "share", COUNT_W, sort_names[SORT_ALLOCS],
		 "function at file:line");
}

/* Where the labels of the sortable columns end in the heading. */
static const int heading_ends[] = { SIZE_W, SIZE_W + 1 + 6 + 1 + SIZE_W, NUMS_W - 2 };

/* Code points in s: the columns text reports count. */
static int ncols(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

/*
 * Fits "function at path:line" (in place, cap bytes) to width columns
 * (0: any) by cutting the start of the path, "main at ...ms/hold.c:39",
 * so that the file's name and the line stay; when even that is too long
 * the line is left for fit() to cut at its end.
 */
static void elide_path(char *buf, size_t cap, int width)
{
	char *at = strstr(buf, " at "), *tail;
	int room;

	if (width <= 0 || !at || ncols(buf) <= width)
		return;
	at += 4;
	room = width - ncols(buf) + ncols(at) - 3;	/* what the path keeps, after "..." */
	if (room < 8 || (size_t)(at - buf) + 3 + strlen(at) >= cap)
		return;
	/* the last room characters of the path */
	for (tail = at + strlen(at); tail > at && room > 0; room--) {
		tail--;
		while (tail > at && ((unsigned char)*tail & 0xc0) == 0x80)
			tail--;
	}
	memmove(at + 3, tail, strlen(tail) + 1);
	memcpy(at, "...", 3);
}

/* One table row, its location fitted to width columns (0: any). */
static void fmt_row(char *buf, size_t cap, const struct mt_live_row *r, uint64_t heap, int width)
{
	char t[32], o[32], n[32], where[2048];

	mt_fmt_site(where, sizeof(where), r->function ? r->function : "", r->file, r->line, NULL);
	elide_path(where, sizeof(where), width > NUMS_W ? width - NUMS_W : 0);
	snprintf(buf, cap, "%*s %5.1f%% %*s %5.1f%% %*s  %s",
		 SIZE_W, mt_fmt_size(t, sizeof(t), r->total_bytes), share(r->total_bytes, heap),
		 SIZE_W, mt_fmt_size(o, sizeof(o), r->own_bytes), share(r->own_bytes, heap),
		 COUNT_W, mt_fmt_count(n, sizeof(n), r->total_count), where);
}

/* ---------------------------------------------------------------------------
 * Ordering: rows sorted by a key, filtered by text, sorted only as far
 * as the screen needs (a partial selection, then a sort of what is shown)
 */

struct ent {
	uint64_t key, total;
	uint32_t idx, id;
};

/* Whether a comes before b: the larger key first, then the larger total,
 * then the older row. */
static int before(const struct ent *a, const struct ent *b)
{
	if (a->key != b->key)
		return a->key > b->key;
	if (a->total != b->total)
		return a->total > b->total;
	return a->id < b->id;
}

static int ent_cmp(const void *pa, const void *pb)
{
	const struct ent *a = pa, *b = pb;

	return before(a, b) ? -1 : before(b, a) ? 1 : 0;
}

static void ent_swap(struct ent *a, struct ent *b)
{
	struct ent t = *a;

	*a = *b;
	*b = t;
}

/* Puts the k first entries of a[0..n) (in sort order) in a[0..k), unsorted. */
static void select_first(struct ent *a, size_t n, size_t k)
{
	size_t lo = 0, hi = n;

	while (k > lo && k < hi && hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2, store = lo;

		/* the median of three as pivot, at hi - 1 */
		if (before(&a[mid], &a[lo]))
			ent_swap(&a[mid], &a[lo]);
		if (before(&a[hi - 1], &a[lo]))
			ent_swap(&a[hi - 1], &a[lo]);
		if (before(&a[mid], &a[hi - 1]))
			ent_swap(&a[mid], &a[hi - 1]);
		for (size_t i = lo; i < hi - 1; i++)
			if (before(&a[i], &a[hi - 1]))
				ent_swap(&a[i], &a[store++]);
		ent_swap(&a[store], &a[hi - 1]);
		if (k <= store)
			hi = store;
		else
			lo = store + 1;
	}
}

struct order {
	struct ent *e;
	size_t cap;
	size_t n;	/* rows that pass the filter */
	size_t sorted;	/* e[0..sorted) are in their final order */
};

static uint64_t sort_value(const struct mt_live_row *r, enum sort_key key)
{
	return key == SORT_OWN ? r->own_bytes : key == SORT_ALLOCS ? r->total_count : r->total_bytes;
}

static int matches(const struct mt_live_row *r, const char *filter)
{
	return !filter || !filter[0] || (r->function && strcasestr(r->function, filter)) ||
		(r->file && strcasestr(r->file, filter));
}

/* Takes the rows of s that pass filter; none sorted yet.  -1: out of memory. */
static int order_build(struct order *o, const struct mt_live_snapshot *s, enum sort_key key,
		       const char *filter)
{
	if (s->nrows > o->cap) {
		struct ent *e = realloc(o->e, s->nrows * sizeof(*e));

		if (!e)
			return -1;
		o->e = e;
		o->cap = s->nrows;
	}
	o->n = o->sorted = 0;
	for (uint32_t i = 0; i < s->nrows; i++) {
		const struct mt_live_row *r = &s->rows[i];

		if (matches(r, filter))
			o->e[o->n++] = (struct ent){ sort_value(r, key), r->total_bytes, i, r->id };
	}
	return 0;
}

/* Makes sure the first `want` entries are in order. */
static void order_sort(struct order *o, size_t want)
{
	want = want < o->n ? want : o->n;
	if (want <= o->sorted)
		return;
	select_first(o->e + o->sorted, o->n - o->sorted, want - o->sorted);
	qsort(o->e + o->sorted, want - o->sorted, sizeof(*o->e), ent_cmp);
	o->sorted = want;
}

/* ---------------------------------------------------------------------------
 * The plain-text form
 */

static void print_line(FILE *f, const char *line, int width)
{
	char cut[TEXT_MAX];

	fit(cut, sizeof(cut), line, width, TEXT_PLAIN);
	fprintf(f, "%s\n", cut);
}

void mt_live_print(FILE *f, const struct mt_live_snapshot *s, int width, int max_rows)
{
	struct order o = { 0 };
	size_t shown;
	char line[TEXT_MAX];

	fmt_head_program(line, sizeof(line), s);
	print_line(f, line, width);
	fmt_head_figures(line, sizeof(line), s);
	print_line(f, line, width);
	fmt_sparkline(line, sizeof(line), s, width > 0 ? width : MIN_COLS, 1);
	fprintf(f, "%s\n", line);
	if (!s->running) {
		fmt_ended(line, sizeof(line), s);
		fprintf(f, "%s\n", line);
	}
	if (s->output_path) {
		char path[1024];

		snprintf(line, sizeof(line), "program output: %s",
			 mt_fmt_text(path, sizeof(path), s->output_path));
		print_line(f, line, width);
	}
	fputc('\n', f);
	fmt_heading(line, sizeof(line));
	print_line(f, line, width);
	if (order_build(&o, s, SORT_TOTAL, NULL) < 0) {
		fprintf(f, "(out of memory)\n");
		return;
	}
	shown = max_rows < 0 || (size_t)max_rows > o.n ? o.n : (size_t)max_rows;
	order_sort(&o, shown);
	if (!o.n)
		fprintf(f, "(no live allocations)\n");
	for (size_t i = 0; i < shown; i++) {
		fmt_row(line, sizeof(line), &s->rows[o.e[i].idx], s->heap_bytes, width);
		print_line(f, line, width);
	}
	if (shown < o.n)
		fprintf(f, "(%zu more %s)\n", o.n - shown, o.n - shown == 1 ? "site" : "sites");
	free(o.e);
}

/* ---------------------------------------------------------------------------
 * Snapshots kept whole: the display while paused, and the last state if
 * the source goes away after the program ended
 */

struct frozen {
	struct mt_live_snapshot s;
	char *mem;	/* everything s points to, in one block */
};

static size_t str_size(const char *s)
{
	return s ? strlen(s) + 1 : 0;
}

static const char *str_put(char **p, const char *s)
{
	char *d = *p;

	if (!s)
		return NULL;
	memcpy(d, s, strlen(s) + 1);
	*p += strlen(s) + 1;
	return d;
}

static void frozen_clear(struct frozen *fz)
{
	free(fz->mem);
	memset(fz, 0, sizeof(*fz));
}

/* Copies s and all it points to into fz.  -1: out of memory (fz unchanged). */
static int frozen_take(struct frozen *fz, const struct mt_live_snapshot *s)
{
	size_t arrays = s->nrows * sizeof(*s->rows) + s->nheap_history * sizeof(uint64_t) +
		(s->nthreads + s->nstack) * sizeof(char *), strings = 0;
	struct mt_live_snapshot c = *s;
	struct mt_live_row *rows;
	const char **threads, **stack;
	uint64_t *hist;
	char *mem, *p;

	strings += str_size(s->command) + str_size(s->output_path) + str_size(s->capture_path);
	for (uint32_t i = 0; i < s->nrows; i++)
		strings += str_size(s->rows[i].function) + str_size(s->rows[i].file);
	for (uint32_t i = 0; i < s->nthreads; i++)
		strings += str_size(s->threads[i]);
	for (uint32_t i = 0; i < s->nstack; i++)
		strings += str_size(s->stack[i]);
	mem = malloc(arrays + strings + 1);
	if (!mem)
		return -1;
	rows = (struct mt_live_row *)mem;
	hist = (uint64_t *)(rows + s->nrows);
	threads = (const char **)(hist + s->nheap_history);
	stack = threads + s->nthreads;
	p = (char *)(stack + s->nstack);
	c.command = str_put(&p, s->command);
	c.output_path = str_put(&p, s->output_path);
	c.capture_path = str_put(&p, s->capture_path);
	for (uint32_t i = 0; i < s->nrows; i++) {
		rows[i] = s->rows[i];
		rows[i].function = str_put(&p, s->rows[i].function);
		rows[i].file = str_put(&p, s->rows[i].file);
	}
	if (s->nheap_history)
		memcpy(hist, s->heap_history, s->nheap_history * sizeof(*hist));
	for (uint32_t i = 0; i < s->nthreads; i++)
		threads[i] = str_put(&p, s->threads[i]);
	for (uint32_t i = 0; i < s->nstack; i++)
		stack[i] = str_put(&p, s->stack[i]);
	c.rows = rows;
	c.heap_history = hist;
	c.threads = threads;
	c.stack = stack;
	frozen_clear(fz);
	fz->s = c;
	fz->mem = mem;
	return 0;
}

/* ---------------------------------------------------------------------------
 * The terminal UI
 */

struct tui {
	const struct mt_live_source *src;
	struct mt_live_query q;
	struct mt_live_snapshot live;	/* the last snapshot the source gave */
	struct frozen paused;	/* the display while paused */
	struct frozen final;	/* the last state once the program ended */
	struct mt_live_query final_q;	/* what final was asked with */
	const struct mt_live_snapshot *disp;	/* live, paused.s or final.s */
	int is_paused, refreeze;	/* refreeze: the query changed while paused */
	int gone;	/* the source failed after the program ended: final for good */
	char gone_why[256];
	enum text_mode mode;

	enum sort_key key;
	char filter[256];
	int editing;	/* typing the filter */
	struct order order;
	int reorder;	/* data, sort or filter changed */
	size_t sel, top;	/* selected row and first row shown, in order */
	uint32_t sel_id;
	int stack_view;
	size_t stack_top;

	int quit;
	char *err;
	size_t errlen;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static const char keys_wide[] =
	"q quit  t/o/a sort  / filter  Enter stack  m/n thread  p pause  \u2191\u2193 scroll";
static const char keys_ascii[] =
	"q quit  t/o/a sort  / filter  Enter stack  m/n thread  p pause  arrows scroll";
#define OUTPUT_LABEL "    program output: "

/* The footer: the keys, and where the program's output goes (on a line
 * of its own when both do not fit). */
static int footer_lines(const struct tui *t)
{
	char out[1024];

	if (!t->disp || !t->disp->output_path)
		return 1;
	mt_fmt_text(out, sizeof(out), t->disp->output_path);
	return strlen(keys_ascii) + strlen(OUTPUT_LABEL) + strlen(out) < (size_t)COLS ? 1 : 2;
}

/* Table rows on screen: below the header and heading, above the footer. */
static size_t page_rows(const struct tui *t)
{
	int n = LINES - HEAD_LINES - 1 - footer_lines(t);

	return n > 1 ? (size_t)n : 1;
}

/* Back to the first row (sort, filter or thread changed). */
static void to_top(struct tui *t)
{
	t->sel = t->top = 0;
	t->sel_id = 0;
	t->reorder = 1;
}

static int out_of_memory(struct tui *t, uint32_t nrows)
{
	snprintf(t->err, t->errlen, "out of memory for %u rows", nrows);
	return -1;
}

/* Rebuilds the order from the displayed snapshot; the selected row stays
 * selected if it is still among the rows shown. */
static int rebuild(struct tui *t)
{
	if (order_build(&t->order, t->disp, t->key, t->filter) < 0)
		return out_of_memory(t, t->disp->nrows);
	order_sort(&t->order, t->top + 2 * page_rows(t));
	for (size_t i = 0; i < t->order.sorted; i++)
		if (t->order.e[i].id == t->sel_id) {
			t->sel = i;
			break;
		}
	t->reorder = 0;
	return 0;
}

/* Keeps sel within the rows and on screen; sorts as far as shown. */
static void settle(struct tui *t)
{
	size_t page = page_rows(t), n = t->order.n;

	if (t->sel >= n)
		t->sel = n ? n - 1 : 0;
	if (t->sel < t->top)
		t->top = t->sel;
	if (t->sel >= t->top + page)
		t->top = t->sel - page + 1;
	if (t->top + page > n)
		t->top = n > page ? n - page : 0;
	order_sort(&t->order, t->top + 2 * page);
	t->sel_id = n ? t->order.e[t->sel].id : 0;
}

/* Whether the last snapshot differs from the final state kept (the
 * source may still be catching up when the program ends). */
static int final_changed(const struct tui *t)
{
	const struct mt_live_snapshot *a = &t->live, *b = &t->final.s;

	return !t->final.mem || memcmp(&t->q, &t->final_q, sizeof(t->q)) ||
		a->nrows != b->nrows || a->nstack != b->nstack || a->heap_bytes != b->heap_bytes ||
		a->live_allocs != b->live_allocs || a->elapsed_ns != b->elapsed_ns ||
		a->nthreads != b->nthreads;
}

/* Asks the source for the state now.  -1 with t->err set: the UI ends. */
static int poll_source(struct tui *t)
{
	char why[256] = "";

	if (t->gone)
		return 0;
	if (t->src->snapshot(t->src->ctx, &t->q, &t->live, why, sizeof(why)) < 0) {
		if (t->final.mem) {
			/* the program had ended: keep its last state on screen */
			t->gone = 1;
			snprintf(t->gone_why, sizeof(t->gone_why), "%s", why);
			if (!t->is_paused) {
				t->disp = &t->final.s;
				t->reorder = 1;
			}
			return 0;
		}
		snprintf(t->err, t->errlen, "%s", why[0] ? why : "the live source failed");
		return -1;
	}
	if (t->q.thread >= (int)t->live.nthreads)
		t->q.thread = -1;
	/* kept in case the source goes away once the program has ended */
	if (!t->live.running && final_changed(t) && frozen_take(&t->final, &t->live) < 0)
		return out_of_memory(t, t->live.nrows);
	t->final_q = t->q;
	if (t->is_paused && t->refreeze) {
		if (frozen_take(&t->paused, &t->live) < 0)
			return out_of_memory(t, t->live.nrows);
		t->refreeze = 0;
		t->reorder = 1;
	}
	if (!t->is_paused) {
		t->disp = &t->live;
		t->reorder = 1;
	}
	return 0;
}

/* Draws s at (y, x) cut to width columns, in attr; returns the columns used. */
static int put(struct tui *t, int y, int x, const char *s, int width, attr_t attr)
{
	char cut[TEXT_MAX];
	int cols;

	if (width <= 0)
		return 0;
	cols = fit(cut, sizeof(cut), s, width, t->mode);
	attron(attr);
	mvaddstr(y, x, cut);
	attroff(attr);
	return cols;
}

/* A whole line in attr, padded to the width. */
static void put_bar(struct tui *t, int y, const char *s, attr_t attr)
{
	attron(attr);
	mvhline(y, 0, ' ', COLS);
	attroff(attr);
	put(t, y, 0, s, COLS, attr);
}

static void draw_footer(struct tui *t)
{
	char line[TEXT_MAX], path[1024];
	const char *out = t->disp->output_path;

	if (t->editing)
		snprintf(line, sizeof(line), "filter: %s_    Enter keep  Esc clear", t->filter);
	else
		snprintf(line, sizeof(line), "%s", t->mode == TEXT_WIDE ? keys_wide : keys_ascii);
	if (out) {
		mt_fmt_text(path, sizeof(path), out);
		if (footer_lines(t) == 1) {
			size_t n = strlen(line);

			snprintf(line + n, sizeof(line) - n, OUTPUT_LABEL "%s", path);
		} else {
			char o[TEXT_MAX];

			snprintf(o, sizeof(o), "program output: %s", path);
			put(t, LINES - 2, 0, o, COLS, A_NORMAL);
		}
	}
	/* the last column of the last line is left alone: no scrolling */
	attron(A_REVERSE);
	mvhline(LINES - 1, 0, ' ', COLS - 1);
	attroff(A_REVERSE);
	put(t, LINES - 1, 0, line, COLS - 1, A_REVERSE);
}

static void draw_header(struct tui *t)
{
	const struct mt_live_snapshot *s = t->disp;
	const struct mt_live_snapshot *last = t->gone ? &t->final.s : &t->live;
	char line[TEXT_MAX], name[256];
	size_t n;
	int x = 0;

	fmt_head_program(line, sizeof(line), s);
	put(t, 0, 0, line, COLS - (t->is_paused ? 8 : 0), A_BOLD);
	if (t->is_paused)
		put(t, 0, COLS - 6, "PAUSED", 6, A_REVERSE | A_BOLD);
	fmt_head_figures(line, sizeof(line), s);
	put(t, 1, 0, line, COLS, A_NORMAL);
	fmt_sparkline(line, sizeof(line), s, COLS, t->mode == TEXT_WIDE);
	put(t, 2, 0, line, COLS, A_NORMAL);

	if (!last->running) {
		fmt_ended(line, sizeof(line), last);
		n = strlen(line);
		snprintf(line + n, sizeof(line) - n, " %s press q",
			 t->mode == TEXT_WIDE ? "\u2014" : "-");
		x = put(t, 3, 0, line, COLS, A_REVERSE | A_BOLD) + 2;
	}
	if (t->gone) {
		snprintf(line, sizeof(line), "live source lost: %s", t->gone_why);
		x += put(t, 3, x, line, COLS - x, A_BOLD) + 2;
	}
	n = (size_t)snprintf(line, sizeof(line), "%zu %s  sorted by %s  thread: ", t->order.n,
			     t->order.n == 1 ? "site" : "sites", sort_names[t->key]);
	if (t->q.thread < 0 || (uint32_t)t->q.thread >= s->nthreads)
		snprintf(line + n, sizeof(line) - n, "all");
	else
		snprintf(line + n, sizeof(line) - n, "%s (%d of %u)",
			 mt_fmt_text(name, sizeof(name), s->threads[t->q.thread]), t->q.thread + 1,
			 s->nthreads);
	n = strlen(line);
	if (t->filter[0])
		snprintf(line + n, sizeof(line) - n, "  filter: %s", t->filter);
	put(t, 3, x, line, COLS - x, A_NORMAL);
}

static void draw_table(struct tui *t)
{
	const struct mt_live_snapshot *s = t->disp;
	size_t page = page_rows(t);
	char line[TEXT_MAX];
	int y = HEAD_LINES, len = (int)strlen(sort_names[t->key]);

	fmt_heading(line, sizeof(line));
	put_bar(t, y, line, A_REVERSE);
	/* the sort column's label, underlined */
	put(t, y, heading_ends[t->key] - len, sort_names[t->key], len,
	    A_REVERSE | A_BOLD | A_UNDERLINE);
	if (!t->order.n)
		put(t, y + 1, 0, t->filter[0] ? "(no site matches the filter)" :
		    "(no live allocations)", COLS, A_NORMAL);
	for (size_t i = t->top; i < t->order.n && i < t->top + page; i++) {
		fmt_row(line, sizeof(line), &s->rows[t->order.e[i].idx], s->heap_bytes, COLS);
		if (i == t->sel)
			put_bar(t, ++y, line, A_REVERSE);
		else
			put(t, ++y, 0, line, COLS, A_NORMAL);
	}
}

/* The full stack of the selected row, innermost first. */
static void draw_stack(struct tui *t)
{
	const struct mt_live_snapshot *s = t->gone ? &t->final.s : &t->live;
	size_t page = page_rows(t);
	char line[TEXT_MAX], where[2048], frame[2048];
	const struct mt_live_row *r = NULL;

	for (uint32_t i = 0; i < t->disp->nrows && !r; i++)
		if (t->disp->rows[i].id == t->q.stack_of)
			r = &t->disp->rows[i];
	snprintf(line, sizeof(line), "stack of %s, innermost first    Enter/Esc back",
		 r ? mt_fmt_site(where, sizeof(where), r->function ? r->function : "", r->file,
				 r->line, NULL) : "a site no longer live");
	put_bar(t, HEAD_LINES, line, A_REVERSE);
	if (!s->nstack) {
		put(t, HEAD_LINES + 1, 0, "(no stack: the site has no live allocation now)", COLS,
		    A_NORMAL);
		return;
	}
	if (t->stack_top + page > s->nstack)
		t->stack_top = s->nstack > page ? s->nstack - page : 0;
	for (size_t i = t->stack_top; i < s->nstack && i < t->stack_top + page; i++) {
		snprintf(line, sizeof(line), "#%-3zu %s", i,
			 mt_fmt_text(frame, sizeof(frame), s->stack[i]));
		elide_path(line, sizeof(line), COLS);
		put(t, HEAD_LINES + 1 + (int)(i - t->stack_top), 0, line, COLS, A_NORMAL);
	}
}

/* Smaller than 80x24: a message, word-wrapped to the width. */
static void draw_small(void)
{
	char msg[256];
	const char *p = msg;
	int y = 0;

	snprintf(msg, sizeof(msg), "memtide live needs a terminal of at least %dx%d; this one is "
		 "%dx%d. Enlarge it, or press q to quit.", MIN_COLS, MIN_LINES, COLS, LINES);
	while (*p && y < LINES) {
		int n = (int)strlen(p), cut = n;

		if (n > COLS) {
			for (cut = COLS; cut > 0 && p[cut] != ' '; cut--)
				;
			if (cut == 0)
				cut = COLS;
		}
		mvaddnstr(y++, 0, p, cut);
		p += cut;
		while (*p == ' ')
			p++;
	}
}

static void draw(struct tui *t)
{
	erase();
	if (COLS < MIN_COLS || LINES < MIN_LINES) {
		draw_small();
	} else {
		draw_header(t);
		if (t->stack_view)
			draw_stack(t);
		else
			draw_table(t);
		draw_footer(t);
	}
	refresh();
}

/* Typing the filter; 1 when the key was taken. */
static int on_filter_key(struct tui *t, int ch)
{
	size_t n = strlen(t->filter);

	switch (ch) {
	case 27:	/* Esc */
		t->filter[0] = '\0';
		t->editing = 0;
		to_top(t);
		return 1;
	case '\n': case '\r': case KEY_ENTER:
		t->editing = 0;
		return 1;
	case KEY_BACKSPACE: case 127: case 8:
		while (n > 0 && ((unsigned char)t->filter[n - 1] & 0xc0) == 0x80)
			n--;	/* a whole UTF-8 character */
		t->filter[n > 0 ? n - 1 : 0] = '\0';
		to_top(t);
		return 1;
	}
	if (ch < 32 || ch > 255 || ch == 127)
		return 0;
	if (n + 1 < sizeof(t->filter)) {
		t->filter[n] = (char)ch;
		t->filter[n + 1] = '\0';
		to_top(t);
	}
	return 1;
}

static void on_stack_key(struct tui *t, int ch)
{
	size_t page = page_rows(t);

	switch (ch) {
	case 27: case '\n': case '\r': case KEY_ENTER:
		t->stack_view = 0;
		t->q.stack_of = 0;
		break;
	case KEY_UP: case 'k':
		t->stack_top -= t->stack_top > 0;
		break;
	case KEY_DOWN: case 'j':
		t->stack_top++;
		break;
	case KEY_PPAGE:
		t->stack_top = t->stack_top > page ? t->stack_top - page : 0;
		break;
	case KEY_NPAGE:
		t->stack_top += page;
		break;
	case KEY_HOME:
		t->stack_top = 0;
		break;
	case 'q': case 'Q': case 3:
		t->quit = 1;
		break;
	}
}

static void toggle_pause(struct tui *t)
{
	if (t->is_paused) {
		t->is_paused = 0;
		t->disp = t->gone ? &t->final.s : &t->live;
	} else {
		if (frozen_take(&t->paused, t->disp) < 0)
			return;	/* no memory: not paused */
		t->is_paused = 1;
		t->disp = &t->paused.s;
	}
	t->reorder = 1;
}

/* What a key does.  Returns 1 when the query changed (ask the source now). */
static int on_key(struct tui *t, int ch)
{
	size_t page = page_rows(t);
	uint32_t nthreads = t->disp->nthreads;

	if (t->editing && on_filter_key(t, ch))
		return 0;
	if (t->stack_view) {
		on_stack_key(t, ch);
		return 0;
	}
	switch (ch) {
	case 'q': case 'Q': case 3:	/* ^C */
		t->quit = 1;
		break;
	case KEY_UP: case 'k':
		t->sel -= t->sel > 0;
		break;
	case KEY_DOWN: case 'j':
		t->sel++;
		break;
	case KEY_PPAGE:
		t->sel = t->sel > page ? t->sel - page : 0;
		break;
	case KEY_NPAGE:
		t->sel += page;
		break;
	case KEY_HOME: case 'g':
		t->sel = 0;
		break;
	case KEY_END: case 'G':
		order_sort(&t->order, t->order.n);
		t->sel = t->order.n ? t->order.n - 1 : 0;
		break;
	case 't': case 'o': case 'a':
		t->key = ch == 'o' ? SORT_OWN : ch == 'a' ? SORT_ALLOCS : SORT_TOTAL;
		to_top(t);
		break;
	case '/':
		t->editing = 1;
		break;
	case 27:	/* Esc */
		if (t->filter[0]) {
			t->filter[0] = '\0';
			to_top(t);
		}
		break;
	case '\n': case '\r': case KEY_ENTER:
		if (!t->order.n || t->gone)
			break;
		t->stack_view = 1;
		t->stack_top = 0;
		t->q.stack_of = t->sel_id;
		return 1;
	case 'm': case 'n':
		if (!nthreads || t->gone)
			break;
		if (ch == 'n')
			t->q.thread = t->q.thread + 1 >= (int)nthreads ? -1 : t->q.thread + 1;
		else
			t->q.thread = t->q.thread < 0 ? (int)nthreads - 1 : t->q.thread - 1;
		t->refreeze = t->is_paused;
		to_top(t);
		return 1;
	case 'p': case ' ':
		toggle_pause(t);
		break;
	}
	return 0;
}

/* Whether the terminal has hung up (its window closed, its tmux server
 * killed): getch() then fails at once, every time. */
static int term_gone(void)
{
	struct pollfd p = { STDIN_FILENO, POLLIN, 0 };

	return poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR | POLLNVAL));
}

/* Opens the terminal.  -1 with err set when there is none to use. */
static int open_term(SCREEN **scr, char *err, size_t errlen)
{
	const char *term = getenv("TERM");
	char *cup;

	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
		snprintf(err, errlen, "the live view needs a terminal: standard %s is not one",
			 isatty(STDIN_FILENO) ? "output" : "input");
		return -1;
	}
	if (!term || !term[0]) {
		snprintf(err, errlen, "the live view needs a terminal: TERM is not set");
		return -1;
	}
	*scr = newterm(NULL, stdout, stdin);
	if (!*scr) {
		snprintf(err, errlen, "the live view does not know terminal type '%.64s'", term);
		return -1;
	}
	cup = tigetstr("cup");
	if (!cup || cup == (char *)-1) {
		endwin();
		delscreen(*scr);
		snprintf(err, errlen, "the live view cannot move the cursor on terminal type '%.64s'",
			 term);
		return -1;
	}
	return 0;
}

int mt_tui_run(const struct mt_live_source *src, char *err, size_t errlen)
{
	struct tui t = { .src = src, .q = { .thread = -1 }, .err = err, .errlen = errlen };
	const char *old = setlocale(LC_CTYPE, NULL);
	char *saved = old ? strdup(old) : NULL;
	uint64_t next = 0;
	SCREEN *scr;
	int rc = 0;

	setlocale(LC_CTYPE, "");
	t.mode = strcmp(nl_langinfo(CODESET), "UTF-8") ? TEXT_ASCII : TEXT_WIDE;
	if (open_term(&scr, err, errlen) < 0) {
		rc = -1;
		goto out;
	}
	raw();		/* ^C is a key (quit), not a signal to the program watched */
	noecho();
	keypad(stdscr, TRUE);
	set_escdelay(25);
	curs_set(0);

	while (!t.quit) {
		uint64_t now = now_ms();
		int ch;

		if (now >= next) {
			if (poll_source(&t) < 0) {
				rc = -1;
				break;
			}
			next = now + POLL_MS;
		}
		if (t.reorder && rebuild(&t) < 0) {
			rc = -1;
			break;
		}
		settle(&t);
		draw(&t);
		now = now_ms();
		timeout(next > now ? (int)(next - now) : 0);
		ch = getch();
		if (ch == ERR && term_gone()) {
			snprintf(err, errlen, "the terminal was closed");
			rc = -1;
			break;
		}
		if (ch != ERR && ch != KEY_RESIZE && on_key(&t, ch))
			next = 0;	/* the query changed: ask now */
	}
	endwin();
	delscreen(scr);
out:
	if (saved)
		setlocale(LC_CTYPE, saved);
	free(saved);
	free(t.order.e);
	frozen_clear(&t.paused);
	frozen_clear(&t.final);
	return rc;
}
