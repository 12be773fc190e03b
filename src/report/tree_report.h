/*
 * tree_report.h - a call tree as text (memtide tree) or JSON.
 */
#ifndef MT_TREE_REPORT_H
#define MT_TREE_REPORT_H

#include <stdio.h>

#include "../analysis/calltree.h"

void mt_tree_print_text(FILE *f, const struct mt_calltree *t, const char *title);
void mt_tree_print_json(FILE *f, const struct mt_calltree *t, const char *view);

#endif
