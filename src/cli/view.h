/*
 * view.h - what the report commands share: choosing the view (peak, leaks,
 * temporary allocations), the output file, and reading the capture.
 */
#ifndef MT_VIEW_H
#define MT_VIEW_H

#include <getopt.h>
#include <stdio.h>

#include "../analysis/calltree.h"
#include "../analysis/proctree.h"
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
 * Options are parsed with getopt_long: a command's table starts with
 * VIEW_LONG_OPTIONS, adds its own (values from VOPT_OWN up, or short
 * letters), and its short options string starts with VIEW_SHORT_OPTIONS.
 */
enum {
	VOPT_LEAKS = 0x100, VOPT_TEMPORARY, VOPT_THRESHOLD, VOPT_FILE_MAPPINGS,
	VOPT_SHOW_ALL, VOPT_JSON, VOPT_OWN = 0x200
};
#define VIEW_SHORT_OPTIONS ":o:fw:h"
#define VIEW_LONG_OPTIONS							\
	{ "leaks", no_argument, NULL, VOPT_LEAKS },				\
	{ "temporary-allocations", no_argument, NULL, VOPT_TEMPORARY },		\
	{ "temporary-allocation-threshold", required_argument, NULL, VOPT_THRESHOLD }, \
	{ "include-file-mappings", no_argument, NULL, VOPT_FILE_MAPPINGS },	\
	{ "show-all-frames", no_argument, NULL, VOPT_SHOW_ALL },		\
	{ "json", no_argument, NULL, VOPT_JSON },				\
	{ "output", required_argument, NULL, 'o' },				\
	{ "force", no_argument, NULL, 'f' },					\
	{ "width", required_argument, NULL, 'w' },				\
	{ "help", no_argument, NULL, 'h' }
/*
 * Parses argv into a, handing the command's own options to
 * own(ctx, c, optarg), which returns 0 to go on or an exit status.
 * Returns 0 to go on (the operands start at optind), -1 after printing
 * usage for -h (exit 0), or the status to exit with.
 */
int view_parse(const char *cmd, const char *usage, int argc, char **argv,
	       const char *shortopts, const struct option *longopts, struct view_args *a,
	       int (*own)(void *ctx, int c, const char *arg), void *ctx);
/* Assigns the operands left after view_parse to *names[0..n-1]. */
int view_files(const char *cmd, int argc, char **argv, const char **names[], int n);
/*
 * The operands left after view_parse as capture files, a directory
 * standing for the *.tide files in it (in version order; *dirs counts the
 * directories).  0, or an exit status after an error (a directory with no
 * captures).  view_captures_free() releases the list.
 */
int view_captures(int argc, char **argv, char ***files, size_t *n, int *dirs);
void view_captures_free(char **files, size_t n);
/* The captures are of one run (one session); 0, or 1 after an error. */
int view_same_session(const struct mt_proctree *t);

/* A run's captures, replayed for a report on several processes. */
struct view_many {
	size_t n;
	struct mt_replay *rs;
	struct mt_symbols **syms;
	char **labels;			/* "[PID] command", the per-process roots */
	struct mt_proctree pt;		/* pt.order: parents before children */
	int truncated;			/* some capture is */
	size_t loaded;
};
/* Replays files[0..n) (checked to be of one run); 0, or an exit status. */
int view_load_many(const char *cmd, struct view_args *a, char **files, size_t n,
		   struct view_many *m);
void view_release_many(struct view_many *m);
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
/* Reads arg, the value of option opt, into *out within [min, max]; -1 after a usage error. */
int view_number(const char *cmd, const char *opt, const char *arg, long min, long max,
		long *out);

#endif
