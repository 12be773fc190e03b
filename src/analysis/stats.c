/*
 * stats.c - one pass over a capture for `memtide stats` (see stats.h).
 * Per-stack totals are kept in arrays indexed by stack node and folded
 * into allocation sites once the pass is over, so each stack is located
 * (and its native frames symbolized) once, however many events it has.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "heap.h"
#include "location.h"
#include "stats.h"
#include "symbols.h"

struct pass {
	struct mt_stats *s;
	struct mt_capture *c;
	struct mt_heap *heap;
	uint64_t *bytes, *count;	/* by stack node */
	uint32_t cap;
	int progress;
	uint64_t last_pct;
};

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n);
	if (!p && n) {
		fprintf(stderr, "memtide: out of memory\n");
		exit(1);
	}
	return p;
}

uint64_t mt_hist_bin_max(int bin)
{
	return bin == 0 ? 0 : bin >= 32 ? UINT64_MAX : (1ull << (2 * bin)) - 1;
}

static int hist_bin(uint64_t size)
{
	int bin = 0;

	while (bin < MT_HIST_BINS - 1 && size > mt_hist_bin_max(bin))
		bin++;
	return bin;
}

static void on_event(void *ctx, const struct mt_event *ev)
{
	struct pass *p = ctx;
	struct mt_stats *s = p->s;

	if (mt_event_is_alloc(ev->kind)) {
		s->total_allocations++;
		s->total_bytes += ev->size;
		s->kinds[ev->kind]++;
		s->hist[hist_bin(ev->size)]++;
		if (ev->size < s->min_size)
			s->min_size = ev->size;
		if (ev->size > s->max_size)
			s->max_size = ev->size;
		if (ev->stack >= p->cap) {
			uint32_t cap = p->cap ? p->cap : 1024;

			while (cap <= ev->stack)
				cap *= 2;
			p->bytes = xrealloc(p->bytes, cap * sizeof(uint64_t));
			p->count = xrealloc(p->count, cap * sizeof(uint64_t));
			memset(p->bytes + p->cap, 0, (cap - p->cap) * sizeof(uint64_t));
			memset(p->count + p->cap, 0, (cap - p->cap) * sizeof(uint64_t));
			p->cap = cap;
		}
		p->bytes[ev->stack] += ev->size;
		p->count[ev->stack]++;
	}
	mt_heap_apply(p->heap, ev, NULL, NULL);
	if (mt_heap_current(p->heap) > s->peak_bytes) {
		s->peak_bytes = mt_heap_current(p->heap);
		s->peak_ns = ev->time_ns;
	}
}

static void on_progress(void *ctx, uint64_t done, uint64_t total)
{
	struct pass *p = ctx;
	uint64_t pct = total ? done * 100 / total : 100;

	if (p->progress && pct != p->last_pct) {
		fprintf(stderr, "\rmemtide: reading capture... %3llu%%", (unsigned long long)pct);
		p->last_pct = pct;
	}
}

/* Sites keyed by (function, file, line) text. */
struct site_table {
	struct mt_site *v;
	uint32_t n, cap;
	uint32_t *idx;		/* open addressing into v, +1 */
	uint32_t mask;
};

static uint64_t site_hash(const char *f, const char *file, unsigned line)
{
	uint64_t h = 0xcbf29ce484222325ull ^ line;

	for (const char *p = f; *p; p++)
		h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
	h = (h ^ 0xff) * 0x100000001b3ull;
	for (const char *p = file; *p; p++)
		h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
	return h;
}

static void site_add(struct site_table *t, const struct mt_location *l,
		     uint64_t bytes, uint64_t count)
{
	uint32_t i;

	if ((t->n + 1) * 2 > t->mask) {
		uint32_t nmask = t->mask ? t->mask * 2 + 1 : 1023;

		free(t->idx);
		t->idx = calloc((size_t)nmask + 1, sizeof(uint32_t));
		if (!t->idx) {
			fprintf(stderr, "memtide: out of memory\n");
			exit(1);
		}
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
		t->v = xrealloc(t->v, t->cap * sizeof(*t->v));
	}
	t->v[t->n] = (struct mt_site){ strdup(l->function), strdup(l->file), l->line, bytes, count };
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

int mt_stats_compute(const char *path, const struct mt_stats_opts *o,
		     struct mt_capture *c, struct mt_stats *s, char *err, size_t errlen)
{
	struct pass p = { .s = s, .c = c, .progress = o->progress, .last_pct = 101 };
	struct mt_read_ops ops = { on_event, NULL, on_progress, &p };
	struct site_table t = { 0 };
	struct mt_symbols *syms;
	uint32_t top = o->top > 0 ? (uint32_t)o->top : 10;
	int rc;

	memset(s, 0, sizeof(*s));
	s->min_size = UINT64_MAX;
	p.heap = mt_heap_new();
	rc = mt_capture_read(path, c, &ops, err, errlen);
	if (p.progress && p.last_pct != 101)
		fprintf(stderr, "\r\033[K");
	s->end_heap_bytes = mt_heap_current(p.heap);
	s->end_heap_blocks = mt_heap_blocks(p.heap);
	mt_heap_free(p.heap);
	if (rc < 0) {
		free(p.bytes);
		free(p.count);
		return -1;
	}
	if (!s->total_allocations)
		s->min_size = 0;

	syms = mt_symbols_new(c);
	for (uint32_t k = 0; k < p.cap; k++) {
		struct mt_location l;

		if (!p.count[k])
			continue;
		mt_locate(c, syms, k, &l);
		site_add(&t, &l, p.bytes[k], p.count[k]);
	}
	mt_symbols_free(syms);
	free(p.bytes);
	free(p.count);
	free(t.idx);

	s->by_size = xrealloc(NULL, (t.n ? t.n : 1) * sizeof(*t.v));
	s->by_count = xrealloc(NULL, (t.n ? t.n : 1) * sizeof(*t.v));
	if (t.n) {
		qsort(t.v, t.n, sizeof(*t.v), by_bytes);
		memcpy(s->by_size, t.v, t.n * sizeof(*t.v));
		qsort(t.v, t.n, sizeof(*t.v), by_count);
		memcpy(s->by_count, t.v, t.n * sizeof(*t.v));
	}
	/* by_size owns the strings of every site; by_count shares them. */
	free(t.v);
	s->nsites = t.n < top ? t.n : top;
	s->nall = t.n;
	return 0;
}

void mt_stats_release(struct mt_stats *s)
{
	for (uint32_t i = 0; i < s->nall; i++) {
		free((char *)s->by_size[i].function);
		free((char *)s->by_size[i].file);
	}
	free(s->by_size);
	free(s->by_count);
	memset(s, 0, sizeof(*s));
}
