/*
 * hiding.h - which frames reports hide unless --show-all-frames is given:
 * the import system, runpy (how `-m` starts a module), memtide's own
 * frames, the C start-up below main and a thread's start, and the
 * interpreter's native frames on its way to the first Python frame shown.
 * Every report (stats, tree, summary, flamegraph, table, transform) takes
 * these marks, so they all show the same frames.
 *
 * Leaks hide the interpreter's own pymalloc arenas the same way: CPython
 * keeps them mapped until the process ends, whatever the program does.
 */
#ifndef MT_HIDING_H
#define MT_HIDING_H

#include "frames.h"
#include "replay.h"
#include "symbols.h"

/* The node that stands for a Python program's memory allocated while no
 * Python frame ran (start-up, shutdown, the interpreter's own arenas). */
#define MT_NO_PYTHON_FRAME "[no Python frame]"

/* 1 for a Python frame of the import system, runpy or memtide. */
int mt_hidden_python(const char *file);

/* 1 for a native frame hidden wherever it is: memtide's own, the C start-up
 * (_start, __libc_start_main), a thread's start (clone, start_thread). */
int mt_hidden_native(const struct mt_frame_info *f);

/* 0 for a native frame outside the Python interpreter (its executable or
 * libpython); else 1, plus 2 when it is on the interpreter's way from main
 * to the code it runs. */
int mt_interpreter_frame(const struct mt_frame_info *f);

/*
 * Finishes the marks of a stack's display frames f[0..n) (outermost first;
 * interp[i] from mt_interpreter_frame for native frames, 0 for the others):
 * hides the interpreter's frames outside the first Python frame shown; puts
 * a Python program's stack where no Python frame is shown under a first
 * frame MT_NO_PYTHON_FRAME (its frames follow, hidden or not); shows every
 * frame of another stack that hiding would empty.  Returns the new n.
 */
int mt_hide_finish(const struct mt_capture *c, struct mt_dframe *f, const uint8_t *interp,
		   int n, int max);

/*
 * Takes a Python program's pymalloc arenas that were still mapped at the
 * end out of the replay's leaks (r->leaked and its totals) and returns
 * them in hidden.  An arena is an mmap of exactly pymalloc's arena size
 * (1 MiB from Python 3.10 on, 256 KiB before) whose innermost native frame
 * outside libc and memtide, where the capture has native frames, is the
 * interpreter's own (its executable or libpython).
 */
void mt_hide_interpreter_arenas(struct mt_replay *r, struct mt_usage *hidden);

#endif
