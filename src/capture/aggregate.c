/*
 * aggregate.c - aggregated captures, inside the profiled process (see
 * aggregate.h and docs/FORMAT.md, "Aggregated captures").
 *
 * The writer thread hands every event here instead of encoding it, after
 * naming heap blocks by slot as for a full capture.  The events are
 * replayed as src/analysis/replay.c replays a full capture (heap.c is
 * compiled in here, with memory from mmap), into per-key figures, a key
 * being (stack, thread, allocator kind): total allocated, live now, live
 * at the high-water mark (each key keeps its change since the last peak,
 * cleared when the heap passes it: O(1) per event), temporary blocks.
 * The heap and RSS over time are kept at reduced resolution: at most
 * TL_POINTS points, neighbours merged by their maximum when full.
 *
 * mt_agg_save writes the meta log and these figures as a whole capture
 * into PATH.tmp.PID and renames it over PATH: a reader (or a program
 * killed by SIGKILL) always finds a whole file.  Its size follows the
 * number of stacks, never the length of the run.
 *
 * The hot path is unchanged.  Nothing here calls malloc: the last save
 * may run in a signal handler.  When an mmap fails, aggregation stops;
 * what was gathered until then is saved, with the events missed counted
 * as META dropped_events.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#define ZSTD_STATIC_LINKING_ONLY	/* ZSTD_initStaticCCtx */
#include <zstd.h>

#include "memtide/format.h"
#include "aggregate.h"
#include "fdguard.h"
#include "tracker.h"
#include "../format/varint.h"

/* ---- heap.c, with the tracker's memory --------------------------------- */

/*
 * heap.c's arrays grow through mt_xrealloc; here that is an mmap()ed
 * region (its size in a header before it), grown with mremap.  Failure
 * jumps back to mt_agg_event, which stops aggregating.
 */
#define MT_XALLOC_H
#define AGG_HDR 16

static void *agg_oom_jmp[5];
static int agg_in_event;

__attribute__((noinline, noreturn)) static void agg_oom(void)
{
	__builtin_longjmp(agg_oom_jmp, 1);
}

static size_t agg_round(size_t n)
{
	return (n + AGG_HDR + 4095) & ~(size_t)4095;
}

__attribute__((noinline)) static void *agg_realloc(void *p, size_t n)
{
	size_t want = agg_round(n);
	uint8_t *q;

	if (p) {
		size_t *h = (size_t *)((uint8_t *)p - AGG_HDR);

		if (*h >= want)
			return p;
		q = mt_real.mremap(h, *h, want, MREMAP_MAYMOVE);
	} else {
		q = mt_real.mmap(NULL, want, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	}
	if (q == MAP_FAILED) {
		if (agg_in_event)
			agg_oom();
		return NULL;
	}
	*(size_t *)q = want;
	return q + AGG_HDR;
}

static void agg_free(void *p)
{
	if (p) {
		size_t *h = (size_t *)((uint8_t *)p - AGG_HDR);

		mt_real.munmap(h, *h);
	}
}

/* mmap()ed memory is zeroed, and mremap's new pages too */
#define mt_oom agg_oom
#define mt_xrealloc agg_realloc
#define mt_xcalloc(n, size) agg_realloc(NULL, (size_t)(n) * (size))
#define free agg_free
#include "../analysis/heap.c"
#undef free

/* ---- the figures -------------------------------------------------------- */

#define TL_POINTS 1000		/* the timeline's resolution, at most */
#define SAVE_NS 1000000000ull	/* the file is rewritten every second */
#define TAIL_META 1024		/* META records of the end (signals) */

struct usage {
	uint64_t bytes, count;
};

/* One key: (stack, thread, kind), as replay.c's. */
struct akey {
	uint32_t stack, thread;
	uint8_t kind, touched;
	struct usage total, live, temporary;
	struct usage since;		/* live now minus live at the peak (mod 2^64) */
};

struct point {
	uint64_t ns, heap, rss;
};

int mt_agg_on;

static struct {
	char path[4096];
	struct mt_heap *heap;
	struct akey *keys;
	uint32_t nkeys, cap;
	uint32_t *index;		/* open addressing over keys, +1 */
	uint32_t mask;
	uint32_t *touched;		/* keys changed since the peak */
	uint32_t ntouched;
	uint64_t *thread_allocs;	/* allocations so far, per thread index */
	uint32_t nthreads;
	uint64_t ns;			/* the round's time */
	uint64_t total_allocations, total_bytes, min_size, max_size;
	uint64_t hist[33];		/* replay.h's MT_HIST_BINS */
	uint64_t peak_bytes, peak_ns, round_max;
	uint64_t file_cur, file_peak, file_mappings;
	int failed;			/* out of memory: aggregation stopped */
	uint64_t missed;		/* events since */
	/* the timeline: points of `span` rounds each, pending: the open one */
	struct point tl[TL_POINTS];
	uint32_t ntl, span, pending_rounds;
	struct point pending;
	/* the file */
	uint64_t last_save;
	uint8_t tail[TAIL_META];
	size_t ntail;
	uint8_t *raw, *z;
	size_t raw_len, raw_cap, zcap;
	int raw_short;			/* out of memory for the stream */
	ZSTD_CCtx *cctx;
} a;

void mt_agg_from_env(void)
{
	const char *v = getenv("MEMTIDE_AGGREGATE");

	mt_agg_on = v && !strcmp(v, "1");
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int mt_agg_start(const char *path)
{
	/* a forked child's figures start from zero, as its capture does */
	mt_heap_free(a.heap);
	agg_free(a.keys);
	agg_free(a.index);
	agg_free(a.touched);
	agg_free(a.thread_allocs);
	{
		uint8_t *raw = a.raw, *z = a.z;
		size_t raw_cap = a.raw_cap, zcap = a.zcap;
		ZSTD_CCtx *cctx = a.cctx;

		memset(&a, 0, offsetof(typeof(a), tail));
		a.raw = raw, a.z = z, a.raw_cap = raw_cap, a.zcap = zcap, a.cctx = cctx;
		a.ntail = 0;
	}
	snprintf(a.path, sizeof(a.path), "%s", path);
	a.min_size = UINT64_MAX;
	a.span = 1;
	a.last_save = mono_ns();
	agg_in_event = 0;
	a.heap = mt_heap_new();
	if (!a.heap)
		return -1;
	if (!a.cctx) {
		size_t size = ZSTD_estimateCCtxSize(1);
		void *ws = agg_realloc(NULL, size);

		a.cctx = ws ? ZSTD_initStaticCCtx(ws, size) : NULL;
		if (!a.cctx)
			return -1;
		ZSTD_CCtx_setParameter(a.cctx, ZSTD_c_compressionLevel, 1);
		ZSTD_CCtx_setParameter(a.cctx, ZSTD_c_checksumFlag, 1);
	}
	return 0;
}

static int hist_bin(uint64_t size)
{
	int bin = 0;

	/* bin i: sizes up to 4^i - 1 (replay.c's mt_hist_bin_max) */
	while (bin < 32 && size > (1ull << (2 * bin)) - 1)
		bin++;
	return bin;
}

static uint32_t key_hash(uint32_t stack, uint32_t thread, uint8_t kind)
{
	uint64_t h = ((uint64_t)stack << 20 ^ (uint64_t)thread << 4 ^ kind) * 0x9E3779B97F4A7C15ull;

	return (uint32_t)(h >> 32);
}

/* The key of (stack, thread, kind), made on first sight, in that order. */
static uint32_t key_of(uint32_t stack, uint32_t thread, uint8_t kind)
{
	uint32_t i;

	if ((a.nkeys + 1) * 2 > a.mask) {
		uint32_t mask = a.mask ? a.mask * 2 + 1 : 4095;

		agg_free(a.index);
		a.index = agg_realloc(NULL, ((size_t)mask + 1) * sizeof(uint32_t));
		a.mask = mask;
		for (uint32_t k = 0; k < a.nkeys; k++) {
			i = key_hash(a.keys[k].stack, a.keys[k].thread, a.keys[k].kind) & mask;
			while (a.index[i])
				i = (i + 1) & mask;
			a.index[i] = k + 1;
		}
	}
	i = key_hash(stack, thread, kind) & a.mask;
	while (a.index[i]) {
		const struct akey *k = &a.keys[a.index[i] - 1];

		if (k->stack == stack && k->thread == thread && k->kind == kind)
			return a.index[i] - 1;
		i = (i + 1) & a.mask;
	}
	if (a.nkeys == a.cap) {
		uint32_t cap = a.cap ? a.cap * 2 : 1024;

		a.keys = agg_realloc(a.keys, cap * sizeof(*a.keys));
		a.touched = agg_realloc(a.touched, cap * sizeof(*a.touched));
		a.cap = cap;
	}
	a.keys[a.nkeys] = (struct akey){ .stack = stack, .thread = thread, .kind = kind };
	a.index[i] = a.nkeys + 1;
	return a.nkeys++;
}

/* Adds bytes and count (modulo 2^64) to what a key holds live. */
static void change(uint32_t key, uint64_t bytes, uint64_t count)
{
	struct akey *k = &a.keys[key];

	k->live.bytes += bytes;
	k->live.count += count;
	if (!k->touched) {
		k->touched = 1;
		a.touched[a.ntouched++] = key;
	}
	k->since.bytes += bytes;
	k->since.count += count;
}

static void released(void *ctx, uint32_t key, uint64_t bytes, uint64_t count, uint64_t tag)
{
	struct akey *k = &a.keys[key];

	(void)ctx;
	if (k->kind == MT_EV_MMAP_FILE) {
		a.file_cur -= bytes;
		return;		/* not memory: replay.c's default */
	}
	change(key, 0 - bytes, 0 - count);
	/* temporary: freed before its thread made another allocation */
	if (k->thread < a.nthreads && a.thread_allocs[k->thread] - tag < 1) {
		k->temporary.bytes += bytes;
		k->temporary.count += count;
	}
}

static void event(const struct mt_event *ev)
{
	struct mt_event committed;
	uint64_t cur;

	if (ev->kind == MT_EV_COMMIT && !(ev = mt_heap_commit(a.heap, ev, &committed)))
		return;
	if (ev->kind == MT_EV_MMAP_FILE) {
		a.file_mappings++;
		mt_heap_apply(a.heap, ev, key_of(ev->stack, ev->thread, ev->kind), 0, released, NULL);
		a.file_cur += ev->size;
	} else if (mt_event_is_alloc(ev->kind)) {
		uint32_t key = key_of(ev->stack, ev->thread, ev->kind);
		struct akey *k;

		if (ev->thread >= a.nthreads) {
			uint32_t cap = a.nthreads ? a.nthreads : 16;

			while (cap <= ev->thread)
				cap *= 2;
			a.thread_allocs = agg_realloc(a.thread_allocs, cap * sizeof(uint64_t));
			a.nthreads = cap;
		}
		a.total_allocations++;
		a.total_bytes += ev->size;
		a.hist[hist_bin(ev->size)]++;
		if (ev->size < a.min_size)
			a.min_size = ev->size;
		if (ev->size > a.max_size)
			a.max_size = ev->size;
		k = &a.keys[key];
		k->total.bytes += ev->size;
		k->total.count++;
		a.thread_allocs[ev->thread]++;
		mt_heap_apply(a.heap, ev, key, a.thread_allocs[ev->thread], released, NULL);
		change(key, ev->size, 1);
	} else {
		mt_heap_apply(a.heap, ev, 0, 0, released, NULL);
	}
	if (a.file_cur > a.file_peak)
		a.file_peak = a.file_cur;
	cur = mt_heap_current(a.heap) - a.file_cur;
	if (cur > a.round_max)
		a.round_max = cur;
	if (cur > a.peak_bytes) {
		/* a new high-water mark: nothing has changed since */
		a.peak_bytes = cur;
		a.peak_ns = a.ns;
		for (uint32_t i = 0; i < a.ntouched; i++) {
			struct akey *k = &a.keys[a.touched[i]];

			k->since = (struct usage){ 0, 0 };
			k->touched = 0;
		}
		a.ntouched = 0;
	}
}

void mt_agg_round(uint64_t ns)
{
	a.ns = ns;
}

void mt_agg_event(unsigned kind, uint64_t addr, uint64_t size, uint32_t stack, uint32_t thread)
{
	/* an allocation counts for itself: aggregated captures are not sampled */
	struct mt_event ev = { .addr = addr, .size = size, .stack = stack, .thread = thread,
			       .kind = (uint8_t)kind, .time_ns = a.ns, .bytes = size,
			       .count = mt_event_is_alloc(kind) };

	if (kind == MT_EV_STEP)
		return;		/* steps need a full capture */
	if (a.failed || !a.heap) {
		a.missed++;
		return;
	}
	if (__builtin_setjmp(agg_oom_jmp)) {
		agg_in_event = 0;
		a.failed = 1;
		a.missed++;
		mt_warn("out of memory in the aggregator: the capture stops counting here");
		return;
	}
	agg_in_event = 1;
	event(&ev);
	agg_in_event = 0;
}

static void tl_push(struct point p)
{
	if (a.ntl == TL_POINTS) {
		/* full: each two neighbours become one, by their maximum */
		for (uint32_t i = 0; i < TL_POINTS / 2; i++) {
			struct point x = a.tl[2 * i], y = a.tl[2 * i + 1];

			a.tl[i] = (struct point){ y.ns, x.heap > y.heap ? x.heap : y.heap,
						  x.rss > y.rss ? x.rss : y.rss };
		}
		a.ntl = TL_POINTS / 2;
		a.span *= 2;
	}
	a.tl[a.ntl++] = p;
}

void mt_agg_sample(uint64_t ns, uint64_t rss)
{
	struct point *p = &a.pending;

	if (!a.pending_rounds++)
		*p = (struct point){ ns, 0, 0 };
	p->ns = ns;
	if (a.round_max > p->heap)
		p->heap = a.round_max;
	if (rss > p->rss)
		p->rss = rss;
	if (a.pending_rounds >= a.span) {
		tl_push(*p);
		a.pending_rounds = 0;
	}
	a.round_max = a.heap ? mt_heap_current(a.heap) - a.file_cur : 0;
}

/* ---- the file ------------------------------------------------------------ */

/* Room for n more raw bytes; 0 when there is none. */
static int room(size_t n)
{
	if (a.raw_len + n > a.raw_cap) {
		size_t cap = a.raw_cap ? a.raw_cap : 1u << 20;
		uint8_t *p;

		while (cap < a.raw_len + n)
			cap *= 2;
		p = agg_realloc(a.raw, cap);
		if (!p)
			return 0;
		a.raw = p;
		a.raw_cap = cap;
	}
	return 1;
}

static void put(const void *p, size_t n)
{
	if (room(n)) {
		memcpy(a.raw + a.raw_len, p, n);
		a.raw_len += n;
	} else {
		a.raw_short = 1;	/* the save fails: the file stays whole */
	}
}

/* A record of a tag and n numbers. */
static void put_nums(int tag, int n, const uint64_t *v)
{
	uint8_t rec[1 + 10 * 64], *p = rec;

	*p++ = (uint8_t)tag;
	for (int i = 0; i < n; i++)
		p = mt_put_varint(p, v[i]);
	put(rec, (size_t)(p - rec));
}

static void put_meta(uint8_t *buf, size_t *len, size_t cap, const char *k, const char *v)
{
	size_t kl = strlen(k), vl = strlen(v);
	uint8_t rec[64], *p = rec;

	if (*len + kl + vl + 32 > cap)
		return;
	*p++ = MT_REC_META;
	p = mt_put_varint(p, kl);
	memcpy(buf + *len, rec, (size_t)(p - rec));
	*len += (size_t)(p - rec);
	memcpy(buf + *len, k, kl);
	*len += kl;
	p = mt_put_varint(rec, vl);
	memcpy(buf + *len, rec, (size_t)(p - rec));
	*len += (size_t)(p - rec);
	memcpy(buf + *len, v, vl);
	*len += vl;
}

static void decimal(char *buf, unsigned long long v)
{
	char digits[24], *p = digits + sizeof(digits);
	size_t n;

	*--p = '\0';
	do
		*--p = (char)('0' + v % 10);
	while ((v /= 10));
	n = (size_t)(digits + sizeof(digits) - p);
	memcpy(buf, p, n);
}

void mt_agg_meta_num(const char *key, unsigned long long v)
{
	char num[24];

	decimal(num, v);
	put_meta(a.tail, &a.ntail, sizeof(a.tail), key, num);
}

static void put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static int write_all(int fd, const void *buf, size_t n)
{
	const uint8_t *p = buf;

	while (n) {
		ssize_t k = write(fd, p, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			if (k == 0)
				errno = ENOSPC;
			return -1;
		}
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* The record stream (meta log, then the figures) as it goes in the file. */
static void build(int final, const char *ended_by, int (*lock)(pthread_mutex_t *))
{
	static uint8_t buf[4400];	/* ended_by: "exec PATH"; static: a
					 * signal handler's stack may be small */
	uint8_t *meta;
	size_t off = 0, n = mt_meta_drain(&meta, &off, lock), len = 0;
	uint64_t v[64];
	int nv = 0;

	a.raw_len = 0;
	a.raw_short = 0;
	/* first: a file cut short still reads as aggregated */
	put_meta(buf, &len, sizeof(buf), "aggregate", "1");
	put(buf, len);
	len = 0;
	put(meta, n);
	if (a.failed || a.missed) {
		char num[24];

		/* after the meta log's own count, which it replaces */
		decimal(num, a.missed + atomic_load(&mt_dropped));
		put_meta(buf, &len, sizeof(buf), "dropped_events", num);
	}
	if (ended_by)
		put_meta(buf, &len, sizeof(buf), "ended_by", ended_by);
	put(buf, len);
	put(a.tail, a.ntail);

	/* AGGREGATE: n, then the capture's figures (docs/FORMAT.md) */
	v[nv++] = 0;
	v[nv++] = a.peak_bytes;
	v[nv++] = a.peak_ns;
	v[nv++] = a.total_allocations;
	v[nv++] = a.total_bytes;
	v[nv++] = a.total_allocations ? a.min_size : 0;
	v[nv++] = a.max_size;
	v[nv++] = a.file_peak;
	v[nv++] = a.file_mappings;
	v[nv++] = a.heap ? mt_heap_current(a.heap) - a.file_cur : 0;
	v[nv++] = a.ns;
	v[nv++] = 33;
	for (int i = 0; i < 33; i++)
		v[nv++] = a.hist[i];
	v[0] = (uint64_t)nv - 1;
	put_nums(MT_REC_AGGREGATE, nv, v);

	for (uint32_t i = 0; i < a.nkeys; i++) {
		const struct akey *k = &a.keys[i];
		uint64_t f[] = {
			k->stack, k->thread, k->kind,
			k->total.bytes, k->total.count,
			k->live.bytes - k->since.bytes, k->live.count - k->since.count,
			k->live.bytes, k->live.count,
			k->temporary.bytes, k->temporary.count,
		};

		put_nums(MT_REC_AGG_KEY, (int)(sizeof(f) / sizeof(f[0])), f);
	}
	for (uint32_t i = 0; i < a.ntl; i++)
		put_nums(MT_REC_AGG_POINT, 3, (uint64_t[]){ a.tl[i].ns, a.tl[i].heap, a.tl[i].rss });
	if (a.pending_rounds)
		put_nums(MT_REC_AGG_POINT, 3,
			 (uint64_t[]){ a.pending.ns, a.pending.heap, a.pending.rss });
	if (final)
		put_nums(MT_REC_END, 1, (uint64_t[]){ mt_now_ns() });
}

/* The stream, in chunks of a closed zstd frame each, to fd. */
static int write_chunks(int fd)
{
	uint8_t hdr[MT_FILE_HEADER_SIZE] = { 0 };

	memcpy(hdr, MT_MAGIC, 8);
	hdr[8] = MT_VERSION & 0xff;
	hdr[9] = MT_VERSION >> 8;
	hdr[10] = MT_FILE_HEADER_SIZE;
	if (write_all(fd, hdr, sizeof(hdr)) < 0)
		return -1;
	for (size_t at = 0; at < a.raw_len;) {
		size_t r = a.raw_len - at < (4u << 20) ? a.raw_len - at : (4u << 20);
		size_t bound = ZSTD_compressBound(r) + MT_CHUNK_HEADER_SIZE, z;

		if (bound > a.zcap) {
			uint8_t *p = agg_realloc(a.z, bound);

			if (!p) {
				errno = ENOMEM;
				return -1;
			}
			a.z = p;
			a.zcap = bound;
		}
		z = ZSTD_compress2(a.cctx, a.z + MT_CHUNK_HEADER_SIZE, a.zcap - MT_CHUNK_HEADER_SIZE,
				   a.raw + at, r);
		if (ZSTD_isError(z)) {
			errno = EIO;
			return -1;
		}
		memset(a.z, 0, MT_CHUNK_HEADER_SIZE);
		put_u32(a.z, MT_CHUNK_MAGIC);
		put_u32(a.z + 4, (uint32_t)z);
		put_u32(a.z + 8, (uint32_t)r);
		if (write_all(fd, a.z, z + MT_CHUNK_HEADER_SIZE) < 0)
			return -1;
		at += r;
	}
	return 0;
}

int mt_agg_save(int final, const char *ended_by, int due, int (*lock)(pthread_mutex_t *))
{
	static struct mt_fdguard tmp = { .fd = -1 };
	static char path[4200];
	uint64_t now = mono_ns();
	int rc, err;

	if (!a.heap || !a.cctx)
		return 0;
	if (due && now - a.last_save < SAVE_NS)
		return 0;
	a.last_save = now;
	build(final, ended_by, lock);
	if (a.raw_short) {
		errno = ENOMEM;
		return -1;
	}
	snprintf(path, sizeof(path), "%s.tmp.%ld", a.path, (long)getpid());
	if (mt_fd_open(&tmp, path, O_WRONLY | O_CREAT | O_TRUNC, 0644) < 0)
		return -1;
	rc = write_chunks(tmp.fd);
	err = errno;
	mt_fd_close(&tmp);
	if (rc == 0 && rename(path, a.path) == 0)
		return 0;
	err = rc ? err : errno;
	unlink(path);
	errno = err;
	return -1;
}

/* For Tracker(aggregate=...): whether the next session started in-process aggregates. */
__attribute__((visibility("default")))
void memtide_tracker_aggregate(int on)
{
	mt_agg_on = on != 0;
}
