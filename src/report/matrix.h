/*
 * matrix.h - the table of a benchmark matrix (`memtide bench`): every
 * combination of the parameters' values (a cell), run `repeat` times,
 * each run with its status and its capture's figures; written as
 * markdown, CSV, JSON (docs/BENCH.md) or a self-contained HTML page.
 *
 * Per cell the table shows the median wall time with its range over the
 * repeats and, for each memory figure, the median over the runs (of an
 * even number, the lower of the two middle values, so that every figure
 * is one that was measured); the top site and the steps come from the run
 * whose peak is that median.  Only the successful runs count when there
 * are any; a cell whose runs all failed shows what its captures hold.
 */
#ifndef MT_MATRIX_H
#define MT_MATRIX_H

#include <stdint.h>
#include <stdio.h>

#include "../analysis/figures.h"

struct mt_matrix_param {
	char *name;
	char **values;
	uint32_t nvalues;
};

enum mt_run_state { MT_RUN_MISSING, MT_RUN_OK, MT_RUN_FAILED };

struct mt_matrix_run {
	enum mt_run_state state;
	int exit_status;	/* the exit code, or 128 + signal */
	int signal;		/* the signal that ended the program, or 0 */
	double wall_s;
	int jobs;		/* runs at a time when it ran */
	int measured;		/* fig holds its capture's figures */
	struct mt_figures fig;
};

struct mt_matrix {
	char *command;			/* as given, {name} placeholders in */
	char *dir;
	struct mt_matrix_param *params;	/* the first varies slowest */
	uint32_t nparams;
	uint32_t repeat;
	uint32_t ncells;		/* the product of the numbers of values */
	struct mt_matrix_run *runs;	/* ncells * repeat, runs of a cell together */
};

enum mt_matrix_format { MT_MATRIX_MD, MT_MATRIX_CSV, MT_MATRIX_JSON, MT_MATRIX_HTML };

/* Index of the value of parameter p in cell. */
uint32_t mt_matrix_value(const struct mt_matrix *m, uint32_t cell, uint32_t p);
/* DIR/NAME=VALUE/... of a cell, '/' and '%' in values written %2F, %25. */
void mt_matrix_cell_dir(const struct mt_matrix *m, uint32_t cell, char *buf, size_t cap);
/* DIR/.../run<rep+1>.<ext>: a run's capture (tide), output (stdout,
 * stderr) or status file (docs/BENCH.md). */
void mt_matrix_run_file(const struct mt_matrix *m, uint32_t cell, uint32_t rep, const char *ext,
			char *buf, size_t cap);
/* The run rep (0-based) of cell. */
struct mt_matrix_run *mt_matrix_run(const struct mt_matrix *m, uint32_t cell, uint32_t rep);
/* 0 when the rows can be sorted by col (a parameter or a figure), else -1. */
int mt_matrix_sort_column(const struct mt_matrix *m, const char *col);
/* How a run failed: "killed by SIGKILL", "exit status 3".  Returns buf. */
const char *mt_matrix_failure(char *buf, size_t cap, int exit_status, int sig);
/* The columns --sort takes, for an error message. */
extern const char mt_matrix_sort_help[];

/*
 * Writes the table.  sort: NULL for the matrix's order, a parameter (its
 * values in ascending order, as numbers when they are) or a figure
 * (biggest first); mt_matrix_sort_column refuses other columns beforehand.
 * Returns 0, or -1 when the page template lacks its placeholders.
 */
int mt_matrix_write(FILE *f, const struct mt_matrix *m, enum mt_matrix_format fmt,
		    const char *sort);
void mt_matrix_release(struct mt_matrix *m);

#endif
