/*
 * meta.c - the meta log of libmemtide.so: every record that is not an
 * event (STRING, PYFRAME, NODE, THREAD, MODULE, UNLOAD, META) is appended
 * here, behind mt_meta_lock, and the writer thread drains it as it grows.
 * The log is kept whole, so a forked child following its parent can write
 * it again at the top of its own file.
 */

#include <stdio.h>
#include <string.h>

#include "memtide/format.h"
#include "tracker.h"
#include "../format/varint.h"

pthread_mutex_t mt_meta_lock = PTHREAD_MUTEX_INITIALIZER;
/*
 * The writer copies from the log without holding mt_meta_lock, so bytes it
 * was handed must stay where they are: the log grows by doubling into a
 * new mapping, and the old one is unmapped only at the writer's next
 * drain, when it is done with it.  Nothing is reserved up front, so a
 * program under a small RLIMIT_AS keeps its address space.
 */
#define META_FIRST (64u << 10)
#define META_RETIRED 48		/* 64 KiB doubled this often is more than enough */

static struct {
	uint8_t *buf;
	size_t len, cap;
	struct { void *p; size_t n; } old[META_RETIRED];
	int nold;
} meta;

static uint8_t *meta_room(size_t n)
{
	if (meta.len + n > meta.cap) {
		size_t cap = meta.cap ? meta.cap * 2 : META_FIRST;
		uint8_t *p;

		while (cap < meta.len + n)
			cap *= 2;
		p = meta.nold < META_RETIRED ? mt_raw_alloc(cap) : NULL;
		if (!p) {
			atomic_fetch_add(&mt_dropped, 1);
			return NULL;
		}
		if (meta.buf) {
			memcpy(p, meta.buf, meta.len);
			meta.old[meta.nold].p = meta.buf;
			meta.old[meta.nold++].n = meta.cap;
		}
		meta.buf = p;
		meta.cap = cap;
	}
	return meta.buf + meta.len;
}

uint8_t *mt_put_str(uint8_t *p, const char *s, size_t n)
{
	p = mt_put_varint(p, n);
	memcpy(p, s, n);
	return p + n;
}

/* Appends a record of a tag, up to four varints and up to two strings. */
void mt_meta_record(int tag, int nint, const uint64_t *ints,
			const char *s1, const char *s2)
{
	size_t l1 = s1 ? strlen(s1) : 0, l2 = s2 ? strlen(s2) : 0;
	uint8_t *p = meta_room(1 + 10 * (size_t)nint + l1 + l2 + 20), *start = p;

	if (!p)
		return;
	*p++ = (uint8_t)tag;
	for (int i = 0; i < nint; i++)
		p = mt_put_varint(p, ints[i]);
	if (s1)
		p = mt_put_str(p, s1, l1);
	if (s2)
		p = mt_put_str(p, s2, l2);
	meta.len += (size_t)(p - start);
}

/*
 * Hands out what was appended since *off; the bytes stay valid until the
 * next call.  Only the writer drains, one round at a time.  lock returns 0
 * when it gave up (a dying process whose interrupted thread holds it):
 * meta.len then still counts whole records only, and the logs outgrown
 * are kept.
 */
size_t mt_meta_drain(uint8_t **out, size_t *off, int (*lock)(pthread_mutex_t *))
{
	int locked = lock(&mt_meta_lock);
	size_t n;

	while (locked && meta.nold > 0) {
		meta.nold--;
		mt_raw_free(meta.old[meta.nold].p, meta.old[meta.nold].n);
	}
	n = meta.len - *off;
	*out = meta.buf + *off;
	*off = meta.len;
	if (locked)
		pthread_mutex_unlock(&mt_meta_lock);
	return n;
}

/* Appends records already encoded, of n bytes; the caller holds mt_meta_lock. */
void mt_meta_append(const uint8_t *recs, size_t n)
{
	uint8_t *p = meta_room(n);

	if (p) {
		memcpy(p, recs, n);
		meta.len += n;
	}
}

void mt_meta_kv(const char *k, const char *v)
{
	pthread_mutex_lock(&mt_meta_lock);
	mt_meta_record(MT_REC_META, 0, NULL, k, v);
	pthread_mutex_unlock(&mt_meta_lock);
}

void mt_meta_kv_num(const char *k, unsigned long long v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%llu", v);
	mt_meta_kv(k, buf);
}

/*
 * For memtide.census(by="site") (python/census.c): copies the meta log
 * (STRING, PYFRAME, NODE... records, docs/FORMAT.md) into buf when it
 * fits in cap bytes, and returns its length either way.
 */
__attribute__((visibility("default")))
size_t memtide_meta_copy(uint8_t *buf, size_t cap)
{
	size_t n;

	pthread_mutex_lock(&mt_meta_lock);
	n = meta.len;
	if (n <= cap && meta.buf)
		memcpy(buf, meta.buf, n);
	pthread_mutex_unlock(&mt_meta_lock);
	return n;
}
