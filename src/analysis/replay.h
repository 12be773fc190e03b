/*
 * replay.h - the analysis every report builds on: one pass over a capture
 * that replays the heap and gathers, per allocation key (stack, thread,
 * allocator kind):
 *
 *   - what was live at the high-water mark, found in the same pass: each
 *     key keeps its change since the last peak, undone at the end;
 *   - what was still live at the end (leaks);
 *   - temporary allocations: blocks freed before their thread made more
 *     than `temporary_threshold` other allocations;
 *   - totals, allocator kinds, a size histogram, heap and RSS over time.
 *
 * Memory follows the number of keys and of live blocks, not the length of
 * the capture.  With `buckets`, a second pass records the live set at the
 * peak of each of that many equal time buckets (flamegraph --temporal).
 */
#ifndef MT_REPLAY_H
#define MT_REPLAY_H

#include <stdint.h>

#include "memtide/format.h"
#include "../format/reader.h"

#define MT_HIST_BINS 33		/* bin i: sizes below 4^i (bin 0: size 0) */

struct mt_key {
	uint32_t stack, thread;
	uint8_t kind;
};

struct mt_usage {
	uint64_t bytes, count;
};

/* One change of a key's live set between temporal buckets. */
struct mt_bucket_change {
	uint32_t key, bucket;
	struct mt_usage live;
};

/* A pipeline step (memtide.step): from its STEP event to the next. */
struct mt_step {
	uint32_t name;			/* string id */
	uint64_t start_ns, end_ns;
	uint64_t heap_start, heap_end, peak;
	uint64_t rss_end;
	uint64_t allocations, allocated_bytes;
	uint32_t top_key;		/* the key that allocated most in it */
	uint64_t top_bytes;
	int expect;			/* the program estimated peak - heap_start: */
	uint64_t expected;		/* ... this many bytes (memtide.step(expect=)) */
	uint32_t counters;		/* 1 + its index in c.step_counters; 0: none */
};

struct mt_replay_opts {
	uint64_t temporary_threshold;	/* default 1 */
	uint32_t buckets;		/* temporal buckets, 0 for none */
	int progress;			/* progress on stderr */
	int include_file_mappings;	/* count file-backed mmaps as memory */
	/*
	 * A second high-water mark, of the memory allocated by the stacks
	 * focus() accepts (called once per distinct stack): `lines` finds a
	 * function's own peak with it.  NULL: none.
	 */
	int (*focus)(void *ctx, const struct mt_capture *c, uint32_t stack);
	void *focus_ctx;
};

struct mt_replay {
	struct mt_capture c;
	/* per key, indexed 0..nkeys */
	struct mt_key *keys;
	struct mt_usage *total;		/* everything allocated */
	struct mt_usage *peak;		/* live at the high-water mark */
	struct mt_usage *leaked;	/* live at the end */
	struct mt_usage *temporary;	/* freed right after they were made */
	uint32_t nkeys;
	/* totals */
	uint64_t total_allocations, total_bytes;
	uint64_t kinds[MT_EV_KIND_COUNT];
	uint64_t hist[MT_HIST_BINS];
	uint64_t min_size, max_size;
	uint64_t peak_bytes, peak_ns;
	uint64_t leaked_bytes, leaked_count;
	/* sampled captures: the standard errors of peak_bytes and leaked_bytes
	 * (0 in a full capture) */
	double peak_stderr, leaked_stderr;
	uint64_t temporary_bytes, temporary_count;
	/*
	 * File-backed mappings (MT_EV_MMAP_FILE): left out of everything
	 * above unless include_file_mappings, but always measured here.
	 */
	uint64_t file_mapped_peak_bytes, file_mappings;
	/*
	 * With opts.focus: the focused stacks' high-water mark, and per key
	 * what was live then; per key, what focused calls left live when they
	 * ended (a thread's call ends at its next allocation with a stack not
	 * focused, or at the end of the capture).  0 for keys not focused.
	 */
	uint64_t focus_peak_bytes, focus_peak_ns;
	struct mt_usage *focus_peak, *focus_net;
	/* heap and RSS at each writer round (10 ms) */
	uint64_t *tl_ns, *tl_heap, *tl_rss;
	size_t ntl;
	/* steps */
	struct mt_step *steps;
	uint32_t nsteps;
	/* temporal buckets */
	uint32_t nbuckets;
	uint64_t *bucket_end_ns, *bucket_peak;
	struct mt_bucket_change *changes;
	size_t nchanges;
	/* private */
	struct replay_state *st;
};

int mt_replay_run(const char *path, const struct mt_replay_opts *o,
		  struct mt_replay *r, char *err, size_t errlen);
void mt_replay_release(struct mt_replay *r);
uint64_t mt_hist_bin_max(int bin);

#endif
