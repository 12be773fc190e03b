/*
 * aggregate.h - aggregated captures (`memtide run --aggregate`,
 * Tracker(aggregate=True)): the writer thread folds every event into
 * per-stack figures instead of writing it, and rewrites a small capture
 * (the meta log plus one aggregate record set) atomically every second
 * and at the end (aggregate.c, docs/FORMAT.md).
 */
#ifndef MT_AGGREGATE_H
#define MT_AGGREGATE_H

#include <pthread.h>
#include <stdint.h>

struct mt_rawev;

extern int mt_agg_on;			/* this session aggregates */

void mt_agg_from_env(void);		/* MEMTIDE_AGGREGATE=1 (memtide run) */
/* A new capture (start, or a forked child's own): every figure from zero. */
int mt_agg_start(const char *path);
/* The writer's round: events that follow happened at ns (its TIME). */
void mt_agg_round(uint64_t ns);
/* One event, as the writer names it: heap blocks by slot (docs/FORMAT.md). */
void mt_agg_event(unsigned kind, uint64_t addr, uint64_t size, uint32_t stack,
		  uint32_t thread);
/* The end of a round: the heap's high since the last one, and the RSS. */
void mt_agg_sample(uint64_t ns, uint64_t rss);
/*
 * Rewrites the capture (a temporary file renamed over it).  final: with
 * END, after META ended_by when given.  due: only when the last save is a
 * second old.  lock takes the meta log's lock (the writer's, which gives
 * up in a dying process).  Returns 0, or -1 with errno set.
 */
int mt_agg_save(int final, const char *ended_by, int due, int (*lock)(pthread_mutex_t *));
/* A META record of the end (signals.c's counts), for the final save. */
void mt_agg_meta_num(const char *key, unsigned long long v);

#endif
