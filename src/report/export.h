/*
 * export.h - a view of a replay in other tools' formats (memtide
 * transform): gprof2dot's JSON, CSV, and speedscope's file format.
 */
#ifndef MT_EXPORT_H
#define MT_EXPORT_H

#include <stdio.h>

#include "../analysis/calltree.h"

enum mt_export_format { MT_EXPORT_GPROF2DOT, MT_EXPORT_CSV, MT_EXPORT_SPEEDSCOPE };

void mt_export(FILE *f, enum mt_export_format fmt, const struct mt_replay *r,
	       struct mt_symbols *syms, enum mt_view view, int show_hidden);

#endif
