/*
 * proctree_report.h - prints the process tree of a run's captures
 * (`memtide stats` on several captures or a directory) as text or JSON,
 * with the `top` step names whose runs rose the most.
 */
#ifndef MT_PROCTREE_REPORT_H
#define MT_PROCTREE_REPORT_H

#include <stdio.h>

#include "../analysis/proctree.h"

void mt_proctree_print_text(FILE *f, const struct mt_proctree *t, size_t top);
/* Each process's `report` is its `stats --json` object, merged in. */
void mt_proctree_print_json(FILE *f, const struct mt_proctree *t, size_t top);

#endif
