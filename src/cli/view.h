/*
 * view.h - what the report commands share: choosing the view (peak, leaks,
 * temporary allocations), the output file, and reading the capture.
 */
#ifndef MT_VIEW_H
#define MT_VIEW_H

#include <stdio.h>

#include "../analysis/calltree.h"
#include "../analysis/replay.h"

struct view_args {
	enum mt_view view;
	struct mt_replay_opts replay;
	const char *output;	/* -o, NULL or "-" for stdout */
	int force;		/* -f */
	int show_all;		/* --show-all-frames */
	struct mt_usage arenas;	/* interpreter arenas taken out of the leaks */
	int json;		/* --json */
	int width;		/* --width, -1 for the terminal's */
	const char *file;	/* the capture */
};

#define VIEW_OPTIONS_HELP							\
	"      --leaks          what was still allocated at the end\n"		\
	"      --temporary-allocations\n"					\
	"                       allocations freed before their thread made\n"	\
	"                       another one (see the threshold below)\n"		\
	"      --temporary-allocation-threshold N\n"				\
	"                       ... or before it made N others (default 1)\n"	\
	"      --include-file-mappings\n"					\
	"                       count file-backed mmaps as memory too\n"		\
	"  -o, --output FILE    write the report to FILE (-: standard output)\n"	\
	"  -f, --force          overwrite FILE if it exists\n"			\
	SHOW_ALL_FRAMES_HELP("                       ")

/* Every report takes it (stats too); indent aligns the explanation. */
#define SHOW_ALL_FRAMES_HELP(indent)						\
	"      --show-all-frames\n"						\
	indent "also show what is hidden by default: the import\n"		\
	indent "system, runpy, the C and interpreter start-up frames,\n"	\
	indent "memtide's own frames, and (--leaks) the interpreter's\n"	\
	indent "arenas that it frees at its own exit\n"

#define VIEW_WIDTH_HELP							\
	"  -w, --width N        cut lines to N columns (default: the terminal's\n"	\
	"                       width on a terminal, else no limit; 0: no limit)\n"

void view_init(struct view_args *a);
/*
 * Takes argv[*i] (and its value) if it is a shared option or the capture
 * file: returns 1 when taken, 0 when not, -1 after a usage error.
 */
int view_option(const char *cmd, int argc, char **argv, int *i, struct view_args *a);
/* Checks the arguments and replays the capture; 0, or an exit status. */
int view_load(const char *cmd, struct view_args *a, struct mt_replay *r);
/* Opens the output (stdout without -o); NULL after an error message. */
FILE *view_open(const char *cmd, struct view_args *a);
/* Closes it; 0, or 1 after an error message. */
int view_close(struct view_args *a, FILE *f);
const char *view_name(enum mt_view v);
/*
 * Without -o, names the output after the capture: memtide-WHAT-STEM.EXT
 * in buf (which must outlive a).
 */
void view_default_output(struct view_args *a, const char *what, const char *ext,
			 char *buf, size_t cap);
/*
 * Columns text lines may take: --width, else the terminal's when the
 * report goes to one, else 0 (no limit).
 */
int view_width(const struct view_args *a);
/* Says on stderr which file was written (not for stdout); returns 0. */
int view_wrote(struct view_args *a);
/*
 * Reads the number that follows option argv[*i] into *out, which must lie
 * in [min, max]; -1 after a usage error.
 */
int view_number(const char *cmd, int argc, char **argv, int *i, long min, long max, long *out);

#endif
