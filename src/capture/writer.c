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
 * stream is cut into independently compressed zstd chunks at least every
 * second, so a killed process loses at most the last second.
 */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/uio.h>
#include <unistd.h>
#include <zstd.h>

#include "memtide/format.h"
#include "tracker.h"
#include "../format/varint.h"

#define ROUND_NS 10000000ull		/* 10 ms: RSS sample and fence */
#define FLUSH_NS 1000000000ull		/* a chunk at least every second */
#define CHUNK_RAW (4u << 20)		/* raw bytes per chunk, at most */
#define ZSTD_LEVEL 3
#define EVENTS_RECORD (256u << 10)	/* encoded event bytes per record */

/* Live heap blocks: address -> slot, and the stack of free slots. */
struct slotmap {
	struct sm_entry {
		uint64_t addr;	/* 0: empty */
		uint32_t slot;
	} *v;
	size_t mask, used;
	uint32_t *free_slots;
	size_t nfree, cap_free;
	uint32_t next_slot;
};

static struct {
	int fd, statm_fd;
	char path[4096];
	pthread_t thread;
	int running;
	pthread_mutex_t lock;		/* one round at a time; guards stop */
	pthread_cond_t wake;
	int stop;
	int failed;
	uint64_t t0, last_flush;
	size_t meta_off;
	uint8_t raw[CHUNK_RAW];
	size_t raw_len;
	uint8_t *z;
	size_t zcap;
	ZSTD_CCtx *cctx;
	long page;
	struct mt_thread **heads;	/* threads with events to merge */
	size_t cap_heads;
	struct slotmap map;
	uint32_t last_thread, last_stack;
	uint8_t enc[EVENTS_RECORD + 64];
	size_t enc_len;
} w = { .fd = -1, .statm_fd = -1, .lock = PTHREAD_MUTEX_INITIALIZER };

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

static void fail(int err)
{
	if (!w.failed)
		mt_warn("cannot write capture '%s': %s; the program goes on untracked",
			w.path, strerror(err));
	w.failed = 1;
	atomic_store(&mt_active, 0);
}

/*
 * Writes both buffers, in one system call when it can: a program killed
 * meanwhile then leaves whole chunks only.
 */
static void write_all(const void *a, size_t na, const void *b, size_t nb)
{
	struct iovec iov[2] = { { (void *)a, na }, { (void *)b, nb } };
	int i = 0;

	while (i < 2 && !w.failed) {
		ssize_t k = writev(w.fd, iov + i, 2 - i);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			fail(k < 0 ? errno : ENOSPC);
			return;
		}
		while (i < 2 && (size_t)k >= iov[i].iov_len)
			k -= (ssize_t)iov[i++].iov_len;
		if (i < 2) {
			iov[i].iov_base = (uint8_t *)iov[i].iov_base + k;
			iov[i].iov_len -= (size_t)k;
		}
	}
}

static void put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static void flush_chunk(void)
{
	uint8_t hdr[MT_CHUNK_HEADER_SIZE] = { 0 };
	size_t z;

	if (!w.raw_len || w.failed) {
		w.raw_len = 0;
		return;
	}
	z = ZSTD_compress2(w.cctx, w.z, w.zcap, w.raw, w.raw_len);
	if (ZSTD_isError(z)) {
		mt_warn("compression failed: %s", ZSTD_getErrorName(z));
		fail(EIO);
		return;
	}
	put_u32(hdr, MT_CHUNK_MAGIC);
	put_u32(hdr + 4, (uint32_t)z);
	put_u32(hdr + 8, (uint32_t)w.raw_len);
	write_all(hdr, sizeof(hdr), w.z, z);
	w.raw_len = 0;
	w.last_flush = mono_ns();
}

/* Appends to the stream; records may straddle chunks (see docs/FORMAT.md). */
static void out(const void *buf, size_t n)
{
	const uint8_t *p = buf;

	while (n) {
		size_t k = CHUNK_RAW - w.raw_len < n ? CHUNK_RAW - w.raw_len : n;

		memcpy(w.raw + w.raw_len, p, k);
		w.raw_len += k;
		p += k;
		n -= k;
		if (w.raw_len == CHUNK_RAW)
			flush_chunk();
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

uint64_t mt_rss_bytes(void)
{
	char buf[128];
	unsigned long size = 0, resident = 0;
	ssize_t n = w.statm_fd >= 0 ? pread(w.statm_fd, buf, sizeof(buf) - 1, 0) : -1;

	if (n <= 0)
		return 0;
	buf[n] = '\0';
	if (sscanf(buf, "%lu %lu", &size, &resident) != 2)
		return 0;
	return (uint64_t)resident * (uint64_t)w.page;
}

static void *xalloc(void *p, size_t n)
{
	p = mt_real.realloc(p, n);
	if (!p) {
		mt_warn("out of memory in the capture writer");
		fail(ENOMEM);
	}
	return p;
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

static int sm_grow(struct slotmap *m)
{
	struct slotmap old = *m;
	size_t n = m->v ? (m->mask + 1) * 2 : 65536;

	m->v = mt_real.calloc(n, sizeof(*m->v));
	if (!m->v) {
		*m = old;
		return -1;
	}
	m->mask = n - 1;
	for (size_t i = 0; old.v && i <= old.mask; i++)
		if (old.v[i].addr)
			*sm_find(m, old.v[i].addr) = old.v[i];
	mt_real.free(old.v);
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
		uint32_t *p = xalloc(m->free_slots, cap * sizeof(uint32_t));

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

static void flush_events(void)
{
	if (w.enc_len) {
		uint8_t rec[12], *p = rec;

		*p++ = MT_REC_EVENTS;
		p = mt_put_varint(p, w.enc_len);
		out(rec, (size_t)(p - rec));
		out(w.enc, w.enc_len);
		w.enc_len = 0;
	}
}

/* Encodes one event (docs/FORMAT.md); heap addresses become slots. */
static void encode(const struct mt_rawev *e, uint32_t thread)
{
	uint8_t *head = w.enc + w.enc_len, *p = head;
	unsigned kind = e->kind;

	if (w.enc_len > EVENTS_RECORD)
		flush_events(), head = p = w.enc;
	if (kind == MT_EV_STEP) {
		*p++ = (uint8_t)kind;
		if (thread != w.last_thread)
			*head |= MT_EVF_THREAD, p = mt_put_varint(p, thread);
		p = mt_put_varint(p, e->addr);
		p = mt_put_varint(p, e->size);	/* when, in ns */
		p = mt_put_varint(p, e->stack);	/* RSS then, in 4 KiB pages */
	} else if (kind == MT_EV_FREE) {
		struct sm_entry *s = w.map.v ? sm_find(&w.map, e->addr) : NULL;
		uint32_t slot;

		if (!s || !s->addr)
			return;		/* allocated before tracking began */
		slot = s->slot;
		sm_erase(&w.map, s);
		sm_release(&w.map, slot);
		*p++ = (uint8_t)kind;
		if (thread != w.last_thread)
			*head |= MT_EVF_THREAD, p = mt_put_varint(p, thread);
		p = mt_put_varint(p, slot);
	} else {
		if (!mt_event_is_mmap(kind)) {
			struct sm_entry *s;

			if ((w.map.used + 1) * 4 > (w.map.mask + 1) * 3 && sm_grow(&w.map) < 0)
				return;
			s = sm_find(&w.map, e->addr);
			if (s->addr) {	/* its free was never seen: free it now */
				struct mt_rawev f = *e;

				f.kind = MT_EV_FREE;
				encode(&f, thread);
				head = p = w.enc + w.enc_len;
				s = sm_find(&w.map, e->addr);
			}
			s->addr = e->addr;
			s->slot = w.map.nfree ? w.map.free_slots[--w.map.nfree] : w.map.next_slot++;
			w.map.used++;
		}
		*p++ = (uint8_t)kind;
		if (thread != w.last_thread)
			*head |= MT_EVF_THREAD, p = mt_put_varint(p, thread);
		if (mt_event_is_mmap(kind))
			p = mt_put_varint(p, e->addr);
		p = mt_put_varint(p, e->size);
		if (kind != MT_EV_MUNMAP) {
			if (e->stack == w.last_stack)
				*head |= MT_EVF_SAMESTACK;
			else
				p = mt_put_varint(p, e->stack);
			w.last_stack = e->stack;
		}
	}
	w.last_thread = thread;
	w.enc_len = (size_t)(p - w.enc);
}

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
		const struct mt_rawev *e;
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
		/* the run of this thread below every other head goes in one go */
		stop = final || next < fence ? next : fence;
		do {
			e = &best->stolen->ev[best->pos];
			encode(e, best->index);
			if (++best->pos == best->stolen->len) {
				struct mt_block *b = best->stolen;

				best->stolen = b->next;
				best->pos = 0;
				mt_block_put(b);
			}
		} while (best->stolen && best->stolen->ev[best->pos].seq < stop);
	}
}

/* One round; the caller holds w.lock.  final: write every event. */
static void run_round(int final)
{
	uint64_t fence = atomic_load(&mt_seq);
	struct mt_thread *t, **link;
	uint8_t *meta;
	size_t n, nheads = 0;

	pthread_mutex_lock(&mt_registry_lock);
	for (t = mt_threads; t; t = t->next) {
		/* every event below the fence must be taken: a fresh block is
		 * ready before the lock, whether or not cur turns out empty */
		struct mt_block *fresh = t->dead ? NULL : mt_block_get(), *unused = NULL, *taken;

		mt_thread_lock_writer(t);
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
		mt_thread_unlock(t);
		if (fresh)
			mt_block_put(fresh);
		if (unused)
			mt_block_put(unused);
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
				struct mt_thread **h = xalloc(w.heads, cap * sizeof(*h));

				if (!h)
					break;
				w.heads = h;
				w.cap_heads = cap;
			}
			w.heads[nheads++] = t;
		}
	}
	pthread_mutex_unlock(&mt_registry_lock);

	/* Stacks and threads first: the events refer to them. */
	n = mt_meta_drain(&meta, &w.meta_off);
	out(meta, n);
	out_record(MT_REC_TIME, 1, mt_now_ns(), 0);
	merge(nheads, fence, final);
	flush_events();
	out_record(MT_REC_SAMPLE, 2, mt_now_ns(), mt_rss_bytes());

	/* Threads that ended and whose events are all out are forgotten. */
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
	if (mono_ns() - w.last_flush >= FLUSH_NS)
		flush_chunk();
}

static void *writer_main(void *arg)
{
	struct timespec until;

	(void)arg;
	mt_in_hook = 1;
	pthread_mutex_lock(&w.lock);
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

/*
 * Moves fd out of the way of the program's own descriptors: a program that
 * closes what it did not open, then opens a file, must not get ours.
 */
static int high_fd(int fd)
{
	int hi = fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 700) : -1;

	if (hi < 0)
		return fd;
	close(fd);
	return hi;
}

int mt_writer_start(const char *path)
{
	uint8_t hdr[MT_FILE_HEADER_SIZE] = { 0 };
	pthread_condattr_t ca;

	snprintf(w.path, sizeof(w.path), "%s", path);
	w.fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (w.fd < 0) {
		mt_warn("cannot write capture '%s': %s; the program runs untracked",
			path, strerror(errno));
		return -1;
	}
	w.fd = high_fd(w.fd);
	w.statm_fd = high_fd(open("/proc/self/statm", O_RDONLY | O_CLOEXEC));
	w.page = sysconf(_SC_PAGESIZE);
	w.cctx = ZSTD_createCCtx();
	w.zcap = ZSTD_compressBound(CHUNK_RAW);
	w.z = w.cctx ? mt_real.malloc(w.zcap) : NULL;
	if (!w.z) {
		mt_warn("out of memory for the capture writer");
		return -1;
	}
	ZSTD_CCtx_setParameter(w.cctx, ZSTD_c_compressionLevel, ZSTD_LEVEL);
	ZSTD_CCtx_setParameter(w.cctx, ZSTD_c_checksumFlag, 1);
	memcpy(hdr, MT_MAGIC, 8);
	hdr[8] = MT_VERSION & 0xff;
	hdr[9] = MT_VERSION >> 8;
	hdr[10] = MT_FILE_HEADER_SIZE;
	write_all(hdr, sizeof(hdr), NULL, 0);
	w.last_flush = w.t0 = mono_ns();
	w.raw_len = 0;
	w.meta_off = 0;
	w.stop = 0;
	w.enc_len = 0;
	w.last_thread = 0;
	w.last_stack = 0;
	sm_reset(&w.map);

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

void mt_writer_pause(void)
{
	stop_thread();
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

void mt_writer_stop(void)
{
	stop_thread();
	atomic_store(&mt_writer_paused, 0);
	pthread_mutex_lock(&w.lock);
	run_round(1);
	out_record(MT_REC_END, 1, mt_now_ns(), 0);
	flush_chunk();
	pthread_mutex_unlock(&w.lock);
	close(w.fd);
	w.fd = -1;
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
	if (w.fd >= 0)
		close(w.fd);
	if (w.statm_fd >= 0)
		close(w.statm_fd);
	w.running = 0;
	w.failed = 0;
	if (mt_writer_start(path) < 0)
		atomic_store(&mt_active, 0);
}
