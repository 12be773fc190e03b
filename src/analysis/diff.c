/*
 * diff.c - two captures compared location by location (see diff.h).
 *
 * Each capture's sites come from stats (mt_sites_of, over the replay's
 * per-key figures: one replay per capture, no other pass).  Their files
 * are put in a form that does not depend on the machine (the short paths
 * of the text reports, with dist-packages read as site-packages), every
 * site of both captures is sorted by (function, file, line) as grouped,
 * and equal neighbours merge into one row.
 */
#include <stdlib.h>
#include <string.h>

#include "diff.h"
#include "stats.h"
#include "../format/xalloc.h"
#include "../report/output.h"

struct entry {
	char *function, *file;	/* the key, as grouped */
	unsigned line;		/* part of the key: 0 when not grouped by line */
	unsigned site_line;	/* the site's own line */
	int is_new;
	uint64_t bytes, count;
};

static const struct mt_usage *measure_of(const struct mt_replay *r, enum mt_diff_measure m)
{
	return m == MT_DIFF_TOTAL ? r->total : m == MT_DIFF_LEAKS ? r->leaked : r->peak;
}

uint64_t mt_diff_total(const struct mt_replay *r, enum mt_diff_measure m)
{
	return m == MT_DIFF_TOTAL ? r->total_bytes : m == MT_DIFF_LEAKS ? r->leaked_bytes :
	       r->peak_bytes;
}

/* A file as matched across machines (see diff.h). */
static char *match_file(const char *file, const char *cwd)
{
	char buf[4096];

	mt_short_path(buf, sizeof(buf), file, cwd);
	if (!strncmp(buf, "dist-packages/", 14))
		memcpy(buf, "site", 4);
	return mt_xstrdup(buf);
}

static int strcmp_null(const char *a, const char *b)
{
	return a == b ? 0 : !a ? -1 : !b ? 1 : strcmp(a, b);
}

static int by_key(const void *pa, const void *pb)
{
	const struct entry *a = pa, *b = pb;
	int c = strcmp_null(a->function, b->function);

	if (!c)
		c = strcmp_null(a->file, b->file);
	if (!c)
		c = a->line < b->line ? -1 : a->line > b->line;
	return c;
}

static int64_t delta(const struct mt_diff_row *r)
{
	return (int64_t)(r->new_bytes - r->base_bytes);
}

static int by_growth(const void *pa, const void *pb)
{
	const struct mt_diff_row *a = pa, *b = pb;
	int64_t da = delta(a), db = delta(b);

	if (da != db)
		return da < db ? 1 : -1;
	if (a->new_bytes != b->new_bytes)
		return a->new_bytes < b->new_bytes ? 1 : -1;
	if (a->new_count != b->new_count)
		return a->new_count < b->new_count ? 1 : -1;
	if (a->base_count != b->base_count)
		return a->base_count < b->base_count ? 1 : -1;
	if (strcmp_null(a->function, b->function))
		return strcmp_null(a->function, b->function);
	if (strcmp_null(a->file, b->file))
		return strcmp_null(a->file, b->file);
	return a->new_line < b->new_line ? -1 : a->new_line > b->new_line;
}

/* Appends the sites of r, grouped as o says, to v[*n]. */
static void add_sites(struct entry *v, uint32_t *n, const struct mt_replay *r, int is_new,
		      const struct mt_site *s, uint32_t ns, const struct mt_diff_opts *o)
{
	for (uint32_t i = 0; i < ns; i++) {
		struct entry *e = &v[(*n)++];

		*e = (struct entry){
			.function = o->by == MT_DIFF_BY_FILE ? NULL : mt_xstrdup(s[i].function),
			.file = match_file(s[i].file, r->c.cwd),
			.line = o->by == MT_DIFF_BY_LOCATION && !o->ignore_lines ? s[i].line : 0,
			.site_line = s[i].line, .is_new = is_new,
			.bytes = s[i].bytes, .count = s[i].count,
		};
	}
}

/* The line of a row on one side after a site at line l joins it. */
static unsigned join_line(unsigned have, uint64_t count_before, unsigned l)
{
	return !count_before && !have ? l : have == l ? have : MT_DIFF_LINES;
}

void mt_diff_run(const struct mt_replay *base, const struct mt_replay *new,
		 const struct mt_diff_opts *o, struct mt_diff *d)
{
	uint32_t nb, nn, n = 0;
	struct mt_site *sb = mt_sites_of(base, measure_of(base, o->measure), o->show_all, &nb);
	struct mt_site *sn = mt_sites_of(new, measure_of(new, o->measure), o->show_all, &nn);
	struct entry *v = mt_xrealloc(NULL, ((size_t)nb + nn + 1) * sizeof(*v));
	int by_line = o->by == MT_DIFF_BY_LOCATION;

	add_sites(v, &n, base, 0, sb, nb, o);
	add_sites(v, &n, new, 1, sn, nn, o);
	mt_sites_free(sb, nb);
	mt_sites_free(sn, nn);
	qsort(v, n, sizeof(*v), by_key);

	memset(d, 0, sizeof(*d));
	d->rows = mt_xrealloc(NULL, ((size_t)n + 1) * sizeof(*d->rows));
	for (uint32_t i = 0, head = 0; i < n; i++) {
		struct mt_diff_row *row = &d->rows[d->nrows];
		struct entry *e = &v[i];

		if (i && !by_key(&v[head], e)) {	/* joins the row of v[head] */
			row--;
			free(e->function);
			free(e->file);
		} else {	/* the row takes e's strings */
			*row = (struct mt_diff_row){ .function = e->function, .file = e->file };
			d->nrows++;
			head = i;
		}
		if (e->is_new) {
			if (by_line)
				row->new_line = join_line(row->new_line, row->new_count, e->site_line);
			row->new_bytes += e->bytes;
			row->new_count += e->count;
		} else {
			if (by_line)
				row->base_line = join_line(row->base_line, row->base_count, e->site_line);
			row->base_bytes += e->bytes;
			row->base_count += e->count;
		}
	}
	free(v);
	qsort(d->rows, d->nrows, sizeof(*d->rows), by_growth);
}

unsigned mt_diff_line(const struct mt_diff_row *row)
{
	unsigned l = row->new_count ? row->new_line : row->base_line;

	return l == MT_DIFF_LINES ? 0 : l;
}

void mt_diff_release(struct mt_diff *d)
{
	for (uint32_t i = 0; i < d->nrows; i++) {
		free(d->rows[i].function);
		free(d->rows[i].file);
	}
	free(d->rows);
	memset(d, 0, sizeof(*d));
}
