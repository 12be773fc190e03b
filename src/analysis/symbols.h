/*
 * symbols.h - native instruction pointers to function, file and line,
 * with inlined frames, from the modules and build-ids a capture recorded
 * (elfutils libdwfl).  Results are cached and owned by the symbolizer.
 */
#ifndef MT_SYMBOLS_H
#define MT_SYMBOLS_H

#include <stdint.h>

#include "../format/reader.h"

struct mt_frame_info {
	const char *function;	/* "?" when unknown */
	const char *file;	/* source file, or the module when no line info */
	unsigned line;		/* 0 when unknown */
	const char *module;	/* path of the module, "?" when none */
};

/* Frames one address stands for at most: its inlined calls (Rust's run
 * twenty deep) and the real function. */
#define MT_MAX_INLINE 64
struct mt_symbols;

struct mt_symbols *mt_symbols_new(const struct mt_capture *c);
void mt_symbols_free(struct mt_symbols *s);

/*
 * Describes the return address ip of generation gen: out[0] is the
 * innermost (inlined) function, then its callers up to the real one.
 * Returns how many frames were stored (at least 1, at most max).
 */
int mt_symbols_lookup(struct mt_symbols *s, uint64_t ip, uint32_t gen,
		      struct mt_frame_info *out, int max);

#endif
