/*
 * figures.h - the headline figures of one capture, as `memtide stats
 * --json` gives them (peak heap, peak RSS, total allocated, allocations,
 * leaked with the interpreter's arenas left out), plus the allocation
 * site holding the most memory at the peak and each step's peak.  Reports
 * that compare many captures (`memtide bench`) keep these instead of the
 * whole replay.
 */
#ifndef MT_FIGURES_H
#define MT_FIGURES_H

#include <stdint.h>

struct mt_fig_step {
	char *name;
	uint64_t peak, above_start;	/* the heap's peak inside, and how far above its start */
};

struct mt_figures {
	uint64_t peak_bytes, peak_rss_bytes, total_bytes, allocations, leaked_bytes;
	uint64_t duration_ns;
	int truncated;
	/* the site with the most bytes live at the peak; function NULL: none */
	char *top_function, *top_file, *cwd;	/* cwd: the program's, for short paths */
	unsigned top_line;
	uint64_t top_bytes;
	struct mt_fig_step *steps;
	uint32_t nsteps;
};

/* Replays the capture at path into f: 0, or -1 with the reason in err. */
int mt_figures_read(const char *path, struct mt_figures *f, char *err, size_t errlen);
void mt_figures_release(struct mt_figures *f);

#endif
