/*
 * tui.c - the live view on a terminal (ncurses) and its plain-text form.
 * Not yet: the terminal UI; the plain text prints the rows unsorted.
 */
#include <inttypes.h>
#include <stdio.h>

#include "tui.h"

int mt_tui_run(const struct mt_live_source *src, char *err, size_t errlen)
{
	(void)src;
	snprintf(err, errlen, "the live terminal UI is not built yet");
	return -1;
}

void mt_live_print(FILE *f, const struct mt_live_snapshot *s, int width, int max_rows)
{
	(void)width;
	fprintf(f, "%s  pid %" PRIu64 "  heap %" PRIu64 " B\n", s->command ? s->command : "?",
		s->pid, s->heap_bytes);
	for (uint32_t i = 0; i < s->nrows && (int)i < max_rows; i++)
		fprintf(f, "%" PRIu64 " %" PRIu64 " %" PRIu64 " %s %s:%u\n", s->rows[i].total_bytes,
			s->rows[i].own_bytes, s->rows[i].own_count, s->rows[i].function,
			s->rows[i].file, s->rows[i].line);
}
