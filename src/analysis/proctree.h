/*
 * proctree.h - the captures of one run (a program and the processes it
 * forked or started, --follow-fork/--follow-exec) as a process tree:
 * who started whom, each process's figures, and the combined peak of the
 * processes alive at the same moment, aligned on wall-clock time; and
 * their steps by name across processes (with memtide.dask, a step per task
 * named by its key's prefix).
 */
#ifndef MT_PROCTREE_H
#define MT_PROCTREE_H

#include <stddef.h>
#include <stdint.h>

#include "replay.h"

struct mt_proc {
	char *path, *command, *session, *ended_by;	/* owned */
	uint64_t pid, ppid, start_unix_ns, end_ns;
	uint64_t peak_bytes, peak_ns, total_bytes, total_allocations;
	int truncated;
	char *report;		/* what the caller attached (stats --json), owned */
	int parent;		/* index of the parent's capture, -1 for a root */
	int depth;		/* 0 for a root */
	uint64_t *tl_ns, *tl_heap;	/* heap over time (writer rounds), owned */
	size_t ntl;
	uint64_t at_combined_peak;	/* heap at the combined peak */
};

/* The runs of the steps of one name, in every process. */
struct mt_step_total {
	char *name;			/* owned */
	uint64_t runs;
	uint64_t above;			/* the highest peak above a run's start ... */
	uint64_t above_pid;		/* ... reached in this process */
	uint64_t peak;			/* the highest heap during a run */
	uint64_t allocations, allocated_bytes;	/* of all runs */
	uint64_t duration_ns;		/* of all runs */
};

struct mt_proctree {
	struct mt_proc *procs;
	size_t n;
	struct mt_step_total *steps;	/* highest `above` first once finished */
	size_t nsteps;
	size_t *order;		/* depth first, roots and children by start time */
	uint64_t first_start_ns;	/* the earliest start (unix ns) */
	uint64_t combined_peak_bytes, combined_peak_unix_ns;
};

/* Adds the process of a replayed capture; report (malloc'ed or NULL) is
 * kept with it. */
void mt_proctree_add(struct mt_proctree *t, const struct mt_replay *r, char *report);
/*
 * Finds the parents (the capture of the same pid that ended by exec
 * before this one started, else the latest capture of the parent pid
 * started before it), the order, and the combined peak.
 */
void mt_proctree_finish(struct mt_proctree *t);
void mt_proctree_release(struct mt_proctree *t);

#endif
