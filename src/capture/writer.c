/*
 * writer.c - the background thread of libmemtide.so that turns what the
 * tracker buffers into the capture file.  Runs in the profiled process,
 * with all signals blocked and the re-entrancy guard set, so nothing it
 * does (zstd's own allocations included) is recorded.
 *
 * Every 10 ms it samples the RSS and runs a round: it notes the global
 * sequence number, takes every thread's filled blocks, writes the meta
 * records interned since the last round, the events, and a fence saying
 * that no event below that sequence number is still to come.  The stream
 * is cut into independently compressed zstd chunks at least every second,
 * so a killed process loses at most the last second.
 */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "memtide/format.h"
#include "tracker.h"
#include "../format/varint.h"

#define ROUND_NS 10000000ull		/* 10 ms: RSS sample and fence */
#define FLUSH_NS 1000000000ull		/* a chunk at least every second */
#define CHUNK_RAW (4u << 20)		/* raw bytes per chunk, at most */
#define ZSTD_LEVEL 3

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

static void write_all(const void *buf, size_t n)
{
	const uint8_t *p = buf;

	while (n && !w.failed) {
		ssize_t k = write(w.fd, p, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			fail(k < 0 ? errno : ENOSPC);
			return;
		}
		p += k;
		n -= (size_t)k;
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
	write_all(hdr, sizeof(hdr));
	write_all(w.z, z);
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

static void out_record(int tag, uint64_t a, uint64_t b)
{
	uint8_t rec[24], *p = rec;

	*p++ = (uint8_t)tag;
	p = mt_put_varint(p, a);
	p = mt_put_varint(p, b);
	out(rec, (size_t)(p - rec));
}

static uint64_t rss_bytes(void)
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

/* One round; the caller holds w.lock. */
static void run_round(void)
{
	uint64_t fence = atomic_load(&mt_seq);
	struct mt_thread *t, **link;
	uint8_t *meta;
	size_t n;

	pthread_mutex_lock(&mt_registry_lock);
	for (t = mt_threads; t; t = t->next) {
		struct mt_block *fresh = t->dead ? NULL : mt_block_get(), *unused = NULL;

		mt_thread_lock(t);
		if (t->cur && t->cur->len && (fresh || t->dead)) {
			*t->full_tail = t->cur;
			t->cur = fresh;
			fresh = NULL;
		} else if (t->dead) {
			unused = t->cur;
			t->cur = NULL;
		}
		t->stolen = t->full;
		t->full = NULL;
		t->full_tail = &t->full;
		mt_thread_unlock(t);
		if (fresh)
			mt_block_put(fresh);
		if (unused)
			mt_block_put(unused);
	}
	n = mt_meta_drain(&meta, &w.meta_off);
	out(meta, n);
	for (link = &mt_threads; (t = *link);) {
		struct mt_block *b, *next;

		for (b = t->stolen; b; b = next) {
			next = b->next;
			out_record(MT_REC_EVENTS, t->index, b->len);
			out(b->data, b->len);
			mt_block_put(b);
		}
		t->stolen = NULL;
		if (t->dead && !t->cur) {
			*link = t->next;
			mt_thread_free(t);
		} else {
			link = &t->next;
		}
	}
	pthread_mutex_unlock(&mt_registry_lock);
	out_record(MT_REC_FENCE, fence, mt_now_ns());
	out_record(MT_REC_SAMPLE, mt_now_ns(), rss_bytes());
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
			run_round();
	}
	pthread_mutex_unlock(&w.lock);
	return NULL;
}

static int writer_open(const char *path)
{
	uint8_t hdr[MT_FILE_HEADER_SIZE] = { 0 };
	pthread_condattr_t ca;
	sigset_t all, old;

	snprintf(w.path, sizeof(w.path), "%s", path);
	w.fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (w.fd < 0) {
		mt_warn("cannot write capture '%s': %s; the program runs untracked",
			path, strerror(errno));
		return -1;
	}
	w.statm_fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
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
	write_all(hdr, sizeof(hdr));
	w.last_flush = w.t0 = mono_ns();
	w.raw_len = 0;
	w.meta_off = 0;
	w.stop = 0;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w.wake, &ca);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	w.running = !pthread_create(&w.thread, NULL, writer_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!w.running)
		mt_warn("cannot start the capture writer thread");
	return w.running ? 0 : -1;
}

int mt_writer_start(const char *path)
{
	return writer_open(path);
}

void mt_writer_stop(void)
{
	if (w.running) {
		pthread_mutex_lock(&w.lock);
		w.stop = 1;
		pthread_cond_signal(&w.wake);
		pthread_mutex_unlock(&w.lock);
		pthread_join(w.thread, NULL);
		w.running = 0;
	}
	pthread_mutex_lock(&w.lock);
	run_round();
	out_record(MT_REC_END, mt_now_ns(), 0);
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
	if (w.fd >= 0)
		close(w.fd);
	if (w.statm_fd >= 0)
		close(w.statm_fd);
	w.running = 0;
	w.failed = 0;
	if (writer_open(path) < 0)
		atomic_store(&mt_active, 0);
}
