/*
 * heap.c - the live set of a replayed capture (see heap.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memtide/format.h"
#include "heap.h"

struct live {
	uint64_t addr;		/* 0: empty slot */
	uint64_t size;
	uint32_t stack;
};

struct range {
	uint64_t start, end;
	uint32_t stack;
};

struct mt_heap {
	struct live *slots;
	size_t mask, used;
	struct range *ranges;
	size_t nranges, cap_ranges;
	uint64_t current;
};

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n, size);

	if (!p) {
		fprintf(stderr, "memtide: out of memory\n");
		exit(1);
	}
	return p;
}

static size_t slot_of(const struct mt_heap *h, uint64_t addr)
{
	uint64_t x = addr >> 4;

	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return (size_t)x & h->mask;
}

struct mt_heap *mt_heap_new(void)
{
	struct mt_heap *h = xcalloc(1, sizeof(*h));

	h->mask = (1u << 16) - 1;
	h->slots = xcalloc(h->mask + 1, sizeof(*h->slots));
	return h;
}

void mt_heap_free(struct mt_heap *h)
{
	if (!h)
		return;
	free(h->slots);
	free(h->ranges);
	free(h);
}

uint64_t mt_heap_current(const struct mt_heap *h)
{
	return h->current;
}

uint64_t mt_heap_blocks(const struct mt_heap *h)
{
	return h->used + h->nranges;
}

static void rehash(struct mt_heap *h)
{
	struct live *old = h->slots;
	size_t n = h->mask + 1;

	h->mask = n * 2 - 1;
	h->slots = xcalloc(n * 2, sizeof(*h->slots));
	for (size_t i = 0; i < n; i++) {
		if (old[i].addr) {
			size_t j = slot_of(h, old[i].addr);

			while (h->slots[j].addr)
				j = (j + 1) & h->mask;
			h->slots[j] = old[i];
		}
	}
	free(old);
}

static struct live *find(struct mt_heap *h, uint64_t addr)
{
	size_t i = slot_of(h, addr);

	while (h->slots[i].addr && h->slots[i].addr != addr)
		i = (i + 1) & h->mask;
	return &h->slots[i];
}

/* Backward-shift deletion keeps probe chains whole without tombstones. */
static void erase(struct mt_heap *h, struct live *s)
{
	size_t i = (size_t)(s - h->slots), j = i;

	for (;;) {
		j = (j + 1) & h->mask;
		if (!h->slots[j].addr)
			break;
		size_t home = slot_of(h, h->slots[j].addr);

		if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
			h->slots[i] = h->slots[j];
			i = j;
		}
	}
	h->slots[i].addr = 0;
	h->used--;
}

static void heap_alloc(struct mt_heap *h, const struct mt_event *ev,
		       mt_heap_released released, void *ctx)
{
	struct live *s;

	if ((h->used + 1) * 4 > (h->mask + 1) * 3)
		rehash(h);
	s = find(h, ev->addr);
	if (s->addr) {		/* a free we never saw: the old block is gone */
		h->current -= s->size;
		if (released)
			released(ctx, s->stack, s->size);
	} else {
		h->used++;
	}
	s->addr = ev->addr;
	s->size = ev->size;
	s->stack = ev->stack;
	h->current += ev->size;
}

static void heap_release(struct mt_heap *h, uint64_t addr,
			 mt_heap_released released, void *ctx)
{
	struct live *s = find(h, addr);

	if (!s->addr)
		return;
	h->current -= s->size;
	if (released)
		released(ctx, s->stack, s->size);
	erase(h, s);
}

/* First range whose end is above addr. */
static size_t range_lower(const struct mt_heap *h, uint64_t addr)
{
	size_t lo = 0, hi = h->nranges;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (h->ranges[mid].end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void range_insert_at(struct mt_heap *h, size_t i, struct range r)
{
	if (h->nranges == h->cap_ranges) {
		h->cap_ranges = h->cap_ranges ? h->cap_ranges * 2 : 64;
		h->ranges = realloc(h->ranges, h->cap_ranges * sizeof(*h->ranges));
		if (!h->ranges) {
			fprintf(stderr, "memtide: out of memory\n");
			exit(1);
		}
	}
	memmove(&h->ranges[i + 1], &h->ranges[i], (h->nranges - i) * sizeof(r));
	h->ranges[i] = r;
	h->nranges++;
}

static void unmap(struct mt_heap *h, uint64_t start, uint64_t len,
		  mt_heap_released released, void *ctx)
{
	uint64_t end = start + len;
	size_t i = range_lower(h, start);

	while (i < h->nranges && h->ranges[i].start < end) {
		struct range *r = &h->ranges[i];
		uint64_t lo = r->start > start ? r->start : start;
		uint64_t hi = r->end < end ? r->end : end;

		h->current -= hi - lo;
		if (released)
			released(ctx, r->stack, hi - lo);
		if (r->start < lo && r->end > hi) {	/* a hole in the middle */
			struct range tail = { hi, r->end, r->stack };

			r->end = lo;
			range_insert_at(h, i + 1, tail);
			return;
		}
		if (r->start < lo) {
			r->end = lo;
			i++;
		} else if (r->end > hi) {
			r->start = hi;
			i++;
		} else {
			memmove(r, r + 1, (h->nranges - i - 1) * sizeof(*r));
			h->nranges--;
		}
	}
}

void mt_heap_apply(struct mt_heap *h, const struct mt_event *ev,
		   mt_heap_released released, void *ctx)
{
	switch (ev->kind) {
	case MT_EV_FREE:
		heap_release(h, ev->addr, released, ctx);
		break;
	case MT_EV_MUNMAP:
		unmap(h, ev->addr, ev->size, released, ctx);
		break;
	case MT_EV_MMAP:
	case MT_EV_MREMAP:
		unmap(h, ev->addr, ev->size, released, ctx);
		range_insert_at(h, range_lower(h, ev->addr),
				(struct range){ ev->addr, ev->addr + ev->size, ev->stack });
		h->current += ev->size;
		break;
	default:
		if (mt_event_is_alloc(ev->kind))
			heap_alloc(h, ev, released, ctx);
	}
}
