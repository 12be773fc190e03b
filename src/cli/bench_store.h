/*
 * bench_store.h - the directory a benchmark matrix lives in (`memtide
 * bench`, docs/BENCH.md):
 *
 *   DIR/matrix                       the command, the parameters and their
 *                                    values, the number of repeats
 *   DIR/NAME=VALUE/.../runN.tide     each run's capture, with beside it
 *   DIR/NAME=VALUE/.../runN.stdout   the program's output,
 *   DIR/NAME=VALUE/.../runN.stderr
 *   DIR/NAME=VALUE/.../runN.status   and how it ended
 *
 * (the paths come from mt_matrix_cell_dir and mt_matrix_run_file).
 * The matrix and status files are "key=value" lines (a backslash escapes
 * a newline or itself in a value); a status file is written once its run
 * has ended, by renaming a complete file into place.
 */
#ifndef MT_BENCH_STORE_H
#define MT_BENCH_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "../report/matrix.h"

/* How one run ended (its .status file). */
struct bench_status {
	enum mt_run_state state;	/* MT_RUN_OK or MT_RUN_FAILED */
	int exit_status, signal;
	double wall_s;
	int jobs;
	uint64_t capture_bytes;		/* the capture's size when the run ended */
	char *command;			/* the command line, quoted as a shell would take it */
};

/* mkdir -p: 0, or -1 with the reason in err. */
int bench_mkdirs(const char *path, char *err, size_t errlen);
/* Writes DIR/matrix (m->dir, command, params, repeat): 0, or -1 with err. */
int bench_save_matrix(const struct mt_matrix *m, char *err, size_t errlen);
/*
 * Reads the matrix in dir and every run's status into m, and each
 * finished run's capture (a capture that cannot be read is said on
 * stderr when its run succeeded).  0, or -1 with err: no matrix there, or
 * no run has finished.
 */
int bench_load(const char *dir, struct mt_matrix *m, char *err, size_t errlen);

/* 0 and s filled, or -1: no status file, or not one memtide wrote. */
int bench_read_status(const char *path, struct bench_status *s);
int bench_write_status(const char *path, const struct bench_status *s, char *err,
		       size_t errlen);
void bench_status_release(struct bench_status *s);

/* The arguments as one line a shell would split back into them (malloc'ed). */
char *bench_quote(char *const *argv, int argc);

#endif
