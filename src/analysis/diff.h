/*
 * diff.h - two captures compared location by location (`memtide diff`):
 * one measure (live at the peak, everything allocated, or leaked) of each
 * replay folded by location as `stats` folds it, then matched across the
 * two by function, file and line, with files named the same way wherever
 * the program ran and was built.
 */
#ifndef MT_DIFF_H
#define MT_DIFF_H

#include <limits.h>
#include <stdint.h>

#include "replay.h"

enum mt_diff_measure { MT_DIFF_PEAK, MT_DIFF_TOTAL, MT_DIFF_LEAKS };
enum mt_diff_by { MT_DIFF_BY_LOCATION, MT_DIFF_BY_FUNCTION, MT_DIFF_BY_FILE };

struct mt_diff_opts {
	enum mt_diff_measure measure;
	enum mt_diff_by by;
	int ignore_lines;	/* by location: match on function and file only */
	int show_all;		/* --show-all-frames */
};

#define MT_DIFF_LINES UINT_MAX	/* a location spans several lines */

struct mt_diff_row {
	char *function;		/* NULL when grouping by file (but for no file) */
	/*
	 * As matched: the program's own files relative to the root both
	 * captures' paths have in common (see diff.c), "site-packages/..."
	 * for installed packages (dist-packages too), "<stdlib>/..." for
	 * Python's standard library.
	 */
	char *file;
	/* the line in each capture: 0 when not grouped by line or absent
	 * there, MT_DIFF_LINES for several (--ignore-lines) */
	unsigned base_line, new_line;
	uint64_t base_bytes, new_bytes;
	uint64_t base_count, new_count;
};

struct mt_diff {
	struct mt_diff_row *rows;	/* biggest growth first, biggest fall last */
	uint32_t nrows;
};

/* Compares what base and new hold by o->measure; d is released with mt_diff_release(). */
void mt_diff_run(const struct mt_replay *base, const struct mt_replay *new,
		 const struct mt_diff_opts *o, struct mt_diff *d);
void mt_diff_release(struct mt_diff *d);

/* The line a row is shown at: the new capture's, else the base's; 0 for none. */
unsigned mt_diff_line(const struct mt_diff_row *row);
/* The replay's total of a measure: the peak heap, bytes allocated, bytes leaked. */
uint64_t mt_diff_total(const struct mt_replay *r, enum mt_diff_measure m);

#endif
