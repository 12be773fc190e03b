/*
 * engine.c - the live state of a running program, from its capture file
 * (see engine.h).  Runs in `memtide run`, in a thread of its own.
 *
 * The thread follows the capture with the reader (mt_read_ops.wait: where
 * the data stops it sleeps a writer round and reads on) and replays each
 * event into the live set (heap.c), which names each block by its key:
 * (stack, thread).  Each key keeps its live bytes and blocks, so a
 * snapshot never looks at blocks: it folds the keys live now into
 * locations, through a per-node cache of the node's own location and the
 * distinct locations on its stack (located and symbolized once per node,
 * as `stats` does).  With a million live blocks a snapshot costs what the
 * few thousand keys cost.
 *
 * One mutex guards the state; the reading thread holds it while it reads
 * and lets a snapshot in between two events (want/yield) or while it
 * waits for data.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "memtide/format.h"
#include "engine.h"
#include "../analysis/frames.h"
#include "../analysis/heap.h"
#include "../analysis/location.h"
#include "../analysis/symbols.h"
#include "../format/reader.h"
#include "../format/xalloc.h"
#include "../report/output.h"

#define POLL_NS 10000000L	/* the writer's round: how long a wait for data sleeps */
#define HISTORY 256		/* heap history points kept (a sparkline's width at most) */
#define HISTORY_STEP0 100000000ull	/* first history step: 100 ms */
#define YIELD_EVERY 1024	/* events between two looks for a waiting snapshot */
#define NICE 19			/* the reading thread's: the program's threads come first */

/* A location: one row of the view. */
struct loc {
	char *function, *file;	/* as located, for matching */
	unsigned line;
	char *dfunction, *dfile;	/* display forms */
	uint32_t mark;		/* dedup stamp while a stack's locations are listed */
};

/* Live memory of a (stack, thread); file-backed mappings are not memory. */
struct key {
	uint32_t stack, thread;
	uint8_t file;
	uint64_t bytes, count;
};

/* Per node, once located: its own location and those on its stack. */
struct node_info {
	uint32_t own;		/* 0: not located yet */
	uint32_t off, n;	/* pool[off..off+n): distinct locations of the stack */
};

struct thread_stat {
	uint64_t bytes, count, peak, peak_ns;
};

/* Per-location sums of one snapshot. */
struct acc {
	uint64_t own_bytes, own_count, total_bytes, total_count;
	uint8_t used;
};

struct mt_engine {
	pthread_mutex_t lock;
	pthread_cond_t yield;
	atomic_int want;		/* snapshots waiting for the lock */
	atomic_int stop;		/* mt_engine_free: stop reading */
	atomic_int ended;		/* the program has ended */
	int after_end;			/* a last pass has been read since */
	int exit_status;
	int done;			/* the reading is over */
	char error[512];		/* why the reading failed, or "" */
	pthread_t thread;
	/* the program */
	char *path, *command, *output_path;
	uint64_t pid;
	int show_all;
	/* the capture and its replay */
	struct mt_capture c;
	struct mt_heap *heap;
	struct key *keys;
	uint32_t nkeys, cap_keys;
	uint32_t *key_index, key_mask;	/* open addressing over keys, +1 */
	struct thread_stat *threads;
	uint32_t cap_threads;
	uint64_t heap_now, file_now, live, peak, peak_ns, rss, nevents;
	uint64_t history[HISTORY], history_step;
	uint32_t nhistory;
	uint64_t history_ns;		/* the time of the last point touched, */
	uint32_t history_i;		/* and its index: events of a round share one */
	/* locations */
	struct loc *locs;		/* from 1 */
	uint32_t nlocs, cap_locs;
	uint32_t *loc_index, loc_mask;	/* open addressing over locs */
	uint32_t stamp;
	struct node_info *nodes;
	size_t cap_nodes;
	uint32_t *pool;
	size_t npool, cap_pool;
	struct mt_symbols *syms;
	uint32_t syms_modules;		/* the modules syms was made with */
	/* snapshot scratch, under the lock */
	struct acc *acc;
	uint32_t cap_acc;
	uint64_t *node_bytes;		/* bytes per node, for the largest stack */
	size_t cap_node_bytes;
	uint32_t *touched;
	size_t ntouched, cap_touched;
	struct mt_dframe frames[MT_MAX_FRAMES];
};

/* A viewer's buffers: what its last snapshot points to. */
struct view {
	struct mt_engine *e;
	struct mt_live_row *rows;
	uint32_t cap_rows;
	uint64_t history[HISTORY];
	char **threads;
	uint32_t nthreads;
	char **stack;
	uint32_t nstack;
	char *command;
};

static uint64_t now_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- the replay -------------------------------------------------------- */

static uint32_t key_hash(uint32_t stack, uint32_t thread, uint8_t file)
{
	uint64_t h = ((uint64_t)stack << 21 ^ (uint64_t)thread << 1 ^ file) * 0x9E3779B97F4A7C15ull;

	return (uint32_t)(h >> 32);
}

static uint32_t key_of(struct mt_engine *e, uint32_t stack, uint32_t thread, uint8_t file)
{
	uint32_t i;

	if ((e->nkeys + 1) * 2 > e->key_mask) {
		uint32_t mask = e->key_mask ? e->key_mask * 2 + 1 : 4095;

		if (e->key_mask > UINT32_MAX / 4)
			mt_oom();
		free(e->key_index);
		e->key_index = mt_xcalloc((size_t)mask + 1, sizeof(uint32_t));
		e->key_mask = mask;
		for (uint32_t k = 0; k < e->nkeys; k++) {
			i = key_hash(e->keys[k].stack, e->keys[k].thread, e->keys[k].file) & mask;
			while (e->key_index[i])
				i = (i + 1) & mask;
			e->key_index[i] = k + 1;
		}
	}
	i = key_hash(stack, thread, file) & e->key_mask;
	while (e->key_index[i]) {
		const struct key *k = &e->keys[e->key_index[i] - 1];

		if (k->stack == stack && k->thread == thread && k->file == file)
			return e->key_index[i] - 1;
		i = (i + 1) & e->key_mask;
	}
	if (e->nkeys == e->cap_keys) {
		size_t cap = e->cap_keys;

		e->keys = mt_xgrow(e->keys, &cap, e->nkeys, sizeof(*e->keys));
		e->cap_keys = (uint32_t)cap;
	}
	e->keys[e->nkeys] = (struct key){ stack, thread, file, 0, 0 };
	e->key_index[i] = e->nkeys + 1;
	return e->nkeys++;
}

static struct thread_stat *thread_stat(struct mt_engine *e, uint32_t t)
{
	size_t cap = e->cap_threads;

	e->threads = mt_xgrow(e->threads, &cap, t, sizeof(*e->threads));
	e->cap_threads = (uint32_t)cap;
	return &e->threads[t];
}

/* Adds bytes and count (modulo 2^64: 0 - x takes x away) to a key. */
static void change(struct mt_engine *e, uint32_t key, uint64_t bytes, uint64_t count)
{
	struct key *k = &e->keys[key];
	struct thread_stat *t;

	k->bytes += bytes;
	k->count += count;
	if (k->file) {
		e->file_now += bytes;
		return;
	}
	t = thread_stat(e, k->thread);
	t->bytes += bytes;
	t->count += count;
	e->live += count;
}

static void released(void *ctx, uint32_t key, uint64_t bytes, uint64_t count, uint64_t tag)
{
	(void)tag;
	change(ctx, key, 0 - bytes, 0 - count);
}

/* The heap history at time ns: the highest heap of each step. */
static void history_at(struct mt_engine *e, uint64_t ns, uint64_t heap)
{
	uint64_t i;

	if (ns == e->history_ns && e->nhistory) {
		if (heap > e->history[e->history_i])
			e->history[e->history_i] = heap;
		return;
	}
	i = ns / e->history_step;
	while (i >= HISTORY) {	/* twice the step, half the points */
		for (uint32_t j = 0; j < HISTORY / 2; j++) {
			uint64_t a = e->history[2 * j], b = e->history[2 * j + 1];

			e->history[j] = a > b ? a : b;
		}
		e->nhistory = (e->nhistory + 1) / 2;
		e->history_step *= 2;
		i = ns / e->history_step;
	}
	for (; e->nhistory <= i; e->nhistory++)	/* steps without events: as it was */
		e->history[e->nhistory] = e->heap_now;
	if (heap > e->history[i])
		e->history[i] = heap;
	e->history_ns = ns;
	e->history_i = (uint32_t)i;
}

/* Lets waiting snapshots take the lock; the reading thread holds it. */
static void yield(struct mt_engine *e)
{
	while (atomic_load(&e->want))
		pthread_cond_wait(&e->yield, &e->lock);
}

static void on_event(void *ctx, const struct mt_event *ev)
{
	struct mt_engine *e = ctx;
	struct mt_event committed;
	uint64_t heap;

	if (ev->kind == MT_EV_STEP)
		return;
	if (ev->kind == MT_EV_COMMIT && !(ev = mt_heap_commit(e->heap, ev, &committed)))
		return;
	if (mt_event_is_alloc(ev->kind)) {
		uint32_t k = key_of(e, ev->stack, ev->thread, ev->kind == MT_EV_MMAP_FILE);

		/* an mmap over a live mapping first releases what it replaces */
		mt_heap_apply(e->heap, ev, k, 0, released, e);
		change(e, k, ev->bytes, ev->count);
		if (ev->kind != MT_EV_MMAP_FILE) {
			struct thread_stat *t = thread_stat(e, ev->thread);

			if (t->bytes > t->peak) {
				t->peak = t->bytes;
				t->peak_ns = ev->time_ns;
			}
		}
	} else {
		mt_heap_apply(e->heap, ev, 0, 0, released, e);
	}
	heap = mt_heap_current(e->heap) - e->file_now;
	history_at(e, ev->time_ns, heap);
	e->heap_now = heap;
	if (heap > e->peak) {
		e->peak = heap;
		e->peak_ns = ev->time_ns;
	}
	if (++e->nevents % YIELD_EVERY == 0)
		yield(e);
}

static void on_sample(void *ctx, uint64_t ns, uint64_t rss)
{
	struct mt_engine *e = ctx;

	e->rss = rss;
	history_at(e, ns, e->heap_now);
	yield(e);
}

/*
 * The reader ran out of data: sleeps a writer round without the lock.
 * Once the program has ended, one last pass reads what it left.
 */
static int on_wait(void *ctx)
{
	struct mt_engine *e = ctx;
	struct timespec ts = { 0, POLL_NS };

	if (atomic_load(&e->stop) || e->after_end)
		return 0;
	if (atomic_load(&e->ended)) {
		e->after_end = 1;
		return 1;
	}
	pthread_mutex_unlock(&e->lock);
	nanosleep(&ts, NULL);
	pthread_mutex_lock(&e->lock);
	return 1;
}

/* Waits for the tracker to create the capture; 0 when it is there, 1
 * when the program ended without one, -1 when told to stop. */
static int wait_for_file(struct mt_engine *e)
{
	struct timespec ts = { 0, POLL_NS };
	struct stat sb;

	for (;;) {
		int ended = atomic_load(&e->ended);

		if (!stat(e->path, &sb) && sb.st_size >= MT_FILE_HEADER_SIZE)
			return 0;
		if (atomic_load(&e->stop))
			return -1;
		if (ended)
			return 1;
		nanosleep(&ts, NULL);
	}
}

static void *follow(void *arg)
{
	struct mt_engine *e = arg;
	struct mt_read_ops ops = { .event = on_event, .sample = on_sample, .ctx = e,
				   .wait = on_wait };
	char err[512];
	int rc;

	/* on a busy machine the view lags rather than the program (Linux
	 * gives each thread its own nice value) */
	setpriority(PRIO_PROCESS, (id_t)gettid(), NICE);
	rc = wait_for_file(e);

	pthread_mutex_lock(&e->lock);
	if (rc == 0 && mt_capture_read(e->path, &e->c, &ops, err, sizeof(err)) < 0 &&
	    !atomic_load(&e->stop))
		snprintf(e->error, sizeof(e->error), "%s", err);
	if (rc == 1)
		snprintf(e->error, sizeof(e->error), "no capture was written to '%s'", e->path);
	e->done = 1;
	pthread_mutex_unlock(&e->lock);
	return NULL;
}

/* ---- locations --------------------------------------------------------- */

static uint32_t loc_hash(const char *function, const char *file, unsigned line)
{
	return (uint32_t)mt_hash_str(mt_hash_str(MT_HASH_INIT ^ line, function), file);
}

/* The id of a location (from 1), made on first sight with its display forms. */
static uint32_t loc_id(struct mt_engine *e, const char *function, const char *file, unsigned line)
{
	char buf[2048], path[2048];
	struct loc *l;
	uint32_t i;

	if ((e->nlocs + 2) * 2 > e->loc_mask) {
		uint32_t mask = e->loc_mask ? e->loc_mask * 2 + 1 : 1023;

		free(e->loc_index);
		e->loc_index = mt_xcalloc((size_t)mask + 1, sizeof(uint32_t));
		e->loc_mask = mask;
		for (uint32_t k = 1; k <= e->nlocs; k++) {
			l = &e->locs[k];
			i = loc_hash(l->function, l->file, l->line) & mask;
			while (e->loc_index[i])
				i = (i + 1) & mask;
			e->loc_index[i] = k;
		}
	}
	i = loc_hash(function, file, line) & e->loc_mask;
	while (e->loc_index[i]) {
		l = &e->locs[e->loc_index[i]];
		if (l->line == line && !strcmp(l->function, function) && !strcmp(l->file, file))
			return e->loc_index[i];
		i = (i + 1) & e->loc_mask;
	}
	{
		size_t cap = e->cap_locs;

		e->locs = mt_xgrow(e->locs, &cap, (size_t)e->nlocs + 1, sizeof(*e->locs));
		e->cap_locs = (uint32_t)cap;
	}
	l = &e->locs[++e->nlocs];
	l->function = mt_xstrdup(function);
	l->file = mt_xstrdup(file);
	l->line = line;
	l->dfunction = mt_xstrdup(mt_fmt_text(buf, sizeof(buf), function));
	l->dfile = mt_xstrdup(mt_fmt_text(buf, sizeof(buf),
					  mt_short_path(path, sizeof(path), file, e->c.cwd)));
	e->loc_index[i] = e->nlocs;
	return e->nlocs;
}

/* The symbolizer, made again when the capture has named more modules. */
static struct mt_symbols *symbols(struct mt_engine *e)
{
	if (!e->syms || e->syms_modules != e->c.nmodules) {
		mt_symbols_free(e->syms);
		e->syms = mt_symbols_new(&e->c);
		e->syms_modules = e->c.nmodules;
	}
	return e->syms;
}

static void pool_add(struct mt_engine *e, uint32_t loc)
{
	if (e->locs[loc].mark == e->stamp)
		return;
	e->locs[loc].mark = e->stamp;
	e->pool = mt_xgrow(e->pool, &e->cap_pool, e->npool, sizeof(*e->pool));
	e->pool[e->npool++] = loc;
}

/* The locations of a stack, found once per node. */
static const struct node_info *node_info(struct mt_engine *e, uint32_t stack)
{
	struct mt_dframe *f = e->frames;
	struct node_info *ni;
	struct mt_location l;
	int n;

	e->nodes = mt_xgrow(e->nodes, &e->cap_nodes, stack, sizeof(*e->nodes));
	ni = &e->nodes[stack];
	if (ni->own)
		return ni;
	mt_locate(&e->c, symbols(e), stack, e->show_all, &l);
	ni->own = loc_id(e, l.function, l.file, l.line);
	ni->off = (uint32_t)e->npool;
	e->stamp++;
	pool_add(e, ni->own);
	n = mt_stack_frames(&e->c, symbols(e), stack, f, MT_MAX_FRAMES);
	for (int i = 0; i < n; i++)
		if (e->show_all || !f[i].hidden)
			pool_add(e, loc_id(e, f[i].function, f[i].file, f[i].line));
	ni->n = (uint32_t)(e->npool - ni->off);
	return ni;
}

/* ---- snapshots --------------------------------------------------------- */

static void free_strings(char **v, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* The frames of stack, innermost first, one display line each. */
static void fill_stack(struct mt_engine *e, struct view *v, uint32_t stack)
{
	struct mt_dframe *f = e->frames;
	char line[4096];
	int n = mt_stack_frames(&e->c, symbols(e), stack, f, MT_MAX_FRAMES);

	v->stack = mt_xcalloc((size_t)n + 1, sizeof(char *));
	for (int i = n - 1; i >= 0; i--)
		if (e->show_all || !f[i].hidden)
			v->stack[v->nstack++] = mt_xstrdup(mt_fmt_site(line, sizeof(line), f[i].function,
								     f[i].file, f[i].line, e->c.cwd));
}

/* Folds the live keys (of one thread, or all) into rows; under the lock. */
static void fold(struct mt_engine *e, struct view *v, const struct mt_live_query *q,
		 struct mt_live_snapshot *s)
{
	uint32_t best = 0, nrows = 0;
	uint64_t best_bytes = 0;
	int found = 0;
	int want_stack = q->stack_of && q->stack_of <= e->nlocs;

	e->ntouched = 0;
	for (uint32_t k = 0; k < e->nkeys; k++) {
		const struct key *key = &e->keys[k];
		const struct node_info *ni;
		int on_stack = 0;

		if (key->file || !key->count || (q->thread >= 0 && key->thread != (uint32_t)q->thread))
			continue;
		ni = node_info(e, key->stack);
		if (e->cap_acc <= e->nlocs) {	/* room for the locations it made */
			size_t cap = e->cap_acc;

			e->acc = mt_xgrow(e->acc, &cap, e->nlocs, sizeof(*e->acc));
			e->cap_acc = (uint32_t)cap;
		}
		e->acc[ni->own].own_bytes += key->bytes;
		e->acc[ni->own].own_count += key->count;
		for (uint32_t i = 0; i < ni->n; i++) {
			uint32_t loc = e->pool[ni->off + i];
			struct acc *a = &e->acc[loc];

			if (!a->used) {
				a->used = 1;
				e->touched = mt_xgrow(e->touched, &e->cap_touched, e->ntouched,
							sizeof(*e->touched));
				e->touched[e->ntouched++] = loc;
			}
			a->total_bytes += key->bytes;
			a->total_count += key->count;
			on_stack |= loc == q->stack_of;
		}
		if (want_stack && on_stack) {	/* the largest stack, all its threads' */
			e->node_bytes = mt_xgrow(e->node_bytes, &e->cap_node_bytes, key->stack,
						   sizeof(*e->node_bytes));
			e->node_bytes[key->stack] += key->bytes;
			if (!found || e->node_bytes[key->stack] > best_bytes ||
			    (e->node_bytes[key->stack] == best_bytes && key->stack < best)) {
				found = 1;
				best = key->stack;
				best_bytes = e->node_bytes[key->stack];
			}
		}
	}
	if (v->cap_rows < e->ntouched) {
		v->cap_rows = (uint32_t)e->ntouched;
		v->rows = mt_xrealloc(v->rows, (size_t)v->cap_rows * sizeof(*v->rows));
	}
	for (size_t i = 0; i < e->ntouched; i++) {
		uint32_t id = e->touched[i];
		struct acc *a = &e->acc[id];
		const struct loc *l = &e->locs[id];

		v->rows[nrows++] = (struct mt_live_row){
			id, l->dfunction, l->dfile, l->line,
			a->own_bytes, a->own_count, a->total_bytes, a->total_count,
		};
		*a = (struct acc){ 0 };
	}
	if (want_stack)	/* clear the per-node sums */
		for (uint32_t k = 0; k < e->nkeys; k++)
			if (e->keys[k].stack < e->cap_node_bytes)
				e->node_bytes[e->keys[k].stack] = 0;
	s->rows = v->rows;
	s->nrows = nrows;
	if (found) {
		fill_stack(e, v, best);
		s->stack = (const char *const *)v->stack;
		s->nstack = v->nstack;
	}
}

static int engine_snapshot(void *ctx, const struct mt_live_query *q, struct mt_live_snapshot *s,
			   char *err, size_t errlen)
{
	struct view *v = ctx;
	struct mt_engine *e = v->e;
	const struct mt_capture *c = &e->c;
	char buf[4096];
	int rc = 0;

	atomic_fetch_add(&e->want, 1);
	pthread_mutex_lock(&e->lock);
	atomic_fetch_sub(&e->want, 1);
	memset(s, 0, sizeof(*s));
	free_strings(v->threads, v->nthreads);
	free_strings(v->stack, v->nstack);
	v->threads = NULL;
	v->stack = NULL;
	v->nthreads = v->nstack = 0;
	free(v->command);
	v->command = NULL;
	if (e->error[0]) {
		snprintf(err, errlen, "%s", e->error);
		rc = -1;
		goto out;
	}
	v->command = mt_xstrdup(mt_fmt_text(buf, sizeof(buf), e->command ? e->command :
					    c->command ? c->command : "?"));
	s->command = v->command;
	s->pid = e->pid ? e->pid : c->pid;
	s->running = !(atomic_load(&e->ended) && e->done);
	s->exit_status = s->running ? 0 : e->exit_status;
	s->output_path = e->output_path;
	s->capture_path = e->path;
	if (s->running && c->start_unix_ns && now_ns(CLOCK_REALTIME) > c->start_unix_ns)
		s->elapsed_ns = now_ns(CLOCK_REALTIME) - c->start_unix_ns;
	else
		s->elapsed_ns = c->end_ns;
	s->rss_bytes = e->rss;
	s->sample_rate = c->sample_rate;
	if (q->thread >= 0) {
		const struct thread_stat *t = (uint32_t)q->thread < e->cap_threads ?
			&e->threads[q->thread] : &(struct thread_stat){ 0 };

		s->heap_bytes = t->bytes;
		s->live_allocs = t->count;
		s->peak_heap_bytes = t->peak;
		s->peak_heap_ns = t->peak_ns;
	} else {
		s->heap_bytes = e->heap_now;
		s->live_allocs = e->live;
		s->peak_heap_bytes = e->peak;
		s->peak_heap_ns = e->peak_ns;
	}
	memcpy(v->history, e->history, e->nhistory * sizeof(uint64_t));
	s->heap_history = v->history;
	s->nheap_history = e->nhistory;
	v->nthreads = c->nthreads;
	v->threads = mt_xcalloc(c->nthreads ? c->nthreads : 1, sizeof(char *));
	for (uint32_t i = 0; i < c->nthreads; i++) {
		char name[64];

		snprintf(name, sizeof(name), "thread %u", i);
		v->threads[i] = mt_xstrdup(c->threads[i].name ?
					   mt_fmt_text(buf, sizeof(buf), c->threads[i].name) : name);
	}
	s->threads = (const char *const *)v->threads;
	s->nthreads = v->nthreads;
	fold(e, v, q, s);
out:
	pthread_cond_broadcast(&e->yield);
	pthread_mutex_unlock(&e->lock);
	return rc;
}

static void view_close(void *ctx)
{
	struct view *v = ctx;

	free(v->rows);
	free_strings(v->threads, v->nthreads);
	free_strings(v->stack, v->nstack);
	free(v->command);
	free(v);
}

int mt_engine_source(struct mt_engine *e, struct mt_live_source *out)
{
	struct view *v = calloc(1, sizeof(*v));

	if (!v)
		return -1;
	v->e = e;
	*out = (struct mt_live_source){ engine_snapshot, view_close, v };
	return 0;
}

/* ---- the engine -------------------------------------------------------- */

struct mt_engine *mt_engine_start(const struct mt_engine_opts *o, char *err, size_t errlen)
{
	struct mt_engine *e = mt_xcalloc(1, sizeof(*e));
	int rc;

	pthread_mutex_init(&e->lock, NULL);
	pthread_cond_init(&e->yield, NULL);
	e->path = mt_xstrdup(o->capture_path);
	e->command = o->command ? mt_xstrdup(o->command) : NULL;
	e->output_path = o->output_path ? mt_xstrdup(o->output_path) : NULL;
	e->pid = o->pid;
	e->show_all = o->show_all;
	e->heap = mt_heap_new();
	e->history_step = HISTORY_STEP0;
	/* the symbolizer sets this when unset; set here, before any thread
	 * reads the environment */
	setenv("DEBUGINFOD_TIMEOUT", "5", 0);
	rc = pthread_create(&e->thread, NULL, follow, e);
	if (rc) {
		snprintf(err, errlen, "cannot start a thread: %s", strerror(rc));
		e->thread = 0;
		mt_engine_free(e);
		return NULL;
	}
	return e;
}

void mt_engine_ended(struct mt_engine *e, int exit_status)
{
	pthread_mutex_lock(&e->lock);
	e->exit_status = exit_status;
	atomic_store(&e->ended, 1);
	pthread_mutex_unlock(&e->lock);
}

int mt_engine_done(struct mt_engine *e)
{
	int done;

	pthread_mutex_lock(&e->lock);
	done = e->done;
	pthread_mutex_unlock(&e->lock);
	return done;
}

void mt_engine_free(struct mt_engine *e)
{
	if (!e)
		return;
	atomic_store(&e->stop, 1);
	if (e->thread)
		pthread_join(e->thread, NULL);
	mt_capture_release(&e->c);
	mt_heap_free(e->heap);
	mt_symbols_free(e->syms);
	for (uint32_t i = 1; i <= e->nlocs; i++) {
		free(e->locs[i].function);
		free(e->locs[i].file);
		free(e->locs[i].dfunction);
		free(e->locs[i].dfile);
	}
	free(e->locs);
	free(e->loc_index);
	free(e->keys);
	free(e->key_index);
	free(e->threads);
	free(e->nodes);
	free(e->pool);
	free(e->acc);
	free(e->node_bytes);
	free(e->touched);
	free(e->path);
	free(e->command);
	free(e->output_path);
	pthread_cond_destroy(&e->yield);
	pthread_mutex_destroy(&e->lock);
	free(e);
}
