/*
 * meta.c - the meta log of libmemtide.so: every record that is not an
 * event (STRING, PYFRAME, NODE, THREAD, MODULE, UNLOAD, META) is appended
 * here, behind mt_meta_lock, and the writer thread drains it as it grows.
 * The log is kept whole, so a forked child following its parent can write
 * it again at the top of its own file.
 */

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "memtide/format.h"
#include "tracker.h"
#include "../format/varint.h"

pthread_mutex_t mt_meta_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	uint8_t *buf;
	size_t len, cap;
} meta;

/*
 * The log never moves: the writer copies from it without holding
 * mt_meta_lock, so it lives in one reservation of address space whose
 * pages the kernel provides as they are first written.
 */
#define META_RESERVE (1ull << 32)

static uint8_t *meta_room(size_t n)
{
	if (!meta.buf) {
		void *p = mt_real.mmap(NULL, META_RESERVE, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

		if (p == MAP_FAILED)
			return NULL;
		meta.buf = p;
		meta.cap = META_RESERVE;
	}
	return meta.len + n <= meta.cap ? meta.buf + meta.len : NULL;
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

/* Hands out what was appended since *off; the bytes stay valid. */
size_t mt_meta_drain(uint8_t **out, size_t *off)
{
	size_t n;

	pthread_mutex_lock(&mt_meta_lock);
	n = meta.len - *off;
	*out = meta.buf + *off;
	*off = meta.len;
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
