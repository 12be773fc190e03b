/*
 * reader.c - decoding of capture files (docs/FORMAT.md) for the reports.
 *
 * Chunks are read and decompressed one at a time, with zstd's streaming
 * decoder, so that a chunk the writer left open (killed) or that the end
 * of the file cuts short (a full disk) still yields every complete
 * record; the records form one stream that may cross chunk boundaries.
 * Events come in the order they happened, all threads merged by the
 * writer, and go straight to the caller.
 *
 * A capture still being written can be followed (ops->wait): where the
 * data runs out the caller waits, and the reading goes on from there with
 * the decoder's state kept.
 *
 * Nothing in a file is trusted: every id must name something already
 * read, every count is bounded by what the stream has held so far, and
 * every table grows with overflow-checked arithmetic.  A bad file ends
 * the reading with one line ("damaged capture: ..."), never a crash.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "memtide/format.h"
#include "proc.h"
#include "reader.h"
#include "varint.h"
#include "xalloc.h"

#define MAX_RECORD (1u << 20)	/* no record is longer than this */
#define BLOCK_HEADER 3		/* zstd's block header: the decoder's hint between blocks */
#define FRAME_START 5		/* what zstd needs to start a frame header */
#define THREAD_SLACK 1024	/* thread indexes beyond the THREAD records seen */
#define ZBUF (64u << 10)	/* compressed bytes read at a time */
#define RAW_BUF (MAX_RECORD + (256u << 10))	/* an unfinished record and room to decode */

struct mt_reader_state {
	FILE *f;
	uint8_t *z, *raw;		/* compressed chunk, stream bytes */
	size_t raw_len, raw_cap;
	ZSTD_DCtx *dctx;
	unsigned version;		/* the file's format version */
	uint32_t thread, stack;		/* decoder state */
	/* the writer's slot rule: free slots, next new one, last one taken */
	uint64_t *free_slots, next_slot, last_slot;
	size_t nfree_slots, cap_free_slots;
	int have_slot;
	uint64_t time_ns;
	uint64_t nthread_records;
	uint64_t chunk_raw;		/* decompressed bytes of the current chunk */
	size_t cap_strings, cap_pyframes, cap_nodes, cap_modules, cap_threads;
	/* live modules by load bias, for UNLOAD: chains of module index + 1 */
	struct bias_entry {
		uint64_t bias;
		uint32_t head;		/* newest live module at this bias, +1 */
		uint32_t used;
	} *bias;
	uint32_t bias_mask, nbias;
	uint32_t *bias_next;		/* per module: the next older at its bias, +1 */
	size_t cap_bias_next;
	/* per string id: the estimate for the next step of that name, + 1 */
	uint64_t *step_expect;
	size_t cap_step_expect;
	size_t cap_step_counters;
	/* the weight of the last sampled size: n / p bytes, 1 / p blocks */
	uint64_t w_size, w_bytes;
	double w_count;
	size_t cap_agg_keys, cap_agg_points;
	const struct mt_read_ops *ops;
	char *err;
	size_t errlen;
};

static int fail(struct mt_capture *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int fail(struct mt_capture *c, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(c->st->err, c->st->errlen, "'%s': ", c->path);

	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < c->st->errlen)
		vsnprintf(c->st->err + n, c->st->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

static char *dupn(const uint8_t *s, size_t n)
{
	char *d = mt_xrealloc(NULL, n + 1);

	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

const char *mt_capture_string(const struct mt_capture *c, uint32_t id)
{
	return id && id < c->nstrings && c->strings[id] ? c->strings[id] : "?";
}

const char *mt_event_kind_name(unsigned kind)
{
	static const char *names[MT_EV_KIND_COUNT] = {
		"?", "malloc", "calloc", "realloc", "reallocarray",
		"posix_memalign", "aligned_alloc", "memalign", "valloc",
		"pvalloc", "mmap", "mremap", "pymalloc", "free", "munmap", "step",
		"mmap_file", "reserve", "decommit", "mprotect",
	};
	return kind < MT_EV_KIND_COUNT ? names[kind] : "?";
}

/* ---- events ----------------------------------------------------------- */

/*
 * What a heap block of a sampled capture stands for (see struct
 * mt_event): recorded with probability p = 1 - exp(-n/rate), it counts
 * for n/p bytes and 1/p blocks.  Past n = 40 rate, p is 1 in a double.
 */
static void weigh(struct mt_capture *c, struct mt_event *ev)
{
	struct mt_reader_state *st = c->st;
	double frac;
	uint64_t u;

	if (!ev->size) {
		ev->bytes = 0;
		ev->count = 1;
		return;
	}
	if (ev->size != st->w_size) {
		double x = (double)ev->size / (double)c->sample_rate;
		double w = x > 40 ? 1 : -1 / expm1(-x);

		st->w_size = ev->size;
		st->w_count = w;
		st->w_bytes = x > 40 ? ev->size : (uint64_t)llround((double)ev->size * w);
	}
	ev->bytes = st->w_bytes;
	ev->count = (uint64_t)st->w_count;
	frac = st->w_count - (double)ev->count;
	u = c->nevents * 0x9E3779B97F4A7C15ull;
	u ^= u >> 29;
	u *= 0xbf58476d1ce4e5b9ull;
	u ^= u >> 32;
	if ((double)(u >> 11) * (1.0 / 9007199254740992.0) < frac)
		ev->count++;
}

/*
 * Where an event's fields come from: one stream, in event order (EVENTS),
 * or a column per kind of field (COLUMNS), numbers split into a low byte
 * and the rest where the format says so.
 */
struct fields {
	const uint8_t *p[MT_NCOLS], *end[MT_NCOLS];
	int columns;
};

static int field(struct fields *f, int col, uint64_t *v)
{
	int i = f->columns ? col : 0;

	return mt_get_varint(&f->p[i], f->end[i], v);
}

static int field_split(struct fields *f, int col, uint64_t *v)
{
	uint64_t hi;

	if (!f->columns)
		return field(f, col, v);
	if (f->p[col] >= f->end[col] || field(f, col + 1, &hi) || hi >> 56)
		return -1;
	*v = *f->p[col]++ | hi << 8;
	return 0;
}

/* The writer's slot rule, replayed for MT_EVF_LASTSLOT (docs/FORMAT.md). */
static void replay_slot(struct mt_reader_state *st, const struct mt_event *ev)
{
	if (ev->kind == MT_EV_FREE) {
		st->free_slots = mt_xgrow(st->free_slots, &st->cap_free_slots, st->nfree_slots,
					  sizeof(*st->free_slots));
		st->free_slots[st->nfree_slots++] = ev->addr;
	} else if (mt_event_is_alloc(ev->kind) && !mt_event_is_mmap(ev->kind)) {
		st->last_slot = st->nfree_slots ? st->free_slots[--st->nfree_slots] : st->next_slot++;
		st->have_slot = 1;
	}
}

static int decode_events(struct mt_capture *c, struct fields *f)
{
	struct mt_reader_state *st = c->st;

	while (f->p[MT_COL_HEAD] < f->end[MT_COL_HEAD]) {
		uint8_t head = *f->p[MT_COL_HEAD]++;
		struct mt_event ev = { .kind = head & 15, .time_ns = st->time_ns };
		uint64_t v;

		if (ev.kind == 0 || ev.kind >= MT_EV_KIND_COUNT)
			return fail(c, "damaged capture: unknown event kind %u", ev.kind);
		if (ev.kind == MT_EV_MMAP || ev.kind == MT_EV_MUNMAP) {
			/* their variants by the flags 0x40 and 0x80 (mt_event_head) */
			static const uint8_t variant[2][4] = {
				{ MT_EV_MMAP, MT_EV_MMAP_FILE, MT_EV_COMMIT, 0 },
				{ MT_EV_MUNMAP, MT_EV_RESERVE, MT_EV_DECOMMIT, 0 },
			};

			ev.kind = variant[ev.kind == MT_EV_MUNMAP][head >> 6];
			if (!ev.kind)
				return fail(c, "damaged capture: an event with flags that exclude each other");
		}
		if (head & MT_EVF_THREAD) {
			if (field(f, MT_COL_THREAD, &v))
				goto bad;
			if (v >= (uint64_t)c->nthreads + THREAD_SLACK)
				return fail(c, "damaged capture: an event of thread %llu, of %u known",
					    (unsigned long long)v, c->nthreads);
			st->thread = (uint32_t)v;
		}
		ev.thread = st->thread;
		if (ev.kind == MT_EV_FREE) {
			if (f->columns && (head & MT_EVF_LASTSLOT)) {
				if (!st->have_slot)
					return fail(c, "damaged capture: a free of the last slot before any");
				ev.addr = st->last_slot;
			} else if (field_split(f, MT_COL_SLOT, &ev.addr)) {
				goto bad;
			}
		} else if (ev.kind == MT_EV_STEP || mt_event_is_mmap(ev.kind)) {
			if (field(f, MT_COL_OTHER, &ev.addr))
				goto bad;
		}
		if (ev.kind == MT_EV_STEP) {	/* its own time, and the RSS then */
			if (field(f, MT_COL_OTHER, &ev.size) || field(f, MT_COL_OTHER, &v))
				goto bad;
			ev.time_ns = ev.size;
			ev.size = v * 4096;
			if (ev.addr < st->cap_step_expect && st->step_expect[ev.addr]) {
				ev.expect = 1;
				ev.expected = st->step_expect[ev.addr] - 1;
				st->step_expect[ev.addr] = 0;
			}
		} else if (ev.kind != MT_EV_FREE && field_split(f, MT_COL_SIZE, &ev.size)) {
			goto bad;
		}
		if (mt_event_is_alloc(ev.kind)) {
			if (!(head & MT_EVF_SAMESTACK)) {
				if (field(f, MT_COL_STACK, &v))
					goto bad;
				if (v && v >= c->nnodes)
					return fail(c, "damaged capture: an event names stack %llu, of %u",
						    (unsigned long long)v, c->nnodes);
				st->stack = (uint32_t)v;
			}
			ev.stack = st->stack;
		}
		/* no allocation holds half the address space; no mapping wraps */
		if (mt_event_is_alloc(ev.kind) && ev.size > INT64_MAX)
			return fail(c, "damaged capture: an allocation of %llu bytes",
				    (unsigned long long)ev.size);
		if (mt_event_is_mmap(ev.kind) && ev.size > UINT64_MAX - ev.addr)
			return fail(c, "damaged capture: a mapping past the end of the address space");
		if (mt_event_is_alloc(ev.kind)) {
			ev.bytes = ev.size;
			ev.count = 1;
			if (c->sample_rate && !mt_event_is_mmap(ev.kind))
				weigh(c, &ev);
		}
		replay_slot(st, &ev);
		c->nevents++;
		if (st->ops && st->ops->event)
			st->ops->event(st->ops->ctx, &ev);
	}
	for (int i = 0; i < (f->columns ? MT_NCOLS : 1); i++)
		if (f->p[i] != f->end[i])
			goto bad;
	return 0;
bad:
	return fail(c, "damaged capture: malformed event");
}

/* A COLUMNS record's body: the column lengths, then the columns. */
static int decode_columns(struct mt_capture *c, const uint8_t *p, const uint8_t *end)
{
	struct fields f = { .columns = 1 };
	uint64_t len[MT_NCOLS];

	for (int i = 0; i < MT_NCOLS; i++)
		if (mt_get_varint(&p, end, &len[i]))
			goto bad;
	for (int i = 0; i < MT_NCOLS; i++) {
		if (len[i] > (uint64_t)(end - p))
			goto bad;
		f.p[i] = p;
		f.end[i] = p += len[i];
	}
	if (p != end)
		goto bad;
	return decode_events(c, &f);
bad:
	return fail(c, "damaged capture: malformed COLUMNS record");
}

/* ---- records ---------------------------------------------------------- */

struct cursor {
	const uint8_t *p, *end;
	int short_;		/* ran out of bytes */
	int bad;		/* bytes that make no sense */
};

static uint64_t num(struct cursor *k)
{
	uint64_t v = 0;

	if (k->short_ || k->bad)
		return 0;
	if (mt_get_varint(&k->p, k->end, &v)) {
		if (k->end - k->p >= 10)
			k->bad = 1;
		else
			k->short_ = 1;
	}
	return v;
}

static const uint8_t *bytes(struct cursor *k, size_t *n)
{
	const uint8_t *s;

	*n = num(k);
	if (k->short_ || k->bad)
		return NULL;
	if (*n > MAX_RECORD) {
		k->bad = 1;
		return NULL;
	}
	if ((size_t)(k->end - k->p) < *n) {
		k->short_ = 1;
		return NULL;
	}
	s = k->p;
	k->p += *n;
	return s;
}

static char *str(struct cursor *k)
{
	size_t n;
	const uint8_t *s = bytes(k, &n);

	return s ? dupn(s, n) : NULL;
}

/*
 * META step_expected_bytes "ID BYTES": the estimate for the next STEP
 * naming string ID.  0, or -1 when the value makes no sense.
 */
static int step_expected(struct mt_capture *c, const char *value)
{
	struct mt_reader_state *st = c->st;
	char *end;
	unsigned long long id, bytes;

	errno = 0;
	id = strtoull(value, &end, 10);
	if (end == value || *end != ' ' || !id || id >= c->nstrings)
		return -1;
	value = end + 1;
	bytes = strtoull(value, &end, 10);
	if (end == value || *end || errno || bytes > INT64_MAX)
		return -1;
	st->step_expect = mt_xgrow(st->step_expect, &st->cap_step_expect, id, sizeof(uint64_t));
	st->step_expect[id] = bytes + 1;
	return 0;
}

/* META sample_rate: a number of bytes, from 1 to 2^30 (memtide run's bound). */
static int sample_rate(struct mt_capture *c, const char *value)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(value, &end, 10);
	if (end == value || *end || errno || !v || v > (1ull << 30) || *value == '-')
		return -1;
	c->sample_rate = v;
	c->st->w_size = 0;
	return 0;
}

/*
 * META step_counters "ID CYCLES INSTRUCTIONS REFERENCES MISSES" ('-': not
 * counted), appended in order.  0, or -1 when the value makes no sense.
 */
static int step_counters(struct mt_capture *c, const char *value)
{
	struct mt_reader_state *st = c->st;
	struct mt_step_counters sc;
	int64_t *v[4] = { &sc.cycles, &sc.instructions, &sc.cache_references, &sc.cache_misses };
	unsigned long long id;
	char *end;

	errno = 0;
	id = strtoull(value, &end, 10);
	if (end == value || !id || id >= c->nstrings)
		return -1;
	sc.name = (uint32_t)id;
	for (int i = 0; i < 4; i++) {
		if (*end != ' ')
			return -1;
		value = end + 1;
		if (*value == '-' && (value[1] == ' ' || !value[1])) {
			*v[i] = -1;
			end = (char *)value + 1;
			continue;
		}
		*v[i] = (int64_t)strtoull(value, &end, 10);
		if (end == value || errno || *v[i] < 0)
			return -1;
	}
	if (*end)
		return -1;
	c->step_counters = mt_xgrow(c->step_counters, &st->cap_step_counters, c->nstep_counters,
				sizeof(sc));
	c->step_counters[c->nstep_counters++] = sc;
	return 0;
}

/* 0, or -1 for a value that makes no sense. */
static int set_meta(struct mt_capture *c, const char *key, char *value)
{
	int rc = 0;

	if (!strcmp(key, "command")) {
		free((char *)c->command);
		c->command = value;
		return 0;
	}
	if (!strcmp(key, "python")) {
		free((char *)c->python);
		c->python = value;
		return 0;
	}
	if (!strcmp(key, "cwd")) {
		free((char *)c->cwd);
		c->cwd = value;
		return 0;
	}
	if (!strcmp(key, "session")) {
		free((char *)c->session);
		c->session = *value ? value : NULL;	/* "": none */
		if (!*value)
			free(value);
		return 0;
	}
	if (!strcmp(key, "ended_by")) {
		free((char *)c->ended_by);
		c->ended_by = value;
		return 0;
	}
	if (!strcmp(key, "pid"))
		c->pid = strtoull(value, NULL, 10);
	else if (!strcmp(key, "ppid"))
		c->ppid = strtoull(value, NULL, 10);
	else if (!strcmp(key, "start_unix_ns"))
		c->start_unix_ns = strtoull(value, NULL, 10);
	else if (!strcmp(key, "native"))
		c->native = !strcmp(value, "1");
	else if (!strcmp(key, "attached"))
		c->attached = !strcmp(value, "1");
	else if (!strcmp(key, "sample_rate"))
		rc = sample_rate(c, value);
	else if (!strcmp(key, "aggregate"))	/* also when its figures are cut off */
		c->aggregated |= !strcmp(value, "1");
	else if (!strcmp(key, "dropped_events"))
		c->dropped_events = strtoull(value, NULL, 10);
	else if (!strcmp(key, "signal_dropped_allocations"))
		c->signal_dropped_allocs = strtoull(value, NULL, 10);
	else if (!strcmp(key, "signal_dropped_bytes"))
		c->signal_dropped_bytes = strtoull(value, NULL, 10);
	else if (!strcmp(key, "signal_dropped_frees"))
		c->signal_dropped_frees = strtoull(value, NULL, 10);
	else if (!strcmp(key, "step_expected_bytes"))
		rc = step_expected(c, value);
	else if (!strcmp(key, "step_counters"))
		rc = step_counters(c, value);
	free(value);
	return rc;
}

/* The entry of a load bias in the module index; made on first sight. */
static struct bias_entry *bias_entry(struct mt_reader_state *st, uint64_t bias)
{
	uint32_t i;

	if (((uint64_t)st->nbias + 1) * 2 > st->bias_mask) {
		uint32_t mask = st->bias_mask ? st->bias_mask * 2 + 1 : 63;
		struct bias_entry *t = mt_xcalloc((size_t)mask + 1, sizeof(*t));

		for (uint32_t j = 0; st->bias && j <= st->bias_mask; j++) {
			if (!st->bias[j].used)
				continue;
			for (i = (uint32_t)(st->bias[j].bias * 0x9E3779B97F4A7C15ull >> 32) & mask;
			     t[i].used; i = (i + 1) & mask)
				;
			t[i] = st->bias[j];
		}
		free(st->bias);
		st->bias = t;
		st->bias_mask = mask;
	}
	for (i = (uint32_t)(bias * 0x9E3779B97F4A7C15ull >> 32) & st->bias_mask;
	     st->bias[i].used && st->bias[i].bias != bias; i = (i + 1) & st->bias_mask)
		;
	if (!st->bias[i].used) {
		st->bias[i] = (struct bias_entry){ bias, 0, 1 };
		st->nbias++;
	}
	return &st->bias[i];
}

/* Puts the newest module at the head of its load bias's live modules. */
static void index_module(struct mt_capture *c)
{
	struct mt_reader_state *st = c->st;
	uint32_t m = c->nmodules - 1;
	struct bias_entry *e = bias_entry(st, c->modules[m].bias);

	st->bias_next = mt_xgrow(st->bias_next, &st->cap_bias_next, m, sizeof(uint32_t));
	st->bias_next[m] = e->head;
	e->head = m + 1;
}

/* UNLOAD: the live modules at that bias end with generation gen. */
static void unload(struct mt_capture *c, uint64_t gen, uint64_t bias)
{
	struct mt_reader_state *st = c->st;
	struct bias_entry *e = bias_entry(st, bias);

	for (uint32_t h = e->head; h; h = st->bias_next[h - 1])
		c->modules[h - 1].gen_unload = gen;
	e->head = 0;
}

/*
 * Parses one record at k->p.  Returns 1 when done, 0 when the record
 * continues in the next chunk (nothing consumed), -1 on corruption.
 */
static int parse_record(struct mt_capture *c, struct cursor *k)
{
	struct mt_reader_state *st = c->st;
	const uint8_t *start = k->p;
	uint8_t tag = *k->p++;
	char *a = NULL, *b = NULL;

	switch (tag) {
	case MT_REC_META:
		a = str(k);
		b = str(k);
		if (a && b) {
			if (set_meta(c, a, b) < 0)
				k->bad = 1;
			b = NULL;
		}
		break;
	case MT_REC_STRING:
		a = str(k);
		if (a && c->nstrings == UINT32_MAX - 1)
			k->bad = 1;
		else if (a) {
			c->strings = mt_xgrow(c->strings, &st->cap_strings, c->nstrings + 1, sizeof(char *));
			if (!c->nstrings)
				c->nstrings = 1;
			c->strings[c->nstrings++] = a;
			a = NULL;
		}
		break;
	case MT_REC_PYFRAME: {
		struct mt_pyframe f;

		f.name = (uint32_t)num(k);
		f.file = (uint32_t)num(k);
		f.line = (uint32_t)num(k);
		f.flags = (uint32_t)num(k);
		if (c->npyframes == UINT32_MAX - 1)
			k->bad = 1;
		if (!k->short_ && !k->bad) {
			c->pyframes = mt_xgrow(c->pyframes, &st->cap_pyframes, c->npyframes + 1, sizeof(f));
			if (!c->npyframes)
				c->npyframes = 1;
			c->pyframes[c->npyframes++] = f;
		}
		break;
	}
	case MT_REC_NODE: {
		struct mt_node n = { 0 };

		n.parent = (uint32_t)num(k);
		n.kind = (uint8_t)num(k);
		n.value = num(k);
		if (n.kind == MT_NODE_NATIVE)
			n.gen = (uint32_t)num(k);
		else if (n.kind != MT_NODE_PYTHON)
			k->bad = 1;
		if (c->nnodes == UINT32_MAX - 1)
			k->bad = 1;
		if (!k->short_ && !k->bad) {
			c->nodes = mt_xgrow(c->nodes, &st->cap_nodes, c->nnodes + 1, sizeof(n));
			if (!c->nnodes)
				c->nnodes = 1;
			if (n.parent >= c->nnodes)
				k->bad = 1;
			else
				c->nodes[c->nnodes++] = n;
		}
		break;
	}
	case MT_REC_MODULE: {
		struct mt_module m = { 0 };
		uint64_t nseg;

		m.gen_load = num(k);
		m.bias = num(k);
		a = str(k);
		b = str(k);
		nseg = num(k);
		m.lo = UINT64_MAX;
		for (uint64_t i = 0; i < nseg && !k->short_ && !k->bad; i++) {
			uint64_t vaddr = num(k), memsz = num(k);

			if (m.bias + vaddr < m.lo)
				m.lo = m.bias + vaddr;
			if (m.bias + vaddr + memsz > m.hi)
				m.hi = m.bias + vaddr + memsz;
		}
		if (c->nmodules == UINT32_MAX - 1)
			k->bad = 1;
		if (!k->short_ && !k->bad && a && b) {
			m.gen_unload = UINT64_MAX;
			m.path = a;
			m.build_id = b;
			a = b = NULL;
			c->modules = mt_xgrow(c->modules, &st->cap_modules, c->nmodules, sizeof(m));
			c->modules[c->nmodules++] = m;
			index_module(c);
		}
		break;
	}
	case MT_REC_UNLOAD: {
		uint64_t gen = num(k), bias = num(k);

		if (!k->short_ && !k->bad)
			unload(c, gen, bias);
		break;
	}
	case MT_REC_THREAD: {
		uint64_t idx = num(k), tid = num(k);

		a = str(k);
		/* indexes are given in order, their records nearly so */
		if (a && (idx >= 2 * st->nthread_records + THREAD_SLACK || idx > UINT32_MAX - 2)) {
			free(a);
			return fail(c, "damaged capture: thread index %llu after %llu thread records",
				    (unsigned long long)idx, (unsigned long long)st->nthread_records);
		}
		if (a && !k->bad) {
			st->nthread_records++;
			c->threads = mt_xgrow(c->threads, &st->cap_threads, idx, sizeof(*c->threads));
			if (idx >= c->nthreads)
				c->nthreads = (uint32_t)idx + 1;
			free((char *)c->threads[idx].name);
			c->threads[idx].tid = tid;
			c->threads[idx].name = a;
			a = NULL;
		}
		break;
	}
	case MT_REC_EVENTS: {
		size_t n;
		struct fields f = { .columns = 0 };

		f.p[0] = bytes(k, &n);
		if (f.p[0]) {
			f.end[0] = f.p[0] + n;
			if (decode_events(c, &f) < 0)
				return -1;
		}
		break;
	}
	case MT_REC_COLUMNS: {
		size_t n;
		const uint8_t *cols = st->version >= 2 ? bytes(k, &n) : NULL;

		if (st->version < 2)
			goto unknown;
		if (cols && decode_columns(c, cols, cols + n) < 0)
			return -1;
		break;
	}
	case MT_REC_TIME: {
		uint64_t ns = num(k);

		if (!k->short_ && !k->bad) {
			st->time_ns = ns;
			if (ns > c->end_ns)
				c->end_ns = ns;
		}
		break;
	}
	case MT_REC_SAMPLE: {
		uint64_t ns = num(k), rss = num(k);

		if (!k->short_ && !k->bad) {
			if (ns > c->end_ns)	/* an idle round writes no TIME */
				c->end_ns = ns;
			if (rss > c->peak_rss) {
				c->peak_rss = rss;
				c->peak_rss_ns = ns;
			}
			if (st->ops && st->ops->sample)
				st->ops->sample(st->ops->ctx, ns, rss);
		}
		break;
	}
	case MT_REC_END: {
		uint64_t ns = num(k);

		if (!k->short_ && !k->bad) {
			if (ns > c->end_ns)
				c->end_ns = ns;
			c->complete = 1;
		}
		break;
	}
	case MT_REC_AGGREGATE: {
		uint64_t n = num(k);

		/* the file is rewritten whole: one per file */
		if (c->agg || n > MAX_RECORD)
			k->bad = 1;
		else if (!k->short_) {
			uint64_t *v = mt_xcalloc(n + MT_AGG_FIELDS, sizeof(uint64_t));

			for (uint64_t i = 0; i < n; i++)
				v[i] = num(k);
			if (k->short_ || k->bad || (n > MT_AGG_NHIST && v[MT_AGG_NHIST] > n - MT_AGG_NHIST - 1)) {
				k->bad |= !k->short_;
				free(v);
			} else {
				c->agg = v;
				c->nagg = (uint32_t)n;
				c->aggregated = 1;
				if (v[MT_AGG_LAST_NS] > c->end_ns)
					c->end_ns = v[MT_AGG_LAST_NS];
			}
		}
		break;
	}
	case MT_REC_AGG_KEY: {
		struct mt_agg_key a;

		a.stack = (uint32_t)num(k);
		a.thread = (uint32_t)num(k);
		a.kind = (uint8_t)num(k);
		a.total_bytes = num(k);
		a.total_count = num(k);
		a.peak_bytes = num(k);
		a.peak_count = num(k);
		a.leaked_bytes = num(k);
		a.leaked_count = num(k);
		a.temporary_bytes = num(k);
		a.temporary_count = num(k);
		if (k->short_ || k->bad)
			break;
		if (!c->agg || (a.stack && a.stack >= c->nnodes) || !mt_event_is_alloc(a.kind) ||
		    a.thread >= c->nthreads + THREAD_SLACK || c->nagg_keys == UINT32_MAX - 1)
			return fail(c, "damaged capture: an aggregate of stack %u, thread %u, kind %u",
				    a.stack, a.thread, a.kind);
		c->agg_keys = mt_xgrow(c->agg_keys, &st->cap_agg_keys, c->nagg_keys, sizeof(a));
		c->agg_keys[c->nagg_keys++] = a;
		break;
	}
	case MT_REC_AGG_POINT: {
		struct mt_agg_point pt;

		pt.ns = num(k);
		pt.heap = num(k);
		pt.rss = num(k);
		if (k->short_ || k->bad)
			break;
		if (!c->agg || c->nagg_points == UINT32_MAX - 1)
			return fail(c, "damaged capture: a timeline point outside an aggregate");
		c->agg_points = mt_xgrow(c->agg_points, &st->cap_agg_points, c->nagg_points, sizeof(pt));
		c->agg_points[c->nagg_points++] = pt;
		if (pt.rss > c->peak_rss) {
			c->peak_rss = pt.rss;
			c->peak_rss_ns = pt.ns;
		}
		if (pt.ns > c->end_ns)
			c->end_ns = pt.ns;
		break;
	}
	default:
	unknown:
		return fail(c, "damaged capture: unknown record %u at stream byte %zu",
			    tag, (size_t)(start - st->raw));
	}
	free(a);
	free(b);
	if (k->bad)
		return fail(c, "damaged capture: malformed record %u", tag);
	if (k->short_) {
		k->short_ = 0;
		k->p = start;
		return 0;
	}
	return 1;
}

/* Parses what st->raw holds; keeps an unfinished record for later. */
static int parse_stream(struct mt_capture *c)
{
	struct mt_reader_state *st = c->st;
	struct cursor k = { st->raw, st->raw + st->raw_len, 0, 0 };
	int r = 1;

	while (k.p < k.end && (r = parse_record(c, &k)) == 1)
		;
	if (r < 0)
		return -1;
	st->raw_len = (size_t)(k.end - k.p);
	if (st->raw_len > MAX_RECORD)
		return fail(c, "damaged capture: a record longer than %u bytes", MAX_RECORD);
	memmove(st->raw, k.p, st->raw_len);
	return 0;
}

/* ---- chunks ----------------------------------------------------------- */

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int read_header(struct mt_capture *c)
{
	uint8_t h[MT_FILE_HEADER_SIZE];
	size_t n = fread(h, 1, sizeof(h), c->st->f);
	unsigned version;

	if (n == 0)
		return fail(c, "not a memtide capture (empty file)");
	if (n < 8 || memcmp(h, MT_MAGIC, 8))
		return fail(c, "not a memtide capture (bad magic)");
	if (n < sizeof(h))
		return fail(c, "not a memtide capture (header cut short)");
	version = h[8] | (unsigned)h[9] << 8;
	if (version < 1 || version > MT_VERSION)
		return fail(c, "capture format version %u is not supported (this memtide reads versions 1 to %u)",
			    version, MT_VERSION);
	c->st->version = version;
	if (h[10] != MT_FILE_HEADER_SIZE)
		return fail(c, "damaged capture: header size %u", h[10]);
	return 0;
}

/*
 * Decompresses in[0..n) with the streaming decoder, parsing the records
 * as they come.  The decoder is given what it asks for (*hint: the rest
 * of the current block, the next block header...), so it takes one block
 * a call and a bad block or checksum loses nothing decoded before it.
 * Returns 0 (*frame_end set when the zstd frame ended, *used the bytes
 * taken), -1 for records that make no sense (error set), or -2 when zstd
 * refuses the data (*zerr its reason).
 */
static int inflate(struct mt_capture *c, const uint8_t *in, size_t n, size_t *used,
		   int *frame_end, size_t *hint, const char **zerr)
{
	struct mt_reader_state *st = c->st;
	ZSTD_inBuffer ib = { in, 0, 0 };

	*frame_end = 0;
	for (;;) {
		ZSTD_outBuffer ob = { st->raw + st->raw_len, st->raw_cap - st->raw_len, 0 };
		size_t r;

		ib.size = *hint && *hint < n - ib.pos ? ib.pos + *hint : n;
		r = ZSTD_decompressStream(st->dctx, &ob, &ib);
		st->raw_len += ob.pos;
		st->chunk_raw += ob.pos;
		*used = ib.pos;
		if (ZSTD_isError(r)) {
			*zerr = ZSTD_getErrorName(r);
			return -2;
		}
		if (st->chunk_raw > MT_CHUNK_RAW_MAX)
			return fail(c, "damaged capture: a chunk holds more than %u bytes",
				    MT_CHUNK_RAW_MAX);
		if (parse_stream(c) < 0)
			return -1;
		*hint = r;
		if (r == 0) {
			*frame_end = 1;
			return 0;
		}
		if (ib.pos == n && ob.pos < ob.size)
			return 0;	/* all taken, all given out */
	}
}

static void truncate_at(struct mt_capture *c, int why)
{
	c->truncated = 1;
	c->truncation = why;
}

/*
 * Following a capture being written (ops->wait set): the data ran out at
 * file offset pos before END.  Returns 1 when the caller waited and the
 * file, measured again, is to be read on from pos; 0 to stop.
 */
static int follow(struct mt_capture *c, uint64_t pos)
{
	struct mt_reader_state *st = c->st;
	struct stat sb;

	if (!st->ops || !st->ops->wait || c->complete || !st->ops->wait(st->ops->ctx))
		return 0;
	if (fstat(fileno(st->f), &sb) == 0)
		c->file_size = (uint64_t)sb.st_size;
	clearerr(st->f);
	return fseeko(st->f, (off_t)pos, SEEK_SET) == 0;
}

/* The bytes of a chunk's payload the file holds now; an open chunk runs
 * to the end of its zstd frame or of the file. */
static uint64_t chunk_avail(const struct mt_capture *c, uint64_t start, uint32_t zsize, int open)
{
	uint64_t avail = c->file_size > start ? c->file_size - start : 0;

	return !open && avail > zsize ? zsize : avail;
}

/*
 * Reads the chunk at offset, whose header is h; *next is where the next
 * one starts.  Returns 1 for a whole chunk, 0 when this chunk ends the
 * capture early (c->truncated set), -1 when it is damaged.
 */
static int read_chunk(struct mt_capture *c, const uint8_t *h, uint64_t offset,
		      uint64_t nchunk, uint64_t *next)
{
	struct mt_reader_state *st = c->st;
	uint32_t zsize = get_u32(h + 4), rsize = get_u32(h + 8);
	int open = zsize == MT_CHUNK_OPEN && rsize == MT_CHUNK_OPEN;
	uint64_t start = offset + MT_CHUNK_HEADER_SIZE, avail = 0, taken = 0;
	size_t zcap = ZSTD_compressBound(MT_CHUNK_RAW_MAX), hint = FRAME_START;
	const char *zerr = NULL;
	int frame_end = 0, rc = 0;

	if (!open && (rsize > MT_CHUNK_RAW_MAX || zsize > zcap))
		return fail(c, "damaged capture: impossible chunk sizes at offset %llu",
			    (unsigned long long)offset);
	avail = chunk_avail(c, start, zsize, open);
	ZSTD_DCtx_reset(st->dctx, ZSTD_reset_session_only);
	st->chunk_raw = 0;
	while (!frame_end) {
		size_t want = avail - taken < ZBUF ? (size_t)(avail - taken) : ZBUF;
		size_t got = taken < avail ? fread(st->z, 1, want, st->f) : 0, used = 0;

		if (got == 0) {
			/* following: the rest of the chunk is still being written */
			if ((open || taken < zsize) && follow(c, start + taken)) {
				avail = chunk_avail(c, start, zsize, open);
				continue;
			}
			break;
		}
		rc = inflate(c, st->z, got, &used, &frame_end, &hint, &zerr);
		taken += used;
		if (rc < 0)
			break;
		if (frame_end && used < got && fseeko(st->f, (off_t)(start + taken), SEEK_SET))
			return fail(c, "cannot read: %s", strerror(errno));
	}
	if (rc == -1)
		return -1;
	*next = start + taken;
	if (rc == 0 && frame_end && (open || (taken == zsize && st->chunk_raw == rsize)))
		return 1;	/* (an open one whose frame ended: the writer died closing it) */
	if (rc == 0 && !frame_end && (open || start + zsize > c->file_size)) {
		/* the data runs out inside the frame: after a whole writer
		 * round of an open chunk (or before its first), or anywhere
		 * else (a full disk, a cut) */
		int round_end = open && (hint == BLOCK_HEADER || taken == 0);

		truncate_at(c, round_end ? MT_TRUNC_KILLED : MT_TRUNC_CUT);
		return 0;
	}
	/* whole but bad: damaged, unless the last chunk kept a prefix */
	if ((open || start + zsize >= c->file_size) && st->chunk_raw) {
		truncate_at(c, MT_TRUNC_DAMAGED);
		return 0;
	}
	return fail(c, "damaged capture: chunk %llu at offset %llu does not decompress (%s)",
		    (unsigned long long)nchunk, (unsigned long long)offset,
		    zerr ? zerr : "wrong size");
}

/*
 * Whether the process writing c runs now on this machine: its pid exists
 * and started no later than the capture (a pid reused since would have
 * started after it).
 */
static int still_running(const struct mt_capture *c)
{
	char buf[256];
	unsigned long long ticks, btime = 0;
	long hz = sysconf(_SC_CLK_TCK);
	FILE *f;

	if (!c->start_unix_ns || c->pid > INT32_MAX || hz <= 0 ||
	    !(ticks = mt_proc_start_ticks((long)c->pid)) || !(f = fopen("/proc/stat", "re")))
		return 0;
	while (fgets(buf, sizeof(buf), f))
		if (sscanf(buf, "btime %llu", &btime) == 1)
			break;
	fclose(f);
	return btime && (btime + ticks / (unsigned long long)hz) * 1000000000ull <=
			c->start_unix_ns + 1000000000ull;
}

int mt_capture_read(const char *path, struct mt_capture *c,
		    const struct mt_read_ops *ops, char *err, size_t errlen)
{
	struct mt_reader_state *st = calloc(1, sizeof(*st));
	uint64_t offset = MT_FILE_HEADER_SIZE, nchunk = 0;
	struct stat sb = { 0 };
	int fd;

	memset(c, 0, sizeof(*c));
	c->path = path;
	c->st = st;
	if (!st) {
		snprintf(err, errlen, "'%s': out of memory", path);
		return -1;
	}
	st->ops = ops;
	st->err = err;
	st->errlen = errlen;
	/* not blocking: a FIFO (or a device) is refused, not waited on */
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return fail(c, "cannot open: %s", strerror(errno));
	if (fstat(fd, &sb) == 0)
		c->file_size = (uint64_t)sb.st_size;
	if (!S_ISREG(sb.st_mode)) {
		close(fd);
		return fail(c, S_ISDIR(sb.st_mode) ? "is a directory" : "not a regular file");
	}
	st->f = fdopen(fd, "rb");
	if (!st->f) {
		close(fd);
		return fail(c, "cannot open: %s", strerror(errno));
	}
	if (read_header(c) < 0)
		return -1;
	st->z = malloc(ZBUF);
	st->raw_cap = RAW_BUF;
	st->raw = malloc(st->raw_cap);
	st->dctx = ZSTD_createDCtx();
	if (!st->z || !st->raw || !st->dctx)
		return fail(c, "out of memory");

	while (!c->truncated) {
		uint8_t h[MT_CHUNK_HEADER_SIZE];
		size_t n = fread(h, 1, sizeof(h), st->f);
		uint64_t next = offset;
		int rc;

		if (n < sizeof(h) && follow(c, offset))
			continue;
		if (n == 0)
			break;
		if (n < sizeof(h)) {	/* cut inside a chunk header */
			truncate_at(c, MT_TRUNC_CUT);
			break;
		}
		if (get_u32(h) != MT_CHUNK_MAGIC)
			return fail(c, "damaged capture: bad chunk header at offset %llu",
				    (unsigned long long)offset);
		rc = read_chunk(c, h, offset, nchunk, &next);
		if (rc < 0)
			return -1;
		offset = next;
		nchunk++;
		if (ops && ops->progress)
			ops->progress(ops->ctx, offset, c->file_size);
	}
	/* A capture of a killed program ends after a whole chunk, without END. */
	if (!c->complete && !c->truncated)
		truncate_at(c, MT_TRUNC_KILLED);
	if (c->truncated && c->truncation != MT_TRUNC_DAMAGED && still_running(c))
		c->truncation = MT_TRUNC_RUNNING;
	return 0;
}

/* The next word of *s (split at spaces), its base name in *base. */
static int next_word(const char **s, const char **word, const char **base, int *len)
{
	const char *end;

	while (**s == ' ')
		(*s)++;
	if (!**s)
		return 0;
	end = strchr(*s, ' ');
	end = end ? end : *s + strlen(*s);
	*word = *s;
	for (*base = end; *base > *s && (*base)[-1] != '/'; (*base)--)
		;
	*len = (int)(end - *base);
	*s = end;
	return 1;
}

void mt_capture_program(const struct mt_capture *c, char *buf, size_t cap)
{
	const char *s = c->command ? c->command : "", *w, *base;
	int len, n;

	if (!next_word(&s, &w, &base, &len)) {
		snprintf(buf, cap, "?");
		return;
	}
	n = snprintf(buf, cap, "%.*s", len, base);
	while (c->python && n >= 0 && (size_t)n < cap && next_word(&s, &w, &base, &len)) {
		int pair = (w[0] == '-' && (w[1] == 'm' || w[1] == 'c') && len == 2);

		if (w[0] == '-' && !pair)
			continue;	/* an option of the interpreter */
		n += snprintf(buf + n, cap - (size_t)n, " %.*s", len, base);
		if (pair && n >= 0 && (size_t)n < cap && next_word(&s, &w, &base, &len))
			snprintf(buf + n, cap - (size_t)n, " %.*s", len, base);
		break;
	}
}

const char *mt_truncation_reason(int why)
{
	switch (why) {
	case MT_TRUNC_KILLED:
		return "the program was killed or the capture cut off";
	case MT_TRUNC_CUT:
		return "the file ends inside a chunk: the disk was full or the file was cut";
	case MT_TRUNC_DAMAGED:
		return "its last chunk is damaged";
	case MT_TRUNC_RUNNING:
		return "the program is still running: this is what it had written so far";
	}
	return "complete";
}

void mt_capture_release(struct mt_capture *c)
{
	struct mt_reader_state *st = c->st;

	for (uint32_t i = 1; i < c->nstrings; i++)
		free(c->strings[i]);
	free(c->strings);
	free(c->pyframes);
	free(c->nodes);
	for (uint32_t i = 0; i < c->nmodules; i++) {
		free((char *)c->modules[i].path);
		free((char *)c->modules[i].build_id);
	}
	free(c->modules);
	for (uint32_t i = 0; i < c->nthreads; i++)
		free((char *)c->threads[i].name);
	free(c->threads);
	free((char *)c->command);
	free((char *)c->python);
	free((char *)c->cwd);
	free(c->step_counters);
	free(c->agg);
	free(c->agg_keys);
	free(c->agg_points);
	free((char *)c->session);
	free((char *)c->ended_by);
	if (st) {
		if (st->f)
			fclose(st->f);
		free(st->z);
		free(st->raw);
		free(st->bias);
		free(st->bias_next);
		free(st->step_expect);
		free(st->free_slots);
		ZSTD_freeDCtx(st->dctx);
		free(st);
	}
	memset(c, 0, sizeof(*c));
}
