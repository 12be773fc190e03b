/*
 * frames.h - a stack as reports show it: the frames from the outermost to
 * the innermost, native frames symbolized (inlined functions included) and
 * merged with the Python frames where the interpreter evaluates them, each
 * marked when it belongs to the import machinery or to memtide itself.
 */
#ifndef MT_FRAMES_H
#define MT_FRAMES_H

#include <stdint.h>

#include "../format/reader.h"
#include "symbols.h"

#define MT_MAX_FRAMES 1024

struct mt_dframe {
	const char *function, *file;	/* owned by the capture or the symbolizer */
	unsigned line;
	uint8_t native;			/* 1: a native frame */
	uint8_t hidden;			/* import machinery or memtide's own */
};

/*
 * Fills out[0..n) with the frames of stack, outermost first; returns n.
 * Native frames of the interpreter's evaluation loop are replaced by the
 * Python frames they run.
 */
int mt_stack_frames(const struct mt_capture *c, struct mt_symbols *syms,
		    uint32_t stack, struct mt_dframe *out, int max);

#endif
