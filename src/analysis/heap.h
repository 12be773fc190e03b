/*
 * heap.h - replays allocation events into the set of live blocks: an
 * array indexed by slot for heap blocks and an ordered list of ranges for
 * mappings (which munmap may cut in pieces).  Its memory follows what is
 * live.
 */
#ifndef MT_HEAP_H
#define MT_HEAP_H

#include <stdint.h>

#include "../format/reader.h"

struct mt_heap;

/*
 * Called for every piece of memory an event releases, with the key and
 * tag the caller gave when the memory was allocated; count is the
 * allocations it stood for (the event's count: 1 but in a sampled
 * capture) when the allocation is now wholly gone, 0 when part of a
 * mapping remains.  A heap block releases the bytes it stood for (the
 * event's bytes), so the heap goes back to 0 when everything is freed.
 */
typedef void (*mt_heap_released)(void *ctx, uint32_t key, uint64_t bytes, uint64_t count,
				 uint64_t tag);

struct mt_heap *mt_heap_new(void);
void mt_heap_free(struct mt_heap *h);

/* Applies one event; an allocation remembers key and tag. */
void mt_heap_apply(struct mt_heap *h, const struct mt_event *ev, uint32_t key,
		   uint64_t tag, mt_heap_released released, void *ctx);
/*
 * An MT_EV_COMMIT (an mprotect making a range accessible) allocates only
 * the part of its range that was reserved: out is the event with that
 * many bytes, the one allocation a report counts, and the event to apply;
 * NULL when none of it was, and the event changes nothing.
 */
const struct mt_event *mt_heap_commit(const struct mt_heap *h, const struct mt_event *ev,
				      struct mt_event *out);
uint64_t mt_heap_current(const struct mt_heap *h);
/* The variance of mt_heap_current in a sampled capture (0 when every
 * live block stands for itself). */
double mt_heap_variance(const struct mt_heap *h);

#endif
