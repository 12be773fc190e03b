/*
 * tree_report.h - a call tree as text (memtide tree) or JSON.
 */
#ifndef MT_TREE_REPORT_H
#define MT_TREE_REPORT_H

#include <stdio.h>

#include "../analysis/calltree.h"

/*
 * Paths are shortened (mt_short_path, against cwd) and each line cut to
 * width columns (0: no limit).
 */
void mt_tree_print_text(FILE *f, const struct mt_calltree *t, const char *title,
			const char *cwd, int width);
void mt_tree_print_json(FILE *f, const struct mt_calltree *t, const char *view);

#endif
