/*
 * writer.c - the background thread of libmemtide.so that turns what the
 * tracker buffers into the capture file.  Runs in the profiled process,
 * with all signals blocked and the re-entrancy guard set, so nothing it
 * does (zstd's own allocations included) is recorded.
 *
 * Every 10 ms it samples the RSS and runs a round: it notes the global
 * sequence number, takes every thread's blocks of raw events, writes the
 * meta records interned since the last round, then the events below that
 * number in global order (later ones wait for the next round).  Heap
 * addresses become slot numbers here (docs/FORMAT.md), off the hot path,
 * which keeps the file small and the reader free of address tables.  The
 * stream is cut into independently compressed zstd chunks every second
 * (or 4 MiB); a chunk is written as it grows, its header first with the
 * sizes unknown ("open"), then its bytes flushed so that all of them
 * decode, within 100 ms of the events they hold, and its sizes are filled
 * in when it ends.  A process killed by SIGKILL loses at most its last
 * 100 ms; one that dies of a signal memtide catches, or execs, loses
 * nothing (mt_writer_finish).
 *
 * The writer never calls malloc (its memory is mmap()ed, zstd works in a
 * static workspace), so the last round can run in a signal handler.  The
 * first write error ends the capture: the file keeps every whole round
 * before it, the program goes on, and the error is reported once.
 */

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#define ZSTD_STATIC_LINKING_ONLY	/* ZSTD_initStaticCCtx */
#include <zstd.h>

#include "memtide/format.h"
#include "aggregate.h"
#include "fdguard.h"
#include "tracker.h"
#include "../format/varint.h"

#define ROUND_NS 10000000ull		/* 10 ms: RSS sample and fence */
#define FLUSH_NS 1000000000ull		/* a chunk at least every second */
#define SYNC_NS 100000000ull		/* an event is on disk at most 100 ms after it */
#define IDLE_SAMPLE_NS 1000000000ull	/* a timeline point at least this often */
#define CHUNK_RAW (4u << 20)		/* raw bytes per chunk, at most */
#define ZSTD_LEVEL 3
/* A chunk after a small one (and the first) starts with small match
 * tables: zstd clears its tables at each frame's start, 768 KiB at level
 * 3, which was most of a short program's added page faults.  The window
 * stays the level's; a chunk after a big one gets the level's tables. */
#define SMALL_CHUNK (256u << 10)
#define SMALL_TABLE_LOG 14
#define EVENTS_RECORD (256u << 10)	/* encoded event bytes per record */
#define COLUMN_BLOCKS (4u << 10)	/* a record this big: a zstd block per column */

/* Live heap blocks: address -> slot (and stack), and the stack of free slots. */
struct slotmap {
	struct sm_entry {
		uint64_t addr;	/* 0: empty */
		uint32_t slot;
		uint32_t stack;	/* node of the allocation, for census by site */
	} *v;
	size_t mask, used;
	uint32_t *free_slots;
	size_t nfree, cap_free;
	uint32_t next_slot;
};

static struct {
	struct mt_fdguard file, statm, status;
	pthread_t thread;
	int running;
	atomic_int tid;			/* the writer thread's, 0 before it runs */
	pthread_mutex_t lock;		/* one round at a time; guards stop */
	pthread_cond_t wake;
	int stop;
	int failed, fail_errno;
	uint64_t failed_ns;		/* when the capture ends, for the message */
	atomic_int dying;		/* the last round runs in a signal handler */
	uint64_t off;			/* end of what is written */
	int64_t chunk_off;		/* header of the open chunk; -1: none */
	int header_due;			/* its header goes out with its first bytes */
	uint64_t chunk_z;		/* its compressed size so far */
	uint64_t chunk_r;		/* its raw bytes given to zstd */
	uint64_t prev_chunk_r;		/* raw size of the last chunk closed */
	uint64_t round_ns;		/* time of the last whole round written */
	uint64_t t0, last_flush;
	size_t meta_off;
	uint8_t raw[CHUNK_RAW];		/* the open chunk's raw bytes */
	size_t raw_len;
	uint8_t *z;
	size_t zcap, zlen;		/* zlen: compressed bytes not yet written */
	ZSTD_CCtx *cctx;
	long page;
	struct mt_thread **heads;	/* threads with events to merge */
	size_t cap_heads;
	struct slotmap map;
	uint32_t last_thread, last_stack;
	uint64_t last_slot;		/* of the last heap allocation; ~0: none */
	uint8_t col[MT_NCOLS][EVENTS_RECORD + 64];	/* the record's columns */
	size_t col_len[MT_NCOLS], enc_len;	/* enc_len: their sum */
	uint64_t sample_ns, sample_rss;	/* the last SAMPLE written */
	uint64_t idle_ns;		/* the last round since, which wrote none; 0: none */
	int sync_rounds;		/* flush the stream within SYNC_NS */
	uint64_t synced_to;		/* events before this time are on disk */
} w = { .file.fd = -1, .statm.fd = -1, .status.fd = -1, .chunk_off = -1,
	.lock = PTHREAD_MUTEX_INITIALIZER };

void mt_warn(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	memcpy(buf, "memtide: ", 9);
	va_start(ap, fmt);
	n = vsnprintf(buf + 9, sizeof(buf) - 10, fmt, ap);
	va_end(ap);
	n = n < 0 ? 0 : n + 9 > (int)sizeof(buf) - 2 ? (int)sizeof(buf) - 2 : n + 9;
	buf[n++] = '\n';
	if (write(STDERR_FILENO, buf, (size_t)n) < 0)
		return;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t mt_now_ns(void)
{
	return mono_ns() - w.t0;
}

/* Our own signals stay blocked while this thread writes: a program
 * killed meanwhile is flushed once the write is done. */
static void block_signals(sigset_t *old)
{
	sigset_t set;

	mt_signals_set(&set);
	sigaddset(&set, SIGXFSZ);
	pthread_sigmask(SIG_BLOCK, &set, old);
}

/*
 * The first write error ends the capture (the program goes on untracked):
 * memtide run hears of it through its status pipe and says so at exit;
 * without one, the message waits for mt_writer_stop.
 */
static void fail(int err)
{
	char msg[4400];
	int n;

	if (w.failed)
		return;
	w.failed = 1;
	w.fail_errno = err;
	w.failed_ns = w.round_ns;
	atomic_store(&mt_active, 0);
	n = snprintf(msg, sizeof(msg), "writing %s failed: %s; the capture ends at %llu.%02llu s\n",
		     w.file.path, strerror(err), (unsigned long long)(w.round_ns / 1000000000ull),
		     (unsigned long long)(w.round_ns / 10000000ull % 100));
	if (mt_fd_check(&w.status) >= 0 && n > 0 &&
	    write(w.status.fd, msg, (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1) > 0)
		w.fail_errno = 0;	/* said: memtide run prints it */
}

/*
 * Writes both buffers at offset at, in one system call when it can.  A
 * write that stops short (a full disk) is taken back, so that the file
 * ends after the last whole write.  The writes of RLIMIT_FSIZE's SIGXFSZ
 * are memtide's: that signal is consumed here, not delivered.
 */
static void write_at(uint64_t at, const void *a, size_t na, const void *b, size_t nb)
{
	struct iovec iov[2] = { { (void *)a, na }, { (void *)b, nb } };
	sigset_t old, xfsz;
	int i = 0, err = 0, had_xfsz;
	uint64_t pos = at;

	if (w.failed)
		return;
	block_signals(&old);
	sigpending(&xfsz);
	had_xfsz = sigismember(&xfsz, SIGXFSZ);
	while (i < 2) {
		int fd = mt_fd_check(&w.file);
		ssize_t k;

		if (fd < 0) {
			err = errno;
			break;
		}
		k = pwritev(fd, iov + i, 2 - i, (off_t)pos);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			err = k < 0 ? errno : ENOSPC;
			break;
		}
		pos += (uint64_t)k;
		while (i < 2 && (size_t)k >= iov[i].iov_len)
			k -= (ssize_t)iov[i++].iov_len;
		if (i < 2) {
			iov[i].iov_base = (uint8_t *)iov[i].iov_base + k;
			iov[i].iov_len -= (size_t)k;
		}
	}
	if (err) {
		/* an append cut short is taken back (a header is patched in place) */
		if (pos > at && at >= w.off && w.file.fd >= 0) {
			int rc = ftruncate(w.file.fd, (off_t)at);

			(void)rc;
		}
		if (!had_xfsz) {
			struct timespec zero = { 0, 0 };

			sigemptyset(&xfsz);
			sigaddset(&xfsz, SIGXFSZ);
			while (sigtimedwait(&xfsz, NULL, &zero) == SIGXFSZ)
				;
		}
		fail(err);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* Compressed bytes of the open chunk; its header goes with the first. */
static void chunk_bytes(const void *p, size_t n)
{
	uint8_t hdr[MT_CHUNK_HEADER_SIZE] = { 0 };

	if (!n)
		return;
	if (w.header_due) {
		put_u32(hdr, MT_CHUNK_MAGIC);
		put_u32(hdr + 4, MT_CHUNK_OPEN);
		put_u32(hdr + 8, MT_CHUNK_OPEN);
		write_at(w.off, hdr, sizeof(hdr), p, n);
		w.off += sizeof(hdr);
		w.header_due = 0;
	} else {
		write_at(w.off, p, n, NULL, 0);
	}
	w.off += n;
	w.chunk_z += n;
}

/*
 * Compresses what out() buffered since the last call into the open chunk
 * (opening one first): ZSTD_e_flush at the end of a round that syncs
 * (all of it decodes now), ZSTD_e_end to close the chunk, whose header then gets its
 * real sizes.  zstd reads the chunk's raw bytes where they are
 * (ZSTD_c_stableInBuffer): one contiguous window, as a one-shot
 * compression of the chunk sees, and no copy into zstd's own input ring,
 * whose wrap-around past its 2 MiB window had every later block of a
 * 4 MiB chunk matched in the slower two-segment (extDict) mode.
 * hold: a flush that only ends a zstd block; its bytes stay in w.z
 * (written once it fills) until a call without hold.
 */
static void compress(ZSTD_EndDirective mode, int hold)
{
	ZSTD_inBuffer in = { w.raw, w.raw_len, w.chunk_r };
	size_t left;

	if (w.failed) {
		w.raw_len = w.chunk_r = w.zlen = 0;
		return;
	}
	if (w.chunk_off < 0) {
		if (!w.raw_len)
			return;
		w.chunk_off = (int64_t)w.off;
		w.header_due = 1;
		/* between frames: no data in zstd, parameters may change */
		int log = w.prev_chunk_r < SMALL_CHUNK ? SMALL_TABLE_LOG : 0;
		ZSTD_CCtx_setParameter(w.cctx, ZSTD_c_hashLog, log);
		ZSTD_CCtx_setParameter(w.cctx, ZSTD_c_chainLog, log);
	}
	do {
		ZSTD_outBuffer o = { w.z + w.zlen, w.zcap - w.zlen, 0 };

		left = ZSTD_compressStream2(w.cctx, &o, &in, mode);
		if (ZSTD_isError(left)) {
			mt_warn("compression failed: %s", ZSTD_getErrorName(left));
			fail(EIO);
			return;
		}
		w.zlen += o.pos;
		if (!hold || w.zlen == w.zcap) {
			chunk_bytes(w.z, w.zlen);
			w.zlen = 0;
		}
	} while (left != 0);
	w.chunk_r = in.pos;
	if (mode == ZSTD_e_end) {
		uint8_t sizes[8];

		put_u32(sizes, (uint32_t)w.chunk_z);
		put_u32(sizes + 4, (uint32_t)w.chunk_r);
		write_at((uint64_t)w.chunk_off + 4, sizes, sizeof(sizes), NULL, 0);
		w.chunk_off = -1;
		w.prev_chunk_r = w.chunk_r;
		w.chunk_z = w.chunk_r = w.raw_len = 0;
		w.header_due = 0;
		w.last_flush = mono_ns();
	}
}

/* Appends to the stream; records may straddle chunks (see docs/FORMAT.md). */
static void out(const void *buf, size_t n)
{
	const uint8_t *p = buf;

	while (n) {
		size_t room = CHUNK_RAW - w.raw_len;
		size_t k = room < n ? room : n;

		memcpy(w.raw + w.raw_len, p, k);
		w.raw_len += k;
		p += k;
		n -= k;
		if (w.raw_len == CHUNK_RAW)
			compress(ZSTD_e_end, 0);
	}
}

/* A record of a tag and one or two numbers. */
static void out_record(int tag, int n, uint64_t a, uint64_t b)
{
	uint8_t rec[24], *p = rec;

	*p++ = (uint8_t)tag;
	p = mt_put_varint(p, a);
	if (n > 1)
		p = mt_put_varint(p, b);
	out(rec, (size_t)(p - rec));
}

/* Resident set size, from /proc/self/statm (no stdio: signal-safe). */
uint64_t mt_rss_bytes(void)
{
	char buf[128];
	uint64_t resident = 0;
	int fd = mt_fd_check(&w.statm), field = 0;
	ssize_t n = fd >= 0 ? pread(fd, buf, sizeof(buf) - 1, 0) : -1;

	for (ssize_t i = 0; i < n && field < 2; i++) {
		if (buf[i] == ' ')
			field++;
		else if (field == 1 && buf[i] >= '0' && buf[i] <= '9')
			resident = resident * 10 + (uint64_t)(buf[i] - '0');
	}
	return resident * (uint64_t)w.page;
}

/* The writer's memory: mmap()ed, so that it can grow in a signal handler. */
static void *map(size_t n)
{
	void *p = mt_real.mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		mt_warn("out of memory in the capture writer");
		fail(ENOMEM);
		return NULL;
	}
	return p;
}

/* Grows an array of old bytes to n bytes (zeroed beyond old). */
static void *remap(void *p, size_t old, size_t n)
{
	void *q = map(n);

	if (q && p) {
		memcpy(q, p, old);
		mt_real.munmap(p, old);
	}
	return q;
}

static size_t sm_home(const struct slotmap *m, uint64_t addr)
{
	uint64_t x = addr >> 4;

	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	return (size_t)(x ^ (x >> 33)) & m->mask;
}

static struct sm_entry *sm_find(struct slotmap *m, uint64_t addr)
{
	size_t i = sm_home(m, addr);

	while (m->v[i].addr && m->v[i].addr != addr)
		i = (i + 1) & m->mask;
	return &m->v[i];
}

/*
 * Doubles the map.  It is kept at most half full: each free shifts back
 * the rest of its probe chain, and at three quarters (the old bound)
 * encode took 141 instructions per event on native_churn, 125 now.
 */
static int sm_grow(struct slotmap *m)
{
	struct slotmap old = *m;
	size_t n = m->v ? (m->mask + 1) * 2 : 4096;	/* grows with the live blocks */

	m->v = map(n * sizeof(*m->v));
	if (!m->v) {
		*m = old;
		return -1;
	}
	m->mask = n - 1;
	for (size_t i = 0; old.v && i <= old.mask; i++)
		if (old.v[i].addr)
			*sm_find(m, old.v[i].addr) = old.v[i];
	if (old.v)
		mt_real.munmap(old.v, (old.mask + 1) * sizeof(*old.v));
	return 0;
}

/* Removes e, shifting back the entries of its probe chain. */
static void sm_erase(struct slotmap *m, struct sm_entry *e)
{
	size_t i = (size_t)(e - m->v), j = i;

	for (;;) {
		size_t home;

		j = (j + 1) & m->mask;
		if (!m->v[j].addr)
			break;
		home = sm_home(m, m->v[j].addr);
		if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
			m->v[i] = m->v[j];
			i = j;
		}
	}
	m->v[i].addr = 0;
	m->used--;
}

static void sm_release(struct slotmap *m, uint32_t slot)
{
	if (m->nfree == m->cap_free) {
		size_t cap = m->cap_free ? m->cap_free * 2 : 4096;
		uint32_t *p = remap(m->free_slots, m->cap_free * sizeof(uint32_t),
				    cap * sizeof(uint32_t));

		if (!p)
			return;
		m->free_slots = p;
		m->cap_free = cap;
	}
	m->free_slots[m->nfree++] = slot;
}

static void sm_reset(struct slotmap *m)
{
	if (m->v)
		memset(m->v, 0, (m->mask + 1) * sizeof(*m->v));
	m->used = 0;
	m->nfree = 0;
	m->next_slot = 0;
}

/*
 * The round's events go out as a COLUMNS record (docs/FORMAT.md).  In a
 * big one each column ends a zstd block, so that zstd's Huffman table for
 * that block is the column's own: slots, sizes and heads mixed in one
 * table cost native_churn about a bit per byte.  The compressed bytes
 * stay in memory until the round's flush or the chunk's end.
 */
static void flush_events(void)
{
	uint8_t rec[16 + 10 * MT_NCOLS], lens[10 * MT_NCOLS], *p = lens;
	size_t total;
	int blocks = w.enc_len >= COLUMN_BLOCKS;

	if (!w.enc_len)
		return;
	for (int i = 0; i < MT_NCOLS; i++)
		p = mt_put_varint(p, w.col_len[i]);
	total = (size_t)(p - lens) + w.enc_len;
	p = rec;
	*p++ = MT_REC_COLUMNS;
	p = mt_put_varint(p, total);
	memcpy(p, lens, total - w.enc_len);
	out(rec, (size_t)(p - rec) + total - w.enc_len);
	for (int i = 0; i < MT_NCOLS; i++) {
		if (!w.col_len[i])
			continue;
		out(w.col[i], w.col_len[i]);
		if (blocks)
			compress(ZSTD_e_flush, 1);
		w.col_len[i] = 0;
	}
	w.enc_len = 0;
}

static void col_num(int c, uint64_t v)
{
	uint8_t *p = w.col[c] + w.col_len[c];
	size_t n = (size_t)(mt_put_varint(p, v) - p);

	w.col_len[c] += n;
	w.enc_len += n;
}

/* A number as its low byte in column c and the rest in c + 1. */
static void col_split(int c, uint64_t v)
{
	w.col[c][w.col_len[c]++] = (uint8_t)v;
	w.enc_len++;
	col_num(c + 1, v >> 8);
}

/* Encodes one event (docs/FORMAT.md); heap addresses become slots. */
static void encode(const struct mt_rawev *e, uint32_t thread)
{
	unsigned kind = e->kind;
	uint8_t head;

	if (w.enc_len > EVENTS_RECORD)
		flush_events();
	if (kind == MT_EV_STEP) {
		if (mt_agg_on)
			return;
		head = (uint8_t)kind;
		col_num(MT_COL_OTHER, e->addr);
		col_num(MT_COL_OTHER, e->size);		/* when, in ns */
		col_num(MT_COL_OTHER, e->stack);	/* RSS then, in 4 KiB pages */
	} else if (kind == MT_EV_FREE) {
		struct sm_entry *s = w.map.v ? sm_find(&w.map, e->addr) : NULL;
		uint32_t slot;

		if (!s || !s->addr)
			return;		/* allocated before tracking began, or not sampled */
		slot = s->slot;
		sm_erase(&w.map, s);
		sm_release(&w.map, slot);
		if (mt_agg_on) {
			mt_agg_event(kind, slot, 0, 0, thread);
			return;
		}
		head = (uint8_t)kind;
		if (slot == w.last_slot)
			head |= MT_EVF_LASTSLOT;
		else
			col_split(MT_COL_SLOT, slot);
	} else {
		uint64_t addr = e->addr;	/* heap blocks: the slot */

		if (!mt_event_is_mmap(kind)) {
			struct sm_entry *s;

			if ((w.map.used + 1) * 2 > w.map.mask + 1 && sm_grow(&w.map) < 0)
				return;
			s = sm_find(&w.map, e->addr);
			if (s->addr) {	/* its free was never seen: free it now */
				struct mt_rawev f = *e;

				f.kind = MT_EV_FREE;
				encode(&f, thread);
				s = sm_find(&w.map, e->addr);
			}
			s->addr = e->addr;
			s->stack = e->stack;
			s->slot = w.map.nfree ? w.map.free_slots[--w.map.nfree] : w.map.next_slot++;
			w.last_slot = s->slot;
			w.map.used++;
			addr = s->slot;
		}
		if (mt_agg_on) {
			mt_agg_event(kind, addr, e->size, e->stack, thread);
			return;
		}
		head = mt_event_head(kind);
		if (mt_event_is_mmap(kind))
			col_num(MT_COL_OTHER, e->addr);
		col_split(MT_COL_SIZE, e->size);
		if (mt_event_is_alloc(kind)) {
			if (e->stack == w.last_stack)
				head |= MT_EVF_SAMESTACK;
			else
				col_num(MT_COL_STACK, e->stack);
			w.last_stack = e->stack;
		}
	}
	if (thread != w.last_thread) {
		head |= MT_EVF_THREAD;
		col_num(MT_COL_THREAD, thread);
	}
	w.col[MT_COL_HEAD][w.col_len[MT_COL_HEAD]++] = head;
	w.enc_len++;
	w.last_thread = thread;
}

/*
 * The writer's locks.  Once the process is dying (a signal handler runs
 * the last round) it never waits for good: the holder may be the thread
 * the signal interrupted.  1: locked.
 */
#define DYING_WAIT 500		/* tries, 20 us apart, for a lock of the tracker */
#define ROUND_WAIT 100000	/* for the writer's round in progress: seconds */

static int wlock_tries(pthread_mutex_t *m, int most)
{
	struct timespec pause = { 0, 20000 };

	for (int tries = 0; pthread_mutex_trylock(m); tries++) {
		if (atomic_load(&w.dying) && tries > most)
			return 0;
		nanosleep(&pause, NULL);
	}
	return 1;
}

static int wlock(pthread_mutex_t *m)
{
	return wlock_tries(m, DYING_WAIT);
}

/* A thread's own lock: the writer backs off instead of spinning, so that
 * it does not keep pulling a cache line the owner takes per event. */
static int wlock_thread(struct mt_thread *t)
{
	struct timespec pause = { 0, 20000 };

	for (int tries = 0; atomic_exchange_explicit(&t->lock, 1, memory_order_acquire); tries++) {
		if (atomic_load(&w.dying) && tries > DYING_WAIT)
			return 0;
		nanosleep(&pause, NULL);
	}
	return 1;
}

/* Blocks are not given back while dying: the pool's lock may be held. */
static void put_block(struct mt_block *b)
{
	if (!atomic_load(&w.dying))
		mt_block_put(b);
}

/* What threads that record while the process dies write into (unread). */
static struct mt_block sink;

/*
 * Writes, in sequence order, the events of every thread that are below
 * fence (all of them when final); the rest stay for the next round.  Each
 * thread's events are already in order, so this is a merge of a few
 * sorted runs, straight from the blocks.
 */
static void merge(size_t nheads, uint64_t fence, int final)
{
	for (;;) {
		struct mt_thread *best = NULL;
		struct mt_block *b;
		uint32_t index, pos;
		uint64_t seq = UINT64_MAX, next = UINT64_MAX, stop;

		for (size_t i = 0; i < nheads; i++) {
			struct mt_thread *t = w.heads[i];
			uint64_t s;

			if (!t->stolen)
				continue;
			s = t->stolen->ev[t->pos].seq;
			if (s < seq) {
				next = seq;
				seq = s;
				best = t;
			} else if (s < next) {
				next = s;
			}
		}
		if (!best || (!final && seq >= fence))
			return;
		/* the run of this thread below every other head goes in one go,
		 * from locals: best's first cache line (its lock, taken by its
		 * thread per event) is read once per run, not per event */
		stop = final || next < fence ? next : fence;
		index = best->index;
		b = best->stolen;
		pos = best->pos;
		do {
			encode(&b->ev[pos], index);
			if (++pos == b->len) {
				struct mt_block *done = b;

				b = b->next;
				pos = 0;
				put_block(done);
			}
		} while (b && b->ev[pos].seq < stop);
		best->stolen = b;
		best->pos = pos;
	}
}

/* One round; the caller holds w.lock.  final: write every event. */
static void run_round(int final)
{
	uint64_t fence = atomic_load(&mt_seq), start = mono_ns(), end;
	int dying = atomic_load(&w.dying), registry;
	uint64_t now;
	struct mt_thread *t, **link;
	uint8_t *meta;
	size_t n, nheads = 0;

	registry = wlock(&mt_registry_lock);
	for (t = mt_threads; t; t = t->next) {
		/* every event below the fence must be taken: a fresh block is
		 * ready before the lock, whether or not cur turns out empty */
		struct mt_block *fresh = NULL, *unused = NULL, *taken;
		int locked;

		if (!t->dead)
			fresh = !dying ? mt_block_get() : final ? &sink : NULL;
		locked = wlock_thread(t);
		if (!locked) {
			if (!final)
				continue;
			/* held by the interrupted thread: its last event may be
			 * half written */
			if (t->cur && t->cur->len)
				t->cur->len--;
		}
		for (struct mt_block *b = t->full; b; b = b->next)
			atomic_fetch_sub(&mt_blocks_waiting, 1);
		if (t->cur && t->cur->len && (fresh || t->dead)) {
			*t->full_tail = t->cur;
			t->cur = fresh;
			fresh = NULL;
		} else if (t->dead) {
			unused = t->cur;
			t->cur = NULL;
		}
		taken = t->full;
		t->full = NULL;
		t->full_tail = &t->full;
		if (locked)
			mt_thread_unlock(t);
		if (fresh && fresh != &sink)
			put_block(fresh);
		if (unused)
			put_block(unused);
		/* after what an earlier round held back */
		if (taken) {
			struct mt_block **tail = &t->stolen;

			while (*tail)
				tail = &(*tail)->next;
			*tail = taken;
		}
		if (t->stolen) {
			if (nheads == w.cap_heads) {
				size_t cap = w.cap_heads ? w.cap_heads * 2 : 64;
				struct mt_thread **h = remap(w.heads, w.cap_heads * sizeof(*h),
							 cap * sizeof(*h));

				if (!h)
					break;
				w.heads = h;
				w.cap_heads = cap;
			}
			w.heads[nheads++] = t;
		}
	}
	if (registry)
		pthread_mutex_unlock(&mt_registry_lock);

	/* Stacks and threads first: the events refer to them. */
	n = mt_meta_drain(&meta, &w.meta_off, wlock);
	now = mt_now_ns();
	if (mt_agg_on) {	/* aggregate.c takes the events and the samples */
		mt_agg_round(now);
		merge(nheads, fence, final);
		mt_agg_sample(mt_now_ns(), mt_rss_bytes());
	} else {
		uint64_t rss = mt_rss_bytes(), ns;
		int changed = nheads || rss != w.sample_rss || final;

		/*
		 * A round that changes nothing (no events, the RSS as it was)
		 * writes nothing but a point a second, which keeps a killed
		 * program's length: an idle process, or a sampled one between its
		 * samples, writes 1 point a second instead of 100.  The last such
		 * round's point comes before the next change, so that the
		 * straight line a reader draws between points stays flat until
		 * then.
		 */
		if (changed && w.idle_ns)
			out_record(MT_REC_SAMPLE, 2, w.idle_ns, w.sample_rss);
		w.idle_ns = 0;
		out(meta, n);
		if (nheads)
			out_record(MT_REC_TIME, 1, now, 0);
		merge(nheads, fence, final);
		flush_events();
		ns = mt_now_ns();
		if (changed || ns - w.sample_ns >= IDLE_SAMPLE_NS) {
			out_record(MT_REC_SAMPLE, 2, ns, rss);
			w.sample_rss = rss;
			w.sample_ns = ns;
		} else {
			w.idle_ns = ns;
		}
	}

	/* Threads that ended and whose events are all out are forgotten. */
	if (!dying) {
		pthread_mutex_lock(&mt_registry_lock);
		for (link = &mt_threads; (t = *link);) {
			if (t->dead && !t->cur && !t->stolen) {
				*link = t->next;
				mt_thread_free(t);
			} else {
				link = &t->next;
			}
		}
		pthread_mutex_unlock(&mt_registry_lock);
	}
	/*
	 * The stream is flushed (all of it decodes from the file) by the round
	 * after which the events made since the last flushed round's fence
	 * would otherwise wait more than SYNC_NS: a SIGKILL loses at most the
	 * last 100 ms.  Not every round: each flush starts zstd's match tables
	 * cold (the round's encoding has evicted them), which at one flush
	 * per 10 ms round doubled zstd's time on native_churn.
	 */
	if (mt_agg_on) {
		if (!final && !w.failed && mt_agg_save(0, NULL, 1, wlock) < 0)
			fail(errno);
		return;
	}
	end = mono_ns();
	if (end - w.last_flush >= FLUSH_NS)
		compress(ZSTD_e_end, 0);
	else if (w.sync_rounds && end + ROUND_NS - w.synced_to >= SYNC_NS)
		compress(ZSTD_e_flush, 0);
	else
		return;
	w.synced_to = start;
	if (!w.failed)
		w.round_ns = now;	/* on disk up to this round */
}

/*
 * The writer thread works in a descriptor table of its own, which holds
 * only memtide's descriptors and stderr (for its warnings).  A program
 * that closes every descriptor (daemons do, at start) then closes only
 * its own table's, and the writer never opens a file again in the shared
 * table, where it would take the lowest free number for a moment: the
 * number the program's next open() expects (3, for a shell's `exec 3>`
 * or systemd's sockets).  Rounds that the program's threads run (exit, a
 * fatal signal, exec) keep the shared table and open again by path what
 * the program closed.  Without close_range or unshare (seccomp), the
 * table stays shared.
 */
static void own_descriptor_table(void)
{
	int keep[4] = { STDERR_FILENO, w.file.fd, w.statm.fd, w.status.fd };
	unsigned next = 0;

	if (close_range(~0u, ~0u, 0) != 0 || unshare(CLONE_FILES) != 0)
		return;
	for (int i = 1; i < 4; i++)	/* in order, for the gaps between them */
		for (int j = i; j > 0 && keep[j] < keep[j - 1]; j--) {
			int t = keep[j];

			keep[j] = keep[j - 1];
			keep[j - 1] = t;
		}
	for (int i = 0; i < 4; i++) {
		if (keep[i] < 0 || (unsigned)keep[i] < next)
			continue;
		if ((unsigned)keep[i] > next)
			close_range(next, (unsigned)keep[i] - 1, 0);
		next = (unsigned)keep[i] + 1;
	}
	close_range(next, ~0u, 0);
	/* the program may have put its own at our numbers before the copy */
	mt_fd_drop_foreign(&w.file);
	mt_fd_drop_foreign(&w.statm);
	mt_fd_drop_foreign(&w.status);
}

static void *writer_main(void *arg)
{
	struct timespec until;

	(void)arg;
	mt_in_hook = 1;
	atomic_store(&w.tid, (int)syscall(SYS_gettid));
	own_descriptor_table();
	pthread_mutex_lock(&w.lock);
	if (!w.stop)
		run_round(0);	/* at once: the header and the start-up records */
	while (!w.stop) {
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_nsec += (long)ROUND_NS;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&w.wake, &w.lock, &until);
		if (!w.stop)
			run_round(0);
	}
	pthread_mutex_unlock(&w.lock);
	return NULL;
}

static int start_thread(void)
{
	sigset_t all, old;

	w.stop = 0;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	w.running = !pthread_create(&w.thread, NULL, writer_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return w.running ? 0 : -1;
}

static void stop_thread(void)
{
	if (!w.running)
		return;
	pthread_mutex_lock(&w.lock);
	w.stop = 1;
	pthread_cond_signal(&w.wake);
	pthread_mutex_unlock(&w.lock);
	pthread_join(w.thread, NULL);
	w.running = 0;
}

/* zstd in a workspace of its own, so that it never allocates after this. */
static ZSTD_CCtx *make_cctx(void)
{
	size_t size = ZSTD_estimateCStreamSize(ZSTD_LEVEL);
	void *ws = map(size);
	ZSTD_CCtx *c = ws ? ZSTD_initStaticCCtx(ws, size) : NULL;

	if (!c)
		return NULL;
	ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, ZSTD_LEVEL);
	ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1);
	ZSTD_CCtx_setParameter(c, ZSTD_c_stableInBuffer, 1);
	return c;
}

/* memtide run's status pipe (MEMTIDE_STATUS_FD), where a failure is told. */
void mt_writer_status_fd(const char *fd)
{
	if (fd && *fd >= '0' && *fd <= '9')
		mt_fd_adopt(&w.status, atoi(fd));
}

/* A session's writer: its wake-up on the monotonic clock, its thread. */
static int start_writer(void)
{
	pthread_condattr_t ca;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w.wake, &ca);
	if (start_thread() < 0) {
		mt_warn("cannot start the capture writer thread");
		return -1;
	}
	return 0;
}

/*
 * An aggregated capture: no stream, aggregate.c rewrites the whole file
 * each second.  A first save now makes it, or says it cannot be.
 */
static int agg_start(const char *path)
{
	snprintf(w.file.path, sizeof(w.file.path), "%s", path);
	mt_fd_open(&w.statm, "/proc/self/statm", O_RDONLY, 0);
	w.page = sysconf(_SC_PAGESIZE);
	w.failed = 0;
	w.fail_errno = 0;
	w.t0 = mono_ns();
	w.round_ns = 0;
	w.sample_ns = w.sample_rss = w.idle_ns = 0;
	w.meta_off = 0;
	w.stop = 0;
	sm_reset(&w.map);
	if (mt_agg_start(path) < 0 || mt_agg_save(0, NULL, 0, wlock) < 0) {
		mt_warn("cannot write capture '%s': %s; the program runs untracked",
			path, strerror(errno ? errno : ENOMEM));
		return -1;
	}
	return start_writer();
}

int mt_writer_start(const char *path)
{
	uint8_t hdr[MT_FILE_HEADER_SIZE] = { 0 };
	const char *sync = getenv("MEMTIDE_SYNC_ROUNDS");

	if (mt_agg_on)
		return agg_start(path);
	if (mt_fd_open(&w.file, path, O_WRONLY | O_CREAT | O_TRUNC, 0644) < 0) {
		mt_warn("cannot write capture '%s': %s; the program runs untracked",
			path, strerror(errno));
		return -1;
	}
	mt_fd_open(&w.statm, "/proc/self/statm", O_RDONLY, 0);
	w.page = sysconf(_SC_PAGESIZE);
	/* a forked child keeps its parent's: a stream is reset per chunk */
	if (!w.cctx)
		w.cctx = make_cctx();
	w.zcap = ZSTD_CStreamOutSize() * 4;
	if (!w.z)
		w.z = w.cctx ? map(w.zcap) : NULL;
	if (!w.z) {
		mt_warn("out of memory for the capture writer");
		return -1;
	}
	ZSTD_CCtx_reset(w.cctx, ZSTD_reset_session_only);
	w.sync_rounds = !sync || strcmp(sync, "0");
	memcpy(hdr, MT_MAGIC, 8);
	hdr[8] = MT_VERSION & 0xff;
	hdr[9] = MT_VERSION >> 8;
	hdr[10] = MT_FILE_HEADER_SIZE;
	w.failed = 0;
	w.fail_errno = 0;
	w.off = 0;
	w.chunk_off = -1;
	w.chunk_z = w.chunk_r = w.prev_chunk_r = w.zlen = 0;
	w.header_due = 0;
	write_at(0, hdr, sizeof(hdr), NULL, 0);
	w.off = sizeof(hdr);
	w.last_flush = w.t0 = mono_ns();
	/* the first round is flushed: a program killed in its first 100 ms
	 * still leaves what it is (command, pid) on disk */
	w.synced_to = w.t0 > SYNC_NS ? w.t0 - SYNC_NS : 0;
	w.round_ns = 0;
	w.sample_ns = w.sample_rss = w.idle_ns = 0;
	w.raw_len = 0;
	w.meta_off = 0;
	w.stop = 0;
	w.enc_len = 0;
	memset(w.col_len, 0, sizeof(w.col_len));
	w.last_thread = 0;
	w.last_stack = 0;
	w.last_slot = ~0ull;
	sm_reset(&w.map);

	return start_writer();
}

/*
 * Around fork() the writer thread is stopped, so that the child starts
 * with consistent state and, in the parent, Python 3.12+ does not count
 * it when it warns about forking a multi-threaded process: that check
 * runs right after fork() returns, so there the thread comes back only
 * once the program goes on allocating a few milliseconds later.
 */
atomic_int mt_writer_paused;
static uint64_t resume_at;

int mt_writer_running(void)
{
	return w.running;
}

/*
 * pthread_join() returns once the kernel has cleared the thread's tid,
 * before the thread has left the process (its descriptor table, of its
 * own, is closed after that): Python 3.12's count of threads at fork()
 * would still see it.  Waits, 20 ms at most, until the kernel no longer
 * knows the thread.
 */
static void wait_thread_gone(int tid)
{
	struct timespec pause = { 0, 50000 };
	pid_t pid = getpid();

	for (int i = 0; tid > 0 && i < 400 && syscall(SYS_tgkill, pid, tid, 0) == 0; i++)
		nanosleep(&pause, NULL);
}

void mt_writer_pause(void)
{
	stop_thread();
	wait_thread_gone(atomic_exchange(&w.tid, 0));	/* it ran: it was joined */
}

void mt_writer_resume(uint64_t delay_ns)
{
	if (!delay_ns) {
		start_thread();
		return;
	}
	resume_at = mono_ns() + delay_ns;
	atomic_store(&mt_writer_paused, 1);
}

void mt_writer_resume_due(void)
{
	if (mono_ns() >= resume_at && atomic_exchange(&mt_writer_paused, 0))
		start_thread();
}

/*
 * For memtide.census(by="site") (python/census.c), from a thread of the
 * program outside the hooks: memtide_sites_begin() runs a round, so that
 * the map holds every block allocated until then, and keeps the writer
 * out of the map until memtide_sites_end(); memtide_site_of() gives the
 * stack node that allocated the live block at an address (0: none seen).
 * Meanwhile the calling thread records nothing (its allocations are the
 * census's); other threads go on filling their blocks, and wait only if
 * they pile up more than the writer lets wait (MAX_WAITING, threads.c).
 */
__attribute__((visibility("default")))
int memtide_sites_begin(void)
{
	if (!mt_tracker_owner() || w.failed || mt_in_hook)
		return -1;
	mt_in_hook = 1;
	pthread_mutex_lock(&w.lock);
	run_round(0);
	return 0;
}

__attribute__((visibility("default")))
uint32_t memtide_site_of(uintptr_t addr)
{
	struct sm_entry *s = w.map.v && addr ? sm_find(&w.map, addr) : NULL;

	return s && s->addr ? s->stack : 0;
}

__attribute__((visibility("default")))
void memtide_sites_end(void)
{
	pthread_mutex_unlock(&w.lock);
	mt_in_hook = 0;
}

/* The failure that the status pipe could not carry is said at exit. */
static void report_failure(void)
{
	if (w.failed && w.fail_errno)
		mt_warn("writing %s failed: %s; the capture ends at %llu.%02llu s",
			w.file.path, strerror(w.fail_errno),
			(unsigned long long)(w.failed_ns / 1000000000ull),
			(unsigned long long)(w.failed_ns / 10000000ull % 100));
	w.fail_errno = 0;
}

/* The last round, then END: a complete capture. */
void mt_writer_stop(void)
{
	sigset_t old;

	stop_thread();
	atomic_store(&mt_writer_paused, 0);
	pthread_mutex_lock(&w.lock);
	block_signals(&old);
	run_round(1);
	if (mt_agg_on) {
		if (!w.failed && mt_agg_save(1, NULL, 0, wlock) < 0)
			fail(errno);
		mt_agg_on = 0;	/* the next session in this process (attach) says again */
	} else {
		out_record(MT_REC_END, 1, mt_now_ns(), 0);
		compress(ZSTD_e_end, 0);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_mutex_unlock(&w.lock);
	mt_fd_close(&w.file);
	mt_fd_close(&w.statm);
	report_failure();
}

/* A META record written directly, for the end of a process. */
static void out_meta(const char *key, const char *value)
{
	uint8_t rec[16], *p = rec;
	size_t klen = strlen(key), vlen = strlen(value);

	*p++ = MT_REC_META;
	p = mt_put_varint(p, klen);
	out(rec, (size_t)(p - rec));
	out(key, klen);
	p = mt_put_varint(rec, vlen);
	out(rec, (size_t)(p - rec));
	out(value, vlen);
}

static void out_meta_num(const char *key, unsigned long long v)
{
	char digits[24], *p = digits + sizeof(digits);

	*--p = '\0';
	do
		*--p = (char)('0' + v % 10);
	while ((v /= 10));
	out_meta(key, p);
}

/*
 * The end of a process that does not reach exit: it dies of a signal
 * (dying: in its handler, where the writer thread may be mid-round) or
 * becomes another program by exec (or exits from a signal handler that
 * interrupted the tracker: ended_by NULL).  Every event goes out in a last
 * round, the chunk is closed, and a chunk of its own says how the
 * program ended (META ended_by) and ENDs the capture.  Returns where
 * that last chunk starts, for mt_writer_unfinish, or -1.
 */
int64_t mt_writer_finish(const char *ended_by, int dying)
{
	sigset_t old;
	int64_t mark;

	if (dying) {
		atomic_store(&w.dying, 1);
		if (!wlock_tries(&w.lock, ROUND_WAIT))
			return -1;
	} else {
		stop_thread();
		atomic_store(&mt_writer_paused, 0);
		pthread_mutex_lock(&w.lock);
	}
	block_signals(&old);
	run_round(1);
	if (mt_agg_on) {
		mt_signals_report(mt_agg_meta_num);
		if (!w.failed && mt_agg_save(1, ended_by, 0, wlock) < 0)
			fail(errno);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (!dying)
			pthread_mutex_unlock(&w.lock);
		else
			report_failure();
		return -1;	/* the next save, if any, has no END */
	}
	compress(ZSTD_e_end, 0);
	mark = w.failed ? -1 : (int64_t)w.off;
	if (ended_by)
		out_meta("ended_by", ended_by);
	mt_signals_report(out_meta_num);	/* the meta lock may be held */
	out_record(MT_REC_END, 1, mt_now_ns(), 0);
	compress(ZSTD_e_end, 0);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (dying) {
		/* the lock stays held: the writer thread writes nothing after
		 * END in the moment before the signal kills the process */
		report_failure();
		return mark;
	}
	pthread_mutex_unlock(&w.lock);
	return mark;
}

/* The exec failed: the ending is taken back and tracking goes on. */
void mt_writer_unfinish(int64_t mark)
{
	pthread_mutex_lock(&w.lock);
	if (mark >= 0 && !w.failed && mt_fd_check(&w.file) >= 0 &&
	    ftruncate(w.file.fd, (off_t)mark) == 0)
		w.off = (uint64_t)mark;
	pthread_mutex_unlock(&w.lock);
	start_thread();
}

/*
 * In a child that follows its parent: the parent's writer thread is gone
 * and its file is the parent's.  Start a file of the child's own, with
 * the whole meta log again, since the child's stacks refer to it.
 */
void mt_writer_after_fork_child(const char *path)
{
	pthread_mutex_init(&w.lock, NULL);
	atomic_store(&mt_writer_paused, 0);
	/* the parent's descriptors are shared with it: closed, not checked */
	if (w.file.fd >= 0)
		close(w.file.fd);
	if (w.statm.fd >= 0)
		close(w.statm.fd);
	w.file.fd = w.statm.fd = -1;
	w.running = 0;
	w.failed = 0;
	if (mt_writer_start(path) < 0)
		atomic_store(&mt_active, 0);
}
