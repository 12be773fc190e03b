/*
 * location.h - where an allocation was made, as the reports name it: the
 * innermost Python frame of its stack that reports show (see hiding.h),
 * or for a stack without Python frames the innermost native frame that is
 * not the allocator's (libc, the loader, operator new) or memtide's own;
 * a Python program's stack with neither is MT_NO_PYTHON_FRAME.
 */
#ifndef MT_LOCATION_H
#define MT_LOCATION_H

#include <stdint.h>

#include "../format/reader.h"
#include "symbols.h"

struct mt_location {
	const char *function;
	const char *file;	/* for native frames without lines: the module */
	unsigned line;
};

/* Fills out for the stack whose innermost node is stack (0: no stack);
 * show_all: hidden Python frames count too (--show-all-frames). */
void mt_locate(const struct mt_capture *c, struct mt_symbols *syms,
	       uint32_t stack, int show_all, struct mt_location *out);

#endif
