/*
 * stats_report.h - prints the figures of `memtide stats` as text or JSON.
 */
#ifndef MT_STATS_REPORT_H
#define MT_STATS_REPORT_H

#include <stdio.h>

#include "../analysis/stats.h"

/* include_files: the replay counted file-backed mappings as memory. */
void mt_stats_print_text(FILE *f, const struct mt_replay *r, const struct mt_stats *s,
			 int include_files);
void mt_stats_print_json(FILE *f, const struct mt_replay *r, const struct mt_stats *s);

#endif
