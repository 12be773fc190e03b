/*
 * replay.c - the one analysis pass every report uses (see replay.h).
 *
 * The live set at the high-water mark is found without a second pass:
 * each key carries its change since the last peak (and a list of the keys
 * touched since then); a new peak clears those changes, and at the end the
 * peak's live set is the current one minus them.  Each event touches one
 * key and each key is cleared at most once per touch, so this costs O(1)
 * per event, whatever the number of peaks.
 *
 * In a sampled capture every figure adds up what each event stands for
 * (mt_event's bytes and count), and the heap releases a block's bytes as
 * they were added, so each figure is an unbiased estimate and the heap
 * still goes back to 0.  Sizes (histogram bins, smallest and largest)
 * are the recorded blocks' own.  Temporary blocks are not told in a
 * sampled capture: whether the thread allocated between a block and its
 * free is not known.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heap.h"
#include "replay.h"
#include "../format/xalloc.h"

/* Changes counted modulo 2^64: a decrease is a wrapped negative number. */
struct delta {
	uint64_t bytes, count;
};

/* Changes of the live set since a mark (a peak), per key. */
struct tracker {
	struct delta *d;
	uint32_t *touched;
	uint8_t *is_touched;
	size_t ntouched;
};

struct replay_state {
	struct mt_replay *r;
	const struct mt_replay_opts *o;
	struct mt_heap *heap;
	uint32_t cap;			/* of the per-key arrays */
	struct mt_usage *live;		/* live now */
	struct tracker since_peak;	/* live now minus live at the peak */
	double peak_variance;		/* sampled captures: the heap's, at the peak */
	uint32_t *key_index;		/* open addressing over keys, +1 */
	uint32_t key_mask;
	uint64_t *thread_allocs;	/* allocations made so far, per thread */
	uint32_t nthreads_cap;
	uint64_t round_max;		/* heap high since the last sample */
	uint64_t file_cur;		/* file-backed mappings live now */
	int second;			/* the temporal pass: buckets only */
	/* temporal pass */
	struct tracker since_bucket;	/* live now minus live at the bucket's peak */
	struct mt_usage *snap;		/* live at the previous bucket's peak */
	uint64_t bucket_width, bucket_peak_val;
	uint32_t bucket;
	size_t cap_changes;
	size_t cap_tl;
	uint64_t last_pct;
	/* the open step */
	int in_step;
	uint64_t *step_bytes;		/* per key, allocated in the open step */
	uint8_t *step_is_touched;	/* per key, allocated in the open step */
	uint32_t *step_touched;
	uint32_t nstep_touched, cap_steps;
	uint64_t last_rss;
	/* opts.focus: which keys count, the memory they hold now, and their
	 * changes since their own peak */
	uint8_t *focused;
	uint64_t focus_cur;
	struct tracker since_focus_peak;
	/*
	 * A thread is inside a focused call from an allocation with a focused
	 * stack to its next one without (or the end); call_live holds, per
	 * key, what the open calls allocated and have not freed.  Blocks
	 * tagged above call_start[thread] were made in the thread's open call.
	 */
	uint8_t *in_call;
	uint64_t *call_start;
	struct tracker call_live;
};

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

#define GROW(p, old, n) do { (p) = mt_xrealloc((p), (size_t)(n) * sizeof(*(p))); \
	memset((p) + (old), 0, (size_t)((n) - (old)) * sizeof(*(p))); } while (0)

static void tracker_grow(struct tracker *t, uint32_t old, uint32_t cap)
{
	GROW(t->d, old, cap);
	GROW(t->touched, old, cap);
	GROW(t->is_touched, old, cap);
}

static void tracker_add(struct tracker *t, uint32_t key, uint64_t bytes, uint64_t count)
{
	if (!t->d)
		return;
	if (!t->is_touched[key]) {
		t->is_touched[key] = 1;
		t->touched[t->ntouched++] = key;
	}
	t->d[key].bytes += bytes;
	t->d[key].count += count;
}

static void tracker_clear(struct tracker *t)
{
	for (size_t i = 0; i < t->ntouched; i++) {
		uint32_t k = t->touched[i];

		t->d[k] = (struct delta){ 0, 0 };
		t->is_touched[k] = 0;
	}
	t->ntouched = 0;
}

static void tracker_free(struct tracker *t)
{
	free(t->d);
	free(t->touched);
	free(t->is_touched);
}

static uint32_t key_hash(uint32_t stack, uint32_t thread, uint8_t kind)
{
	uint64_t h = ((uint64_t)stack << 20 ^ (uint64_t)thread << 4 ^ kind) * 0x9E3779B97F4A7C15ull;

	return (uint32_t)(h >> 32);
}

/* The key of (stack, thread, kind), made on first sight. */
static uint32_t key_of(struct replay_state *st, const struct mt_event *ev)
{
	struct mt_replay *r = st->r;
	uint32_t i;

	if ((r->nkeys + 1) * 2 > st->key_mask) {
		uint32_t mask = st->key_mask ? st->key_mask * 2 + 1 : 4095;

		free(st->key_index);
		st->key_index = mt_xcalloc((size_t)mask + 1, sizeof(uint32_t));
		st->key_mask = mask;
		for (uint32_t k = 0; k < r->nkeys; k++) {
			i = key_hash(r->keys[k].stack, r->keys[k].thread, r->keys[k].kind) & mask;
			while (st->key_index[i])
				i = (i + 1) & mask;
			st->key_index[i] = k + 1;
		}
	}
	i = key_hash(ev->stack, ev->thread, ev->kind) & st->key_mask;
	while (st->key_index[i]) {
		const struct mt_key *k = &r->keys[st->key_index[i] - 1];

		if (k->stack == ev->stack && k->thread == ev->thread && k->kind == ev->kind)
			return st->key_index[i] - 1;
		i = (i + 1) & st->key_mask;
	}
	if (r->nkeys == st->cap) {
		uint32_t cap = st->cap ? st->cap * 2 : 1024;

		if (st->cap > UINT32_MAX / 2)
			mt_oom();

		GROW(r->keys, st->cap, cap);
		GROW(r->total, st->cap, cap);
		GROW(r->temporary, st->cap, cap);
		GROW(st->live, st->cap, cap);
		GROW(st->step_bytes, st->cap, cap);
		GROW(st->step_is_touched, st->cap, cap);
		GROW(st->step_touched, st->cap, cap);
		tracker_grow(&st->since_peak, st->cap, cap);
		if (st->o->focus) {
			GROW(st->focused, st->cap, cap);
			tracker_grow(&st->since_focus_peak, st->cap, cap);
			tracker_grow(&st->call_live, st->cap, cap);
			GROW(r->focus_net, st->cap, cap);
		}
		if (st->snap) {
			GROW(st->snap, st->cap, cap);
			tracker_grow(&st->since_bucket, st->cap, cap);
		}
		st->cap = cap;
	}
	r->keys[r->nkeys] = (struct mt_key){ ev->stack, ev->thread, ev->kind };
	if (st->o->focus)
		st->focused[r->nkeys] = st->o->focus(st->o->focus_ctx, &r->c, ev->stack) != 0;
	st->key_index[i] = r->nkeys + 1;
	return r->nkeys++;
}

/* Whether the events of this kind count as memory. */
static int counted(const struct replay_state *st, unsigned kind)
{
	return kind != MT_EV_MMAP_FILE || st->o->include_file_mappings;
}

/* The memory in use now: the heap, and the file mappings if counted. */
static uint64_t current(const struct replay_state *st)
{
	uint64_t all = mt_heap_current(st->heap);

	return st->o->include_file_mappings ? all : all - st->file_cur;
}

/* Adds bytes and count (modulo 2^64: 0 - x takes x away) to a key. */
static void change(struct replay_state *st, uint32_t key, uint64_t bytes, uint64_t count)
{
	st->live[key].bytes += bytes;
	st->live[key].count += count;
	tracker_add(&st->since_peak, key, bytes, count);
	tracker_add(&st->since_bucket, key, bytes, count);
	if (st->focused && st->focused[key] && !st->second) {
		st->focus_cur += bytes;
		tracker_add(&st->since_focus_peak, key, bytes, count);
	}
}

static void released(void *ctx, uint32_t key, uint64_t bytes, uint64_t count, uint64_t tag)
{
	struct replay_state *st = ctx;
	struct mt_replay *r = st->r;
	uint32_t thread = r->keys[key].thread;

	if (r->keys[key].kind == MT_EV_MMAP_FILE) {
		st->file_cur -= bytes;
		if (!counted(st, MT_EV_MMAP_FILE))
			return;
	}
	change(st, key, 0 - bytes, 0 - count);
	if (st->focused && st->focused[key] && !st->second && thread < st->nthreads_cap &&
	    st->in_call[thread] && tag > st->call_start[thread])
		tracker_add(&st->call_live, key, 0 - bytes, 0 - count);
	/* tag: the thread's allocation count when the block was made */
	if (!st->second && thread < st->nthreads_cap && !r->c.sample_rate &&
	    st->thread_allocs[thread] - tag < st->o->temporary_threshold) {
		r->temporary[key].bytes += bytes;
		r->temporary[key].count += count;
		r->temporary_bytes += bytes;
		r->temporary_count += count;
	}
}

/* Thread t's focused call ends: what it left live counts as its net. */
static void close_call(struct replay_state *st, uint32_t t)
{
	struct tracker *c = &st->call_live;
	size_t kept = 0;

	for (size_t i = 0; i < c->ntouched; i++) {
		uint32_t k = c->touched[i];

		if (st->r->keys[k].thread != t) {
			c->touched[kept++] = k;
			continue;
		}
		st->r->focus_net[k].bytes += c->d[k].bytes;
		st->r->focus_net[k].count += c->d[k].count;
		c->d[k] = (struct delta){ 0, 0 };
		c->is_touched[k] = 0;
	}
	c->ntouched = kept;
	st->in_call[t] = 0;
}

/* Ends the temporal buckets before time ns. */
static void close_buckets(struct replay_state *st, uint64_t ns)
{
	struct mt_replay *r = st->r;

	while (st->bucket < r->nbuckets && ns >= r->bucket_end_ns[st->bucket]) {
		struct tracker *t = &st->since_bucket;

		/* a key's state at the bucket's peak is live now minus its
		 * changes since; record the keys where it differs from the
		 * previous bucket's */
		for (uint32_t k = 0; k < r->nkeys; k++) {
			struct mt_usage at = {
				st->live[k].bytes - (t->is_touched[k] ? t->d[k].bytes : 0),
				st->live[k].count - (t->is_touched[k] ? t->d[k].count : 0),
			};

			if (at.bytes == st->snap[k].bytes && at.count == st->snap[k].count)
				continue;
			if (r->nchanges == st->cap_changes) {
				st->cap_changes = st->cap_changes ? st->cap_changes * 2 : 4096;
				r->changes = mt_xrealloc(r->changes, st->cap_changes * sizeof(*r->changes));
			}
			r->changes[r->nchanges++] = (struct mt_bucket_change){ k, st->bucket, at };
			st->snap[k] = at;
		}
		r->bucket_peak[st->bucket] = st->bucket_peak_val;
		tracker_clear(t);
		st->bucket_peak_val = current(st);
		st->bucket++;
	}
}

static void close_step(struct replay_state *st, uint64_t ns)
{
	struct mt_replay *r = st->r;
	struct mt_step *s = &r->steps[r->nsteps - 1];

	s->end_ns = ns;
	s->heap_end = current(st);
	s->rss_end = st->last_rss;
	for (uint32_t i = 0; i < st->nstep_touched; i++) {
		uint32_t k = st->step_touched[i];

		if (st->step_bytes[k] > s->top_bytes) {
			s->top_bytes = st->step_bytes[k];
			s->top_key = k;
		}
		st->step_bytes[k] = 0;
		st->step_is_touched[k] = 0;
	}
	st->nstep_touched = 0;
	st->in_step = 0;
}

/* A STEP event: the open step ends, the named one (if any) begins. */
static void step(struct replay_state *st, const struct mt_event *ev)
{
	struct mt_replay *r = st->r;

	st->last_rss = ev->size;	/* the RSS when the step event was made */
	if (st->in_step)
		close_step(st, ev->time_ns);
	if (!ev->addr)
		return;
	if (r->nsteps == st->cap_steps) {
		if (st->cap_steps > UINT32_MAX / 2)
			mt_oom();
		st->cap_steps = st->cap_steps ? st->cap_steps * 2 : 64;
		r->steps = mt_xrealloc(r->steps, st->cap_steps * sizeof(*r->steps));
	}
	r->steps[r->nsteps++] = (struct mt_step){
		.name = (uint32_t)ev->addr, .start_ns = ev->time_ns,
		.heap_start = current(st), .peak = current(st),
		.expect = ev->expect, .expected = ev->expected,
	};
	st->in_step = 1;
}

static void step_alloc(struct replay_state *st, uint32_t key, uint64_t size, uint64_t count)
{
	struct mt_step *s = &st->r->steps[st->r->nsteps - 1];

	s->allocations += count;
	s->allocated_bytes += size;
	/* touched once per step, whatever the sizes (0-byte blocks too) */
	if (!st->step_is_touched[key]) {
		st->step_is_touched[key] = 1;
		st->step_touched[st->nstep_touched++] = key;
	}
	st->step_bytes[key] += size;
}

static void on_event(void *ctx, const struct mt_event *ev)
{
	struct replay_state *st = ctx;
	struct mt_replay *r = st->r;
	struct mt_event committed;
	uint64_t cur;

	if (st->snap)
		close_buckets(st, ev->time_ns);
	if (ev->kind == MT_EV_COMMIT && !(ev = mt_heap_commit(st->heap, ev, &committed)))
		return;
	if (ev->kind == MT_EV_STEP) {
		if (!st->second)
			step(st, ev);
		return;
	}
	if (ev->kind == MT_EV_MMAP_FILE && !st->second)
		r->file_mappings++;
	if (mt_event_is_alloc(ev->kind) && !counted(st, ev->kind)) {
		mt_heap_apply(st->heap, ev, key_of(st, ev), 0, released, st);
		st->file_cur += ev->size;
	} else if (mt_event_is_alloc(ev->kind)) {
		uint32_t key = key_of(st, ev);

		if (ev->thread >= st->nthreads_cap) {
			/* the reader bounds thread indexes by the stream's size */
			uint64_t cap = st->nthreads_cap ? st->nthreads_cap : 16;

			while (cap <= ev->thread)
				cap *= 2;
			if (cap > UINT32_MAX)
				cap = UINT32_MAX;
			GROW(st->thread_allocs, st->nthreads_cap, cap);
			if (st->focused) {
				GROW(st->in_call, st->nthreads_cap, cap);
				GROW(st->call_start, st->nthreads_cap, cap);
			}
			st->nthreads_cap = (uint32_t)cap;
		}
		if (st->focused && !st->second && st->in_call[ev->thread] != st->focused[key]) {
			if (st->in_call[ev->thread]) {
				close_call(st, ev->thread);
			} else {
				st->in_call[ev->thread] = 1;
				st->call_start[ev->thread] = st->thread_allocs[ev->thread];
			}
		}
		if (st->focused && st->focused[key] && !st->second)
			tracker_add(&st->call_live, key, ev->bytes, ev->count);
		if (!st->second) {
			r->total_allocations += ev->count;
			r->total_bytes += ev->bytes;
			r->kinds[ev->kind] += ev->count;
			r->hist[hist_bin(ev->size)] += ev->count;
			if (ev->size < r->min_size)
				r->min_size = ev->size;
			if (ev->size > r->max_size)
				r->max_size = ev->size;
			r->total[key].bytes += ev->bytes;
			r->total[key].count += ev->count;
			if (st->in_step)
				step_alloc(st, key, ev->bytes, ev->count);
		}
		st->thread_allocs[ev->thread]++;
		/* an mmap over a live mapping first releases what it replaces */
		mt_heap_apply(st->heap, ev, key, st->thread_allocs[ev->thread], released, st);
		change(st, key, ev->bytes, ev->count);
		if (ev->kind == MT_EV_MMAP_FILE)
			st->file_cur += ev->size;
	} else {
		mt_heap_apply(st->heap, ev, 0, 0, released, st);
	}

	if (st->file_cur > r->file_mapped_peak_bytes && !st->second)
		r->file_mapped_peak_bytes = st->file_cur;
	cur = current(st);
	if (cur > st->round_max)
		st->round_max = cur;
	if (st->snap && cur > st->bucket_peak_val) {
		st->bucket_peak_val = cur;
		tracker_clear(&st->since_bucket);
	}
	if (st->second)
		return;
	if (st->in_step && cur > r->steps[r->nsteps - 1].peak)
		r->steps[r->nsteps - 1].peak = cur;
	if (cur > r->peak_bytes) {
		r->peak_bytes = cur;
		st->peak_variance = mt_heap_variance(st->heap);
		r->peak_ns = ev->time_ns;
		tracker_clear(&st->since_peak);
	}
	if (st->focus_cur > r->focus_peak_bytes) {
		r->focus_peak_bytes = st->focus_cur;
		r->focus_peak_ns = ev->time_ns;
		tracker_clear(&st->since_focus_peak);
	}
}

static void timeline_add(struct replay_state *st, uint64_t ns, uint64_t heap, uint64_t rss)
{
	struct mt_replay *r = st->r;

	if (r->ntl == st->cap_tl) {
		st->cap_tl = st->cap_tl ? st->cap_tl * 2 : 4096;
		r->tl_ns = mt_xrealloc(r->tl_ns, st->cap_tl * sizeof(uint64_t));
		r->tl_heap = mt_xrealloc(r->tl_heap, st->cap_tl * sizeof(uint64_t));
		r->tl_rss = mt_xrealloc(r->tl_rss, st->cap_tl * sizeof(uint64_t));
	}
	r->tl_ns[r->ntl] = ns;
	r->tl_heap[r->ntl] = heap;
	r->tl_rss[r->ntl++] = rss;
}

static void on_sample(void *ctx, uint64_t ns, uint64_t rss)
{
	struct replay_state *st = ctx;

	if (st->second)
		return;
	st->last_rss = rss;
	timeline_add(st, ns, st->round_max, rss);
	st->round_max = current(st);
}

static void on_progress(void *ctx, uint64_t done, uint64_t total)
{
	struct replay_state *st = ctx;
	uint64_t pct = total ? done * 100 / total : 100;

	if (st->o->progress && pct != st->last_pct) {
		fprintf(stderr, "\rmemtide: reading capture... %3llu%%", (unsigned long long)pct);
		st->last_pct = pct;
	}
}

static int pass(const char *path, struct replay_state *st, char *err, size_t errlen)
{
	struct mt_read_ops ops = { on_event, on_sample, on_progress, st };
	int rc;

	st->heap = mt_heap_new();
	st->last_pct = 101;
	rc = mt_capture_read(path, &st->r->c, &ops, err, errlen);
	if (st->o->progress && st->last_pct != 101)
		fprintf(stderr, "\r\033[K");
	return rc;
}

/* The temporal pass: the same replay, now cutting time into buckets. */
static int temporal_pass(const char *path, struct replay_state *st, char *err, size_t errlen)
{
	struct mt_replay *r = st->r;
	uint64_t end = r->c.end_ns ? r->c.end_ns : 1;
	int rc;

	/* no finer than the writer's rounds, which time the events */
	r->nbuckets = st->o->buckets < r->ntl ? st->o->buckets : (uint32_t)(r->ntl ? r->ntl : 1);
	r->bucket_end_ns = mt_xrealloc(NULL, r->nbuckets * sizeof(uint64_t));
	r->bucket_peak = mt_xrealloc(NULL, r->nbuckets * sizeof(uint64_t));
	for (uint32_t b = 0; b < r->nbuckets; b++)
		r->bucket_end_ns[b] = b + 1 == r->nbuckets ? UINT64_MAX :	/* end * (b+1) / n */
			end / r->nbuckets * (b + 1) + end % r->nbuckets * (b + 1) / r->nbuckets;
	mt_capture_release(&r->c);
	mt_heap_free(st->heap);
	memset(st->live, 0, st->cap * sizeof(*st->live));
	memset(st->thread_allocs, 0, st->nthreads_cap * sizeof(uint64_t));
	st->file_cur = 0;
	GROW(st->snap, 0, st->cap);
	tracker_grow(&st->since_bucket, 0, st->cap);
	st->second = 1;
	rc = pass(path, st, err, errlen);
	close_buckets(st, UINT64_MAX);
	r->bucket_end_ns[r->nbuckets - 1] = r->c.end_ns;
	return rc;
}

/* The k-th counters record naming a step belongs to the step's k-th run. */
static void match_counters(struct mt_replay *r)
{
	uint32_t from = 0;

	for (uint32_t i = 0; i < r->nsteps && from < r->c.nstep_counters; i++) {
		for (uint32_t j = from; j < r->c.nstep_counters; j++) {
			if (r->c.step_counters[j].name != r->steps[i].name)
				continue;
			r->steps[i].counters = j + 1;
			if (j == from)
				from++;
			r->c.step_counters[j].name = 0;	/* taken */
			break;
		}
		while (from < r->c.nstep_counters && !r->c.step_counters[from].name)
			from++;
	}
}

/*
 * An aggregated capture holds the figures the tracker gathered instead
 * of events: the per-key arrays and the totals are taken from it as they
 * are (docs/FORMAT.md).  What needs the events says so.
 */
static int from_aggregate(struct mt_replay *r, const struct mt_replay_opts *o,
			  char *err, size_t errlen)
{
	const struct mt_capture *c = &r->c;
	const char *what = o->buckets ? "flamegraph --temporal" :
			   o->focus ? "a function's own peak (lines)" :
			   o->include_file_mappings ? "--include-file-mappings" :
			   o->temporary_threshold != 1 ? "--temporary-threshold other than 1" : NULL;
	uint32_t n = c->nagg_keys, cap = n ? n : 1;
	uint64_t f[MT_AGG_FIELDS] = { 0 };

	if (r->nkeys || r->nsteps) {
		snprintf(err, errlen, "'%s': damaged capture: events and aggregates both", c->path);
		return -1;
	}
	if (what) {
		snprintf(err, errlen, "%s needs a full capture ('%s' is aggregated: "
			 "run without --aggregate)", what, c->path);
		return -1;
	}
	if (c->agg)	/* none in a file cut before them */
		memcpy(f, c->agg, (c->nagg < MT_AGG_FIELDS ? c->nagg : MT_AGG_FIELDS) * sizeof(uint64_t));
	r->keys = mt_xcalloc(cap, sizeof(*r->keys));
	r->total = mt_xcalloc(cap, sizeof(*r->total));
	r->peak = mt_xcalloc(cap, sizeof(*r->peak));
	r->leaked = mt_xcalloc(cap, sizeof(*r->leaked));
	r->temporary = mt_xcalloc(cap, sizeof(*r->temporary));
	for (uint32_t k = 0; k < n; k++) {
		const struct mt_agg_key *a = &c->agg_keys[k];

		r->keys[k] = (struct mt_key){ a->stack, a->thread, a->kind };
		r->total[k] = (struct mt_usage){ a->total_bytes, a->total_count };
		r->peak[k] = (struct mt_usage){ a->peak_bytes, a->peak_count };
		r->leaked[k] = (struct mt_usage){ a->leaked_bytes, a->leaked_count };
		r->temporary[k] = (struct mt_usage){ a->temporary_bytes, a->temporary_count };
		r->kinds[a->kind] += a->total_count;
		r->leaked_bytes += a->leaked_bytes;
		r->leaked_count += a->leaked_count;
		r->temporary_bytes += a->temporary_bytes;
		r->temporary_count += a->temporary_count;
	}
	r->nkeys = n;
	r->peak_bytes = f[MT_AGG_PEAK_BYTES];
	r->peak_ns = f[MT_AGG_PEAK_NS];
	r->total_allocations = f[MT_AGG_ALLOCATIONS];
	r->total_bytes = f[MT_AGG_BYTES];
	r->min_size = f[MT_AGG_MIN_SIZE];
	r->max_size = f[MT_AGG_MAX_SIZE];
	r->file_mapped_peak_bytes = f[MT_AGG_FILE_PEAK];
	r->file_mappings = f[MT_AGG_FILE_MAPPINGS];
	for (uint64_t b = 0; b < f[MT_AGG_NHIST] && b < MT_HIST_BINS; b++)
		r->hist[b] = c->agg[MT_AGG_NHIST + 1 + b];
	/* the timeline, and the heap as the capture left it, as for events
	 * (what RSS samples the file may also hold gave one already: dropped) */
	free(r->tl_ns);
	free(r->tl_heap);
	free(r->tl_rss);
	r->ntl = c->nagg_points;
	r->tl_ns = mt_xcalloc(r->ntl + 1, sizeof(uint64_t));
	r->tl_heap = mt_xcalloc(r->ntl + 1, sizeof(uint64_t));
	r->tl_rss = mt_xcalloc(r->ntl + 1, sizeof(uint64_t));
	for (size_t i = 0; i < r->ntl; i++) {
		r->tl_ns[i] = c->agg_points[i].ns;
		r->tl_heap[i] = c->agg_points[i].heap;
		r->tl_rss[i] = c->agg_points[i].rss;
	}
	if (r->ntl) {
		r->tl_ns[r->ntl] = c->end_ns > r->tl_ns[r->ntl - 1] ? c->end_ns : r->tl_ns[r->ntl - 1];
		r->tl_heap[r->ntl] = f[MT_AGG_HEAP_END];
		r->tl_rss[r->ntl] = r->tl_rss[r->ntl - 1];
		r->ntl++;
	}
	return 0;
}

int mt_replay_run(const char *path, const struct mt_replay_opts *o,
		  struct mt_replay *r, char *err, size_t errlen)
{
	struct replay_state *st = calloc(1, sizeof(*st));
	int rc;

	memset(r, 0, sizeof(*r));
	if (!st) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	r->st = st;
	st->r = r;
	st->o = o;
	r->min_size = UINT64_MAX;
	rc = pass(path, st, err, errlen);
	if (rc == 0 && r->c.aggregated)
		return from_aggregate(r, o, err, errlen);
	if (rc == 0 && st->in_step)
		close_step(st, r->c.end_ns);
	if (rc == 0)
		match_counters(r);
	for (uint32_t t = 0; rc == 0 && st->in_call && t < st->nthreads_cap; t++)
		if (st->in_call[t])
			close_call(st, t);
	/*
	 * The timeline ends with the heap as the capture left it: what was
	 * freed after the last sample (a Tracker stopping) is not lost.
	 */
	if (rc == 0 && r->ntl)
		timeline_add(st, r->c.end_ns > r->tl_ns[r->ntl - 1] ? r->c.end_ns : r->tl_ns[r->ntl - 1],
			     current(st), r->tl_rss[r->ntl - 1]);
	if (rc == 0) {
		uint32_t cap = st->cap ? st->cap : 1;

		if (!r->total_allocations)
			r->min_size = 0;
		/* the peak: live now minus what changed after it */
		r->peak = mt_xrealloc(NULL, cap * sizeof(*r->peak));
		r->leaked = mt_xrealloc(NULL, cap * sizeof(*r->leaked));
		if (o->focus)
			r->focus_peak = mt_xcalloc(cap, sizeof(*r->focus_peak));
		for (uint32_t k = 0; k < r->nkeys; k++) {
			struct delta d = st->since_peak.is_touched[k] ? st->since_peak.d[k] : (struct delta){ 0, 0 };

			r->peak[k].bytes = st->live[k].bytes - d.bytes;
			r->peak[k].count = st->live[k].count - d.count;
			if (o->focus && st->focused[k]) {
				struct tracker *t = &st->since_focus_peak;

				d = t->is_touched[k] ? t->d[k] : (struct delta){ 0, 0 };
				r->focus_peak[k].bytes = st->live[k].bytes - d.bytes;
				r->focus_peak[k].count = st->live[k].count - d.count;
			}
			r->leaked[k] = st->live[k];
			r->leaked_bytes += st->live[k].bytes;
			r->leaked_count += st->live[k].count;
		}
		r->peak_stderr = sqrt(st->peak_variance);
		r->leaked_stderr = sqrt(mt_heap_variance(st->heap));
		if (o->buckets && r->nkeys)
			rc = temporal_pass(path, st, err, errlen);
	}
	return rc;
}

void mt_replay_release(struct mt_replay *r)
{
	struct replay_state *st = r->st;

	mt_capture_release(&r->c);
	free(r->keys);
	free(r->total);
	free(r->peak);
	free(r->focus_peak);
	free(r->focus_net);
	free(r->leaked);
	free(r->temporary);
	free(r->tl_ns);
	free(r->tl_heap);
	free(r->tl_rss);
	free(r->bucket_end_ns);
	free(r->bucket_peak);
	free(r->changes);
	free(r->steps);
	if (st) {
		free(st->step_bytes);
		free(st->step_is_touched);
		free(st->step_touched);
		mt_heap_free(st->heap);
		free(st->live);
		tracker_free(&st->since_peak);
		tracker_free(&st->since_bucket);
		tracker_free(&st->since_focus_peak);
		tracker_free(&st->call_live);
		free(st->focused);
		free(st->in_call);
		free(st->call_start);
		free(st->snap);
		free(st->key_index);
		free(st->thread_allocs);
		free(st);
	}
	memset(r, 0, sizeof(*r));
}
