/*
 * tui.h - the live view on a terminal (ncurses), and the same table as
 * plain text for `memtide live --snapshot` and scripts.  Both take their
 * data from an mt_live_source (live.h), local or remote.
 */
#ifndef MT_TUI_H
#define MT_TUI_H

#include <stddef.h>
#include <stdio.h>

#include "live.h"

/*
 * Runs the terminal UI on src until the user quits with q.  When the
 * program ends the UI says so and keeps the last state until q.  Returns
 * 0, or -1 with a one-line reason in err (no terminal, a lost source).
 */
int mt_tui_run(const struct mt_live_source *src, char *err, size_t errlen);

/* Prints one snapshot as plain text: the header, then at most max_rows
 * rows sorted by total memory (max_rows < 0: all), fitted to width
 * columns (width <= 0: lines are not cut). */
void mt_live_print(FILE *f, const struct mt_live_snapshot *s, int width, int max_rows);

#endif
