/*
 * engine.h - the local live source: follows a capture file while the
 * tracker writes it (in a thread of its own, in `memtide run`) and keeps
 * the live set, folded into locations at each snapshot.  Runs in memtide,
 * never in the profiled program.
 */
#ifndef MT_ENGINE_H
#define MT_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "live.h"

struct mt_engine;

struct mt_engine_opts {
	const char *capture_path;	/* the file the tracker writes */
	const char *command;		/* as the header shows it; NULL: the capture's */
	const char *output_path;	/* where the program's output goes, or NULL */
	uint64_t pid;
	int show_all;			/* hidden frames count too (--show-all-frames) */
};

/* Starts following o->capture_path (which may not exist yet).  Returns
 * NULL with a one-line reason in err when no thread could be started. */
struct mt_engine *mt_engine_start(const struct mt_engine_opts *o, char *err, size_t errlen);

/* The program has ended with exit_status (as a shell gives it): the
 * engine reads what is left of the capture and stops following. */
void mt_engine_ended(struct mt_engine *e, int exit_status);

/* 1 once the program has ended and the capture has been read to its end. */
int mt_engine_done(struct mt_engine *e);

/*
 * A source of snapshots of e (live.h), with buffers of its own: each
 * viewer (the terminal UI, each remote connection) takes one.  Its
 * close() frees those buffers only; e must outlive it.
 */
int mt_engine_source(struct mt_engine *e, struct mt_live_source *out);

/* Stops following and frees e (every source of it closed before). */
void mt_engine_free(struct mt_engine *e);

#endif
