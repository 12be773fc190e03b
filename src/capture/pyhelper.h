/*
 * pyhelper.h - the interface between the tracker (libmemtide.so, which
 * knows nothing of CPython) and the per-version Python helper (the
 * memtide._memtide extension, compiled once for every CPython found at
 * build time, against that version's own headers).
 *
 * The tracker dlopen()s the helper that matches the interpreter it finds
 * in the process and calls it from inside the allocation hooks, so both
 * functions below must never allocate, never take the GIL and never
 * raise a Python exception.
 */
#ifndef MT_PYHELPER_H
#define MT_PYHELPER_H

#include <stddef.h>
#include <stdint.h>

#define MT_PYHELPER_ABI 3
#define MT_PYHELPER_SYMBOL "memtide_pyhelper"

/*
 * One Python frame as the tracker keys it: a is the code object, b packs
 * the instruction offset (bits 1-31), the entry flag (bit 0) and a tag
 * made of the code's name, file and first line (bits 32-62; bit 63 stays
 * clear, the tracker marks native frames with it), so a code
 * object freed and replaced by another at the same address is not taken
 * for the old one.
 */
struct mt_pykey {
	uint64_t a, b;
};

struct mt_pyhelper {
	int abi;		/* MT_PYHELPER_ABI */
	int version;		/* major * 100 + minor, e.g. 311 */
	/*
	 * Stores the calling thread's Python frames, innermost first, into
	 * keys[0..max) and returns how many; 0 when the thread has none.
	 */
	int (*walk)(struct mt_pykey *keys, int max);
	/*
	 * Writes the function name and file name (UTF-8, NUL-terminated,
	 * cut to fit) and the line of a frame that walk() returned while
	 * that frame is still alive.
	 */
	void (*describe)(const struct mt_pykey *key, char *name, size_t nlen,
			 char *file, size_t flen, int *line);
	/*
	 * Wraps Python's memory and object allocators so that their blocks
	 * are recorded (--trace-python-allocators).  Returns 1 when done, 0
	 * when it cannot be done yet (the interpreter is not initialized or
	 * the calling thread does not hold the GIL): call again later.
	 */
	int (*trace_python_allocators)(void);
	/*
	 * Has threading.Thread name each thread it starts (and a thread that
	 * renames itself) in the capture, through memtide_thread_name(): it
	 * only schedules that Python code for the main thread (a pending
	 * call).  Returns 1 when done, 0 when it cannot be done yet, as above.
	 */
	int (*name_threads)(void);
};

#endif
