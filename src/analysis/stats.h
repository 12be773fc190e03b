/*
 * stats.h - the figures of `memtide stats`, gathered in one pass over a
 * capture: totals, allocator kinds, a size histogram, the heap's peak,
 * and per-location totals for the top lists.
 */
#ifndef MT_STATS_H
#define MT_STATS_H

#include <stdint.h>

#include "memtide/format.h"
#include "../format/reader.h"

#define MT_HIST_BINS 33		/* bin i: sizes below 4^i (bin 0: size 0) */

struct mt_site {
	const char *function, *file;
	unsigned line;
	uint64_t bytes, count;
};

struct mt_stats {
	uint64_t total_allocations, total_bytes;
	uint64_t kinds[MT_EV_KIND_COUNT];
	uint64_t hist[MT_HIST_BINS];
	uint64_t min_size, max_size;
	uint64_t peak_bytes, peak_ns;
	uint64_t end_heap_bytes, end_heap_blocks;
	struct mt_site *by_size, *by_count;	/* top lists, biggest first */
	uint32_t nsites;			/* entries shown in each list */
	uint32_t nall;				/* sites in all */
};

struct mt_stats_opts {
	int top;		/* length of the top lists */
	int progress;		/* report progress on stderr */
};

/* Reads the capture into c and s; -1 with err filled on failure. */
int mt_stats_compute(const char *path, const struct mt_stats_opts *o,
		     struct mt_capture *c, struct mt_stats *s, char *err, size_t errlen);
void mt_stats_release(struct mt_stats *s);
uint64_t mt_hist_bin_max(int bin);

#endif
