/*
 * xalloc.h - allocation for the reading side (reader, analysis, reports):
 * running out of memory there ends the command with one line, so callers
 * need not check.  Also the string hash the tables share.  Not for the
 * tracker, which never calls malloc.
 */
#ifndef MT_XALLOC_H
#define MT_XALLOC_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline void mt_oom(void)
{
	fputs("memtide: out of memory\n", stderr);
	exit(1);
}

static inline void *mt_xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		mt_oom();
	return p;
}

static inline void *mt_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p)
		mt_oom();
	return p;
}

static inline char *mt_xstrdup(const char *s)
{
	char *d = strdup(s);

	if (!d)
		mt_oom();
	return d;
}

/*
 * p (an array of *cap elements of elem bytes) with room for index need:
 * doubled from 64 as needed, the new elements zeroed, *cap updated.
 */
static inline void *mt_xgrow(void *p, size_t *cap, uint64_t need, size_t elem)
{
	size_t ncap = *cap ? *cap : 64;

	if (need < *cap)
		return p;
	while (ncap <= need)
		ncap *= 2;
	if (ncap > SIZE_MAX / elem)
		mt_oom();
	p = mt_xrealloc(p, ncap * elem);
	memset((char *)p + *cap * elem, 0, (ncap - *cap) * elem);
	*cap = ncap;
	return p;
}

/* FNV-1a of s, continuing from h, then a separator (so "ab","c" != "a","bc"). */
static inline uint64_t mt_hash_str(uint64_t h, const char *s)
{
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
	return (h ^ 0xff) * 0x100000001b3ull;
}

#define MT_HASH_INIT 0xcbf29ce484222325ull

#endif
