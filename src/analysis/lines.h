/*
 * lines.h - memory line by line inside chosen functions (`memtide lines`,
 * @memtide.profile): each allocation whose stack passes through a chosen
 * function is charged to the line that function was running, its
 * innermost call of it — the line itself, or the call that led to the
 * allocation in a callee.
 */
#ifndef MT_LINES_H
#define MT_LINES_H

#include <stdint.h>

#include "replay.h"

/* What to look at: frames whose function is `function` (NULL: any) and
 * whose file is `file` or ends with "/file" (NULL: any); one of the two. */
struct mt_lines_query {
	const char *function, *file;
};

struct mt_line {
	unsigned line;
	uint64_t allocated_bytes, allocations;	/* everything charged to the line */
	uint64_t net_bytes;	/* of that, still live at the end of the capture */
	uint64_t peak_bytes;	/* of that, live at the functions' own peak */
};

/* One function (name and file) the query matched, its lines in order. */
struct mt_lines_function {
	char *function, *file;
	struct mt_line *lines;
	uint32_t nlines;
	uint64_t allocated_bytes, allocations, net_bytes, peak_bytes;
};

struct mt_lines {
	struct mt_lines_function *fns;	/* by bytes allocated, most first */
	uint32_t nfns;
};

/*
 * Makes the replay options find the query's own peak; the query (and its
 * strings) must outlive the replay.  Call before mt_replay_run.
 */
void mt_lines_focus(struct mt_replay_opts *o, struct mt_lines_query *q);
/* After the replay: the functions and their lines. */
void mt_lines_collect(const struct mt_replay *r, const struct mt_lines_query *q,
		      struct mt_lines *out);
void mt_lines_release(struct mt_lines *l);
/*
 * Up to max names of the capture's Python functions (files, with files
 * set) that look like name (one contains the other, or two edits apart,
 * ignoring case),
 * written into buf as "a, b, c"; returns how many.
 */
int mt_lines_near(const struct mt_capture *c, const char *name, int files, char *buf,
		  size_t cap, int max);

#endif
