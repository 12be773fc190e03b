/*
 * diff.c - two captures compared location by location (see diff.h).
 *
 * Each capture's sites come from stats (mt_sites_of, over the replay's
 * per-key figures: one replay per capture, no other pass).  Their files
 * are put in a form that does not depend on the machine (the short paths
 * of the text reports, with dist-packages read as site-packages, then the
 * program's own files relative to a root found in both captures), every
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

/* ---- the program's own files: a common root ---------------------------- */

/*
 * A program's own files are named relative to its working directory when
 * below it, else by their absolute paths: both differ between machines
 * and checkouts (/home/a/proj/x.c, /builds/7/proj/x.c, or proj/x.c run
 * from /home/a).  Of the pairs of such files, one of each capture, that
 * differ but share their base name, each gives the two directories before
 * their longest common ending (/home/a/ and /builds/7/); the pair that
 * most pairs give is taken as the captures' common root, and files below
 * it on either side, unless the other side has the very same path, are
 * named relative to it (proj/x.c).  Installed packages (site-packages/...)
 * and the standard library (<stdlib>/...) are named alike everywhere.
 */

#define MAX_PAIRS_PER_NAME 4096	/* files sharing a base name: skip beyond */

struct root_vote {
	const char *a, *b;	/* the two directories, with their last '/' */
	size_t na, nb;		/* their lengths (0: no directory) */
};

static const char *base_name(const char *path)
{
	const char *b = strrchr(path, '/');

	return b ? b + 1 : path;
}

static int by_path(const void *pa, const void *pb)
{
	return strcmp(*(const char *const *)pa, *(const char *const *)pb);
}

static int by_base_name(const void *pa, const void *pb)
{
	const char *a = *(const char *const *)pa, *b = *(const char *const *)pb;
	int c = strcmp(base_name(a), base_name(b));

	return c ? c : strcmp(a, b);
}

static int by_roots(const void *pa, const void *pb)
{
	const struct root_vote *a = pa, *b = pb;
	int c;

	if (a->na != b->na)
		return a->na < b->na ? -1 : 1;
	if (a->nb != b->nb)
		return a->nb < b->nb ? -1 : 1;
	c = strncmp(a->a, b->a, a->na);
	return c ? c : strncmp(a->b, b->b, a->nb);
}

/* Whether a file is named after where the program was: see above. */
static int own_file(const char *f)
{
	return f && f[0] && f[0] != '<' && strncmp(f, "site-packages/", 14);
}

/* The distinct own files of one side's entries, sorted. */
static const char **own_files(const struct entry *v, uint32_t n, uint32_t *count)
{
	const char **f = mt_xrealloc(NULL, ((size_t)n + 1) * sizeof(*f));
	uint32_t k = 0, out = 0;

	for (uint32_t i = 0; i < n; i++)
		if (own_file(v[i].file))
			f[k++] = v[i].file;
	qsort(f, k, sizeof(*f), by_path);
	for (uint32_t i = 0; i < k; i++)
		if (!out || strcmp(f[out - 1], f[i]))
			f[out++] = f[i];
	*count = out;
	return f;
}

static int has_path(const char **f, uint32_t n, const char *path)
{
	return bsearch(&path, f, n, sizeof(*f), by_path) != NULL;
}

/* Only the files of a that b does not have too, sorted by base name. */
static uint32_t only_in(const char **a, uint32_t na, const char **b, uint32_t nb,
			const char **out)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < na; i++)
		if (!has_path(b, nb, a[i]))
			out[n++] = a[i];
	qsort(out, n, sizeof(*out), by_base_name);
	return n;
}

/*
 * The directories of a and b (with their last '/', or empty) before their
 * longest common ending in whole components; a and b share their base name.
 */
static struct root_vote roots_of(const char *a, const char *b)
{
	size_t la = strlen(a), i = la, j = strlen(b);

	while (i && j && a[i - 1] == b[j - 1])
		i--, j--;
	while (i < la && !((!i || a[i - 1] == '/') && (!j || b[j - 1] == '/')))
		i++, j++;
	return (struct root_vote){ a, b, i, j };
}

/* Renames the files below the common root of v[0..nb) and v[nb..n), if any. */
static void match_roots(struct entry *v, uint32_t nb, uint32_t n)
{
	uint32_t fa, fb, na, nn, nvotes = 0, cap = 0, best = 0, run = 0;
	const char **a = own_files(v, nb, &fa), **b = own_files(v + nb, n - nb, &fb);
	const char **oa = mt_xrealloc(NULL, ((size_t)fa + 1) * sizeof(*oa));
	const char **ob = mt_xrealloc(NULL, ((size_t)fb + 1) * sizeof(*ob));
	struct root_vote *votes = NULL, root = { 0 };
	size_t *cut;

	na = only_in(a, fa, b, fb, oa);
	nn = only_in(b, fb, a, fa, ob);
	for (uint32_t i = 0, j = 0; i < na && j < nn;) {
		int c = strcmp(base_name(oa[i]), base_name(ob[j]));
		uint32_t ei = i, ej = j;

		if (c) {
			c < 0 ? i++ : j++;
			continue;
		}
		while (ei < na && !strcmp(base_name(oa[ei]), base_name(oa[i])))
			ei++;
		while (ej < nn && !strcmp(base_name(ob[ej]), base_name(ob[j])))
			ej++;
		if ((uint64_t)(ei - i) * (ej - j) <= MAX_PAIRS_PER_NAME)
			for (uint32_t x = i; x < ei; x++)
				for (uint32_t y = j; y < ej; y++) {
					if (nvotes == cap) {
						cap = cap ? cap * 2 : 64;
						votes = mt_xrealloc(votes, cap * sizeof(*votes));
					}
					votes[nvotes++] = roots_of(oa[x], ob[y]);
				}
		i = ei;
		j = ej;
	}
	if (nvotes)
		qsort(votes, nvotes, sizeof(*votes), by_roots);
	for (uint32_t i = 0; i < nvotes; i++) {
		run = i && !by_roots(&votes[i - 1], &votes[i]) ? run + 1 : 1;
		if (run > best) {
			best = run;
			root = votes[i];
		}
	}
	/* decided on the paths as they are, then cut: a, b and root point into them */
	cut = mt_xcalloc((size_t)n + 1, sizeof(*cut));
	for (uint32_t i = 0; best && i < n; i++) {
		const char *f = v[i].file, *dir = i < nb ? root.a : root.b;
		size_t len = i < nb ? root.na : root.nb;

		if (own_file(f) && !strncmp(f, dir, len) &&
		    !(i < nb ? has_path(b, fb, f) : has_path(a, fa, f)))
			cut[i] = len;
	}
	for (uint32_t i = 0; i < n; i++)
		if (cut[i])
			memmove(v[i].file, v[i].file + cut[i], strlen(v[i].file + cut[i]) + 1);
	free(cut);
	free(votes);
	free(a);
	free(b);
	free(oa);
	free(ob);
}

/* Appends the sites of r, grouped as o says, to v[*n]. */
static void add_sites(struct entry *v, uint32_t *n, const struct mt_replay *r, int is_new,
		      const struct mt_site *s, uint32_t ns, const struct mt_diff_opts *o)
{
	for (uint32_t i = 0; i < ns; i++) {
		struct entry *e = &v[(*n)++];

		*e = (struct entry){
			/* by file, [no Python frame] (no file) keeps its name */
			.function = o->by == MT_DIFF_BY_FILE && s[i].file[0] ? NULL :
				    mt_xstrdup(s[i].function),
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
	match_roots(v, nb, n);
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
