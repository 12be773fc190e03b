/*
 * summary.h - per function: the memory and allocations it made itself
 * (own: it is the innermost frame) and with everything it called (total),
 * for one view of a replay.
 */
#ifndef MT_SUMMARY_H
#define MT_SUMMARY_H

#include <stdint.h>

#include "calltree.h"

struct mt_func_row {
	const char *function, *file;
	uint8_t native;
	uint8_t process;	/* combined by process: the row of a whole process */
	uint64_t pid;		/* combined by process: its process, else 0 */
	uint64_t own_bytes, total_bytes, own_count, total_count;
};

enum mt_summary_sort { MT_SORT_TOTAL_MEMORY, MT_SORT_OWN_MEMORY, MT_SORT_TOTAL_COUNT,
		       MT_SORT_OWN_COUNT };

struct mt_summary {
	struct mt_func_row *rows;
	uint32_t nrows;
	uint64_t bytes, count;	/* of the whole view */
};

void mt_summary_build(struct mt_summary *s, const struct mt_replay *r, struct mt_symbols *syms,
		      enum mt_view view, int show_hidden, enum mt_summary_sort sort);
/*
 * The summaries of n processes in one, sorted: by process (each row keeps
 * its process's pid, and each process gets a row of its own named
 * labels[i], with its whole view as total), or merged across processes
 * (rows of the same function added up).  Strings stay the parts'.
 */
void mt_summary_combine(struct mt_summary *out, const struct mt_summary *parts,
			const uint64_t *pids, const char *const *labels, size_t n,
			int by_process, enum mt_summary_sort sort);
void mt_summary_release(struct mt_summary *s);

#endif
