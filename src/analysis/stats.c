/*
 * stats.c - allocation sites for `memtide stats` (see stats.h).  The
 * replay keeps totals per key; they are folded into sites here, so each
 * stack is located (and its native frames symbolized) once, however many
 * events it has.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "location.h"
#include "stats.h"
#include "symbols.h"
#include "../format/xalloc.h"

/* Sites keyed by (function, file, line) text. */
struct site_table {
	struct mt_site *v;
	uint32_t n, cap;
	uint32_t *idx;		/* open addressing into v, +1 */
	uint32_t mask;
};

static uint64_t site_hash(const char *f, const char *file, unsigned line)
{
	return mt_hash_str(mt_hash_str(MT_HASH_INIT ^ line, f), file);
}

static void site_add(struct site_table *t, const struct mt_location *l,
		     uint64_t bytes, uint64_t count)
{
	uint32_t i;

	if ((t->n + 1) * 2 > t->mask) {
		uint32_t nmask = t->mask ? t->mask * 2 + 1 : 1023;

		free(t->idx);
		t->idx = mt_xcalloc((size_t)nmask + 1, sizeof(uint32_t));
		t->mask = nmask;
		for (uint32_t k = 0; k < t->n; k++) {
			i = (uint32_t)site_hash(t->v[k].function, t->v[k].file, t->v[k].line) & t->mask;
			while (t->idx[i])
				i = (i + 1) & t->mask;
			t->idx[i] = k + 1;
		}
	}
	i = (uint32_t)site_hash(l->function, l->file, l->line) & t->mask;
	while (t->idx[i]) {
		struct mt_site *s = &t->v[t->idx[i] - 1];

		if (s->line == l->line && !strcmp(s->function, l->function) &&
		    !strcmp(s->file, l->file)) {
			s->bytes += bytes;
			s->count += count;
			return;
		}
		i = (i + 1) & t->mask;
	}
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 256;
		t->v = mt_xrealloc(t->v, t->cap * sizeof(*t->v));
	}
	t->v[t->n] = (struct mt_site){ mt_xstrdup(l->function), mt_xstrdup(l->file), l->line, bytes, count };
	t->idx[i] = ++t->n;
}

static int by_bytes(const void *a, const void *b)
{
	const struct mt_site *x = a, *y = b;

	if (x->bytes != y->bytes)
		return x->bytes < y->bytes ? 1 : -1;
	return x->count < y->count ? 1 : x->count > y->count ? -1 : strcmp(x->function, y->function);
}

static int by_count(const void *a, const void *b)
{
	const struct mt_site *x = a, *y = b;

	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	return x->bytes < y->bytes ? 1 : x->bytes > y->bytes ? -1 : strcmp(x->function, y->function);
}

struct mt_site *mt_sites_of(const struct mt_replay *r, const struct mt_usage *per_key,
			    int show_all, uint32_t *n)
{
	struct site_table t = { 0 };
	struct mt_symbols *syms = mt_symbols_new(&r->c);

	for (uint32_t k = 0; k < r->nkeys; k++) {
		struct mt_location l;

		if (!per_key[k].count)
			continue;
		mt_locate(&r->c, syms, r->keys[k].stack, show_all, &l);
		site_add(&t, &l, per_key[k].bytes, per_key[k].count);
	}
	mt_symbols_free(syms);
	free(t.idx);
	*n = t.n;
	return t.v;
}

void mt_sites_free(struct mt_site *v, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		free((char *)v[i].function);
		free((char *)v[i].file);
	}
	free(v);
}

void mt_stats_sites(const struct mt_replay *r, int top_n, int show_all, struct mt_stats *s)
{
	mt_stats_sites_of(r, r->total, top_n, show_all, s);
}

void mt_stats_sites_of(const struct mt_replay *r, const struct mt_usage *per_key, int top_n,
		       int show_all, struct mt_stats *s)
{
	uint32_t n, top = top_n > 0 ? (uint32_t)top_n : 10;
	struct mt_site *v = mt_sites_of(r, per_key, show_all, &n);

	memset(s, 0, sizeof(*s));
	s->by_size = mt_xrealloc(NULL, (n ? n : 1) * sizeof(*v));
	s->by_count = mt_xrealloc(NULL, (n ? n : 1) * sizeof(*v));
	if (n) {
		qsort(v, n, sizeof(*v), by_bytes);
		memcpy(s->by_size, v, n * sizeof(*v));
		qsort(v, n, sizeof(*v), by_count);
		memcpy(s->by_count, v, n * sizeof(*v));
	}
	/* by_size owns the strings of every site; by_count shares them. */
	free(v);
	s->nsites = n < top ? n : top;
	s->nall = n;
}

void mt_stats_release(struct mt_stats *s)
{
	mt_sites_free(s->by_size, s->nall);
	free(s->by_count);
	memset(s, 0, sizeof(*s));
}
