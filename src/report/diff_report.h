/*
 * diff_report.h - prints `memtide diff`: the totals of both captures and
 * the locations whose measure changed, as text or JSON.
 */
#ifndef MT_DIFF_REPORT_H
#define MT_DIFF_REPORT_H

#include <stdio.h>

#include "../analysis/diff.h"

struct mt_diff_report {
	const struct mt_replay *base, *new;
	const struct mt_diff *diff;
	const struct mt_diff_opts *opts;
	uint32_t top;		/* rows shown: the biggest changes; 0 for all */
	int width;		/* text: columns a line may take, 0 for any */
};

void mt_diff_print_text(FILE *f, const struct mt_diff_report *d);
void mt_diff_print_json(FILE *f, const struct mt_diff_report *d);
/* The name of a measure's total in text: "peak heap", "total allocated"... */
const char *mt_diff_measure_name(enum mt_diff_measure m);

#endif
