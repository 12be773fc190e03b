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
	const char *output;	/* -o, NULL for stdout */
	int force;		/* -f */
	int show_all;		/* --show-all-frames */
	struct mt_usage arenas;	/* interpreter arenas taken out of the leaks */
	int json;		/* --json */
	const char *file;	/* the capture */
};

#define VIEW_OPTIONS_HELP							\
	"      --leaks          what was still allocated at the end\n"		\
	"      --temporary-allocations\n"					\
	"                       allocations freed before their thread made\n"	\
	"                       another one (see the threshold below)\n"		\
	"      --temporary-allocation-threshold N\n"				\
	"                       ... or before it made N others (default 1)\n"	\
	"  -o, --output FILE    write the report to FILE\n"			\
	"  -f, --force          overwrite FILE if it exists\n"			\
	SHOW_ALL_FRAMES_HELP("                       ")

/* Every report takes it (stats too); indent aligns the explanation. */
#define SHOW_ALL_FRAMES_HELP(indent)						\
	"      --show-all-frames\n"						\
	indent "also show what is hidden by default: the import\n"		\
	indent "system, runpy, the C and interpreter start-up frames,\n"	\
	indent "memtide's own frames, and (--leaks) the interpreter's\n"	\
	indent "arenas that it frees at its own exit\n"

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
 * Reads the number that follows option argv[*i] into *out, which must lie
 * in [min, max]; -1 after a usage error.
 */
int view_number(const char *cmd, int argc, char **argv, int *i, long min, long max, long *out);

#endif
