/*
 * summary.c - per-function own and total figures (see summary.h).  A
 * function appearing several times in one stack (recursion) counts once
 * in its total.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "summary.h"
#include "../format/xalloc.h"

struct table {
	uint32_t *idx, mask;
	struct mt_func_row *rows;
	uint32_t n, cap;
	uint32_t *seen;		/* stack number that last counted a row's total */
};

static uint64_t hash(const char *a, const char *b, int native)
{
	return mt_hash_str(mt_hash_str(MT_HASH_INIT ^ (uint64_t)native, a), b);
}

static uint32_t row_of(struct table *t, const struct mt_dframe *f)
{
	uint32_t i;

	if ((t->n + 1) * 2 > t->mask) {
		uint32_t mask = t->mask ? t->mask * 2 + 1 : 1023;

		free(t->idx);
		t->idx = mt_xcalloc((size_t)mask + 1, sizeof(uint32_t));
		t->mask = mask;
		for (uint32_t k = 0; k < t->n; k++) {
			i = (uint32_t)hash(t->rows[k].function, t->rows[k].file, t->rows[k].native) & mask;
			while (t->idx[i])
				i = (i + 1) & mask;
			t->idx[i] = k + 1;
		}
	}
	i = (uint32_t)hash(f->function, f->file, f->native) & t->mask;
	while (t->idx[i]) {
		struct mt_func_row *r = &t->rows[t->idx[i] - 1];

		if (r->native == f->native && !strcmp(r->function, f->function) &&
		    !strcmp(r->file, f->file))
			return t->idx[i] - 1;
		i = (i + 1) & t->mask;
	}
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 256;
		t->rows = mt_xrealloc(t->rows, t->cap * sizeof(*t->rows));
		t->seen = mt_xrealloc(t->seen, t->cap * sizeof(*t->seen));
	}
	memset(&t->rows[t->n], 0, sizeof(t->rows[t->n]));
	t->rows[t->n].function = f->function;
	t->rows[t->n].file = f->file;
	t->rows[t->n].native = f->native;
	t->seen[t->n] = 0;
	t->idx[i] = t->n + 1;
	return t->n++;
}

static enum mt_summary_sort sort_by;

static int cmp(const void *a, const void *b)
{
	const struct mt_func_row *x = a, *y = b;
	uint64_t u, v;

	switch (sort_by) {
	case MT_SORT_OWN_MEMORY: u = x->own_bytes; v = y->own_bytes; break;
	case MT_SORT_TOTAL_COUNT: u = x->total_count; v = y->total_count; break;
	case MT_SORT_OWN_COUNT: u = x->own_count; v = y->own_count; break;
	default: u = x->total_bytes; v = y->total_bytes;
	}
	if (u != v)
		return u < v ? 1 : -1;
	return strcmp(x->function, y->function);
}

void mt_summary_build(struct mt_summary *s, const struct mt_replay *r, struct mt_symbols *syms,
		      enum mt_view view, int show_hidden, enum mt_summary_sort sort)
{
	const struct mt_usage *v = mt_view_values(r, view);
	struct mt_dframe *f = mt_xrealloc(NULL, MT_MAX_FRAMES * sizeof(*f));
	struct table t = { 0 };
	uint32_t stamp = 0;

	memset(s, 0, sizeof(*s));
	for (uint32_t k = 0; k < r->nkeys; k++) {
		int n, leaf = -1;

		if (!v[k].count && !v[k].bytes)
			continue;
		s->bytes += v[k].bytes;
		s->count += v[k].count;
		n = mt_stack_frames(&r->c, syms, r->keys[k].stack, f, MT_MAX_FRAMES);
		stamp++;
		for (int i = 0; i < n; i++) {
			uint32_t row;

			if (f[i].hidden && !show_hidden)
				continue;
			row = row_of(&t, &f[i]);
			leaf = (int)row;
			if (t.seen[row] != stamp) {
				t.seen[row] = stamp;
				t.rows[row].total_bytes += v[k].bytes;
				t.rows[row].total_count += v[k].count;
			}
		}
		if (leaf >= 0) {
			t.rows[leaf].own_bytes += v[k].bytes;
			t.rows[leaf].own_count += v[k].count;
		}
	}
	sort_by = sort;
	if (t.n)
		qsort(t.rows, t.n, sizeof(*t.rows), cmp);
	s->rows = t.rows;
	s->nrows = t.n;
	free(t.idx);
	free(t.seen);
	free(f);
}

/* A new row at the end of t (not indexed). */
static struct mt_func_row *append(struct table *t)
{
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 256;
		t->rows = mt_xrealloc(t->rows, t->cap * sizeof(*t->rows));
	}
	return &t->rows[t->n++];
}

void mt_summary_combine(struct mt_summary *out, const struct mt_summary *parts,
			const uint64_t *pids, const char *const *labels, size_t n,
			int by_process, enum mt_summary_sort sort)
{
	struct table t = { 0 };

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < n; i++) {
		out->bytes += parts[i].bytes;
		out->count += parts[i].count;
		if (by_process)
			*append(&t) = (struct mt_func_row){ .function = labels[i], .file = "",
				.process = 1, .pid = pids[i], .total_bytes = parts[i].bytes,
				.total_count = parts[i].count };
		for (uint32_t k = 0; k < parts[i].nrows; k++) {
			const struct mt_func_row *p = &parts[i].rows[k];
			struct mt_dframe f = { .function = p->function, .file = p->file,
					       .native = p->native };
			struct mt_func_row *r;
			uint32_t row;

			if (by_process) {	/* a process's rows are distinct already */
				r = append(&t);
				*r = *p;
				r->pid = pids[i];
				continue;
			}
			row = row_of(&t, &f);	/* before t.rows: it may move them */
			r = &t.rows[row];
			r->own_bytes += p->own_bytes;
			r->total_bytes += p->total_bytes;
			r->own_count += p->own_count;
			r->total_count += p->total_count;
		}
	}
	sort_by = sort;
	if (t.n)
		qsort(t.rows, t.n, sizeof(*t.rows), cmp);
	out->rows = t.rows;
	out->nrows = t.n;
	free(t.idx);
	free(t.seen);
}

void mt_summary_release(struct mt_summary *s)
{
	free(s->rows);
	memset(s, 0, sizeof(*s));
}
