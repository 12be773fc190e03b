/*
 * heap.c - the live set of a replayed capture (see heap.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memtide/format.h"
#include "heap.h"
#include "../format/xalloc.h"

struct block {
	uint64_t size, tag;
	uint32_t key;
	uint32_t live;
};

struct range {
	uint64_t start, end, tag;
	uint32_t key;
};

struct mt_heap {
	struct block *blocks;	/* by slot */
	uint32_t nslots, cap;
	uint32_t *free_slots;	/* most recently freed last */
	uint32_t nfree, cap_free;
	uint64_t used;		/* live heap blocks */
	struct range *ranges;
	size_t nranges, cap_ranges;
	uint64_t current;
};

struct mt_heap *mt_heap_new(void)
{
	struct mt_heap *h = mt_xcalloc(1, sizeof(*h));
	return h;
}

void mt_heap_free(struct mt_heap *h)
{
	if (!h)
		return;
	free(h->blocks);
	free(h->free_slots);
	free(h->ranges);
	free(h);
}

uint64_t mt_heap_current(const struct mt_heap *h)
{
	return h->current;
}

/* The slot the writer gave this block: the last freed, or a new one. */
static void heap_alloc(struct mt_heap *h, const struct mt_event *ev,
		       uint32_t key, uint64_t tag)
{
	uint32_t slot;

	if (h->nfree) {
		slot = h->free_slots[--h->nfree];
	} else {
		if (h->nslots == h->cap) {
			h->cap = h->cap ? h->cap * 2 : 4096;
			h->blocks = mt_xrealloc(h->blocks, h->cap * sizeof(*h->blocks));
		}
		slot = h->nslots++;
	}
	h->blocks[slot] = (struct block){ ev->size, tag, key, 1 };
	h->current += ev->size;
	h->used++;
}

static void heap_release(struct mt_heap *h, uint64_t slot,
			 mt_heap_released released, void *ctx)
{
	struct block *b;

	if (slot >= h->nslots || !h->blocks[slot].live)
		return;		/* the writer never names a free slot */
	b = &h->blocks[slot];
	b->live = 0;
	h->current -= b->size;
	h->used--;
	if (released)
		released(ctx, b->key, b->size, b->tag);
	if (h->nfree == h->cap_free) {
		h->cap_free = h->cap_free ? h->cap_free * 2 : 4096;
		h->free_slots = mt_xrealloc(h->free_slots, h->cap_free * sizeof(uint32_t));
	}
	h->free_slots[h->nfree++] = (uint32_t)slot;
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
		h->ranges = mt_xrealloc(h->ranges, h->cap_ranges * sizeof(*h->ranges));
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
			released(ctx, r->key, hi - lo, r->tag);
		if (r->start < lo && r->end > hi) {	/* a hole in the middle */
			struct range tail = { hi, r->end, r->tag, r->key };

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

void mt_heap_apply(struct mt_heap *h, const struct mt_event *ev, uint32_t key,
		   uint64_t tag, mt_heap_released released, void *ctx)
{
	switch (ev->kind) {
	case MT_EV_FREE:
		heap_release(h, ev->addr, released, ctx);
		break;
	case MT_EV_MUNMAP:
		unmap(h, ev->addr, ev->size, released, ctx);
		break;
	case MT_EV_MMAP:
	case MT_EV_MMAP_FILE:
	case MT_EV_MREMAP:
		if (!ev->size)
			break;
		unmap(h, ev->addr, ev->size, released, ctx);
		range_insert_at(h, range_lower(h, ev->addr),
				(struct range){ ev->addr, ev->addr + ev->size, tag, key });
		h->current += ev->size;
		break;
	default:
		if (mt_event_is_alloc(ev->kind))
			heap_alloc(h, ev, key, tag);
	}
}
