/*
 * varint.h - LEB128 varints, the only integer encoding in a capture.  Header-only: the hot path inlines the writers.
 */
#ifndef MT_VARINT_H
#define MT_VARINT_H

#include <stddef.h>
#include <stdint.h>

/* Writes v at p (at most 10 bytes) and returns the byte after it. */
static inline uint8_t *mt_put_varint(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

/*
 * Reads a varint from [*p, end).  Returns 0 and advances *p, or -1 when
 * the input ends inside the number or the number is longer than 64 bits.
 */
static inline int mt_get_varint(const uint8_t **p, const uint8_t *end,
				uint64_t *out)
{
	const uint8_t *q = *p;
	uint64_t v = 0;
	unsigned shift = 0;

	while (q < end) {
		uint8_t b = *q++;
		if (shift == 63 && b > 1)
			return -1;
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*p = q;
			*out = v;
			return 0;
		}
		shift += 7;
		if (shift > 63)
			return -1;
	}
	return -1;
}

#endif
