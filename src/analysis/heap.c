/*
 * heap.c - the live set of a replayed capture (see heap.h).
 *
 * A mapping that munmap cuts into pieces stays one allocation: each range
 * names its mapping, which counts its pieces, and the allocation ends
 * with its last piece.
 *
 * Reserved addresses (anonymous mappings made PROT_NONE, as the JVM, V8
 * and CUDA reserve gigabytes they may use later) are kept apart and are
 * no memory; an mprotect that makes some of them accessible allocates
 * them (MT_EV_COMMIT), one that makes anonymous mappings PROT_NONE frees
 * them back into the reservation (MT_EV_DECOMMIT).  An mprotect of
 * anything else (a heap block's guard page, a JIT's code going from
 * writable to executable) changes nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memtide/format.h"
#include "heap.h"
#include "../format/xalloc.h"

struct block {
	uint64_t bytes, tag;	/* bytes: what the block stands for (mt_event) */
	uint32_t key;
	uint32_t count;		/* blocks it stands for; 0 when free */
};

struct range {
	uint64_t start, end, tag;
	uint32_t key;
	uint32_t map;		/* the mapping it is a piece of */
	uint8_t file;		/* of a file: never reserved by an mprotect */
};

/* Address ranges, ordered and apart. */
struct ranges {
	struct range *v;
	size_t n, cap;
};

struct mt_heap {
	struct block *blocks;	/* by slot */
	uint32_t nslots, cap;
	uint32_t *free_slots;	/* most recently freed last */
	uint32_t nfree, cap_free;
	uint64_t used;		/* live heap blocks */
	struct ranges mapped;	/* the live mappings' pieces */
	uint64_t *pieces;	/* per mapping: its live pieces, 0 when free */
	uint32_t nmaps, cap_maps;
	uint32_t *free_maps;	/* mapping numbers to reuse */
	uint32_t nfree_maps, cap_free_maps;
	struct ranges reserved;	/* reserved addresses (start and end only) */
	uint64_t current;
	/*
	 * Sampled captures: per slot, the bytes the block really had (0: it
	 * stands for itself), and the sum over live blocks of the variance
	 * their estimate brings, bytes × (bytes − size): recorded with
	 * probability p = size / bytes, a block of n bytes counts n/p with
	 * variance n²(1 − p)/p, of which n²(1 − p)/p² for each recorded block
	 * is an unbiased estimate.  Integer sums, so taking blocks away
	 * leaves no rounding behind.
	 */
	uint64_t *sizes;
	uint32_t cap_sizes;
	unsigned __int128 variance;
};

/* Doubles a uint32 capacity; no array here can hold 2^31 entries. */
static uint32_t next_cap(uint32_t cap, uint32_t first)
{
	if (cap > UINT32_MAX / 2)
		mt_oom();
	return cap ? cap * 2 : first;
}

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
	free(h->sizes);
	free(h->free_slots);
	free(h->mapped.v);
	free(h->pieces);
	free(h->free_maps);
	free(h->reserved.v);
	free(h);
}

uint64_t mt_heap_current(const struct mt_heap *h)
{
	return h->current;
}

double mt_heap_variance(const struct mt_heap *h)
{
	return (double)h->variance;
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
			h->cap = next_cap(h->cap, 4096);
			h->blocks = mt_xrealloc(h->blocks, h->cap * sizeof(*h->blocks));
		}
		slot = h->nslots++;
	}
	/* a sampled block's weight is below 2^31 (sample rates up to 1 GiB) */
	h->blocks[slot] = (struct block){ ev->bytes, tag, key, ev->count ? (uint32_t)ev->count : 1 };
	h->current += ev->bytes;
	if (ev->bytes > ev->size || slot < h->cap_sizes) {
		if (slot >= h->cap_sizes) {
			uint32_t was = h->cap_sizes;

			h->cap_sizes = h->cap;
			h->sizes = mt_xrealloc(h->sizes, h->cap_sizes * sizeof(*h->sizes));
			memset(h->sizes + was, 0, (h->cap_sizes - was) * sizeof(*h->sizes));
		}
		h->sizes[slot] = ev->bytes > ev->size ? ev->size : 0;
		if (ev->bytes > ev->size)
			h->variance += (unsigned __int128)ev->bytes * (ev->bytes - ev->size);
	}
	h->used++;
}

static void heap_release(struct mt_heap *h, uint64_t slot,
			 mt_heap_released released, void *ctx)
{
	struct block *b;

	if (slot >= h->nslots || !h->blocks[slot].count)
		return;		/* the writer never names a free slot */
	b = &h->blocks[slot];
	h->current -= b->bytes;
	if (slot < h->cap_sizes && h->sizes[slot])
		h->variance -= (unsigned __int128)b->bytes * (b->bytes - h->sizes[slot]);
	h->used--;
	if (released)
		released(ctx, b->key, b->bytes, b->count, b->tag);
	b->count = 0;
	if (h->nfree == h->cap_free) {
		h->cap_free = next_cap(h->cap_free, 4096);
		h->free_slots = mt_xrealloc(h->free_slots, h->cap_free * sizeof(uint32_t));
	}
	h->free_slots[h->nfree++] = (uint32_t)slot;
}

/* First range whose end is above addr. */
static size_t range_lower(const struct ranges *rs, uint64_t addr)
{
	size_t lo = 0, hi = rs->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (rs->v[mid].end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void range_insert_at(struct ranges *rs, size_t i, struct range r)
{
	if (rs->n == rs->cap) {
		rs->cap = rs->cap ? rs->cap * 2 : 64;
		rs->v = mt_xrealloc(rs->v, rs->cap * sizeof(*rs->v));
	}
	memmove(&rs->v[i + 1], &rs->v[i], (rs->n - i) * sizeof(r));
	rs->v[i] = r;
	rs->n++;
}

/* A new mapping's number, with one piece. */
static uint32_t map_new(struct mt_heap *h)
{
	uint32_t m;

	if (h->nfree_maps) {
		m = h->free_maps[--h->nfree_maps];
	} else {
		if (h->nmaps == h->cap_maps) {
			h->cap_maps = next_cap(h->cap_maps, 64);
			h->pieces = mt_xrealloc(h->pieces, h->cap_maps * sizeof(*h->pieces));
		}
		m = h->nmaps++;
	}
	h->pieces[m] = 1;
	return m;
}

/* One piece of mapping m is gone; returns 1 when it was the last. */
static int map_piece_gone(struct mt_heap *h, uint32_t m)
{
	if (--h->pieces[m])
		return 0;
	if (h->nfree_maps == h->cap_free_maps) {
		h->cap_free_maps = next_cap(h->cap_free_maps, 64);
		h->free_maps = mt_xrealloc(h->free_maps, h->cap_free_maps * sizeof(uint32_t));
	}
	h->free_maps[h->nfree_maps++] = m;
	return 1;
}

static void unmap(struct mt_heap *h, uint64_t start, uint64_t len,
		  mt_heap_released released, void *ctx)
{
	uint64_t end = len > UINT64_MAX - start ? UINT64_MAX : start + len;
	size_t i = range_lower(&h->mapped, start);

	while (i < h->mapped.n && h->mapped.v[i].start < end) {
		struct range *r = &h->mapped.v[i];
		struct range was = *r;
		uint64_t lo = r->start > start ? r->start : start;
		uint64_t hi = r->end < end ? r->end : end;
		int last = 0;

		h->current -= hi - lo;
		if (r->start < lo && r->end > hi) {	/* a hole in the middle */
			struct range tail = { hi, r->end, r->tag, r->key, r->map, r->file };

			r->end = lo;
			h->pieces[r->map]++;
			range_insert_at(&h->mapped, i + 1, tail);
			i = h->mapped.n;	/* nothing else is in the hole */
		} else if (r->start < lo) {
			r->end = lo;
			i++;
		} else if (r->end > hi) {
			r->start = hi;
			i++;
		} else {
			last = map_piece_gone(h, r->map);
			memmove(r, r + 1, (h->mapped.n - i - 1) * sizeof(*r));
			h->mapped.n--;
		}
		if (released)
			released(ctx, was.key, hi - lo, (uint64_t)last, was.tag);
	}
}

/* ---- reserved addresses ---- */

/* [start, end) is not reserved any more (unmapped, mapped again). */
static void unreserve(struct mt_heap *h, uint64_t start, uint64_t end)
{
	size_t i = range_lower(&h->reserved, start);

	while (i < h->reserved.n && h->reserved.v[i].start < end) {
		struct range *sp = &h->reserved.v[i];

		if (sp->start < start && sp->end > end) {	/* a hole in the middle */
			struct range tail = { .start = end, .end = sp->end };

			sp->end = start;
			range_insert_at(&h->reserved, i + 1, tail);
			return;
		} else if (sp->start < start) {
			sp->end = start;
			i++;
		} else if (sp->end > end) {
			sp->start = end;
			return;
		} else {
			memmove(sp, sp + 1, (h->reserved.n - i - 1) * sizeof(*sp));
			h->reserved.n--;
		}
	}
}

static void reserve(struct mt_heap *h, uint64_t start, uint64_t end)
{
	if (start >= end)
		return;
	unreserve(h, start, end);
	range_insert_at(&h->reserved, range_lower(&h->reserved, start),
			(struct range){ .start = start, .end = end });
}

static uint64_t end_of(const struct mt_event *ev)
{
	return ev->size > UINT64_MAX - ev->addr ? UINT64_MAX : ev->addr + ev->size;
}

const struct mt_event *mt_heap_commit(const struct mt_heap *h, const struct mt_event *ev,
				      struct mt_event *out)
{
	uint64_t end = end_of(ev), n = 0;

	for (size_t i = range_lower(&h->reserved, ev->addr);
	     i < h->reserved.n && h->reserved.v[i].start < end; i++) {
		const struct range *sp = &h->reserved.v[i];

		n += (sp->end < end ? sp->end : end) - (sp->start > ev->addr ? sp->start : ev->addr);
	}
	if (!n)
		return NULL;
	*out = *ev;
	out->size = out->bytes = n;
	out->count = 1;
	return out;
}

/*
 * A COMMIT (resolved by mt_heap_commit): its size is the reserved bytes
 * from its address on, which become one mapping, in as many pieces as
 * they were spans.
 */
static void commit(struct mt_heap *h, const struct mt_event *ev, uint32_t key, uint64_t tag)
{
	uint64_t left = ev->size;
	uint32_t m = UINT32_MAX;

	while (left) {
		size_t i = range_lower(&h->reserved, ev->addr);
		uint64_t lo, hi;

		if (i == h->reserved.n)
			break;		/* not resolved against this heap */
		lo = h->reserved.v[i].start > ev->addr ? h->reserved.v[i].start : ev->addr;
		hi = h->reserved.v[i].end - lo > left ? lo + left : h->reserved.v[i].end;
		unreserve(h, lo, hi);
		if (m == UINT32_MAX)
			m = map_new(h);
		else
			h->pieces[m]++;
		range_insert_at(&h->mapped, range_lower(&h->mapped, lo),
				(struct range){ lo, hi, tag, key, m, 0 });
		h->current += hi - lo;
		left -= hi - lo;
	}
}

/* The anonymous mappings in [start, end) go back to being reserved. */
static void decommit(struct mt_heap *h, uint64_t start, uint64_t end,
		     mt_heap_released released, void *ctx)
{
	uint64_t at = start;

	for (;;) {
		const struct range *r = h->mapped.v;
		size_t i = range_lower(&h->mapped, at);
		uint64_t lo, hi;

		while (i < h->mapped.n && r[i].start < end && r[i].file)
			i++;
		if (i == h->mapped.n || r[i].start >= end)
			return;
		lo = r[i].start > start ? r[i].start : start;
		hi = r[i].end < end ? r[i].end : end;
		unmap(h, lo, hi - lo, released, ctx);
		reserve(h, lo, hi);
		at = hi;
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
		unreserve(h, ev->addr, end_of(ev));
		break;
	case MT_EV_RESERVE:	/* whatever was there is replaced */
		unmap(h, ev->addr, ev->size, released, ctx);
		reserve(h, ev->addr, end_of(ev));
		break;
	case MT_EV_DECOMMIT:
		decommit(h, ev->addr, end_of(ev), released, ctx);
		break;
	case MT_EV_COMMIT:
		commit(h, ev, key, tag);
		break;
	case MT_EV_MMAP:
	case MT_EV_MMAP_FILE:
	case MT_EV_MREMAP:
		if (!ev->size)
			break;
		unmap(h, ev->addr, ev->size, released, ctx);
		unreserve(h, ev->addr, end_of(ev));
		range_insert_at(&h->mapped, range_lower(&h->mapped, ev->addr),
				(struct range){ ev->addr, ev->addr + ev->size, tag, key, map_new(h),
						ev->kind == MT_EV_MMAP_FILE });
		h->current += ev->size;
		break;
	default:
		if (mt_event_is_alloc(ev->kind))
			heap_alloc(h, ev, key, tag);
	}
}
