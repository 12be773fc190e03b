/*
 * reader.h - reads a capture file: checks the header, decompresses the
 * chunks, keeps the tables (strings, frames, stack nodes, modules,
 * threads, metadata) and hands events to the caller one at a time in
 * the order they happened.  Heap blocks are named by slot (a small
 * integer, see docs/FORMAT.md), mappings by address.  Memory stays proportional to the tables,
 * not to the number of events.
 */
#ifndef MT_READER_H
#define MT_READER_H

#include <stddef.h>
#include <stdint.h>

struct mt_event {
	uint64_t addr;		/* mappings: address; heap blocks: slot; step: name */
	uint64_t size;		/* allocations and munmap; step: RSS */
	uint64_t time_ns;	/* of the round that wrote it (10 ms steps) */
	uint32_t stack;		/* node id, 0 for none */
	uint32_t thread;	/* thread index */
	uint8_t kind;		/* enum mt_event_kind */
	uint8_t expect;		/* step: the program gave an estimate, */
	uint64_t expected;	/* ... of the step's peak above its start */
	/*
	 * Allocations: the bytes and the number of allocations this event
	 * stands for, size and 1 but in a sampled capture (sample_rate),
	 * where a heap block of n bytes was recorded with probability
	 * p = 1 - exp(-n/rate) and stands for n/p bytes (rounded) and 1/p
	 * allocations (rounded up or down at random, by a hash of the
	 * event's number, so that the sum stays unbiased).
	 */
	uint64_t bytes, count;
};

struct mt_pyframe {
	uint32_t name, file;	/* string ids */
	uint32_t line;
	uint32_t flags;
};

struct mt_node {
	uint32_t parent;
	uint8_t kind;		/* enum mt_node_kind */
	uint32_t gen;		/* native: module generation */
	uint64_t value;		/* python frame id or instruction pointer */
};

struct mt_module {
	uint64_t gen_load, gen_unload;	/* live for gen_load <= gen < gen_unload */
	uint64_t bias;
	const char *path, *build_id;
	uint64_t lo, hi;	/* lowest and highest mapped address */
};

/* The counters of one run of the step named name: -1 where not counted. */
struct mt_step_counters {
	uint32_t name;		/* string id */
	int64_t cycles, instructions, cache_references, cache_misses;
};

/*
 * An aggregated capture's figures (docs/FORMAT.md, "Aggregated captures"):
 * per key (stack, thread, allocator kind) what the tracker counted; the
 * replay takes them instead of events.
 */
struct mt_agg_key {
	uint32_t stack, thread;
	uint8_t kind;
	uint64_t total_bytes, total_count;
	uint64_t peak_bytes, peak_count;
	uint64_t leaked_bytes, leaked_count;
	uint64_t temporary_bytes, temporary_count;
};

/* AGGREGATE's numbers, by position; a reader takes the ones it knows. */
enum mt_agg_field {
	MT_AGG_PEAK_BYTES, MT_AGG_PEAK_NS, MT_AGG_ALLOCATIONS, MT_AGG_BYTES,
	MT_AGG_MIN_SIZE, MT_AGG_MAX_SIZE, MT_AGG_FILE_PEAK, MT_AGG_FILE_MAPPINGS,
	MT_AGG_HEAP_END, MT_AGG_LAST_NS, MT_AGG_NHIST,	/* then NHIST bins */
	MT_AGG_FIELDS
};

struct mt_agg_point {
	uint64_t ns, heap, rss;
};

struct mt_thread_info {
	uint64_t tid;
	const char *name;
};

struct mt_capture {
	const char *path;
	uint64_t file_size;
	/* metadata */
	const char *command, *python;
	const char *cwd;	/* the program's working directory, or NULL */
	uint64_t pid, start_unix_ns;
	uint64_t ppid;		/* the parent process, 0 if not recorded */
	const char *session;	/* shared by the captures of one run, or NULL */
	const char *ended_by;	/* "signal 15 (SIGTERM)", "exec PATH", or NULL */
	int native;
	int attached;		/* started in a running program: earlier blocks unknown */
	uint64_t sample_rate;	/* heap blocks sampled every ~this many bytes; 0: all */
	/* tables, index 0 unused */
	char **strings;
	uint32_t nstrings;
	struct mt_pyframe *pyframes;
	uint32_t npyframes;
	struct mt_node *nodes;
	uint32_t nnodes;
	struct mt_module *modules;
	uint32_t nmodules;
	struct mt_thread_info *threads;
	uint32_t nthreads;
	/* what the reading found */
	uint64_t end_ns;	/* last time seen */
	uint64_t peak_rss, peak_rss_ns;
	uint64_t nevents;
	int complete;		/* the END record was read */
	int truncated;		/* the file stops before its end */
	int truncation;		/* enum mt_truncation: why */
	uint64_t dropped_events;	/* the tracker ran out of memory for these */
	/* made in signal handlers that interrupted the tracker: not recorded */
	uint64_t signal_dropped_allocs, signal_dropped_bytes, signal_dropped_frees;
	/* an aggregated capture: its figures instead of events (or 0) */
	int aggregated;
	uint64_t *agg;			/* AGGREGATE's numbers (enum mt_agg_field) */
	uint32_t nagg;
	struct mt_agg_key *agg_keys;
	uint32_t nagg_keys;
	struct mt_agg_point *agg_points;	/* the heap and RSS over time */
	uint32_t nagg_points;
	/* hardware counters of steps (memtide.step(perf=True)), in order */
	struct mt_step_counters *step_counters;
	uint32_t nstep_counters;
	/* private */
	struct mt_reader_state *st;
};

/* Why a capture stops before its END record (mt_capture.truncation). */
enum mt_truncation {
	MT_TRUNC_NONE,
	MT_TRUNC_KILLED,	/* after a whole chunk or round: killed, or cut there */
	MT_TRUNC_CUT,		/* inside a chunk: a full disk, or a cut file */
	MT_TRUNC_DAMAGED,	/* the last chunk is damaged; what decoded is kept */
	MT_TRUNC_RUNNING,	/* its program is still running: read up to now */
};

struct mt_read_ops {
	void (*event)(void *ctx, const struct mt_event *ev);
	void (*sample)(void *ctx, uint64_t ns, uint64_t rss);
	void (*progress)(void *ctx, uint64_t done, uint64_t total);
	void *ctx;
	/*
	 * Following a capture the tracker is still writing (NULL: read the
	 * file as it is).  Called when the data runs out before the END
	 * record: returns 1 after waiting a while, to read on from where the
	 * data stopped (the decoder keeps its state), or 0 to stop there as
	 * for a file cut at that point.
	 */
	int (*wait)(void *ctx);
};

/*
 * Reads the whole capture at path, calling ops for each event and RSS
 * sample (and ops->wait, when set, each time the data runs out).
 * Returns 0, or -1 with a one-line reason in err ("'PATH': damaged
 * capture: ..." for a bad file).  A capture that stops early is
 * not an error: every complete record is read and c->truncated and
 * c->truncation say why it stops (a chunk left open by a killed writer,
 * a file cut inside a chunk, a damaged last chunk).
 */
int mt_capture_read(const char *path, struct mt_capture *c,
		    const struct mt_read_ops *ops, char *err, size_t errlen);
void mt_capture_release(struct mt_capture *c);

const char *mt_capture_string(const struct mt_capture *c, uint32_t id);
const char *mt_event_kind_name(unsigned kind);
/*
 * What a capture's command runs, to tell captures of different programs
 * apart: its first word's base name, and for Python the script's (or -m
 * or -c and the word after it).
 */
void mt_capture_program(const struct mt_capture *c, char *buf, size_t cap);
/* A few words on why a capture is truncated (enum mt_truncation). */
const char *mt_truncation_reason(int why);

#endif
