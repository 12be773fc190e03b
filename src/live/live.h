/*
 * live.h - the live view's contract: what a viewer (the terminal UI, the
 * plain-text --snapshot printer) asks of a running capture, and what it
 * gets back.  Two sources implement it: the local engine, which follows
 * the capture file as the tracker writes it (src/live/engine.c), and the
 * client of a remote engine (src/live/client.c, protocol in
 * docs/LIVE.md).  The viewer never knows which one it talks to.
 */
#ifndef MT_LIVE_H
#define MT_LIVE_H

#include <stddef.h>
#include <stdint.h>

/* One allocation site with memory live now: a location, as stats names it. */
struct mt_live_row {
	uint32_t id;		/* stable for the session: names the row in a query */
	const char *function, *file;	/* display forms, safe for a terminal */
	uint32_t line;		/* 0: none */
	uint64_t own_bytes, own_count;	/* live blocks whose location this is */
	uint64_t total_bytes, total_count;	/* live blocks with this location on their stack */
};

/* What the viewer asks for with each refresh. */
struct mt_live_query {
	int thread;		/* -1: all threads; else an index into snapshot.threads */
	uint32_t stack_of;	/* a row id: fill snapshot.stack with its largest stack; 0: none */
};

struct mt_live_snapshot {
	/* the program */
	const char *command;
	uint64_t pid;
	int running;		/* 0 once the program has ended */
	int exit_status;	/* once ended: as a shell gives it (128+N for signal N) */
	const char *output_path;	/* --live: where the program's stdout/stderr go, or NULL */
	const char *capture_path;
	/* figures, for the thread asked for where they are per thread */
	uint64_t elapsed_ns;
	uint64_t heap_bytes, rss_bytes;
	uint64_t peak_heap_bytes, peak_heap_ns;
	uint64_t live_allocs;
	const uint64_t *heap_history;	/* heap at even steps up to now, oldest first */
	uint32_t nheap_history;
	/* threads, by name ("main", "loader", ...), for m/n */
	const char *const *threads;
	uint32_t nthreads;
	/* sites live now, in no particular order (the viewer sorts and filters) */
	const struct mt_live_row *rows;
	uint32_t nrows;
	/* the stack asked for with query.stack_of, innermost first, one display line per frame */
	const char *const *stack;
	uint32_t nstack;
	/* a sampled capture (run --sample-rate): its rate, the figures are estimates; 0: not */
	uint64_t sample_rate;
};

/*
 * A source of snapshots.  snapshot() fills *out with the state now; what
 * it points to stays valid until the next call or close().  It returns 0,
 * or -1 with a one-line reason in err (a lost connection, a viewer of
 * another protocol version).
 */
struct mt_live_source {
	int (*snapshot)(void *ctx, const struct mt_live_query *q, struct mt_live_snapshot *out,
			char *err, size_t errlen);
	void (*close)(void *ctx);
	void *ctx;
};

#endif
