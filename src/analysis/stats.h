/*
 * stats.h - the allocation sites of `memtide stats`: a replay's per-key
 * totals folded by location (function, file, line), ranked by bytes and by
 * number of allocations.
 */
#ifndef MT_STATS_H
#define MT_STATS_H

#include <stdint.h>

#include "replay.h"

struct mt_site {
	const char *function, *file;
	unsigned line;
	uint64_t bytes, count;
};

struct mt_stats {
	struct mt_site *by_size, *by_count;	/* biggest first */
	uint32_t nsites;			/* entries shown in each list */
	uint32_t nall;				/* sites in all */
	struct mt_usage arenas;			/* interpreter arenas not in the leaks */
};

/*
 * One of the replay's per-key measures (r->total, r->peak, r->leaked)
 * folded by location: returns the sites, in no order, and their number in
 * *n; keys with no allocations are left out.  show_all: sites may be
 * hidden frames too (--show-all-frames).  The caller frees them with
 * mt_sites_free().
 */
struct mt_site *mt_sites_of(const struct mt_replay *r, const struct mt_usage *per_key,
			    int show_all, uint32_t *n);
void mt_sites_free(struct mt_site *v, uint32_t n);

/* The sites of r->total, the top ones by size and by count. */
void mt_stats_sites(const struct mt_replay *r, int top, int show_all, struct mt_stats *s);
/* The same for other values per key than r->total: r->peak gives the
 * sites of the memory live at the peak. */
void mt_stats_sites_of(const struct mt_replay *r, const struct mt_usage *values, int top,
		       int show_all, struct mt_stats *s);
void mt_stats_release(struct mt_stats *s);

#endif
